"""Who a toy person is and what one photo of them looks like: the traits, the scenes, and their odds.

Why a module of its own: identities and scenes are the ground truth that every later stage checks
against (recognisers against the identity, prompt adherence against the background and pose), and
they are plain data that can be sampled, saved as JSON and read back without drawing anything.
:class:`IdentityTraits` holds what stays fixed for a person, :class:`SceneSpec` what may change
between their photos; :func:`sample_traits` and :func:`sample_scene` draw them from a generator.
The words a prompt can use (``BACKGROUNDS``, ``POSES``, ``GENDERS``) come from
:mod:`idbooth_lib.vocabulary`, so the toy world and the paper's prompts share one vocabulary.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from idbooth_lib.toy_world.scenes import Colour, blend, jitter
from idbooth_lib.vocabulary import BACKGROUNDS, GENDERS, POSES

EXPRESSIONS: tuple[str, ...] = ("neutral", "smile", "open")
HAIR_STYLES: tuple[str, ...] = ("bald", "short", "long", "bun", "fringe", "curly")
BEARDS: tuple[str, ...] = ("none", "stubble", "moustache", "full")
GLASSES: tuple[str, ...] = ("none", "round", "square")
#: ``constrained``: frontal studio shots in even light (the paper's Tufts training photos);
#: ``posed``: the same plain backdrop, the head turned and the light moved as in the wild (a
#: studio session); ``wild``: backgrounds too.
MODES: tuple[str, ...] = ("constrained", "posed", "wild")

_SKIN_RAMP = np.array(
    [
        (255, 228, 204),
        (240, 198, 164),
        (224, 172, 130),
        (192, 138, 98),
        (152, 102, 68),
        (108, 70, 46),
    ],
    dtype=float,
)
_HAIR_COLOURS: dict[str, tuple[Colour, float]] = {
    "black": ((26, 22, 22), 0.22),
    "dark brown": ((64, 40, 26), 0.22),
    "brown": ((112, 74, 44), 0.17),
    "auburn": ((138, 58, 30), 0.08),
    "blonde": ((224, 192, 122), 0.14),
    "ginger": ((204, 104, 42), 0.07),
    "grey": ((160, 160, 162), 0.07),
    "white": ((232, 230, 224), 0.03),
}
_EYE_COLOURS: tuple[Colour, ...] = (
    (96, 58, 30),
    (52, 32, 20),
    (70, 122, 184),
    (72, 134, 82),
    (132, 102, 52),
    (118, 130, 142),
)
_FRAME_COLOURS: tuple[Colour, ...] = (
    (20, 20, 20),
    (96, 58, 30),
    (200, 170, 60),
    (180, 30, 40),
    (30, 60, 160),
    (170, 174, 180),
)
_HAIR_STYLE_ODDS = {
    "male": (0.15, 0.45, 0.05, 0.0, 0.15, 0.20),
    "female": (0.0, 0.10, 0.45, 0.15, 0.15, 0.15),
}


def _listify(value: Any) -> Any:
    """Turn tuples into lists recursively so that ``to_dict`` equals its JSON round trip."""
    if isinstance(value, (tuple, list)):
        return [_listify(item) for item in value]
    if isinstance(value, dict):
        return {key: _listify(item) for key, item in value.items()}
    return value


@dataclass(frozen=True)
class IdentityTraits:
    """Everything that makes one toy person look like themselves, whatever the scene.

    Lengths are in pixels of a 64 px image at scale 1; positions are relative to the head centre.
    """

    gender: str
    head_height: float  # half height of the head
    face_width_ratio: float  # half width / half height
    face_exponent: float  # superellipse exponent: 2 = oval, larger = squarer
    jaw_taper: float  # how much the lower face narrows toward the chin
    skin_tone: Colour
    hair_colour: Colour
    hair_style: str
    hair_volume: float
    hairline: float  # forehead hairline height as a fraction of head_height
    eye_colour: Colour
    eye_spacing: float  # distance between the eye centres
    eye_height: float  # y of the eye centres (negative = above head centre)
    eye_size: float
    nose_length: float  # y of the nose tip
    nose_width: float
    nose_protrusion: float
    mouth_width: float
    mouth_height: float  # y of the mouth corners
    lip_colour: Colour
    lip_thickness: float
    brow_thickness: float
    brow_angle: float  # degrees; positive raises the outer ends
    beard: str
    glasses: str
    glasses_colour: Colour
    mole: tuple[float, float] | None
    ear_size: float
    curl_seed: int  # fixes where curls bump out, so curly hair is the same in every image

    def to_dict(self) -> dict[str, Any]:
        return _listify(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IdentityTraits:
        values = {
            key: tuple(value) if isinstance(value, list) else value for key, value in data.items()
        }
        return cls(**values)


@dataclass(frozen=True)
class SceneSpec:
    """The conditions of one photo: everything that may change between images of one person."""

    background: str | None  # None = plain studio backdrop
    pose: str
    yaw_degrees: float
    roll_degrees: float
    scale: float
    shift: tuple[float, float]  # pixels of a 64 px image
    light_angle_degrees: float  # direction the light comes from, 0 = from the right
    light_strength: float  # 0 = even light
    brightness: float
    expression: str
    clothing_colour: Colour
    detail_seed: int  # drives the background's layout and the studio shade

    def to_dict(self) -> dict[str, Any]:
        return _listify(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SceneSpec:
        values = {
            key: tuple(value) if isinstance(value, list) else value for key, value in data.items()
        }
        return cls(**values)


def to_colour(values: np.ndarray | tuple[float, ...]) -> Colour:
    """Round and clip RGB ``values`` to a colour of integers in 0..255."""
    return tuple(int(v) for v in np.clip(np.round(np.asarray(values, float)), 0, 255))  # type: ignore[return-value]


def sample_traits(rng: np.random.Generator) -> IdentityTraits:
    """Draw one identity. Males get wider jaws, thicker brows, beards and shorter hair more often,
    so that gender is visible on average, as the paper's gender-conditioned prompts assume."""
    gender = GENDERS[int(rng.integers(2))]
    male = gender == "male"
    position = rng.uniform(0, len(_SKIN_RAMP) - 1)
    low = min(int(position), len(_SKIN_RAMP) - 2)
    skin_rgb = _SKIN_RAMP[low] + (position - low) * (_SKIN_RAMP[low + 1] - _SKIN_RAMP[low])
    names = list(_HAIR_COLOURS)
    odds = np.array([_HAIR_COLOURS[n][1] for n in names])
    hair_rgb = _HAIR_COLOURS[names[int(rng.choice(len(names), p=odds / odds.sum()))]][0]
    lip_base = blend(skin_rgb * 0.78, (196, 70, 84), rng.uniform(0.45, 0.85) if not male else 0.25)
    mole = None
    if rng.random() < 0.3:
        mole = (float(rng.choice([-1, 1]) * rng.uniform(5, 10)), float(rng.uniform(3, 12)))
    return IdentityTraits(
        gender=gender,
        head_height=float(rng.uniform(25.5, 27.5)),
        face_width_ratio=float(rng.uniform(0.74, 0.84) if male else rng.uniform(0.68, 0.78)),
        face_exponent=float(rng.uniform(2.3, 3.2) if male else rng.uniform(2.0, 2.6)),
        jaw_taper=float(rng.uniform(0.05, 0.2) if male else rng.uniform(0.18, 0.32)),
        skin_tone=jitter(rng, skin_rgb, 6),
        hair_colour=jitter(rng, hair_rgb, 10),
        hair_style=str(rng.choice(HAIR_STYLES, p=_HAIR_STYLE_ODDS[gender])),
        hair_volume=float(rng.uniform(1.5, 3.5)),
        hairline=float(rng.uniform(0.46, 0.64) if male else rng.uniform(0.5, 0.6)),
        eye_colour=jitter(rng, _EYE_COLOURS[int(rng.integers(len(_EYE_COLOURS)))], 10),
        eye_spacing=float(rng.uniform(18.5, 20.7)),
        eye_height=float(rng.uniform(-3.8, -2.2)),
        eye_size=float(rng.uniform(0.85, 1.2)),
        nose_length=float(rng.uniform(7.4, 9.8)),
        nose_width=float(rng.uniform(5.0, 7.0) if male else rng.uniform(4.2, 5.8)),
        nose_protrusion=float(rng.uniform(3.0, 5.0)),
        mouth_width=float(rng.uniform(14.8, 18.4)),
        mouth_height=float(rng.uniform(18.6, 20.6)),
        lip_colour=jitter(rng, lip_base, 8),
        lip_thickness=float(rng.uniform(0.8, 1.3) if male else rng.uniform(1.1, 1.7)),
        brow_thickness=float(rng.uniform(1.2, 2.0) if male else rng.uniform(0.7, 1.2)),
        brow_angle=float(rng.uniform(-12, 14)),
        beard=str(rng.choice(BEARDS, p=(0.45, 0.2, 0.12, 0.23))) if male else "none",
        glasses=str(rng.choice(GLASSES, p=(0.6, 0.2, 0.2))),
        glasses_colour=_FRAME_COLOURS[int(rng.integers(len(_FRAME_COLOURS)))],
        mole=mole,
        ear_size=float(rng.uniform(0.85, 1.2)),
        curl_seed=int(rng.integers(2**31)),
    )


