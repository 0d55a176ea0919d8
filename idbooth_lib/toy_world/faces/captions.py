"""Captions of toy photos: the paper's prompt wording, applied to a toy scene.

Why so thin: the wording is the paper's prompt template (:mod:`idbooth_lib.vocabulary`), because
the captions the toy foundation model was trained on must be the very prompts that fine-tuning and
generation use. What the toy world adds is only the link to its own data: :func:`caption` reads the
pose and the background off a :class:`~idbooth_lib.toy_world.faces.traits.SceneSpec`, and a studio scene
(no background) gets no background clause, as the paper's plain studio training photos do.
"""

from __future__ import annotations

from idbooth_lib.toy_world.faces.traits import SceneSpec
from idbooth_lib.vocabulary import parse_prompt, portrait_prompt


def caption(gender: str, scene: SceneSpec, name: str | None = None) -> str:
    """Write the paper's prompt for an image, e.g. ``face portrait photo of a male person, forest
    background``; with ``name`` (the ID-Booth instance token) the article is dropped:
    ``face portrait photo of male sks person, forest background``. Studio images get no background
    clause, because the paper's real training photos (Tufts) are plain studio shots."""
    return describe(gender, scene.pose, scene.background, name)


def describe(gender: str, pose: str, background: str | None, name: str | None = None) -> str:
    """:func:`caption` from its parts, for code that holds no
    :class:`~idbooth_lib.toy_world.faces.traits.SceneSpec` (e.g. prompts); the wording is
    ``idbooth_lib.vocabulary.portrait_prompt``'s, which raises a ``ValueError`` for an
    unknown gender or pose."""
    return portrait_prompt(gender, pose, background, name)


def parse_caption(text: str) -> dict[str, str | None]:
    """Read gender, pose, background (None for studio) and name token (or None) back from a caption;
    a ``ValueError`` for text that is not a caption (``idbooth_lib.vocabulary.parse_prompt``)."""
    return parse_prompt(text)
