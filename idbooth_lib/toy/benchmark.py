"""The toy verification benchmark: LFW's layout, written as an insightface ``.bin`` file.

People no toy model and no toy study has seen (their own world seed), photographed in the wild
(backgrounds, poses, light, framing vary), aligned to the ArcFace template with their true
landmarks, as the real benchmarks were aligned with detected ones. Like LFW, the pairs come in ten
folds of their own people, half of each fold genuine, so that the 10-fold protocol in file order
never meets a person in two folds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from idbooth_lib.identity.align import warp_to_template
from idbooth_lib.ranges import pixels_to_signed, signed_to_pixels
from idbooth_lib.recognition.bins import write_bin
from idbooth_lib.toy_world.faces import ToyFaceWorld

#: The benchmark's people: a world of its own, disjoint from the book's (0), the pretraining
#: world (1) and the detector's unseen world (2).
BENCHMARK_WORLD_SEED = 3
FOLDS = 10


def toy_benchmark_pairs(
    people_per_fold: int = 10, pairs_per_fold: int = 60, photos_per_person: int = 6, seed: int = 0
) -> tuple[np.ndarray, list[bool]]:
    """Aligned 112×112 uint8 images, two per pair, and the pairs' same-person flags."""
    world = ToyFaceWorld(BENCHMARK_WORLD_SEED)
    rng = np.random.default_rng(seed)
    images, same = [], []
    rendered: dict[tuple[int, int], np.ndarray] = {}  # a face drawn for two pairs is drawn once

    def aligned(person: int, photo: int) -> np.ndarray:
        key = (int(person), int(photo))
        if key not in rendered:
            rendered[key] = _aligned(world, *key)
        return rendered[key]

    for fold in range(FOLDS):
        people = range(fold * people_per_fold, (fold + 1) * people_per_fold)
        for pair in range(pairs_per_fold):
            genuine = pair % 2 == 0
            first, second = rng.choice(list(people), size=2, replace=False)
            if genuine:
                second = first
            a, b = rng.choice(photos_per_person, size=2, replace=False)
            images += [aligned(first, a), aligned(second, b)]
            same.append(genuine)
    return np.stack(images), same


def _aligned(world: ToyFaceWorld, person: int, photo: int) -> np.ndarray:
    face = world.face(int(person), int(photo), mode="wild")
    pixels = pixels_to_signed(np.asarray(face.image)[None].copy())
    aligned = warp_to_template(pixels, torch.as_tensor(face.landmarks)[None].float())
    return signed_to_pixels(aligned)[0].numpy()


def write_toy_benchmark(path: str | Path, **sizes) -> Path:
    """Write the toy benchmark to ``path`` (``idbooth toy-bin OUT.bin``)."""
    images, same = toy_benchmark_pairs(**sizes)
    return write_bin(path, images, same)


__all__ = ["BENCHMARK_WORLD_SEED", "toy_benchmark_pairs", "write_toy_benchmark"]
