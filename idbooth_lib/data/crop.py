"""One photo → a training crop, its landmarks and an ArcFace-aligned crop, or the reason it is unusable.

Two framings of the training crop (``data.train_framing``):

- ``face`` (the default): a face-centred square fitted to the detected landmarks
  (:func:`~idbooth_lib.data.detect.template_square`), ``zoom`` times wider than the ArcFace
  framing — every photo gives the face at the same scale, whatever its own framing;
- ``photo`` (the paper's): the whole photo, its short side resized to the resolution and the centre
  square kept. The authors resized Tufts' studio portraits to 512 px and cropped 512 px at random;
  for a square photo that is the whole photo, which this framing reproduces (for a non-square
  photo it keeps the centre, where the paper's random crop would move from step to step).

The aligned 112×112 crop is insightface's ``norm_crop`` on the original photo, whatever the
framing: it is what the recogniser embeds.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from idbooth_lib.config import ProfileConfig, setting_choices
from idbooth_lib.data.detect import Face, FaceDetector, template_square
from idbooth_lib.data.images import ImageReadError, read_image

#: Photos whose short side is below this many pixels are too small to hold a usable face.
MINIMUM_PHOTO_SIDE = 32
#: Faces whose eyes are closer than this (pixels of the photo) are too small to crop.
MINIMUM_EYE_DISTANCE = 8.0
#: A crop enlarged more than this is reported: the training image will be soft.
MAXIMUM_UPSCALE = 2.0
#: A crop that leaves the photo by at most this fraction of its side is moved inside instead
#: (the face sits slightly off-centre rather than next to a band of repeated pixels).
MAXIMUM_NUDGE = 0.1
#: A crop whose padded border exceeds this fraction of its side is reported.
MAXIMUM_PADDING = 0.05
#: ``data.train_framing`` values.
FRAMINGS = setting_choices("data.train_framing")


class UnusablePhoto(Exception):
    """The photo is skipped; ``args[0]`` is the reason for the report."""


@dataclass
class PreparedPhoto:
    """What one usable photo yields."""

    train: np.ndarray
    aligned: np.ndarray
    landmarks: np.ndarray
    notes: list[str]
    #: The whole decoded photo (upright RGB), for stages that judge the scene, not only the face.
    pixels: np.ndarray | None = None


@dataclass(frozen=True)
class CropSettings:
    """The geometry of the outputs: training crop side, aligned crop side and framing."""

    resolution: int
    aligned_size: int
    zoom: float
    framing: str = "face"

    @classmethod
    def from_config(cls, config: ProfileConfig, zoom: float | None = None) -> CropSettings:
        """The profile's geometry, with ``data.crop_zoom`` unless ``zoom`` is given: what data
        preparation and evaluation both crop with, so that they see faces alike."""
        zoom = config.data.crop_zoom if zoom is None else float(zoom)
        return cls(config.data.resolution, config.data.aligned_size, zoom, config.data.train_framing)

    def __post_init__(self) -> None:
        if self.framing not in FRAMINGS:
            raise ValueError(
                f"unknown training-crop framing {self.framing!r} (data.train_framing); choose one "
                f"of {', '.join(FRAMINGS)}"
            )


def crop_square(
    shape: tuple[int, ...], landmarks: np.ndarray, settings: CropSettings
) -> tuple[float, float, float]:
    """``(x0, y0, side)`` of the training crop in the photo (pixel-area coordinates)."""
    if settings.framing == "photo":
        height, width = shape[:2]
        side = min(height, width)
        return (width - side) / 2, (height - side) / 2, side
    return template_square(landmarks, settings.zoom)


def _nudge_inside(start: int, size: int, length: int) -> int:
    """Move a crop ``[start, start + size)`` inside ``[0, length)`` if that takes a small shift."""
    if size > length:
        return start
    inside = min(max(start, 0), length - size)
    return inside if abs(inside - start) <= MAXIMUM_NUDGE * size else start


def crop_face(
    pixels: np.ndarray, landmarks: np.ndarray, settings: CropSettings
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The square training crop at ``settings.resolution`` and the landmarks in its pixels.

    The square comes from :func:`crop_square`: face-centred by default (scale and shift, no
    rotation), or the photo's centre. If it leaves the photo by a little, it is moved inside; if by
    more, the missing part repeats the edge pixels. Shrinking uses area averaging (no aliasing),
    enlarging bicubic.
    """
    height, width = pixels.shape[:2]
    x0, y0, side = crop_square(pixels.shape, landmarks, settings)
    size = max(round(side), 1)
    left, top = _nudge_inside(round(x0), size, width), _nudge_inside(round(y0), size, height)
    region = pixels[max(top, 0) : min(top + size, height), max(left, 0) : min(left + size, width)]
    if region.size == 0:
        raise UnusablePhoto("the detected face lies outside the photo")
    pads = (max(-top, 0), max(top + size - height, 0), max(-left, 0), max(left + size - width, 0))
    notes = []
    if max(pads) > MAXIMUM_PADDING * size:
        notes.append(
            f"face near the photo's edge: {100 * max(pads) / size:.0f}% of the crop's side "
            "filled by repeating edge pixels"
        )
    if any(pads):
        region = cv2.copyMakeBorder(region, *pads, cv2.BORDER_REPLICATE)
    resolution = settings.resolution
    if size == resolution:
        crop = region
    else:
        method = cv2.INTER_AREA if size > resolution else cv2.INTER_CUBIC
        crop = cv2.resize(region, (resolution, resolution), interpolation=method)
    if resolution / size > MAXIMUM_UPSCALE:
        notes.append(
            f"small face: its {size} px crop was enlarged {resolution / size:.1f}× to "
            f"{resolution} px, so the training image is soft"
        )
    in_crop = (landmarks + 0.5 - np.array([left, top])) * (resolution / size) - 0.5
    return np.ascontiguousarray(crop), in_crop.astype(np.float32), notes


