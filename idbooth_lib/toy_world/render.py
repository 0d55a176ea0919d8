"""Render many toy faces into tensors, for pretraining and benchmarks.

The recipes and benchmarks need tens of thousands of faces as one uint8 tensor with landmarks,
identity labels and captions. Rendering costs a few milliseconds a face, so the arrays are cached on
disk (``.npz``, keyed on every argument) and reused by the next recipe or benchmark run.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from idbooth_lib.io import atomic_path, cache_root
from idbooth_lib.logs import progress_bar
from idbooth_lib.toy_world.faces import GENERATOR_VERSION, ToyFaceWorld


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
    use_cache: bool = True,
    workers: int = 1,
) -> RenderedFaces:
    """Render ``images_per_identity`` faces for each identity index in ``identities``.

    With ``workers > 1``, large renders are split across that many processes.
    """
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
    total = len(identities) * images_per_identity
    chunks = _chunks(identities, workers, total)
    task = partial(
        _render_range,
        world_seed=world_seed,
        images_per_identity=images_per_identity,
        mode=mode,
        size=size,
        first_image=first_image,
    )
    parts = []
    with (
        progress_bar(total=total, desc=f"rendering {mode} toy faces") as bar,
        _mapper(workers, len(chunks)) as mapper,
    ):
        for part in mapper(task, chunks):
            parts.append(part)
            bar.update(len(part))
    rendered = concatenate(parts)
    if use_cache:
        _save(path, rendered)
    return rendered


#: Below this many faces, starting worker processes costs more than it saves.
MIN_FACES_FOR_WORKERS = 2000


def _chunks(identities: range, workers: int, total: int) -> list[range]:
    """Split ``identities`` into sub-ranges of work; one range when a pool would not pay off."""
    if workers <= 1 or total < MIN_FACES_FOR_WORKERS:
        return [identities]
    count = min(len(identities), 4 * workers)
    bounds = np.linspace(0, len(identities), count + 1).round().astype(int)
    return [identities[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


@contextmanager
def _mapper(workers: int, chunks: int):
    """``map`` in this process for one chunk, else a process pool's ``map``.

    Every face is a pure function of its seeds, so both give the same arrays. The workers are
    forked: they only run NumPy and Pillow, and unlike "spawn" a fork also works when the caller's
    ``__main__`` is not a file (a notebook cell, ``python -``).
    """
    if chunks == 1:
        yield map
        return
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(min(workers, chunks), mp_context=context) as pool:
        yield pool.map


def _render_range(
    identities: range,
    world_seed: int,
    images_per_identity: int,
    mode: str,
    size: int,
    first_image: int,
) -> RenderedFaces:
    """Render every photo of ``identities`` in this process."""
    world = ToyFaceWorld(seed=world_seed, size=size)
    faces = [
        world.face(identity, image, mode)
        for identity in identities
        for image in range(first_image, first_image + images_per_identity)
    ]
    return RenderedFaces(
        np.stack([np.asarray(face.image) for face in faces]),
        np.stack([face.landmarks for face in faces]).astype(np.float32),
        np.array([face.identity for face in faces]),
        [face.caption for face in faces],
        [face.scene.background or "studio" for face in faces],
        [face.scene.pose for face in faces],
        [face.traits.gender for face in faces],
    )


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
