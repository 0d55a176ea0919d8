"""Face-recognition training data: the aligned crops of prepared datasets, one class per person.

Real photos and synthetic images go through ``idbooth prepare`` alike, so both arrive as prepared
datasets whose ``aligned/`` folders hold the 112×112 ArcFace crops. The paper augments the real
photos of each person with synthetic images *of the same person*, so images are grouped into
classes by identity name across datasets: ``id_0003`` of the real set and ``id_0003`` of the
ID-Booth set are one class.

Model selection needs data the model was not trained on and that is not a test benchmark:
:func:`hold_out_identities` sets whole people aside (their real images only), and
:func:`validation_pairs` pairs their images for the 10-fold protocol — an open-set check, like the
benchmarks, on people of the training data's own kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from idbooth_lib.data.layout import (
    IDENTITY_FILE,
    aligned_image_path,
    dataset_identities,
    read_json,
)


@dataclass
class FaceClasses:
    """Aligned crops ``images`` (N, 112, 112, 3) uint8 with a class per image.

    ``classes[labels[i]]`` is image i's identity; ``origins[i]`` the dataset it came from.
    """

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    origins: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, rows: np.ndarray) -> FaceClasses:
        """The images at ``rows``, relabelled so that the classes present are 0..k-1."""
        rows = np.asarray(rows, int)
        present = sorted(set(self.labels[rows].tolist()))
        remap = {old: new for new, old in enumerate(present)}
        return FaceClasses(
            self.images[rows],
            np.array([remap[label] for label in self.labels[rows]], int),
            [self.classes[old] for old in present],
            [self.origins[row] for row in rows] if self.origins else [],
        )

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for origin in self.origins:
            counts[origin] = counts.get(origin, 0) + 1
        return {"images": len(self), "classes": len(self.classes), **counts}


def read_aligned(roots: list[str | Path]) -> FaceClasses:
    """Every aligned crop of the prepared datasets ``roots``, classes matched by identity name.

    Each image's origin is its dataset's folder name (``data``, ``idbooth``...), the name that
    training summaries count and that validation keeps real photos by; two datasets of one name
    would be one origin, so they are refused.
    """
    folder_names = [Path(root).name for root in roots]
    repeated = sorted({name for name in folder_names if folder_names.count(name) > 1})
    if repeated:
        raise ValueError(
            f"two of the datasets {', '.join(map(str, roots))} are folders named "
            f"{', '.join(repeated)}: real and synthetic images are told apart by that name, so "
            "rename one (for example prepared-real and prepared-idbooth)"
        )
    images, names, origins = [], [], []
    for root in map(Path, roots):
        for identity in dataset_identities(root):
            stems = read_json(root / identity / IDENTITY_FILE)["stems"]
            for stem in stems:
                with Image.open(aligned_image_path(root, identity, stem)) as image:
                    images.append(np.asarray(image.convert("RGB")))
                names.append(identity)
                origins.append(root.name)
    if not images:
        raise ValueError(
            f"no aligned faces in {', '.join(map(str, roots))}: prepare the photos with "
            "`idbooth prepare SRC DST` first"
        )
    classes = sorted(set(names))
    index = {name: label for label, name in enumerate(classes)}
    return FaceClasses(np.stack(images), np.array([index[n] for n in names]), classes, origins)


def hold_out_identities(
    data: FaceClasses,
    share: float,
    seed: int = 0,
    minimum: int = 2,
    origin: str | tuple[str, ...] | None = None,
) -> tuple[FaceClasses, FaceClasses]:
    """``(training, validation)``: a ``share`` of the people (at least ``minimum``) set aside
    whole; the validation set keeps only their images from ``origin`` (the real dataset, or a
    tuple of real datasets), so that a method is not judged on its own synthetic images."""
    count = max(minimum, int(round(share * len(data.classes))))
    if count >= len(data.classes):
        raise ValueError(
            f"{len(data.classes)} people cannot spare {count} for validation: use more people, "
            "or a smaller validation share"
        )
    people = np.random.default_rng(seed).permutation(len(data.classes))[:count]
    held = np.isin(data.labels, people)
    if origin is not None:
        real = (origin,) if isinstance(origin, str) else origin
        kept = np.array([o in real for o in data.origins])
    else:
        kept = np.ones(len(data), bool)
    return data.subset(np.flatnonzero(~held)), data.subset(np.flatnonzero(held & kept))


def validation_pairs(data: FaceClasses, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Every genuine pair of the set and as many impostor pairs, drawn at random, as
    ``(pairs (n, 2), same (n,))`` with genuine and impostor pairs interleaved."""
    rng = np.random.default_rng(seed)
    genuine = []
    for label in range(len(data.classes)):
        members = np.flatnonzero(data.labels == label)
        genuine += [(a, b) for i, a in enumerate(members) for b in members[i + 1 :]]
    if not genuine or len(data.classes) < 2:
        raise ValueError("validation needs two people, one of them with two images or more")
    impostor = []
    while len(impostor) < len(genuine):
        a, b = rng.integers(0, len(data), size=2)
        if data.labels[a] != data.labels[b]:
            impostor.append((a, b))
    pairs = np.empty((2 * len(genuine), 2), int)
    pairs[0::2], pairs[1::2] = genuine, impostor
    same = np.zeros(len(pairs), bool)
    same[0::2] = True
    return pairs, same


__all__ = ["FaceClasses", "hold_out_identities", "read_aligned", "validation_pairs"]