def align_face(pixels: np.ndarray, landmarks: np.ndarray, size: int) -> np.ndarray:
    """insightface's ``norm_crop``: the ArcFace-aligned ``size``×``size`` crop of the photo."""
    from insightface.utils.face_align import norm_crop

    with warnings.catch_warnings():
        # insightface calls a scikit-image method that warns of its future removal on every face.
        warnings.simplefilter("ignore", FutureWarning)
        return norm_crop(pixels, np.asarray(landmarks, dtype=np.float32), image_size=size)


def _choose_face(faces: list[Face], notes: list[str]) -> Face:
    if not faces:
        raise UnusablePhoto("no face found")
    if len(faces) > 1:
        others = ", ".join(
            f"{face.box[2] - face.box[0]:.0f}×{face.box[3] - face.box[1]:.0f} px"
            for face in faces[1:]
        )
        notes.append(f"{len(faces)} faces found: kept the largest, ignored the others ({others})")
    face = faces[0]
    eye_distance = float(np.linalg.norm(face.landmarks[1] - face.landmarks[0]))
    if eye_distance < MINIMUM_EYE_DISTANCE:
        raise UnusablePhoto(
            f"face too small to crop: its eyes are {eye_distance:.1f} px apart, at least "
            f"{MINIMUM_EYE_DISTANCE:.0f} px are needed"
        )
    return face


def prepare_photo(path: Path, detector: FaceDetector, settings: CropSettings) -> PreparedPhoto:
    """Decode, detect, crop and align one photo; raise :class:`UnusablePhoto` to skip it."""
    try:
        image = read_image(path)
    except ImageReadError as error:
        raise UnusablePhoto(str(error)) from error
    if min(image.height, image.width) < MINIMUM_PHOTO_SIDE:
        raise UnusablePhoto(
            f"too small to crop: {image.width}×{image.height} px, a photo needs at least "
            f"{MINIMUM_PHOTO_SIDE} px on its short side"
        )
    notes = list(image.notes)
    face = _choose_face(detector.detect(image.pixels), notes)
    landmarks = np.asarray(face.landmarks, dtype=np.float32)
    train, in_crop, crop_notes = crop_face(image.pixels, landmarks, settings)
    aligned = align_face(image.pixels, landmarks, settings.aligned_size)
    return PreparedPhoto(train, aligned, in_crop, notes + crop_notes, image.pixels)
