"""The features of a toy face, each built from the traits in face space and drawn through the head.

Why apart from the geometry: the features are where a person's look is decided (hair, brows, nose,
beard, glasses...), while :mod:`~idbooth_lib.toy_world.faces.geometry` only decides where things land.
Each ``_draw_*`` function paints one feature through a
:class:`~idbooth_lib.toy_world.faces.geometry.Painter`; :func:`paint_figure` layers them back to front,
and :func:`face_landmarks` places the five landmarks with the very face-space points (eye centres,
nose tip, mouth corners) that the eyes, nose and mouth are drawn around.
"""

from __future__ import annotations

import math

import numpy as np

from idbooth_lib.toy_world.faces.geometry import REFERENCE, Head, Painter, positive
from idbooth_lib.toy_world.faces.traits import IdentityTraits, SceneSpec, to_colour
from idbooth_lib.toy_world.scenes import Colour, blend

LANDMARK_NAMES: tuple[str, ...] = ("left_eye", "right_eye", "nose_tip", "mouth_left", "mouth_right")

_EYE_RECESS = 2.0  # eyes sit in their sockets, slightly behind the surface
_MOUTH_CORNER_LIFT = -0.3
_INK: Colour = (34, 22, 22)

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
    return to_colour(np.asarray(colour, float) * factor)


def _eye_centres(traits: IdentityTraits) -> np.ndarray:
    """Eye centres in face space: the face's -x eye first."""
    half = traits.eye_spacing / 2.0
    return np.array([[-half, traits.eye_height], [half, traits.eye_height]])


def _nose_tip(traits: IdentityTraits, head: Head) -> np.ndarray:
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


def face_landmarks(traits: IdentityTraits, scene: SceneSpec, head: Head, size: int) -> np.ndarray:
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
    pixels = head.to_reference(plane) * (size / REFERENCE) - 0.5
    for first, second in ((0, 1), (3, 4)):
        if pixels[first, 0] > pixels[second, 0]:
            pixels[[first, second]] = pixels[[second, first]]
    return pixels.astype(np.float32)


def _draw_body(painter: Painter, traits: IdentityTraits, scene: SceneSpec) -> None:
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


def _hairline(traits: IdentityTraits, head: Head) -> tuple[np.ndarray, float]:
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


def _hair_shell(traits: IdentityTraits, head: Head, start_y: float) -> np.ndarray:
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


def _draw_back_hair(painter: Painter, traits: IdentityTraits) -> None:
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


def _draw_hair_cap(painter: Painter, traits: IdentityTraits) -> None:
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


def _draw_ears(painter: Painter, traits: IdentityTraits, in_front: bool) -> None:
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


def _draw_head(painter: Painter, traits: IdentityTraits) -> None:
    painter.plane_polygon(
        painter.head.outline(np.linspace(0, 2 * np.pi, 72, endpoint=False)), traits.skin_tone, True
    )


def _draw_eyes(painter: Painter, traits: IdentityTraits, expression: str) -> None:
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


def _draw_brows(painter: Painter, traits: IdentityTraits) -> None:
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


def _draw_nose(painter: Painter, traits: IdentityTraits) -> None:
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


def _draw_mouth(painter: Painter, traits: IdentityTraits, expression: str) -> None:
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


def _draw_beard(painter: Painter, traits: IdentityTraits) -> None:
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
    jaw_y = (head.half_height + grow) * positive(1.0 - np.abs(x / a) ** head.exponent) ** (
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


def _draw_moustache(painter: Painter, traits: IdentityTraits, expression: str) -> None:
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


def _draw_mole(painter: Painter, traits: IdentityTraits) -> None:
    if traits.mole is not None:
        spot = _ellipse(traits.mole[0], traits.mole[1], 0.65, 0.65, 10)
        painter.surface_polygon(painter.head.on_surface(spot, 0.1), _shade(traits.skin_tone, 0.42))


def _draw_glasses(painter: Painter, traits: IdentityTraits) -> None:
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


def paint_figure(painter: Painter, traits: IdentityTraits, scene: SceneSpec) -> None:
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
