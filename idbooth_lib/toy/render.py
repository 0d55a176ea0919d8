"""Render many toy faces into tensors, for pretraining and benchmarks.

The recipes and benchmarks need tens of thousands of faces as one uint8 tensor with landmarks,
identity labels and captions. Rendering costs a few milliseconds a face, so the arrays are cached on
disk (``.npz``, keyed on every argument) and reused by the next recipe or benchmark run.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from idbooth_lib.io import atomic_path
from idbooth_lib.toy.faces import GENERATOR_VERSION, ToyFaceWorld


@dataclass
class RenderedFaces:
    """A batch of toy faces as arrays: ``images`` (N, H, W, 3) uint8, ``landmarks`` (N, 5, 2)."""

    images: np.ndarray
    landmarks: np.ndarray
    identities: np.ndarray
    captions: list[str]
    backgrounds: list[str]
    poses: list[str]
    genders: list[str]

    def __len__(self) -> int:
        return len(self.images)


def cache_root() -> Path:
    """``$IDBOOTH_CACHE`` or ``~/.cache/idbooth``: files that can be rebuilt at any time."""
    return Path(os.environ.get("IDBOOTH_CACHE", "~/.cache/idbooth")).expanduser()


def cache_folder() -> Path:
    """Where rendered arrays are cached."""
    return cache_root() / "toy-renders"


def render_faces(
    world_seed: int,
    identities: range,
    images_per_identity: int,
    mode: str,
    size: int = 64,
    first_image: int = 0,
    progress: bool = True,
    use_cache: bool = True,
) -> RenderedFaces:
    """Render ``images_per_identity`` faces for each identity index in ``identities``."""
    key = json.dumps(
        [
            GENERATOR_VERSION,
            world_seed,
            identities.start,
            identities.stop,
            identities.step,
            images_per_identity,
            mode,
            size,
            first_image,
        ]
    )
    path = cache_folder() / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.npz"
    if use_cache and path.is_file():
        return _load(path)
    world = ToyFaceWorld(seed=world_seed, size=size)
    images, landmarks, labels, captions, backgrounds, poses, genders = [], [], [], [], [], [], []
    total = len(identities) * images_per_identity
    with tqdm(total=total, desc=f"rendering {mode} toy faces", disable=not progress) as bar:
        for identity in identities:
            for image in range(first_image, first_image + images_per_identity):
                face = world.face(identity, image, mode)
                images.append(np.asarray(face.image))
                landmarks.append(face.landmarks)
                labels.append(identity)
                captions.append(face.caption)
                backgrounds.append(face.scene.background or "studio")
                poses.append(face.scene.pose)
                genders.append(face.traits.gender)
                bar.update()
    rendered = RenderedFaces(
        np.stack(images),
        np.stack(landmarks).astype(np.float32),
        np.array(labels),
        captions,
        backgrounds,
        poses,
        genders,
    )
    if use_cache:
        _save(path, rendered)
    return rendered


def _save(path: Path, rendered: RenderedFaces) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        np.savez(
            handle,
            images=rendered.images,
            landmarks=rendered.landmarks,
            identities=rendered.identities,
            captions=np.array(rendered.captions),
            backgrounds=np.array(rendered.backgrounds),
            poses=np.array(rendered.poses),
            genders=np.array(rendered.genders),
        )


def _load(path: Path) -> RenderedFaces:
    # allow_pickle=False: only plain arrays are read back, never Python objects.
    with np.load(path, allow_pickle=False) as data:
        return RenderedFaces(
            data["images"],
            data["landmarks"],
            data["identities"],
            data["captions"].tolist(),
            data["backgrounds"].tolist(),
            data["poses"].tolist(),
            data["genders"].tolist(),
        )


def concatenate(parts: list[RenderedFaces]) -> RenderedFaces:
    """Join several renders into one."""
    return RenderedFaces(
        np.concatenate([part.images for part in parts]),
        np.concatenate([part.landmarks for part in parts]),
        np.concatenate([part.identities for part in parts]),
        [c for part in parts for c in part.captions],
        [b for part in parts for b in part.backgrounds],
        [p for part in parts for p in part.poses],
        [g for part in parts for g in part.genders],
    )
