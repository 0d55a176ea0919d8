"""Pieces every toy pretraining recipe shares: seeds of the worlds, tensors, schedules.

Images reach the recipes in the signed range through :func:`idbooth_lib.ranges.pixels_to_signed`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from idbooth_lib.identity.align import warp_to_template
from idbooth_lib.ranges import pixels_to_signed
from idbooth_lib.toy_world.render import RenderedFaces, concatenate, render_faces

#: The world the toy models are pretrained on; the book uses world 0, benchmarks world 2.
PRETRAIN_WORLD_SEED = 1
UNSEEN_WORLD_SEED = 2


def pretraining_faces(recipe) -> RenderedFaces:
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
                workers=workers,
            ),
            render_faces(
                PRETRAIN_WORLD_SEED,
                people,
                recipe.constrained_per_identity,
                "constrained",
                workers=workers,
            ),
        ]
    )


def aligned_batch(
    faces: RenderedFaces, indices: np.ndarray, landmark_noise_px: float, generator: torch.Generator
) -> torch.Tensor:
    """Aligned 112×112 crops of ``faces[indices]``, with landmarks jittered as a detector would."""
    images = pixels_to_signed(faces.images[indices])
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
        images = pixels_to_signed(faces.images[start : start + batch_size])
        landmarks = torch.as_tensor(faces.landmarks[start : start + batch_size])
        chunks.append(model(warp_to_template(images, landmarks)))
    return torch.cat(chunks).numpy()


def load_in_float32_by_default(model_folder: Path) -> None:
    """Make a transformers model saved in fp16 load in float32 when no ``dtype`` is asked for.

    transformers 5 loads a model in the dtype its ``config.json`` names, and ``save_pretrained``
    names the dtype of the weights it saved. The toy models are *stored* in fp16 (half the size),
    but a plain ``StableDiffusionPipeline.from_pretrained(folder)`` loads the UNet and VAE in
    float32 (diffusers' default): a half-precision text encoder beside them fails on the first
    prompt with "mat1 and mat2 must have the same dtype, but got Half and Float". So the config
    says float32, and every part of a default load agrees. The JSON is written as transformers
    writes it (sorted keys, two-space indent), so a rerun of a recipe gives the same bytes.
    """
    import json

    path = Path(model_folder) / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["dtype"] = "float32"
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


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

