"""Pieces every toy pretraining recipe shares: seeds of the worlds, tensors, schedules.

``to_unit_range`` is re-exported from :mod:`idbooth_lib.diffusion.basics` for the recipes.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from idbooth_lib.diffusion.basics import to_unit_range
from idbooth_lib.identity.align import warp_to_template
from idbooth_lib.toy.render import RenderedFaces, concatenate, render_faces

#: The world the toy models are pretrained on; the book uses world 0, benchmarks world 2.
PRETRAIN_WORLD_SEED = 1
UNSEEN_WORLD_SEED = 2


def pretraining_faces(recipe, progress: bool = True) -> RenderedFaces:
    """Wild and studio photos of the pretraining world's identities, as every recipe trains on.

    ``recipe`` is any recipe with ``identities``, ``wild_per_identity`` and
    ``constrained_per_identity``; the same numbers give the same (cached) render, drawn on every
    CPU core.
    """
    people, workers = range(recipe.identities), os.cpu_count() or 1
    return concatenate(
        [
            render_faces(
                PRETRAIN_WORLD_SEED,
                people,
                recipe.wild_per_identity,
                "wild",
                progress=progress,
                workers=workers,
            ),
            render_faces(
                PRETRAIN_WORLD_SEED,
                people,
                recipe.constrained_per_identity,
                "constrained",
                progress=progress,
                workers=workers,
            ),
        ]
    )


def aligned_batch(
    faces: RenderedFaces, indices: np.ndarray, landmark_noise_px: float, generator: torch.Generator
) -> torch.Tensor:
    """Aligned 112×112 crops of ``faces[indices]``, with landmarks jittered as a detector would."""
    images = to_unit_range(faces.images[indices])
    landmarks = torch.as_tensor(faces.landmarks[indices])
    if landmark_noise_px:
        landmarks = landmarks + landmark_noise_px * torch.randn(
            landmarks.shape, generator=generator
        )
    aligned = warp_to_template(images, landmarks)
    # Photometric jitter: brightness and contrast ±10 %.
    gain = 1 + 0.1 * (2 * torch.rand(len(indices), 1, 1, 1, generator=generator) - 1)
    bias = 0.1 * (2 * torch.rand(len(indices), 1, 1, 1, generator=generator) - 1)
    return (aligned * gain + bias).clamp(-1, 1)


def cosine_learning_rate(step: int, total: int, peak: float, warmup: int = 200) -> float:
    """Linear warm-up, then cosine decay to zero."""
    if step < warmup:
        return peak * (step + 1) / warmup
    return 0.5 * peak * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


@torch.no_grad()
def embed_faces(model: torch.nn.Module, faces: RenderedFaces, batch_size: int = 256) -> np.ndarray:
    """Embeddings of every face, aligned with its ground-truth landmarks."""
    model.eval()
    chunks = []
    for start in range(0, len(faces), batch_size):
        images = to_unit_range(faces.images[start : start + batch_size])
        landmarks = torch.as_tensor(faces.landmarks[start : start + batch_size])
        chunks.append(model(warp_to_template(images, landmarks)))
    return torch.cat(chunks).numpy()


def write_recipe_record(output: Path, recipe, steps: int, minutes: float) -> None:
    """Save ``recipe.json`` beside the weights: the settings and how long the run took, so the
    book can state what each shipped model cost to train."""
    import dataclasses
    import os
    import platform

    from idbooth_lib.io import write_json

    write_json(
        output / "recipe.json",
        {
            "recipe": dataclasses.asdict(recipe),
            "steps": steps,
            "minutes": round(minutes, 1),
            "machine": f"{os.cpu_count()} CPU cores, {platform.processor() or platform.machine()}",
            "torch_threads": torch.get_num_threads(),
        },
    )