def sample_scene(rng: np.random.Generator, mode: str) -> SceneSpec:
    """Draw one photo's conditions: a plain studio shot (``constrained``), a studio session
    (``posed``: anything but a background) or anything (``wild``)."""
    if mode == "posed":
        return replace(sample_scene(rng, "wild"), background=None)
    clothing = to_colour(rng.uniform(30, 220, size=3))
    detail_seed = int(rng.integers(2**31))
    if mode == "constrained":
        expression = str(rng.choice(EXPRESSIONS, p=(0.8, 0.15, 0.05)))
        return SceneSpec(
            None,
            "frontal",
            0.0,
            0.0,
            1.0,
            (0.0, 0.0),
            0.0,
            0.0,
            1.0,
            expression,
            clothing,
            detail_seed,
        )
    pose = POSES[int(rng.integers(2))]
    yaw = rng.uniform(-6, 6) if pose == "frontal" else rng.choice([-1, 1]) * rng.uniform(25, 45)
    return SceneSpec(
        background=BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))],
        pose=pose,
        yaw_degrees=float(yaw),
        roll_degrees=float(rng.uniform(-8, 8)),
        scale=float(rng.uniform(0.92, 1.08)),
        shift=(float(rng.uniform(-3, 3)), float(rng.uniform(-3, 3))),
        light_angle_degrees=float(rng.uniform(0, 360)),
        light_strength=float(rng.uniform(0.0, 0.45)),
        brightness=float(rng.uniform(0.8, 1.15)),
        expression=EXPRESSIONS[int(rng.integers(len(EXPRESSIONS)))],
        clothing_colour=clothing,
        detail_seed=detail_seed,
    )
