"""Recipe: the toy face detector (is there a whole face in this 64×64 window, and where are its
landmarks?).

Positives are wild and studio toy faces from the pretraining world, randomly zoomed, shifted and
mirrored so that faces need not sit in the middle; a face counts as present only while all five
landmarks stay inside the window — a half-visible face is a negative, which is what lets a sliding
window find each face exactly once. Negatives are noise (white, smooth, flat colour) and toy scenery
without anyone in it, whole or cropped. The loss is binary cross-entropy on the face score plus a
smooth-L1 loss on the landmarks of the positives.

It is cheap on purpose: a 64 px convnet, batch 64, a few thousand steps — under ten minutes on one
CPU thread, so anyone can retrain the shipped detector.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from idbooth_lib.checkpoints import Checkpointer
from idbooth_lib.identity.toy_detector import DetectorConfig, ToyFaceDetector, pixels_to_normalised
from idbooth_lib.logs import package_logger
from idbooth_lib.ranges import pixels_to_signed
from idbooth_lib.toy.pretrain.common import (
    UNSEEN_WORLD_SEED,
    cosine_learning_rate,
    pretraining_faces,
    write_recipe_record,
)
from idbooth_lib.toy_world.faces import BACKGROUNDS
from idbooth_lib.toy_world.render import RenderedFaces, render_faces
from idbooth_lib.toy_world.scenes import paint_background

LOG = package_logger(__name__)

#: Landmark order after a horizontal flip: the left eye becomes the right one, and so on.
MIRRORED_LANDMARKS = [1, 0, 2, 4, 3]
WINDOW = 64


@dataclass(frozen=True)
class DetectorRecipe:
    """Everything that defines a detector run (architecture, data, augmentation, optimisation)."""

    architecture: DetectorConfig = DetectorConfig()
    seed: int = 0
    identities: int = 600
    wild_per_identity: int = 6
    constrained_per_identity: int = 2
    scenes: int = 1000
    steps: int = 2500
    batch_size: int = 64
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    face_share: float = 0.6
    noise_share: float = 0.15
    scale_range: tuple[float, float] = (0.6, 1.5)
    max_shift_px: float = 24.0
    inside_margin_px: float = 1.0
    landmark_weight: float = 5.0


DETECTOR_RECIPE = DetectorRecipe()


# ----------------------------------------------------------------------------------------------
# Batches
# ----------------------------------------------------------------------------------------------


def paint_scenes(count: int, seed: int, size: int = 96) -> torch.Tensor:
    """``count`` toy backgrounds (studio included) without a person, (N, 3, size, size) in [-1, 1]."""
    rng = np.random.default_rng(seed)
    choices = [None, *BACKGROUNDS]
    scenes = [
        np.asarray(paint_background(choices[int(rng.integers(len(choices)))], rng, size))
        for _ in range(count)
    ]
    return pixels_to_signed(np.stack(scenes))


def _zoom_and_shift(
    images: torch.Tensor, scales: torch.Tensor, shifts: torch.Tensor, size: int = WINDOW
) -> torch.Tensor:
    """Resample each image, fitted to a ``size`` window, zoomed by ``scales`` about its centre and
    moved by ``shifts`` (window pixels): a point at ``x`` lands at ``scale·(x − c) + c + shift``.
    Edge pixels are repeated where the window leaves the image."""
    theta = torch.zeros(len(images), 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1 / scales
    theta[:, :, 2] = -shifts / (size / 2) / scales[:, None]
    grid = F.affine_grid(theta, [len(images), 3, size, size], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _uniform(count: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(count, generator=generator)


def face_windows(
    faces: RenderedFaces, indices: np.ndarray, recipe: DetectorRecipe, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Augmented face windows, their landmarks and labels (1 while the whole face is in view)."""
    images = pixels_to_signed(faces.images[indices])
    landmarks = torch.as_tensor(faces.landmarks[indices]).clone()
    mirror = torch.rand(len(indices), generator=generator) < 0.5
    images[mirror] = images[mirror].flip(-1)
    mirrored = landmarks[mirror][:, MIRRORED_LANDMARKS]
    mirrored[..., 0] = WINDOW - 1 - mirrored[..., 0]
    landmarks[mirror] = mirrored
    low, high = np.log(recipe.scale_range[0]), np.log(recipe.scale_range[1])
    scales = torch.exp(_uniform(len(indices), low, high, generator))
    shifts = torch.stack(
        [
            _uniform(len(indices), -recipe.max_shift_px, recipe.max_shift_px, generator)
            for _ in "xy"
        ],
        dim=-1,
    )
    centre = (WINDOW - 1) / 2
    moved = (landmarks - centre) * scales[:, None, None] + centre + shifts[:, None, :]
    margin = recipe.inside_margin_px
    inside = ((moved >= margin) & (moved <= WINDOW - 1 - margin)).all(dim=-1).all(dim=-1)
    return _zoom_and_shift(images, scales, shifts), moved, inside.float()


