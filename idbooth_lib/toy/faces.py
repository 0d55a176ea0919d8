"""A procedurally generated world of toy faces with known identities, scenes and landmarks.

Why: the book cannot download face data sets or pretrained face models, yet every chapter of
ID-Booth needs faces whose identity is known (to fine-tune on, to verify against) and images whose
conditions are known (background, pose) to check prompt adherence. This module draws such faces
from scratch, deterministically, so every reader gets exactly the same data.

Geometry. Every feature lives in face-centred 3D coordinates on an ellipsoidal head (x right, y down,
z toward the viewer, units = pixels of a 64 x 64 image at scale 1). One transform -- a yaw rotation
followed by an image-plane similarity (roll, scale, shift) -- maps every polygon vertex *and* every
landmark to the image, so the five landmarks match the drawing exactly. At scale 1 the landmarks sit
close to insightface's ArcFace template scaled to 64 px, so aligned crops are only a mild warp.

Landmarks use the OpenCV/insightface pixel convention: the centre of pixel (column i, row j) is the
point (i, j). Positive yaw turns the face toward +x (image right); positive roll rotates clockwise.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from idbooth_lib.toy.scenes import BACKGROUNDS, Colour, blend, jitter, paint_background

__all__ = [
    "ARCFACE_TEMPLATE_64",
    "BACKGROUNDS",
    "EXPRESSIONS",
    "GENDERS",
    "GENERATOR_VERSION",
    "LANDMARK_NAMES",
    "MODES",
    "POSES",
    "IdentityTraits",
    "SceneSpec",
    "ToyFace",
    "ToyFaceWorld",
    "caption",
    "describe",
    "parse_caption",
]

GENERATOR_VERSION = "toyfaces-1"
POSES: tuple[str, ...] = ("frontal", "side")
EXPRESSIONS: tuple[str, ...] = ("neutral", "smile", "open")
GENDERS: tuple[str, ...] = ("male", "female")
HAIR_STYLES: tuple[str, ...] = ("bald", "short", "long", "bun", "fringe", "curly")
BEARDS: tuple[str, ...] = ("none", "stubble", "moustache", "full")
GLASSES: tuple[str, ...] = ("none", "round", "square")
MODES: tuple[str, ...] = ("constrained", "wild")
LANDMARK_NAMES: tuple[str, ...] = ("left_eye", "right_eye", "nose_tip", "mouth_left", "mouth_right")

ARCFACE_TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)
ARCFACE_TEMPLATE_64 = ARCFACE_TEMPLATE_112 * np.float32(64 / 112)
"""insightface's 5-point ArcFace template, scaled from 112 to 64 pixels."""

_REFERENCE = 64.0  # geometry is defined for a 64 x 64 image and scaled to the requested size
_SUPERSAMPLING = 4
_HEAD_CENTRE = (32.0, 33.0)  # reference units, pixel-area coordinates
_IDENTITY_CACHE_SIZE = 100_000
_MODE_CODES = {"constrained": 1, "wild": 2}  # non-zero: SeedSequence ignores trailing zeros

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


# ----------------------------------------------------------------------------------------------
# Captions
# ----------------------------------------------------------------------------------------------

_CAPTION_PATTERN = re.compile(
    r"^face (?P<kind>portrait|side-portrait) photo of "
    r"(?:a (?P<plain>male|female)|(?P<named>male|female) (?P<name>\S+)) person"
    r"(?:, (?P<background>.+) background)?$"
)


def caption(gender: str, scene: SceneSpec, name: str | None = None) -> str:
    """Write the paper's prompt for an image, e.g. ``face portrait photo of a male person, forest
    background``; with ``name`` (the ID-Booth instance token) the article is dropped:
    ``face portrait photo of male sks person, forest background``. Studio images get no background
    clause, because the paper's real training photos (Tufts) are plain studio shots."""
    return describe(gender, scene.pose, scene.background, name)


def describe(gender: str, pose: str, background: str | None, name: str | None = None) -> str:
    """:func:`caption` from its parts, for code that holds no :class:`SceneSpec` (e.g. prompts)."""
    if gender not in GENDERS:
        raise ValueError(f"gender must be one of {GENDERS}, got {gender!r}.")
    kind = "side-portrait" if pose == "side" else "portrait"
    subject = f"a {gender}" if name is None else f"{gender} {name}"
    text = f"face {kind} photo of {subject} person"
    return text if background is None else f"{text}, {background} background"


