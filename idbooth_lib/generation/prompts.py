"""The paper's prompt wording: one template for fine-tuning captions, generation and adherence checks.

ID-Booth (Tomašević et al., FG 2025) generates with prompts of the form::

    face portrait photo of male sks person, forest background
    face side-portrait photo of female sks person, night club background

— the word ``side-portrait`` for half of the images, one of ten backgrounds appended (or none, as in
the studio training photos), and a fixed negative prompt (``GenerateConfig.negative_prompt``). With
no instance token the article comes back (``face portrait photo of a male person``): that is how the
toy foundation model was captioned, and how the base model is asked for "someone".

The template lives here, in the generation stage, because generation is where it is used; the toy
world imports it to caption its pretraining images with the very same words. :func:`prompt_plan`
lays out the paper's sets — 21 images per identity for the quality study, 100 for augmenting
face-recognition data — each image with a seed of its own that no method changes.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass

from idbooth_lib.data.scan import PROMPT_GENDERS

#: The ten backgrounds of the paper's "complex" prompts, in the paper's order.
BACKGROUNDS: tuple[str, ...] = (
    "forest",
    "city street",
    "beach",
    "office",
    "bus",
    "laboratory",
    "factory",
    "construction site",
    "hospital",
    "night club",
)
#: Head poses a prompt can ask for: ``portrait`` (frontal) or ``side-portrait`` (side).
POSES: tuple[str, ...] = ("frontal", "side")
#: The words the paper's prompts use for a person (kept with the photos' metadata, which reads them).
GENDERS = PROMPT_GENDERS

_PROMPT_PATTERN = re.compile(
    r"^face (?P<kind>portrait|side-portrait) photo of "
    r"(?:a (?P<plain>male|female)|(?P<named>male|female) (?P<name>\S+)) person"
    r"(?:, (?P<background>.+) background)?$"
)


def portrait_prompt(gender: str, pose: str, background: str | None, name: str | None = None) -> str:
    """The paper's prompt for one image: ``face {portrait|side-portrait} photo of {gender} {name}
    person[, {background} background]``; without ``name`` (the instance token, ``sks``) the subject
    is ``a {gender} person``."""
    if gender not in GENDERS:
        raise ValueError(f"gender must be one of {GENDERS}, got {gender!r}.")
    if pose not in POSES:
        raise ValueError(f"pose must be one of {POSES}, got {pose!r}.")
    kind = "side-portrait" if pose == "side" else "portrait"
    subject = f"a {gender}" if name is None else f"{gender} {name}"
    text = f"face {kind} photo of {subject} person"
    return text if background is None else f"{text}, {background} background"


def parse_prompt(text: str) -> dict[str, str | None]:
    """Gender, pose, background (None without one) and name token (or None) read back from a
    prompt of :func:`portrait_prompt`'s form; a ``ValueError`` for any other text."""
    match = _PROMPT_PATTERN.match(text.strip())
    if match is None:
        raise ValueError(f"Not a prompt of the paper's template: {text!r}.")
    background = match["background"]
    if background is not None and background not in BACKGROUNDS:
        raise ValueError(f"Unknown background {background!r} in prompt {text!r}.")
    return {
        "gender": match["plain"] or match["named"],
        "pose": "side" if match["kind"] == "side-portrait" else "frontal",
        "background": background,
        "name": match["name"],
    }


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
