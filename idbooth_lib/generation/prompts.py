"""The paper's prompt wording: one template for fine-tuning captions, generation and adherence checks.

ID-Booth (Tomašević et al., FG 2025) generates with prompts of the form::

    face portrait photo of male sks person, forest background
    face side-portrait photo of female sks person, night club background

— the word ``side-portrait`` for half of the images, one of ten backgrounds appended (or none, as in
the studio training photos), and a fixed negative prompt (``GenerateConfig.negative_prompt``). With
no instance token the article comes back (``face portrait photo of a male person``): that is how the
toy foundation model was captioned, and how the base model is asked for "someone".

The vocabulary and the template live in :mod:`idbooth_lib.vocabulary`, below every stage, because
the data stage and the toy world use the very same words (the toy foundation was captioned with
them); this module re-exports them and builds on them. :func:`prompt_plan` lays out the paper's
sets — 21 images per identity for the quality study, 100 for augmenting face-recognition data —
each image with a seed of its own that no method changes.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

# The vocabulary and the template live in a core module, which the data stage and the toy world
# read too; they are re-exported here, where the chapters look for the paper's prompts.
from idbooth_lib.vocabulary import BACKGROUNDS, GENDERS, POSES, parse_prompt, portrait_prompt


@dataclass(frozen=True)
class PlannedImage:
    """One image of an identity's prompt plan: what to ask for and the seed to draw it with."""

    index: int
    prompt: str
    negative_prompt: str
    seed: int
    pose: str
    background: str | None

    def to_dict(self) -> dict:
        return asdict(self)


def image_seed(seed: int, identity: str, index: int) -> int:
    """A 31-bit seed for image ``index`` of ``identity``: the same for every method, so the three
    methods are compared on the same starting noise, and different for every image."""
    digest = hashlib.sha256(f"{seed}/{identity}/{index}".encode()).hexdigest()
    return int(digest[:8], 16) & 0x7FFFFFFF


def prompt_plan(
    identity: str,
    gender: str,
    count: int,
    seed: int,
    negative_prompt: str,
    token: str = "sks",
) -> list[PlannedImage]:
    """The paper's prompts for ``count`` images of one identity, each with its seed.

    The backgrounds are taken in turn; each round of the ten alternates the pose (first frontal
    ``portrait``, then ``side-portrait``), so half of the images are side views. When ``count`` is
    one more than a multiple of ten — the paper's 21 — the first image has no background (the
    studio setting of the training photos): 21 is one plain image and every background twice, once
    per pose. Nothing depends on the method, so every method gets the same plan.
    """
    if count < 1:
        raise ValueError(f"a prompt plan needs at least one image, got {count}")
    studio = count % len(BACKGROUNDS) == 1
    plan = []
    for index in range(count):
        position = index - 1 if studio else index
        if position < 0:
            background, pose = None, "frontal"
        else:
            background = BACKGROUNDS[position % len(BACKGROUNDS)]
            pose = POSES[(position // len(BACKGROUNDS)) % len(POSES)]
        plan.append(
            PlannedImage(
                index=index,
                prompt=portrait_prompt(gender, pose, background, token),
                negative_prompt=negative_prompt,
                seed=image_seed(seed, identity, index),
                pose=pose,
                background=background,
            )
        )
    return plan


def instance_token(instance_prompt: str) -> str:
    """The rare token of an instance prompt: ``photo of sks person`` → ``sks``."""
    words = instance_prompt.split()
    if len(words) < 2 or words[-1] != "person":
        raise ValueError(
            f"train.instance_prompt {instance_prompt!r} should end with '<token> person', as "
            "'photo of sks person' does"
        )
    return words[-2]


__all__ = [
    "BACKGROUNDS",
    "GENDERS",
    "POSES",
    "PlannedImage",
    "image_seed",
    "instance_token",
    "parse_prompt",
    "portrait_prompt",
    "prompt_plan",
]
