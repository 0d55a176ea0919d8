"""The paper's prompt vocabulary: its ten backgrounds, two poses, two genders and one template.

ID-Booth (Tomašević et al., FG 2025) writes every prompt in one form::

    face portrait photo of male sks person, forest background
    face side-portrait photo of female sks person, night club background

Why a core module: three parts of the library must use the very same words. The data stage reads
a person's gender in the prompts' words, the generation stage writes the prompts, and the toy world
captions its photos with them (the toy foundation learnt to draw from those captions). Living
below all of them, the vocabulary lets the toy world stay a data source beneath the stages: it
reads these words and nothing of the stages. The generation stage builds its prompt plans on it
(:mod:`idbooth_lib.generation.prompts`).
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
#: The words the paper's prompts use for a person ("face portrait photo of female sks person").
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
