"""Rendering and the world: :class:`ToyFaceWorld`, which turns seeds into people and their photos.

Why this is the module callers use: a photo needs all the others -- traits and a scene
(:mod:`~idbooth_lib.toy_world.faces.traits`), the head transform (:mod:`~idbooth_lib.toy_world.faces.geometry`),
the features (:mod:`~idbooth_lib.toy_world.faces.features`) and a caption
(:mod:`~idbooth_lib.toy_world.faces.captions`) -- and the world ties them to seeds, so that every reader
gets exactly the same data. It also holds the checks on what callers pass in (modes, indices,
hand-built scenes) and ``GENERATOR_VERSION``, which names the images' exact look in render caches
and data set metadata: the shipped toy models were trained on these pixels, so a change to the
drawing would need a new version.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from idbooth_lib.toy_world.faces.captions import caption
from idbooth_lib.toy_world.faces.features import face_landmarks, paint_figure
from idbooth_lib.toy_world.faces.geometry import REFERENCE, Head, Painter
from idbooth_lib.toy_world.faces.traits import (
    BACKGROUNDS,
    EXPRESSIONS,
    MODES,
    POSES,
    IdentityTraits,
    SceneSpec,
    sample_scene,
    sample_traits,
)
from idbooth_lib.toy_world.scenes import paint_background

GENERATOR_VERSION = "toyfaces-1"
_SUPERSAMPLING = 4
_IDENTITY_CACHE_SIZE = 100_000
# non-zero: SeedSequence ignores trailing zeros
_MODE_CODES = {"constrained": 1, "wild": 2, "posed": 3}


@dataclass
class ToyFace:
    """One rendered image with its ground truth."""

    image: Image.Image
    landmarks: np.ndarray  # (5, 2) float32, (x, y) pixels, order LANDMARK_NAMES
    identity: int
    traits: IdentityTraits
    scene: SceneSpec

    @property
    def caption(self) -> str:
        return caption(self.traits.gender, self.scene)


def _light_field(scene: SceneSpec, head: Head, size: int) -> np.ndarray:
    """A linear ramp across the head along the light direction: 1 +- light_strength at its edges."""
    unit = size / REFERENCE
    centre = head.to_reference(np.zeros((1, 2)))[0] * unit
    radius = head.half_height * head.scale * unit
    angle = math.radians(scene.light_angle_degrees)
    coords = np.arange(size, dtype=np.float32) + 0.5
    along = (
        (coords[None, :] - centre[0]) * math.cos(angle)
        + (coords[:, None] - centre[1]) * math.sin(angle)
    ) / radius
    return 1.0 + scene.light_strength * np.clip(along, -1.0, 1.0)


def _render_image(
    traits: IdentityTraits, scene: SceneSpec, size: int
) -> tuple[Image.Image, np.ndarray]:
    """Draw at 4x and box-filter down (smooth edges); then shade the person with the light ramp
    and scale the whole image by the brightness."""
    pixels = size * _SUPERSAMPLING
    head = Head.build(traits, scene, pixels)
    canvas = paint_background(scene.background, np.random.default_rng(scene.detail_seed), pixels)
    painter = Painter(head, canvas, with_mask=scene.light_strength > 0)
    paint_figure(painter, traits, scene)
    image = canvas.reduce(_SUPERSAMPLING)
    gain = np.float32(scene.brightness)
    if painter.mask is not None:
        coverage = np.asarray(painter.mask.reduce(_SUPERSAMPLING), np.float32) / 255.0
        gain = gain * (1.0 + coverage * (_light_field(scene, head, size) - 1.0))[:, :, None]
    if np.ndim(gain) or gain != 1.0:
        shaded = np.asarray(image, dtype=np.float32) * gain
        image = Image.fromarray(np.clip(np.round(shaded), 0, 255).astype(np.uint8), "RGB")
    return image, face_landmarks(traits, scene, head, size)


def _check_index(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}.")
    return int(value)


def _check_scene(scene: SceneSpec) -> None:
    """Catch hand-built scenes with typos early; the drawing would otherwise ignore them."""
    for name, value, valid in (
        ("pose", scene.pose, POSES),
        ("expression", scene.expression, EXPRESSIONS),
        ("background", scene.background, (None, *BACKGROUNDS)),
    ):
        if value not in valid:
            raise ValueError(f"Unknown {name} {value!r}; expected one of {valid}.")


def check_mode(mode: str) -> str:
    """Return ``mode`` if it is a known scene mode, else raise a ValueError naming the valid ones."""
    if mode not in MODES:
        raise ValueError(f"Unknown mode {mode!r}; valid modes are {', '.join(MODES)}.")
    return mode


class ToyFaceWorld:
    """A reproducible population of toy people and their photos.

    ``identity(i)`` and ``sample_scene(i, j, mode)`` each seed their own generator from
    ``(seed, i[, j, mode])``, so any image can be produced alone, in any order, on any machine.
    ``mode="constrained"`` mimics the paper's studio training photos (Tufts: plain background,
    frontal, even light); ``mode="wild"`` varies background, pose, light, framing and expression.
    """

    def __init__(self, seed: int = 0, size: int = 64) -> None:
        self.seed = _check_index("seed", seed)
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 16:
            raise ValueError(f"size must be an integer of at least 16 pixels, got {size!r}.")
        self.size = int(size)
        self._identities: dict[int, IdentityTraits] = {}

    def __repr__(self) -> str:
        return f"ToyFaceWorld(seed={self.seed}, size={self.size})"

    def identity(self, index: int) -> IdentityTraits:
        """The traits of person ``index`` (cached: traits are immutable and cheap to keep)."""
        index = _check_index("index", index)
        if index not in self._identities:
            if len(self._identities) >= _IDENTITY_CACHE_SIZE:
                self._identities.clear()
            sequence = np.random.SeedSequence([self.seed, index])
            self._identities[index] = sample_traits(np.random.default_rng(sequence))
        return self._identities[index]

    def sample_scene(self, identity_index: int, image_index: int, mode: str) -> SceneSpec:
        """The conditions of photo ``image_index`` of person ``identity_index``."""
        sequence = np.random.SeedSequence(
            [
                self.seed,
                _check_index("identity_index", identity_index),
                _check_index("image_index", image_index),
                _MODE_CODES[check_mode(mode)],
            ]
        )
        return sample_scene(np.random.default_rng(sequence), mode)

    def render(self, traits: IdentityTraits, scene: SceneSpec, identity: int = -1) -> ToyFace:
        """Draw ``traits`` under ``scene``; a pure function of its inputs and the image size."""
        _check_scene(scene)
        image, landmarks = _render_image(traits, scene, self.size)
        return ToyFace(image, landmarks, identity, traits, scene)

    def face(self, identity_index: int, image_index: int, mode: str = "constrained") -> ToyFace:
        """Photo ``image_index`` of person ``identity_index``."""
        scene = self.sample_scene(identity_index, image_index, mode)
        return self.render(self.identity(identity_index), scene, identity_index)
