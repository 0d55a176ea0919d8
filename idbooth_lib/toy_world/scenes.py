"""Background painters for the toy face world: the ten scenes of the ID-Booth paper plus a studio.

Why a separate module: the paper varies the background in its prompts ("..., forest background") and
measures whether generated images follow it. The toy world therefore needs ten backgrounds that a
small classifier can tell apart even when a face covers the middle of the picture. Every painter uses
its own palette *and* layout (bands, grids, blobs, stripes), and draws its details near the image
borders and corners, which stay visible around the head.

All painters work in reference units: the image is 64 x 64 units whatever the pixel size, so the
scenes look the same at every resolution. Random variation (positions, shades) comes only from the
generator that the caller passes in, which keeps rendering deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw

from idbooth_lib.vocabulary import BACKGROUNDS

REFERENCE_UNITS = 64.0

Colour = tuple[int, int, int]


def jitter(rng: np.random.Generator, colour: Sequence[float], amount: float) -> Colour:
    """Return ``colour`` with every channel moved by up to ``amount``, clipped to 0..255."""
    moves = rng.uniform(-amount, amount, size=3).tolist()
    return tuple(min(255, max(0, round(c + m))) for c, m in zip(colour, moves, strict=True))  # type: ignore[return-value]


def blend(first: Sequence[float], second: Sequence[float], weight: float) -> Colour:
    """Mix two colours; ``weight`` = 0 gives ``first``, 1 gives ``second``."""
    mixed = (1.0 - weight) * np.asarray(first, float) + weight * np.asarray(second, float)
    return tuple(int(v) for v in np.clip(np.round(mixed), 0, 255))  # type: ignore[return-value]


class SceneCanvas:
    """A square PIL canvas addressed in reference units (0..64), so painters ignore pixel size."""

    def __init__(self, pixels: int, colour: Colour) -> None:
        self.image = Image.new("RGB", (pixels, pixels), colour)
        self._draw = ImageDraw.Draw(self.image)
        self._unit = pixels / REFERENCE_UNITS

    def _points(self, points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(x * self._unit, y * self._unit) for x, y in points]

    def rect(self, x0: float, y0: float, x1: float, y1: float, colour: Colour) -> None:
        """Fill the area from (x0, y0) to (x1, y1), same pixel coverage as the polygon would."""
        u = self._unit
        left, right = sorted((x0 * u, x1 * u))
        top, bottom = sorted((y0 * u, y1 * u))
        self._draw.rectangle([left, top, right, bottom], fill=colour)

    def polygon(self, points: Sequence[tuple[float, float]], colour: Colour) -> None:
        self._draw.polygon(self._points(points), fill=colour)

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, colour: Colour) -> None:
        u = self._unit
        self._draw.ellipse(
            [(cx - rx) * u, (cy - ry) * u, (cx + rx) * u, (cy + ry) * u], fill=colour
        )

    def line(self, points: Sequence[tuple[float, float]], colour: Colour, width: float) -> None:
        self._draw.line(self._points(points), fill=colour, width=max(1, round(width * self._unit)))


def _studio(canvas: SceneCanvas, rng: np.random.Generator) -> None:
    """Plain light-grey backdrop with a soft lighter patch behind the head, like a photo studio."""
    grey = rng.uniform(196, 224)
    tint = rng.uniform(-4, 4)
    base = (grey + tint, grey, grey - tint)
    canvas.rect(-1, -1, 65, 65, jitter(rng, base, 1))
    for step, radius in enumerate((30.0, 24.0, 18.0)):
        canvas.ellipse(
            32, 30, radius, radius * 1.1, blend(base, (255, 255, 255), 0.04 * (step + 1))
        )


def _forest(canvas: SceneCanvas, rng: np.random.Generator) -> None:
    """Deep greens with dark brown trunks and a grassy floor."""
    canvas.rect(-1, -1, 65, 65, jitter(rng, (36, 74, 40), 10))
    for _ in range(6):
        canvas.ellipse(
            *rng.uniform(0, 64, 2), *rng.uniform(7, 13, 2), jitter(rng, (70, 120, 60), 18)
        )
    for _ in range(int(rng.integers(5, 8))):
        x, width = rng.uniform(-2, 64), rng.uniform(2.5, 5.0)
        canvas.rect(x, rng.uniform(-2, 18), x + width, 66, jitter(rng, (70, 46, 28), 12))
    for _ in range(10):
        centre = (rng.uniform(-4, 68), rng.uniform(-6, 26))
        canvas.ellipse(*centre, *rng.uniform(4, 9, 2), jitter(rng, (52, 128, 52), 22))
    canvas.rect(-1, rng.uniform(52, 56), 65, 65, jitter(rng, (74, 132, 56), 12))


def _city_street(canvas: SceneCanvas, rng: np.random.Generator) -> None:
    """Pale sky, grey buildings with window grids, pavement and a dark road with lane marks."""
    canvas.rect(-1, -1, 65, 65, jitter(rng, (188, 204, 222), 8))
    x = rng.uniform(-6, -1)
    while x < 64:
        width, top = rng.uniform(9, 15), rng.uniform(-2, 16)
        canvas.rect(x, top, x + width, 56, jitter(rng, (128, 128, 134), 26))
        lit = jitter(rng, (232, 212, 140), 10)
        dark = jitter(rng, (62, 72, 92), 8)
        rows, columns = np.arange(top + 2.0, 50.0, 5.0), np.arange(x + 1.5, x + width - 2.5, 4.0)
        lights = (rng.random((len(rows), len(columns))) < 0.3).tolist()
        for wy, row in zip(rows.tolist(), lights, strict=True):
            for wx, on in zip(columns.tolist(), row, strict=True):
                canvas.rect(wx, wy, wx + 2.5, wy + 3.0, lit if on else dark)
        x += width + rng.uniform(0.3, 1.5)
    canvas.rect(-1, 50, 65, 55, jitter(rng, (152, 150, 146), 8))
    canvas.rect(-1, 55, 65, 65, jitter(rng, (52, 52, 58), 6))
    for dash in np.arange(rng.uniform(-6, 0), 64, 9.0):
        canvas.rect(dash, 59.5, dash + 5, 60.8, (236, 214, 90))


def _beach(canvas: SceneCanvas, rng: np.random.Generator) -> None:
    """Three horizontal bands: blue sky, deep blue sea with white waves, pale sand."""
    horizon = rng.uniform(24, 32)
    shore = horizon + rng.uniform(9, 14)
    canvas.rect(-1, -1, 65, horizon, jitter(rng, (136, 194, 242), 12))
    if rng.random() < 0.5:
        canvas.ellipse(rng.choice([7.0, 57.0]), rng.uniform(5, 10), 4, 4, (255, 244, 190))
    canvas.rect(-1, horizon, 65, shore, jitter(rng, (28, 112, 172), 12))
    for wave in np.linspace(horizon + 2, shore - 1, 3):
        canvas.line([(-1, wave), (65, wave + rng.uniform(-1, 1))], (214, 236, 244), 0.6)
    canvas.rect(-1, shore, 65, 65, jitter(rng, (234, 212, 164), 8))


def _office(canvas: SceneCanvas, rng: np.random.Generator) -> None:
    """Beige wall, a bright window with frame on one side, a brown desk along the bottom."""
    canvas.rect(-1, -1, 65, 65, jitter(rng, (222, 204, 176), 8))
    left = rng.random() < 0.5
    x0 = rng.uniform(0, 4) if left else rng.uniform(44, 48)
    frame = jitter(rng, (246, 246, 242), 4)
    canvas.rect(x0, 4, x0 + 16, 34, frame)
    canvas.rect(x0 + 1, 5, x0 + 15, 33, jitter(rng, (176, 212, 238), 10))
    canvas.rect(x0 + 7.5, 5, x0 + 8.5, 33, frame)
    canvas.rect(x0 + 1, 18.5, x0 + 15, 19.5, frame)
    plant_x = 56.0 if left else 8.0
    canvas.rect(plant_x - 2.5, 42, plant_x + 2.5, 50, jitter(rng, (150, 82, 52), 10))
    canvas.ellipse(plant_x, 38, 5, 6, jitter(rng, (58, 130, 60), 14))
    canvas.rect(-1, 50, 65, 65, jitter(rng, (134, 88, 54), 12))
    canvas.rect(-1, 50, 65, 51.5, jitter(rng, (170, 120, 80), 8))


def _bus(canvas: SceneCanvas, rng: np.random.Generator) -> None:
    """Bus interior: a band of bright windows between dark pillars, blue seats, yellow poles."""
    canvas.rect(-1, -1, 65, 65, jitter(rng, (176, 180, 184), 8))
    top, bottom = rng.uniform(6, 9), rng.uniform(27, 31)
    canvas.rect(-1, top, 65, bottom, jitter(rng, (168, 214, 206), 14))
    canvas.rect(-1, (top + bottom) / 2, 65, bottom, jitter(rng, (110, 160, 96), 16))
    for pillar in np.arange(rng.uniform(-4, 4), 64, rng.uniform(11, 15)):
        canvas.rect(pillar, top, pillar + 2.2, bottom, (44, 44, 50))
    canvas.rect(-1, bottom, 65, 65, jitter(rng, (96, 108, 140), 10))
    seat = jitter(rng, (44, 64, 150), 14)
    for seat_x in np.arange(rng.uniform(-8, -2), 64, 13.0):
        canvas.polygon([(seat_x, 64), (seat_x + 1, 38), (seat_x + 9, 37), (seat_x + 10, 64)], seat)
        canvas.rect(seat_x + 2, 41, seat_x + 8, 43, (200, 60, 60))
    canvas.rect(-1, top - 2.2, 65, top - 1.0, (232, 190, 24))
    for pole in rng.uniform(1, 63, size=3):
        canvas.rect(pole, -1, pole + 1.6, 65, (232, 190, 24))


def _laboratory(canvas: SceneCanvas, rng: np.random.Generator) -> None:
    """White, pale-blue walls with grey shelves full of brightly coloured bottles."""
    canvas.rect(-1, -1, 65, 65, jitter(rng, (230, 240, 250), 5))
    bottle_colours = [
        jitter(rng, colour, 20)
        for colour in ((220, 40, 40), (40, 170, 60), (40, 80, 220), (240, 150, 20), (150, 50, 200))
    ]
    for shelf in (rng.uniform(13, 16), rng.uniform(28, 31), rng.uniform(43, 46)):
        canvas.rect(-1, shelf, 65, shelf + 1.2, (140, 150, 164))
        widths, heights = rng.uniform(1.8, 3.0, 32).tolist(), rng.uniform(4, 7.5, 32).tolist()
        gaps, kinds = rng.uniform(0.8, 2.2, 32).tolist(), rng.integers(0, 5, 32).tolist()
        x = rng.uniform(-1, 2)
        for width, height, gap, kind in zip(widths, heights, gaps, kinds, strict=True):
            if x >= 64:
                break
            colour = bottle_colours[kind]
            canvas.rect(x, shelf - height, x + width, shelf, colour)
            canvas.rect(
                x + width * 0.3, shelf - height - 1.5, x + width * 0.7, shelf - height, colour
            )
            x += width + gap
    canvas.rect(-1, 56, 65, 65, jitter(rng, (196, 204, 214), 5))


def _factory(canvas: SceneCanvas, rng: np.random.Generator) -> None:
    """Dark grey steel with thick rusty pipes and dark flanges."""
    canvas.rect(-1, -1, 65, 65, jitter(rng, (64, 64, 68), 8))
    for panel in np.arange(rng.uniform(0, 8), 64, 8.0):
        canvas.rect(panel, -1, panel + 0.6, 65, (46, 46, 50))
    rust = jitter(rng, (156, 82, 46), 16)
    for y in rng.uniform(2, 58, size=3):
        thickness = rng.uniform(3, 5)
        canvas.rect(-1, y, 65, y + thickness, rust)
        canvas.rect(-1, y + 0.6, 65, y + 1.3, blend(rust, (255, 220, 180), 0.3))
        for flange in rng.uniform(0, 64, size=2):
            canvas.rect(flange, y - 0.8, flange + 1.6, y + thickness + 0.8, (40, 36, 34))
    for x in (rng.uniform(1, 9), rng.uniform(53, 61)):
        canvas.rect(x, -1, x + rng.uniform(2.5, 4), 65, blend(rust, (40, 30, 25), 0.35))


def _construction_site(canvas: SceneCanvas, rng: np.random.Generator) -> None:
    """Sky behind grey scaffolding, a yellow-black hazard band, orange cones on dirt."""
    canvas.rect(-1, -1, 65, 65, jitter(rng, (146, 196, 236), 10))
    metal = jitter(rng, (120, 120, 126), 10)
    offset = rng.uniform(0, 10)
    for x in np.arange(offset - 10, 70, 11.0):
        canvas.line([(x, -1), (x, 50)], metal, 1.1)
        canvas.line([(x, 10), (x + 11, 0)], metal, 0.7)
    for y in np.arange(rng.uniform(2, 6), 40, 9.5):
        canvas.line([(-1, y), (65, y)], metal, 1.1)
    band = rng.uniform(38, 44)
    canvas.rect(-1, band, 65, band + 6, (244, 204, 24))
    for stripe in np.arange(-8, 70, 5.0):
        canvas.polygon(
            [
                (stripe, band + 6),
                (stripe + 2.5, band + 6),
                (stripe + 8.5, band),
                (stripe + 6, band),
            ],
            (30, 30, 30),
        )
    canvas.rect(-1, band + 6, 65, 65, jitter(rng, (150, 118, 86), 10))
    for cone in (rng.uniform(1, 10), rng.uniform(54, 63)):
        canvas.polygon([(cone - 3.5, 64), (cone, 52), (cone + 3.5, 64)], (246, 112, 20))
        canvas.rect(cone - 1.8, 57, cone + 1.8, 58.5, (248, 248, 248))


def _hospital(canvas: SceneCanvas, rng: np.random.Generator) -> None:
    """Pale teal walls, a pleated white curtain on one side, a red cross on a white sign."""
    canvas.rect(-1, -1, 65, 65, jitter(rng, (176, 220, 214), 8))
    left = rng.random() < 0.5
    x0, x1 = (-1.0, rng.uniform(12, 16)) if left else (rng.uniform(48, 52), 65.0)
    canvas.rect(x0, -1, x1, 65, (236, 238, 240))
    for fold in np.arange(x0 + 1.5, x1, 3.0):
        canvas.rect(fold, -1, fold + 1.1, 65, (206, 212, 218))
    canvas.rect(-1, 0, 65, 1.4, (150, 156, 160))
    cx, cy = (rng.uniform(54, 58) if left else rng.uniform(6, 10)), rng.uniform(8, 12)
    canvas.rect(cx - 6, cy - 6, cx + 6, cy + 6, (248, 248, 248))
    canvas.rect(cx - 1.5, cy - 4.5, cx + 1.5, cy + 4.5, (214, 30, 36))
    canvas.rect(cx - 4.5, cy - 1.5, cx + 4.5, cy + 1.5, (214, 30, 36))
    canvas.rect(-1, 58, 65, 65, jitter(rng, (206, 214, 214), 5))


def _night_club(canvas: SceneCanvas, rng: np.random.Generator) -> None:
    """Near-black room lit by glowing coloured spotlights and beams."""
    dark = jitter(rng, (14, 8, 24), 5)
    canvas.rect(-1, -1, 65, 65, dark)
    lights = [(255, 40, 200), (40, 220, 255), (150, 60, 255), (60, 255, 120), (255, 220, 40)]
    for _ in range(int(rng.integers(5, 8))):
        colour = lights[int(rng.integers(len(lights)))]
        x = rng.choice([rng.uniform(-2, 14), rng.uniform(50, 66)])
        y, radius = rng.uniform(-2, 62), rng.uniform(3, 6)
        canvas.polygon(
            [(x, y), (x + rng.uniform(-10, 10), -1), (x + rng.uniform(-4, 4), -1)],
            blend(dark, colour, 0.25),
        )
        for step in range(4):
            glow = 1.0 - step / 4
            canvas.ellipse(
                x, y, radius * glow, radius * glow, blend(dark, colour, 0.3 + 0.7 * step / 3)
            )


_PAINTERS: dict[str | None, Callable[[SceneCanvas, np.random.Generator], None]] = {
    None: _studio,
    "forest": _forest,
    "city street": _city_street,
    "beach": _beach,
    "office": _office,
    "bus": _bus,
    "laboratory": _laboratory,
    "factory": _factory,
    "construction site": _construction_site,
    "hospital": _hospital,
    "night club": _night_club,
}


def paint_background(background: str | None, rng: np.random.Generator, pixels: int) -> Image.Image:
    """Paint one scene on a ``pixels`` x ``pixels`` RGB canvas; ``None`` gives the plain studio."""
    if background not in _PAINTERS:
        raise ValueError(
            f"Unknown background {background!r}; expected None or one of {BACKGROUNDS}."
        )
    canvas = SceneCanvas(pixels, (0, 0, 0))
    _PAINTERS[background](canvas, rng)
    return canvas.image
