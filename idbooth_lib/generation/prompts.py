"""The paper's prompt wording: one template for fine-tuning captions, generation and adherence checks.

ID-Booth (Tomašević et al., FG 2025) generates with prompts of the form::

    face portrait photo of male sks person, forest background
    face side-portrait photo of female sks person, night club background

— the word ``side-portrait`` for half of the images, one of ten backgrounds appended (or none, as in
the studio training photos), and a fixed negative prompt (``GenerateConfig.negative_prompt``). With
no instance token the article comes back (``face portrait photo of a male person``): that is how the
toy foundation model was captioned, and how the base model is asked for "someone".

The template lives here, in the generation stage, because generation is where it is used; the toy
world imports it to caption its pretraining images with the very same words.
"""

from __future__ import annotations

import re

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
GENDERS: tuple[str, ...] = ("male", "female")

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


__all__ = ["BACKGROUNDS", "GENDERS", "POSES", "parse_prompt", "portrait_prompt"]