def scene_windows(scenes: torch.Tensor, count: int, generator: torch.Generator) -> torch.Tensor:
    """Whole or cropped scenery windows: random zoom 1–2× into a random part of a scene."""
    indices = torch.randint(0, len(scenes), (count,), generator=generator)
    scales = _uniform(count, 1.0, 2.0, generator)
    reach = (scales - 1) * WINDOW / 2
    shifts = torch.stack(
        [(2 * torch.rand(count, generator=generator) - 1) * reach for _ in "xy"], -1
    )
    return _zoom_and_shift(scenes[indices], scales, shifts)


def noise_windows(count: int, generator: torch.Generator) -> torch.Tensor:
    """White noise, smooth noise at a random grain, or a flat colour with a little noise."""
    kinds = torch.randint(0, 3, (count,), generator=generator)
    windows = torch.empty(count, 3, WINDOW, WINDOW)
    for index, kind in enumerate(kinds.tolist()):
        if kind == 0:
            windows[index] = 2 * torch.rand(3, WINDOW, WINDOW, generator=generator) - 1
        elif kind == 1:
            grain = int(2 ** torch.randint(1, 5, (1,), generator=generator))
            coarse = torch.randn(1, 3, grain, grain, generator=generator) * 0.6
            windows[index] = F.interpolate(
                coarse, size=WINDOW, mode="bicubic", align_corners=False
            )[0]
        else:
            colour = 2 * torch.rand(3, 1, 1, generator=generator) - 1
            windows[index] = colour + 0.05 * torch.randn(3, WINDOW, WINDOW, generator=generator)
    return windows.clamp(-1, 1)