def parse_caption(text: str) -> dict[str, str | None]:
    """Read gender, pose, background (None for studio) and name token (or None) back from a caption."""
    match = _CAPTION_PATTERN.match(text.strip())
    if match is None:
        raise ValueError(f"Not a toy-face caption: {text!r}.")
    background = match["background"]
    if background is not None and background not in BACKGROUNDS:
        raise ValueError(f"Unknown background {background!r} in caption {text!r}.")
    return {
        "gender": match["plain"] or match["named"],
        "pose": "side" if match["kind"] == "side-portrait" else "frontal",
        "background": background,
        "name": match["name"],
    }


# ----------------------------------------------------------------------------------------------
# Identities and scenes
# ----------------------------------------------------------------------------------------------


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


def _colour(values: np.ndarray | tuple[float, ...]) -> Colour:
    return tuple(int(v) for v in np.clip(np.round(np.asarray(values, float)), 0, 255))  # type: ignore[return-value]


def _sample_traits(rng: np.random.Generator) -> IdentityTraits:
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


def _sample_scene(rng: np.random.Generator, mode: str) -> SceneSpec:
    """Draw one photo's conditions: a plain studio shot (``constrained``) or anything (``wild``)."""
    clothing = _colour(rng.uniform(30, 220, size=3))
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


# ----------------------------------------------------------------------------------------------
# Geometry: the single transform shared by drawing and landmarks
# ----------------------------------------------------------------------------------------------


def _positive(values: np.ndarray) -> np.ndarray:
    return np.maximum(values, 0.0)


