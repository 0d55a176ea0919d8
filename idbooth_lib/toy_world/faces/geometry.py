"""The geometry of a toy head: the single transform that drawing and landmarks share, and the painter.

Why one transform: the landmarks must match the drawing exactly, or every detector, aligner and
identity loss trained on the toy world learns an offset. Every feature lives in face-centred 3D
coordinates on an ellipsoidal head (x right, y down, z toward the viewer, units = pixels of a
64 x 64 image at scale 1). One transform -- a yaw rotation followed by an image-plane similarity
(roll, scale, shift) -- maps every polygon vertex *and* every landmark to the image (:class:`Head`);
:class:`Painter` draws through it. At scale 1 the landmarks sit close to insightface's ArcFace
template scaled to 64 px (``ARCFACE_TEMPLATE_64``), so aligned crops are only a mild warp.

Landmarks use the OpenCV/insightface pixel convention: the centre of pixel (column i, row j) is the
point (i, j). Positive yaw turns the face toward +x (image right); positive roll rotates clockwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import PIL.Image
from PIL import ImageDraw

from idbooth_lib.toy_world.faces.traits import IdentityTraits, SceneSpec
from idbooth_lib.toy_world.scenes import Colour

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

REFERENCE = 64.0  # geometry is defined for a 64 x 64 image and scaled to the requested size
_HEAD_CENTRE = (32.0, 33.0)  # reference units, pixel-area coordinates


def positive(values: np.ndarray) -> np.ndarray:
    """``values`` with negatives set to 0 (the square roots and powers of the head shape need it)."""
    return np.maximum(values, 0.0)


@dataclass(frozen=True)
class Head:
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
    def build(cls, traits: IdentityTraits, scene: SceneSpec, canvas_pixels: int) -> Head:
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
            canvas_pixels / REFERENCE,
            plane_to_reference,
            offset,
        )

    def surface_z(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Depth of the face surface: an ellipsoid across, gently curving back toward chin/brow."""
        across = np.sqrt(positive(1.0 - (np.asarray(x) / self.half_width) ** 2))
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
        below = positive(np.asarray(y) / self.half_height)
        return 0.3 * self.half_width * math.sin(self.yaw) * below**2

    def _taper(self, y: np.ndarray) -> np.ndarray:
        below = positive(np.asarray(y) / self.half_height)
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
        half = (self.outline_width + grow) * positive(1.0 - ratio) ** (1.0 / self.exponent)
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


class Painter:
    """Draws face-plane polygons over the background canvas.

    Large shapes (head, hair, ears, neck, clothes) can also be marked in ``mask``, the region that
    the light ramp shades; small features inside them need not be, which saves half the drawing.
    """

    def __init__(self, head: Head, canvas: PIL.Image.Image, with_mask: bool) -> None:
        self.head = head
        self._draw = ImageDraw.Draw(canvas)
        self.mask = PIL.Image.new("L", canvas.size) if with_mask else None
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