def training_batch(
    faces: RenderedFaces, scenes: torch.Tensor, recipe: DetectorRecipe, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One batch: windows, landmarks (zeros where there is no face) and labels."""
    face_count = round(recipe.face_share * recipe.batch_size)
    noise_count = round(recipe.noise_share * recipe.batch_size)
    scene_count = recipe.batch_size - face_count - noise_count
    indices = torch.randint(0, len(faces), (face_count,), generator=generator).numpy()
    face_images, face_landmarks, face_labels = face_windows(faces, indices, recipe, generator)
    negatives = torch.cat(
        [scene_windows(scenes, scene_count, generator), noise_windows(noise_count, generator)]
    )
    images = torch.cat([face_images, negatives])
    landmarks = torch.cat([face_landmarks, torch.zeros(len(negatives), 5, 2)])
    labels = torch.cat([face_labels, torch.zeros(len(negatives))])
    gain = 1 + 0.15 * (2 * torch.rand(len(images), 1, 1, 1, generator=generator) - 1)
    bias = 0.1 * (2 * torch.rand(len(images), 1, 1, 1, generator=generator) - 1)
    return (images * gain + bias).clamp(-1, 1), landmarks, labels


def detector_loss(
    model: ToyFaceDetector,
    images: torch.Tensor,
    landmarks: torch.Tensor,
    labels: torch.Tensor,
    landmark_weight: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """BCE on the face score + ``landmark_weight`` × smooth-L1 on normalised landmarks (positives)."""
    logits, predicted = model(images)
    score_loss = F.binary_cross_entropy_with_logits(logits, labels)
    positive = labels > 0.5
    if positive.any():
        landmark_loss = F.smooth_l1_loss(
            pixels_to_normalised(predicted[positive], WINDOW),
            pixels_to_normalised(landmarks[positive], WINDOW),
            beta=0.02,
        )
    else:
        landmark_loss = predicted.sum() * 0.0
    return score_loss + landmark_weight * landmark_loss, score_loss, landmark_loss


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------


def train_detector(
    recipe: DetectorRecipe,
    output: Path,
    steps: int | None = None,
    checkpoint_every: int = 500,
) -> ToyFaceDetector:
    """Train a toy face detector and save it to ``output`` (resuming from a checkpoint if any)."""
    output = Path(output)
    steps = recipe.steps if steps is None else steps
    torch.manual_seed(recipe.seed)
    generator = torch.Generator().manual_seed(recipe.seed)
    faces = pretraining_faces(recipe)
    scenes = paint_scenes(recipe.scenes, recipe.seed)
    model = ToyFaceDetector(recipe.architecture)
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=recipe.learning_rate, weight_decay=recipe.weight_decay
    )
    checkpointer = Checkpointer.in_cache(output)
    start = checkpointer.restore(model=model, optimiser=optimiser, generator=generator)
    model.train()
    began, running = time.time(), np.zeros(3)
    for step in range(start, steps):
        for group in optimiser.param_groups:
            group["lr"] = cosine_learning_rate(step, steps, recipe.learning_rate, warmup=100)
        images, landmarks, labels = training_batch(faces, scenes, recipe, generator)
        losses = detector_loss(model, images, landmarks, labels, recipe.landmark_weight)
        optimiser.zero_grad(set_to_none=True)
        losses[0].backward()
        optimiser.step()
        running += [loss.item() for loss in losses]
        if (step + 1) % 100 == 0:
            rate = (time.time() - began) / (step + 1 - start)
            total, score, points = running / 100
            LOG.info(
                f"step {step + 1}/{steps}  loss {total:.3f} (score {score:.3f}, "
                f"landmarks {points:.4f})  {rate:.2f} s/step"
            )
            running[:] = 0
        if (step + 1) % checkpoint_every == 0 or step + 1 == steps:
            checkpointer.store(step + 1, model=model, optimiser=optimiser, generator=generator)
    model.eval()
    model.save(output)
    write_recipe_record(output, recipe, steps, (time.time() - began) / 60)
    LOG.info(f"saved {output} after {steps} steps ({(time.time() - began) / 60:.1f} min this run)")
    return model


# ----------------------------------------------------------------------------------------------
# Benchmark
# ----------------------------------------------------------------------------------------------


@torch.no_grad()
def _scores_and_landmarks(
    detector: ToyFaceDetector, images: torch.Tensor, batch: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    scores, landmarks = [], []
    for start in range(0, len(images), batch):
        logits, points = detector(images[start : start + batch])
        scores.append(torch.sigmoid(logits))
        landmarks.append(points)
    return torch.cat(scores).numpy(), torch.cat(landmarks).numpy()


def _two_face_strips(faces: RenderedFaces, count: int) -> list[np.ndarray]:
    """128×64 strips of two different faces side by side (what a group photo is in the toy world)."""
    return [
        np.concatenate([faces.images[2 * i], faces.images[2 * i + 1]], axis=1) for i in range(count)
    ]


@torch.no_grad()
def benchmark_detector(
    detector: ToyFaceDetector, identities: int = 150, negatives: int = 300
) -> dict[str, float]:
    """How well ``detector`` does on people it never saw (world ``UNSEEN_WORLD_SEED``).

    Reports the mean landmark error in pixels of the 64×64 image (all, wild and studio faces), the
    share of faces found (score ≥ 0.5), the share of noise and of scenery windows rejected, and the
    share of two-face strips in which the sliding-window backend finds exactly two faces.
    """
    from idbooth_lib.data.detect import ToyDetectorBackend

    detector = detector.eval()
    people = range(identities)
    wild = render_faces(UNSEEN_WORLD_SEED, people, 2, "wild")
    studio = render_faces(UNSEEN_WORLD_SEED, people, 1, "constrained")
    results: dict[str, float] = {}
    found_all, errors_all = [], []
    for name, faces in (("wild", wild), ("constrained", studio)):
        scores, landmarks = _scores_and_landmarks(detector, pixels_to_signed(faces.images))
        errors = np.linalg.norm(landmarks - faces.landmarks, axis=-1).mean(axis=-1)
        results[f"landmark_error_px_{name}"] = float(errors.mean())
        results[f"detection_rate_{name}"] = float((scores >= 0.5).mean())
        found_all.append(scores >= 0.5)
        errors_all.append(errors)
    results["landmark_error_px"] = float(np.concatenate(errors_all).mean())
    results["detection_rate"] = float(np.concatenate(found_all).mean())
    generator = torch.Generator().manual_seed(UNSEEN_WORLD_SEED)
    noise_scores, _ = _scores_and_landmarks(detector, noise_windows(negatives, generator))
    scenery = scene_windows(paint_scenes(negatives, UNSEEN_WORLD_SEED), negatives, generator)
    scenery_scores, _ = _scores_and_landmarks(detector, scenery)
    results["noise_rejection_rate"] = float((noise_scores < 0.5).mean())
    results["scenery_rejection_rate"] = float((scenery_scores < 0.5).mean())
    backend = ToyDetectorBackend(detector)
    strips = _two_face_strips(studio, min(50, identities // 2))
    results["two_faces_found_rate"] = float(
        np.mean([len(backend.detect(strip)) == 2 for strip in strips])
    )
    results["faces"] = float(len(wild) + len(studio))
    return results
