"""What one identity's fine-tuning trains on, and how its instance/class pairs are drawn.

Every batch holds ``batch_size`` instance images and as many class (prior-preservation) images, and
instance ``i`` is paired with class image ``i`` of the same batch: that class image's embedding is
instance ``i``'s negative in the triplet — also when the batch holds more than one pair (the
authors' scripts assumed a batch of one).

Two orders (``train.pair_sampling``):

- ``epoch`` — DreamBooth's dataset order, which the paper's scripts inherit from diffusers: a
  dataset of ``max(#instance, #class)`` pairs, item ``k`` being instance ``k mod #instance`` and
  class image ``k mod #class``, visited in a fresh shuffle each epoch. Every class image is used
  once per epoch. The shuffle of epoch ``e`` is seeded by the run's seed and ``e`` alone, so a
  resumed run draws exactly what an unbroken run draws, with no state to save.
- ``random`` — both indices uniformly, with replacement, from the run's generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from idbooth_lib.config import setting_choices

PAIR_SAMPLING = setting_choices("train.pair_sampling")


@dataclass
class IdentityData:
    """What fine-tuning one identity needs, as tensors (images in [-1, 1])."""

    instance_images: torch.Tensor
    instance_landmarks: torch.Tensor
    class_images: torch.Tensor
    instance_embeddings: torch.Tensor | None = None
    class_embeddings: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if len(self.instance_images) != len(self.instance_landmarks):
            raise ValueError("one set of landmarks per instance image is needed")
        if len(self.instance_images) == 0 or len(self.class_images) == 0:
            raise ValueError("fine-tuning needs at least one instance and one class image")

    @classmethod
    def from_prepared(cls, dataset_root: str | Path, identity: str, class_images) -> IdentityData:
        """One identity of a prepared dataset (``idbooth prepare``) with the class images."""
        from idbooth_lib.data.layout import PreparedFaces

        items = list(PreparedFaces(dataset_root, identity))
        return cls(
            instance_images=torch.stack([item["image"] for item in items]),
            instance_landmarks=torch.stack([item["landmarks"] for item in items]).float(),
            class_images=class_images.images,
            instance_embeddings=torch.stack([item["embedding"] for item in items]).float(),
            class_embeddings=class_images.embeddings,
        )

    def tensors(self) -> list[torch.Tensor]:
        """Every tensor that shapes training (for the run's fingerprint)."""
        parts = [self.instance_images, self.instance_landmarks, self.class_images]
        parts += [self.instance_embeddings, self.class_embeddings]
        return [part for part in parts if part is not None]


def draw_pairs(
    step: int,
    pairs: int,
    counts: tuple[int, int],
    sampling: str,
    generator: torch.Generator,
    seed: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Instance and class indices ``(pairs,)`` each for training step ``step`` (0-based).

    ``counts`` is ``(#instance images, #class images)``; see the module docstring for the orders.
    """
    instances, classes = counts
    if sampling == "random":
        instance = torch.randint(0, instances, (pairs,), generator=generator)
        prior = torch.randint(0, classes, (pairs,), generator=generator)
        return instance, prior
    if sampling != "epoch":
        raise ValueError(
            f"unknown pair sampling {sampling!r} (train.pair_sampling); choose one of "
            f"{', '.join(PAIR_SAMPLING)}"
        )
    length = max(instances, classes)
    positions = torch.arange(step * pairs, (step + 1) * pairs)
    items = torch.empty(pairs, dtype=torch.long)
    for epoch in positions.div(length, rounding_mode="floor").unique().tolist():
        # seed and epoch mixed, so that seed 0's epoch 1 is not seed 1's epoch 0
        epoch_seed = seed * 1_000_003 + epoch
        order = torch.randperm(length, generator=torch.Generator().manual_seed(epoch_seed))
        here = positions // length == epoch
        items[here] = order[positions[here] % length]
    return items % instances, items % classes
