"""Pieces every toy pretraining recipe shares: seeds of the worlds, tensors, schedules, checkpoints."""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from idbooth_lib.identity.align import warp_to_template
from idbooth_lib.io import atomic_path
from idbooth_lib.toy.render import RenderedFaces, cache_root, concatenate, render_faces

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


def to_unit_range(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W, 3) → float (N, 3, H, W) in [-1, 1], the range every model here expects."""
    tensor = torch.as_tensor(images)
    return tensor.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


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


class Checkpointer:
    """Save and restore a training state (tensors and numbers only) for one output folder.

    Checkpoints live in the cache (``$IDBOOTH_CACHE/checkpoints``), not beside the output: the
    output of a recipe is often a folder inside this package, which must hold only shipped files.
    """

    def __init__(self, output: Path) -> None:
        digest = hashlib.sha256(str(Path(output).expanduser().resolve()).encode()).hexdigest()[:10]
        self.folder = cache_root() / "checkpoints" / f"{Path(output).name}-{digest}"
        self.path = self.folder / "state.pt"

    def load(self) -> dict | None:
        if not self.path.is_file():
            return None
        # weights_only=True: a checkpoint can hold tensors and plain containers, never code.
        return torch.load(self.path, map_location="cpu", weights_only=True)

    def save(self, state: dict) -> None:
        with atomic_path(self.path) as temporary:
            torch.save(state, temporary)

    def store(self, step: int, **parts) -> None:
        """Save ``step`` and the state of each part (modules, optimisers, torch generators)."""
        self.save({"step": step, **{name: _state_of(part) for name, part in parts.items()}})

    def restore(self, log: Callable[[str], None] = print, **parts) -> int:
        """Load the saved state into each part; return the step to continue from (0: none)."""
        state = self.load()
        if state is None:
            return 0
        for name, part in parts.items():
            if isinstance(part, torch.Generator):
                part.set_state(state[name])
            else:
                part.load_state_dict(state[name])
        log(f"resumed from step {state['step']}")
        return state["step"]


def _state_of(part) -> object:
    return part.get_state() if isinstance(part, torch.Generator) else part.state_dict()


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
