"""Read any photo a user might drop into a folder as one 8-bit RGB array, or say why it cannot be.

Why a module of its own: real photo folders hold phone pictures stored sideways with an EXIF
rotation tag, scans in CMYK, PNGs with transparency, 16-bit medical-style PNGs, grayscale shots,
half-copied files and stray documents. Each of these either crashes a naive ``Image.open(...)
.convert("RGB")`` or — worse — silently produces a wrong image (a 16-bit PNG converted that way is
clipped to white; a sideways photo stays sideways). Every fix applied here is written down as a
*note*, so the preparation report can tell the user what was changed in their data.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

#: File name suffixes that are treated as photos; anything else is reported as "not an image".
IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".jfif", ".ppm", ".pgm"}
)

#: The EXIF tag that says how a camera held the picture (1 = upright).
EXIF_ORIENTATION_TAG = 0x0112

_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I"})


class ImageReadError(Exception):
    """The file cannot be used as a photo; ``args[0]`` is the reason, written for the report."""


@dataclass
class LoadedImage:
    """A decoded photo: ``pixels`` is (H, W, 3) uint8 RGB, upright; ``notes`` lists every fix."""

    pixels: np.ndarray
    notes: list[str] = field(default_factory=list)
    grayscale: bool = False

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])


def is_image_name(path: Path) -> bool:
    """Whether ``path``'s suffix is one of :data:`IMAGE_SUFFIXES` (case-insensitive)."""
    return path.suffix.lower() in IMAGE_SUFFIXES


def read_image(path: str | Path) -> LoadedImage:
    """Decode ``path`` fully, upright, as 8-bit RGB; raise :class:`ImageReadError` if impossible.

    The whole image is decoded here (not lazily), so a truncated file fails now, with its name,
    rather than later inside a batch.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            # A decompression-bomb *warning* would otherwise be printed once per large photo.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()
                return _to_rgb(image)
    except UnidentifiedImageError as error:
        raise ImageReadError("not an image: PIL cannot identify the file format") from error
    except Image.DecompressionBombError as error:
        raise ImageReadError(f"image too large to decode safely ({error})") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageReadError(f"unreadable or truncated image ({error})") from error
    except Exception as error:  # a decoder plugin failing in its own way is still a bad file
        raise ImageReadError(f"unreadable image ({type(error).__name__}: {error})") from error


def _to_rgb(image: Image.Image) -> LoadedImage:
    notes: list[str] = []
    upright = _apply_exif_orientation(image, notes)
    if upright.mode in _SIXTEEN_BIT_MODES:
        pixels = _sixteen_bit_to_rgb(upright, notes)
    elif upright.mode == "F":
        pixels = _float_to_rgb(upright, notes)
    else:
        pixels = np.asarray(_eight_bit_to_rgb(upright, notes))
    grayscale = _looks_grayscale(pixels)
    if grayscale:
        notes.append(
            f"grayscale photo ({upright.mode}): used as RGB, but it has no colour to learn"
        )
    return LoadedImage(np.ascontiguousarray(pixels, dtype=np.uint8), notes, grayscale)


def _looks_grayscale(pixels: np.ndarray) -> bool:
    """True for single-channel photos and for black-and-white photos saved as RGB (a JPEG's
    chroma noise allows a difference of a couple of levels between channels)."""
    signed = pixels.astype(np.int16)
    spread = np.abs(signed[..., 0] - signed[..., 1]) + np.abs(signed[..., 1] - signed[..., 2])
    return bool(spread.max(initial=0) <= 4)


def _apply_exif_orientation(image: Image.Image, notes: list[str]) -> Image.Image:
    """Rotate/flip as the camera's EXIF tag says, so faces are upright for the detector."""
    orientation = image.getexif().get(EXIF_ORIENTATION_TAG, 1)
    if orientation in (None, 1):
        return image
    notes.append(f"EXIF orientation {orientation}: rotated upright")
    return ImageOps.exif_transpose(image)


def _eight_bit_to_rgb(image: Image.Image, notes: list[str]) -> Image.Image:
    """Palette, alpha and CMYK images to RGB; transparency is flattened onto white."""
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "La", "RGBa", "PA"):
        notes.append(f"{image.mode} with an alpha channel: flattened onto a white background")
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if image.mode == "CMYK":
        notes.append("CMYK photo: converted to RGB")
    elif image.mode not in ("RGB", "L", "1", "P"):
        notes.append(f"{image.mode} photo: converted to RGB")
    return image.convert("RGB")


def _sixteen_bit_to_rgb(image: Image.Image, notes: list[str]) -> np.ndarray:
    """16-bit grayscale to 8 bits by *scaling* (PIL's own conversion clips everything above 255)."""
    values = np.asarray(image).astype(np.float64)
    notes.append(f"16-bit ({image.mode}) photo: scaled to 8 bits")
    eight_bit = np.clip(np.round(values / 257.0), 0, 255).astype(np.uint8)
    return np.repeat(eight_bit[..., None], 3, axis=2)


def _float_to_rgb(image: Image.Image, notes: list[str]) -> np.ndarray:
    """Floating-point images (rare TIFFs) are stretched to their own range."""
    values = np.asarray(image, dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    notes.append("floating-point photo: stretched to 8 bits")
    scaled = (values - low) / (high - low) * 255 if high > low else np.zeros_like(values)
    eight_bit = np.clip(np.round(scaled), 0, 255).astype(np.uint8)
    return np.repeat(eight_bit[..., None], 3, axis=2)