@dataclass(frozen=True)
class _Head:
    """The head of one identity in one scene, and the projection from face space to the canvas.

    Projection = yaw (x' = x cos + z sin, depth z' = -x sin + z cos), then roll, scale and shift in
    the image plane. Both steps are linear, so they are folded into one 3 x 2 matrix; drawing and
    landmarks use that same matrix.
    """

    half_width: float  # a: x semi-axis of the head
    half_height: float  # b
    depth: float  # z semi-axis of the face surface that carries the features
    skull_depth: (
        float  # z semi-axis of the skull, which sets the silhouette and the hair at the back
    )
    exponent: float
    jaw_taper: float
    yaw: float  # radians
    roll: float  # radians
    scale: float
    shift: tuple[float, float]
    canvas_per_unit: float  # canvas pixels per reference unit
    plane_to_reference: np.ndarray = field(compare=False, repr=False)  # (2, 2), row vectors
    reference_offset: np.ndarray = field(compare=False, repr=False)  # (2,)

    @classmethod
    def build(cls, traits: IdentityTraits, scene: SceneSpec, canvas_pixels: int) -> _Head:
        half_width = traits.head_height * traits.face_width_ratio
        roll = math.radians(scene.roll_degrees)
        cos, sin = math.cos(roll) * scene.scale, math.sin(roll) * scene.scale
        plane_to_reference = np.array([[cos, sin], [-sin, cos]])
        offset = np.array([_HEAD_CENTRE[0] + scene.shift[0], _HEAD_CENTRE[1] + scene.shift[1]])
        return cls(
            half_width,
            traits.head_height,
            half_width,
            1.2 * half_width,
            traits.face_exponent,
            traits.jaw_taper,
            math.radians(scene.yaw_degrees),
            roll,
            scene.scale,
            scene.shift,
            canvas_pixels / _REFERENCE,
            plane_to_reference,
            offset,
        )

    def surface_z(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Depth of the face surface: an ellipsoid across, gently curving back toward chin/brow."""
        across = np.sqrt(_positive(1.0 - (np.asarray(x) / self.half_width) ** 2))
        return self.depth * across * (1.0 - 0.22 * (np.asarray(y) / self.half_height) ** 2)

    def on_surface(self, points: np.ndarray, lift: float | np.ndarray = 0.0) -> np.ndarray:
        """Lift 2D face points (N, 2) onto the surface, plus ``lift`` toward the viewer."""
        lifted = np.empty((len(points), 3))
        lifted[:, :2] = points
        lifted[:, 2] = self.surface_z(lifted[:, 0], lifted[:, 1]) + lift
        return lifted

    def rotate(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Yaw the 3D points (N, 3); return the face-plane points (N, 2) and their new depth."""
        cos, sin = math.cos(self.yaw), math.sin(self.yaw)
        plane = points[:, :2].copy()
        plane[:, 0] = points[:, 0] * cos + points[:, 2] * sin
        return plane, points[:, 2] * cos - points[:, 0] * sin

    @property
    def outline_width(self) -> float:
        """Half width of the head silhouette under yaw: the skull is a little deeper than wide, so
        the outline widens by about 10 % at 45 degrees, while the flatter face surface keeps
        every feature inside it."""
        return math.hypot(
            self.half_width * math.cos(self.yaw), self.skull_depth * math.sin(self.yaw)
        )

    def chin_shift(self, y: np.ndarray) -> np.ndarray:
        """The chin sits in front of the rotation axis, so it swings toward the turn."""
        below = _positive(np.asarray(y) / self.half_height)
        return 0.3 * self.half_width * math.sin(self.yaw) * below**2

    def _taper(self, y: np.ndarray) -> np.ndarray:
        below = _positive(np.asarray(y) / self.half_height)
        return 1.0 - self.jaw_taper * below**2

    def outline(
        self,
        t: np.ndarray,
        grow: float | np.ndarray = 0.0,
        grow_top: float | np.ndarray | None = None,
    ) -> np.ndarray:
        """Silhouette points (face plane) at superellipse angles ``t``; y grows downward, so
        t in (0, pi) is the lower half. ``grow`` enlarges it (hair or beard volume)."""
        cos, sin = np.cos(t), np.sin(t)
        power = 2.0 / self.exponent
        top = grow if grow_top is None else grow_top
        outline = np.empty((len(t), 2))
        outline[:, 1] = (
            (self.half_height + np.where(sin < 0, top, grow)) * np.sign(sin) * np.abs(sin) ** power
        )
        y = outline[:, 1]
        x = (self.outline_width + grow) * np.sign(cos) * np.abs(cos) ** power
        outline[:, 0] = x * self._taper(y) + self.chin_shift(y)
        return outline

    def outline_angle(self, y: float, grow: float = 0.0) -> float:
        """The angle t at which the right side of the (grown) outline reaches height ``y``."""
        ratio = min(abs(y) / (self.half_height + grow), 1.0) ** (self.exponent / 2.0)
        return math.copysign(math.asin(ratio), y)

    def clamp_inside(
        self, plane: np.ndarray, depth: np.ndarray, side: np.ndarray, grow: float = 0.0
    ) -> np.ndarray:
        """Move points that are hidden (behind the head) or outside onto the (grown) silhouette
        edge, so a region painted on the surface (hair, beard) wraps around the head instead of
        spilling. A hidden point goes to the edge on its own ``side`` of the face (sign of its face
        x): that is where the curve it belongs to disappears behind the head."""
        height = self.half_height + grow
        y = np.clip(plane[:, 1], -height, height)
        ratio = (np.abs(y) / height) ** self.exponent
        half = (self.outline_width + grow) * _positive(1.0 - ratio) ** (1.0 / self.exponent)
        half = half * self._taper(y)
        centre = self.chin_shift(y)
        offset = plane[:, 0] - centre
        offset = np.where(depth < 0, side * half, np.minimum(np.maximum(offset, -half), half))
        return np.column_stack([centre + offset, y])

    def to_reference(self, plane: np.ndarray) -> np.ndarray:
        """Roll, scale and shift face-plane points into reference image coordinates (pixel area)."""
        return plane @ self.plane_to_reference + self.reference_offset

    def to_canvas(self, plane: np.ndarray) -> list[float]:
        """Canvas pixel coordinates as the flat list ``[x0, y0, x1, y1, ...]`` that PIL accepts."""
        return (self.to_reference(plane) * self.canvas_per_unit).ravel().tolist()


class _Painter:
    """Draws face-plane polygons over the background canvas.

    Large shapes (head, hair, ears, neck, clothes) can also be marked in ``mask``, the region that
    the light ramp shades; small features inside them need not be, which saves half the drawing.
    """

    def __init__(self, head: _Head, canvas: Image.Image, with_mask: bool) -> None:
        self.head = head
        self._draw = ImageDraw.Draw(canvas)
        self.mask = Image.new("L", canvas.size) if with_mask else None
        self._mask = ImageDraw.Draw(self.mask) if self.mask is not None else None
        self._line_unit = head.canvas_per_unit * head.scale

    def plane_polygon(self, plane: np.ndarray, colour: Colour, solid: bool = False) -> None:
        points = self.head.to_canvas(plane)
        self._draw.polygon(points, fill=colour)
        if solid and self._mask is not None:
            self._mask.polygon(points, fill=255)

    def plane_line(self, plane: np.ndarray, colour: Colour, width: float) -> None:
        pixels = max(1, round(width * self._line_unit))
        self._draw.line(self.head.to_canvas(plane), fill=colour, width=pixels, joint="curve")

    def surface_polygon(self, points3d: np.ndarray, colour: Colour) -> None:
        """Draw a 3D feature unless it has turned away behind the head."""
        plane, depth = self.head.rotate(points3d)
        if depth.sum() > 0:
            self.plane_polygon(plane, colour)

    def surface_line(self, points3d: np.ndarray, colour: Colour, width: float) -> None:
        plane, depth = self.head.rotate(points3d)
        if depth.sum() > 0:
            self.plane_line(plane, colour, width)


_UNIT_CIRCLES = {
    n: (np.cos(a), np.sin(a))
    for n in (10, 16, 20)
    for a in [np.linspace(0, 2 * np.pi, n, endpoint=False)]
}


def _ellipse(cx: float, cy: float, rx: float, ry: float, samples: int = 16) -> np.ndarray:
    cos, sin = _UNIT_CIRCLES[samples]
    points = np.empty((samples, 2))
    points[:, 0] = cx + rx * cos
    points[:, 1] = cy + ry * sin
    return points


def _arc(t: np.ndarray) -> np.ndarray:
    """Bump profile 0 -> 1 -> 0 over t in [0, 1]."""
    return np.sin(np.pi * t)


def _shade(colour: Colour, factor: float) -> Colour:
    return _colour(np.asarray(colour, float) * factor)


# ----------------------------------------------------------------------------------------------
# Face features. Each one is built from the traits in face space and drawn through the head.
# ----------------------------------------------------------------------------------------------

_EYE_RECESS = 2.0  # eyes sit in their sockets, slightly behind the surface
_MOUTH_CORNER_LIFT = -0.3
_INK: Colour = (34, 22, 22)


def _eye_centres(traits: IdentityTraits) -> np.ndarray:
    """Eye centres in face space: the face's -x eye first."""
    half = traits.eye_spacing / 2.0
    return np.array([[-half, traits.eye_height], [half, traits.eye_height]])


def _nose_tip(traits: IdentityTraits, head: _Head) -> np.ndarray:
    base = head.surface_z(np.array(0.0), np.array(traits.nose_length))
    return np.array([0.0, traits.nose_length, float(base) + traits.nose_protrusion])


def _mouth_corners(traits: IdentityTraits, expression: str) -> np.ndarray:
    """Mouth corners in face space; a smile lifts and widens them, an open mouth narrows them."""
    half, height = traits.mouth_width / 2.0, traits.mouth_height
    if expression == "smile":
        half, height = half + 0.6, height - 0.8
    elif expression == "open":
        half *= 0.92
    return np.array([[-half, height], [half, height]])


def _landmarks(traits: IdentityTraits, scene: SceneSpec, head: _Head, size: int) -> np.ndarray:
    """The five landmarks through the same transform as the drawing, in pixel-centre coordinates;
    each pair is ordered by image x as insightface does."""
    points = np.vstack(
        [
            head.on_surface(_eye_centres(traits), -_EYE_RECESS),
            _nose_tip(traits, head)[None, :],
            head.on_surface(_mouth_corners(traits, scene.expression), _MOUTH_CORNER_LIFT),
        ]
    )
    plane, _ = head.rotate(points)
    pixels = head.to_reference(plane) * (size / _REFERENCE) - 0.5
    for first, second in ((0, 1), (3, 4)):
        if pixels[first, 0] > pixels[second, 0]:
            pixels[[first, second]] = pixels[[second, first]]
    return pixels.astype(np.float32)


def _draw_body(painter: _Painter, traits: IdentityTraits, scene: SceneSpec) -> None:
    """Neck and shoulders below the head; they do not turn with the head."""
    head = painter.head
    a, b = head.half_width, head.half_height
    neck = a * (0.52 if traits.gender == "male" else 0.42)
    painter.plane_polygon(
        np.array([[-neck, 0.3 * b], [neck, 0.3 * b], [neck * 1.15, 44.0], [-neck * 1.15, 44.0]]),
        _shade(traits.skin_tone, 0.8),
        True,
    )
    shoulders = np.array(
        [
            [-3.4 * a, 48.0],
            [-3.2 * a, b + 4.0],
            [-2.4 * a, b - 1.0],
            [-1.5 * neck, 0.8 * b],
            [0.0, b + 4.0],
            [1.5 * neck, 0.8 * b],
            [2.4 * a, b - 1.0],
            [3.2 * a, b + 4.0],
            [3.4 * a, 48.0],
        ]
    )
    painter.plane_polygon(shoulders, scene.clothing_colour, True)


def _hairline(traits: IdentityTraits, head: _Head) -> tuple[np.ndarray, float]:
    """The hairline as a 3D curve around the head, from behind one ear over the forehead to behind
    the other, and the height of its ends at the nape."""
    b = head.half_height
    front = -traits.hairline * b
    nape = {"long": 14.0, "curly": 9.0}.get(traits.hair_style, 8.0)
    temple = front - 1.5 if traits.hairline < 0.52 else front + 0.6
    if traits.hair_style == "fringe":
        front = temple = traits.eye_height - 6.3
    side_top = 2.0 if traits.hair_style == "long" else -2.0
    knots_deg = (0.0, 30.0, 65.0, 88.0, 100.0, 125.0, 150.0)
    knots_y = (
        front,
        temple,
        0.45 * front + 0.55 * side_top,
        side_top,
        side_top + 2.5,
        0.6 * nape,
        nape,
    )
    theta = np.radians(np.linspace(-150.0, 150.0, 41))
    y = np.interp(np.degrees(np.abs(theta)), knots_deg, knots_y)
    if traits.hair_style == "fringe":
        y = y + np.where(np.abs(theta) < 1.0, 0.6 * np.cos(np.arange(theta.size) * 2.7), 0.0)
    x = head.half_width * np.sin(theta)
    facing = np.abs(theta) <= np.pi / 2
    z = np.where(facing, head.surface_z(x, y), head.skull_depth * np.cos(theta)) + 0.4
    return np.column_stack([x, y, z]), nape


def _hair_shell(traits: IdentityTraits, head: _Head, start_y: float) -> np.ndarray:
    """Outer edge of the hair, from the right side at ``start_y`` over the top to the left side."""
    volume = traits.hair_volume
    side, top = {
        "short": (0.4 * volume, volume),
        "fringe": (0.5 * volume, volume),
        "curly": (1.2 * volume, 1.6 * volume),
    }.get(traits.hair_style, (0.6 * volume, volume))
    start = head.outline_angle(start_y, side)
    t = np.linspace(start, -np.pi - start, 40)
    if traits.hair_style == "curly":
        phase = (traits.curl_seed % 1000) / 1000.0 * 2 * np.pi
        bumps = 1.3 * np.abs(np.sin(9.0 * t + phase))
        return head.outline(t, side + bumps, top + bumps)
    return head.outline(t, side, top)


def _draw_back_hair(painter: _Painter, traits: IdentityTraits) -> None:
    """Hair that lies behind the head: long hair falling to the shoulders, or a bun."""
    head, hair = painter.head, _shade(traits.hair_colour, 0.85)
    if traits.hair_style == "long":
        width = head.outline_width + 0.6 * traits.hair_volume + 2.0
        top = head.outline(
            np.linspace(0.0, -np.pi, 24), 0.6 * traits.hair_volume + 2.0, traits.hair_volume + 0.5
        )
        tips = np.linspace(width + 0.8, -width - 0.8, 9)
        bottom = np.column_stack([tips, head.half_height * 1.15 + 1.5 * (np.arange(9) % 2)])
        sides = np.array([[-width - 0.8, 0.6 * head.half_height]])
        shape = np.vstack([top, sides, bottom[::-1], sides * [-1, 1]])
        shape[:, 0] -= 0.25 * head.half_width * math.sin(head.yaw)
        painter.plane_polygon(shape, hair, True)
    elif traits.hair_style == "bun":
        centre = np.array([[0.0, -head.half_height - 1.5, -0.3 * head.skull_depth]])
        plane, _ = head.rotate(centre)
        painter.plane_polygon(_ellipse(plane[0, 0], plane[0, 1], 5.0, 4.6, 20), hair, True)


def _draw_hair_cap(painter: _Painter, traits: IdentityTraits) -> None:
    """Hair on top of the head: the region between the hairline and the hair's outer edge."""
    if traits.hair_style == "bald":
        return
    head = painter.head
    line3d, nape = _hairline(traits, head)
    plane, depth = head.rotate(line3d)
    line = head.clamp_inside(plane, depth, np.sign(line3d[:, 0]))
    shell = _hair_shell(traits, head, nape)
    painter.plane_polygon(np.vstack([line, shell]), traits.hair_colour, True)
    t = np.linspace(-0.68 * np.pi, -0.32 * np.pi, 12)
    shine = np.vstack(
        [
            head.outline(t, 0.0, traits.hair_volume - 0.6),
            head.outline(t[::-1], 0.0, traits.hair_volume - 1.6),
        ]
    )
    painter.plane_polygon(shine, blend(traits.hair_colour, (255, 255, 255), 0.18))


def _draw_ears(painter: _Painter, traits: IdentityTraits, in_front: bool) -> None:
    """Ears stand out at the sides; the far one disappears behind the head when it turns."""
    if traits.hair_style == "long":
        return
    head, size = painter.head, traits.ear_size
    centre_y = traits.eye_height + 3.5
    phi = np.linspace(-np.pi / 2, np.pi / 2, 12)
    for side in (-1.0, 1.0):
        out = np.cos(phi)
        x = side * (head.half_width - 2.0 + (1.4 + 3.0 * size) * out)
        points = np.column_stack([x, centre_y + 4.3 * size * np.sin(phi), -1.0 - 2.2 * size * out])
        plane, depth = head.rotate(points)
        if (depth.mean() > 0) != in_front or depth.mean() < -0.35 * head.skull_depth:
            continue
        painter.plane_polygon(plane, traits.skin_tone, True)
        inner = points[3:9].copy()
        inner[:, 0] -= side * 1.0 * size
        painter.plane_line(head.rotate(inner)[0], _shade(traits.skin_tone, 0.75), 0.5)


def _draw_head(painter: _Painter, traits: IdentityTraits) -> None:
    painter.plane_polygon(
        painter.head.outline(np.linspace(0, 2 * np.pi, 72, endpoint=False)), traits.skin_tone, True
    )


def _draw_eyes(painter: _Painter, traits: IdentityTraits, expression: str) -> None:
    """Almond-shaped whites, iris and pupil, and a dark upper lid (heavier for women: lashes)."""
    head, size = painter.head, traits.eye_size
    squint = 0.75 if expression == "smile" else 1.0
    t = np.linspace(0, np.pi, 9)
    lid_width = 0.7 if traits.gender == "female" else 0.45
    for cx, cy in _eye_centres(traits):
        upper = np.column_stack(
            [cx - 2.6 * size * np.cos(t), cy - 1.35 * size * squint * np.sin(t) ** 0.8]
        )
        lower = np.column_stack([cx + 2.6 * size * np.cos(t), cy + 1.0 * size * squint * np.sin(t)])
        painter.surface_polygon(
            head.on_surface(np.vstack([upper, lower]), -_EYE_RECESS), (244, 242, 236)
        )
        iris = _ellipse(cx, cy, 1.15 * size, 1.15 * size * min(1.0, squint * 1.1))
        painter.surface_polygon(head.on_surface(iris, -_EYE_RECESS + 0.1), traits.eye_colour)
        pupil = _ellipse(cx, cy, 0.5 * size, 0.5 * size, 10)
        painter.surface_polygon(head.on_surface(pupil, -_EYE_RECESS + 0.2), (16, 12, 12))
        painter.surface_line(
            head.on_surface(lower, -_EYE_RECESS + 0.2), _shade(traits.skin_tone, 0.82), 0.35
        )
        painter.surface_line(head.on_surface(upper, -_EYE_RECESS + 0.3), _INK, lid_width)


def _draw_brows(painter: _Painter, traits: IdentityTraits) -> None:
    """Brows taper from the inner to the outer end; their angle is part of the identity."""
    head, size = painter.head, traits.eye_size
    colour = blend(traits.hair_colour, (20, 14, 10), 0.35)
    u = np.linspace(-1.0, 1.0, 9)  # inner end to outer end
    slope = math.tan(math.radians(traits.brow_angle))
    for side, (cx, cy) in zip((-1.0, 1.0), _eye_centres(traits), strict=True):
        x = cx + side * 3.3 * size * u
        middle = cy - 3.2 - 1.3 * size - 1.0 * (1 - u**2) - slope * 3.3 * size * u
        half = traits.brow_thickness * (1.0 - 0.22 * (u + 1.0)) / 2.0
        outline = np.vstack(
            [np.column_stack([x, middle - half]), np.column_stack([x, middle + half])[::-1]]
        )
        painter.surface_polygon(head.on_surface(outline, 0.3), colour)


def _draw_nose(painter: _Painter, traits: IdentityTraits) -> None:
    """A shaded nose whose tip stands out from the face, so it swings further than the eyes."""
    head, skin = painter.head, traits.skin_tone
    tip_y, half, rise = traits.nose_length, traits.nose_width / 2.0, traits.nose_protrusion
    top = traits.eye_height + 1.5
    shape = np.array(
        [
            [-0.7, top, 0.25],
            [0.7, top, 0.25],
            [half * 0.55, tip_y - 2.5, 0.6],
            [half, tip_y - 0.2, 0.45],
            [half * 0.6, tip_y + 1.1, 0.55],
            [0.0, tip_y + 1.3, 0.8],
            [-half * 0.6, tip_y + 1.1, 0.55],
            [-half, tip_y - 0.2, 0.45],
            [-half * 0.55, tip_y - 2.5, 0.6],
        ]
    )
    body = head.on_surface(shape[:, :2], rise * shape[:, 2])
    painter.surface_polygon(body, _shade(skin, 0.9))
    if abs(head.yaw) > math.radians(10):
        far = [1, 2, 3, 4] if head.yaw > 0 else [0, 8, 7, 6]
        painter.surface_line(body[far], _shade(skin, 0.68), 0.5)
    painter.surface_polygon(
        head.on_surface(_ellipse(0.0, tip_y - 0.2, 1.2, 1.0, 10), rise),
        blend(skin, (255, 255, 255), 0.12),
    )
    for side in (-1.0, 1.0):
        nostril = _ellipse(side * half * 0.4, tip_y + 0.6, 0.8, 0.45, 10)
        painter.surface_polygon(head.on_surface(nostril, 0.55 * rise), _shade(skin, 0.45))


def _draw_mouth(painter: _Painter, traits: IdentityTraits, expression: str) -> None:
    """Lips between the two mouth corners: neutral, smiling (centre dips) or open (dark gap)."""
    head = painter.head
    (left_x, left_y), (right_x, _) = _mouth_corners(traits, expression)
    u = np.linspace(0.0, 1.0, 13)
    x, bump = left_x + (right_x - left_x) * u, _arc(u)
    lift = _MOUTH_CORNER_LIFT + 0.8 * bump
    cupid = bump - 0.25 * np.exp(-(((u - 0.5) / 0.08) ** 2))
    thick = traits.lip_thickness
    line = left_y + (1.8 if expression == "smile" else 0.0) * bump
    gap_top, gap_bottom = line, line
    if expression == "open":
        gap_top, gap_bottom = line - 1.0 * bump, line + 3.6 * bump
    upper = np.column_stack([x, gap_top - thick * cupid])
    lower = np.column_stack([x, gap_bottom + 1.35 * thick * bump])
    lips = np.vstack([upper, lower[::-1]])
    painter.surface_polygon(
        head.on_surface(lips, np.concatenate([lift, lift[::-1]])), traits.lip_colour
    )
    if expression == "open":
        gap = np.vstack([np.column_stack([x, gap_top]), np.column_stack([x, gap_bottom])[::-1]])
        painter.surface_polygon(
            head.on_surface(gap, np.concatenate([lift, lift[::-1]]) + 0.05), (70, 22, 30)
        )
        teeth = np.vstack(
            [np.column_stack([x, gap_top]), np.column_stack([x, gap_top + 0.9 * bump])[::-1]]
        )
        painter.surface_polygon(
            head.on_surface(teeth, np.concatenate([lift, lift[::-1]]) + 0.1), (238, 234, 224)
        )
    else:
        mouth_line = head.on_surface(np.column_stack([x, line]), lift + 0.05)
        painter.surface_line(mouth_line, _shade(traits.lip_colour, 0.55), 0.4)


def _draw_beard(painter: _Painter, traits: IdentityTraits) -> None:
    """Stubble or a full beard: the jaw region below a cheek line, wrapped around the head."""
    if traits.beard not in ("stubble", "full"):
        return
    head = painter.head
    a = head.half_width
    mouth_half = traits.mouth_width / 2.0
    knots_x = (0.0, mouth_half + 1.0, 0.72 * a, a)
    knots_y = (traits.mouth_height - 2.9, traits.mouth_height - 2.4, traits.nose_length + 1.0, -1.0)
    x = np.linspace(-a, a, 25)
    grow = 1.3 if traits.beard == "full" else 0.15
    # The lower edge follows the jaw on the face surface, not the silhouette: turned away, the
    # near side of the head behind the jaw must stay bare.
    jaw_y = (head.half_height + grow) * _positive(1.0 - np.abs(x / a) ** head.exponent) ** (
        1.0 / head.exponent
    )
    cheek_y = np.interp(np.abs(x), knots_x, knots_y)
    outline = head.on_surface(
        np.column_stack([np.r_[x, x[::-1]], np.r_[cheek_y, jaw_y[::-1]]]), 0.3
    )
    plane, depth = head.rotate(outline)
    region = head.clamp_inside(plane, depth, np.sign(outline[:, 0]), grow)
    colour = (
        _shade(traits.hair_colour, 0.9)
        if traits.beard == "full"
        else blend(traits.skin_tone, _shade(traits.hair_colour, 0.6), 0.3)
    )
    painter.plane_polygon(region, colour, True)


def _draw_moustache(painter: _Painter, traits: IdentityTraits, expression: str) -> None:
    if traits.beard not in ("moustache", "full"):
        return
    head = painter.head
    (left_x, left_y), (right_x, _) = _mouth_corners(traits, expression)
    u = np.linspace(0.0, 1.0, 11)
    x = left_x - 1.0 + (right_x - left_x + 2.0) * u
    fullness = np.sqrt(_arc(u))
    top = np.column_stack([x, left_y - 1.5 - 1.7 * fullness])
    bottom = np.column_stack([x, left_y - 0.3 - 1.1 * fullness])
    painter.surface_polygon(
        head.on_surface(np.vstack([top, bottom[::-1]]), 0.6), _shade(traits.hair_colour, 0.85)
    )


def _draw_mole(painter: _Painter, traits: IdentityTraits) -> None:
    if traits.mole is not None:
        spot = _ellipse(traits.mole[0], traits.mole[1], 0.65, 0.65, 10)
        painter.surface_polygon(painter.head.on_surface(spot, 0.1), _shade(traits.skin_tone, 0.42))


def _draw_glasses(painter: _Painter, traits: IdentityTraits) -> None:
    """Frames in front of the eyes, a bridge, and arms running back toward the ears."""
    if traits.glasses == "none":
        return
    head, size, colour = painter.head, traits.eye_size, traits.glasses_colour
    half_w, half_h = 3.9 * size, (3.4 if traits.glasses == "round" else 2.9) * size
    power = 1.0 if traits.glasses == "round" else 0.45
    angle = np.linspace(0, 2 * np.pi, 25)
    cos, sin = np.cos(angle), np.sin(angle)
    eyes = _eye_centres(traits)
    for cx, cy in eyes:
        ring = np.column_stack(
            [
                cx + half_w * np.sign(cos) * np.abs(cos) ** power,
                cy + 0.2 + half_h * np.sign(sin) * np.abs(sin) ** power,
            ]
        )
        painter.surface_line(head.on_surface(ring, 1.6), colour, 0.55)
    u = np.linspace(0.0, 1.0, 5)
    bridge = np.column_stack(
        [
            eyes[0, 0] + half_w + (eyes[1, 0] - eyes[0, 0] - 2 * half_w) * u,
            np.full(5, eyes[0, 1] - 0.4),
        ]
    )
    painter.surface_line(head.on_surface(bridge, 1.6 + 0.8 * _arc(u)), colour, 0.55)
    for side, (cx, cy) in zip((-1.0, 1.0), eyes, strict=True):
        arm = np.column_stack(
            [
                np.linspace(cx + side * half_w, side * head.half_width * 0.98, 6),
                np.full(6, cy - 0.2),
            ]
        )
        plane, depth = head.rotate(head.on_surface(arm, 1.6))
        if depth[-1] > 0:
            painter.plane_line(plane, colour, 0.55)


# ----------------------------------------------------------------------------------------------
# Rendering and the world
# ----------------------------------------------------------------------------------------------


def _paint_figure(painter: _Painter, traits: IdentityTraits, scene: SceneSpec) -> None:
    """Paint the person back to front; later layers cover earlier ones."""
    _draw_body(painter, traits, scene)
    _draw_back_hair(painter, traits)
    _draw_ears(painter, traits, in_front=False)
    _draw_head(painter, traits)
    _draw_mole(painter, traits)
    _draw_beard(painter, traits)
    _draw_nose(painter, traits)
    _draw_mouth(painter, traits, scene.expression)
    _draw_moustache(painter, traits, scene.expression)
    _draw_eyes(painter, traits, scene.expression)
    _draw_brows(painter, traits)
    _draw_hair_cap(painter, traits)
    _draw_ears(painter, traits, in_front=True)
    _draw_glasses(painter, traits)


def _light_field(scene: SceneSpec, head: _Head, size: int) -> np.ndarray:
    """A linear ramp across the head along the light direction: 1 +- light_strength at its edges."""
    unit = size / _REFERENCE
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
    head = _Head.build(traits, scene, pixels)
    canvas = paint_background(scene.background, np.random.default_rng(scene.detail_seed), pixels)
    painter = _Painter(head, canvas, with_mask=scene.light_strength > 0)
    _paint_figure(painter, traits, scene)
    image = canvas.reduce(_SUPERSAMPLING)
    gain = np.float32(scene.brightness)
    if painter.mask is not None:
        coverage = np.asarray(painter.mask.reduce(_SUPERSAMPLING), np.float32) / 255.0
        gain = gain * (1.0 + coverage * (_light_field(scene, head, size) - 1.0))[:, :, None]
    if np.ndim(gain) or gain != 1.0:
        shaded = np.asarray(image, dtype=np.float32) * gain
        image = Image.fromarray(np.clip(np.round(shaded), 0, 255).astype(np.uint8), "RGB")
    return image, _landmarks(traits, scene, head, size)


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
            self._identities[index] = _sample_traits(np.random.default_rng(sequence))
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
        return _sample_scene(np.random.default_rng(sequence), mode)

    def render(self, traits: IdentityTraits, scene: SceneSpec, identity: int = -1) -> ToyFace:
        """Draw ``traits`` under ``scene``; a pure function of its inputs and the image size."""
        _check_scene(scene)
        image, landmarks = _render_image(traits, scene, self.size)
        return ToyFace(image, landmarks, identity, traits, scene)

    def face(self, identity_index: int, image_index: int, mode: str = "constrained") -> ToyFace:
        """Photo ``image_index`` of person ``identity_index``."""
        scene = self.sample_scene(identity_index, image_index, mode)
        return self.render(self.identity(identity_index), scene, identity_index)
