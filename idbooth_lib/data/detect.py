"""Face detection behind one small interface, so data preparation never knows which model runs.

A detector is anything with ``detect(image) -> list[Face]``: an (H, W, 3) uint8 RGB image in, the
faces in it out, largest first. Two backends implement it:

* :class:`InsightFaceDetector` — insightface's SCRFD from a model pack (``buffalo_l`` on sd21),
  the detector real photos need;
* :class:`ToyDetectorBackend` — the toy profile's small CNN
  (:class:`~idbooth_lib.identity.toy_detector.ToyFaceDetector`), slid over the image in square
  windows.

:func:`load_face_detector` picks one from ``config.models.face_analysis``. Tests and notebooks can
pass any object with a ``detect`` method instead (for example one that returns known landmarks).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np
import torch

from idbooth_lib.config import ProfileConfig
from idbooth_lib.identity.arcface_onnx import (
    InsightFaceModelsMissingError,
    holds_models,
    insightface_pack_folder,
)
from idbooth_lib.identity.toy_detector import ToyFaceDetector
from idbooth_lib.models import registers_loader, resolve
from idbooth_lib.ranges import pixels_to_signed

#: The ArcFace template (112×112 crop, OpenCV pixel centres) as fractions of the crop's side, in
#: pixel-*area* coordinates (the crop spans [0, 1]). Every "where is the face" square is a fit to it.
TEMPLATE_FRACTIONS = (
    np.array(
        [
            [38.2946, 51.6963],
            [73.5318, 51.5014],
            [56.0252, 71.7366],
            [41.5493, 92.3655],
            [70.7299, 92.2041],
        ]
    )
    + 0.5
) / 112.0


@dataclass(frozen=True)
class Face:
    """One detected face: ``box`` (x0, y0, x1, y1), ``landmarks`` (5, 2), both in OpenCV pixel
    coordinates of the image it was found in, and the detector's confidence ``score`` in [0, 1]."""

    box: np.ndarray
    landmarks: np.ndarray
    score: float

    @property
    def area(self) -> float:
        width, height = self.box[2] - self.box[0], self.box[3] - self.box[1]
        return float(max(width, 0.0) * max(height, 0.0))


@runtime_checkable
class FaceDetector(Protocol):
    """What data preparation needs from a detector."""

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in an (H, W, 3) uint8 RGB image, sorted by box area, largest first."""
        ...


def by_area(faces: list[Face]) -> list[Face]:
    """``faces`` sorted by box area, largest first (the order :class:`FaceDetector` promises)."""
    return sorted(faces, key=lambda face: face.area, reverse=True)


def template_square(landmarks: np.ndarray, zoom: float = 1.0) -> tuple[float, float, float]:
    """The square ``(x0, y0, side)`` (pixel-area coordinates) in which the five ``landmarks`` sit
    where the ArcFace template puts them, found by a least-squares fit of scale and shift only.

    No rotation, on purpose: this square frames a *photo* (a training image must stay a natural
    photo), not an aligned crop. ``zoom`` > 1 widens it around its centre (head and shoulders).
    """
    points = np.asarray(landmarks, dtype=np.float64) + 0.5
    fractions = TEMPLATE_FRACTIONS
    centred_fractions = fractions - fractions.mean(axis=0)
    side = float(
        (centred_fractions * (points - points.mean(axis=0))).sum() / (centred_fractions**2).sum()
    )
    origin = points.mean(axis=0) - side * fractions.mean(axis=0)
    centre = origin + side / 2
    wide = side * zoom
    return float(centre[0] - wide / 2), float(centre[1] - wide / 2), wide


def box_from_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """A face box for detectors that only give landmarks: the ArcFace-framed square."""
    x0, y0, side = template_square(landmarks)
    return np.array([x0 - 0.5, y0 - 0.5, x0 + side - 0.5, y0 + side - 0.5], dtype=np.float32)


# ----------------------------------------------------------------------------------------------
# insightface
# ----------------------------------------------------------------------------------------------


class InsightFaceDetector:
    """insightface's detector (SCRFD) from a model pack, e.g. ``buffalo_l``."""

    def __init__(
        self,
        name: str,
        root: str,
        gpu: int | None = None,
        allow_download: bool = True,
        detection_size: int = 640,
        threshold: float = 0.5,
    ) -> None:
        from insightface.app import FaceAnalysis

        root = root or "~/.insightface"
        folder = insightface_pack_folder(name, root, allow_download)
        # On the CPU, insightface picks onnxruntime's providers itself; on a GPU it must be told
        # which one, or every process of a multi-GPU launch would run its detector on GPU 0.
        session = (
            {}
            if gpu is None
            else {
                "providers": ["CUDAExecutionProvider", "CPUExecutionProvider"],
                "provider_options": [{"device_id": gpu}, {}],
            }
        )
        try:
            self.app = FaceAnalysis(name=name, root=root, allowed_modules=["detection"], **session)
        except AssertionError as error:  # insightface's way of saying "no detection model"
            raise InsightFaceModelsMissingError(
                f"the insightface pack in {folder} has no face detection model (SCRFD .onnx); "
                "use a complete pack such as buffalo_l, unzipped whole into that folder"
            ) from error
        self.app.prepare(
            ctx_id=-1 if gpu is None else gpu,  # insightface: -1 is the CPU, k is GPU k
            det_thresh=threshold,
            det_size=(detection_size, detection_size),
        )

    def detect(self, image: np.ndarray) -> list[Face]:
        # insightface works in OpenCV's BGR order.
        found = self.app.get(np.ascontiguousarray(image[..., ::-1]))
        return by_area(
            [
                Face(
                    np.asarray(face.bbox[:4], dtype=np.float32),
                    np.asarray(face.kps, dtype=np.float32),
                    float(face.det_score),
                )
                for face in found
                if face.kps is not None
            ]
        )


# ----------------------------------------------------------------------------------------------
# The toy detector
# ----------------------------------------------------------------------------------------------


class ToyDetectorBackend:
    """Slides a :class:`~idbooth_lib.identity.toy_detector.ToyFaceDetector` over an image in square windows.

    A window's side is the image's short side, so a 64×64 toy photo is one window and a 128×64
    strip of two faces is three (left, middle, right, at half-window steps). Each window is resized
    to 64×64 and the landmarks are scaled back. A window counts only if it holds a *whole* face —
    that is what the model was trained to say — and overlapping answers are merged by keeping the
    most confident (non-maximum suppression).
    """

    def __init__(
        self, model: ToyFaceDetector, threshold: float = 0.5, overlap: float = 0.3
    ) -> None:
        self.model = model.eval()
        self.threshold = threshold
        self.overlap = overlap

    def windows(self, height: int, width: int) -> list[tuple[int, int, int]]:
        """``(x0, y0, side)`` of each square window."""
        side = min(height, width)
        length = max(height, width)
        starts = list(range(0, length - side + 1, max(side // 2, 1)))
        if starts[-1] != length - side:
            starts.append(length - side)
        if width >= height:
            return [(start, 0, side) for start in starts]
        return [(0, start, side) for start in starts]

    @torch.no_grad()
    def detect(self, image: np.ndarray) -> list[Face]:
        size = self.model.config.input_size
        windows = self.windows(*image.shape[:2])
        batch = np.stack([_resize(image[y : y + s, x : x + s], size) for x, y, s in windows])
        tensor = pixels_to_signed(batch)
        logits, landmarks = self.model(tensor)
        scores = torch.sigmoid(logits).numpy()
        faces = []
        for (x, y, side), score, points in zip(windows, scores, landmarks.numpy(), strict=True):
            if score < self.threshold:
                continue
            scale = side / size
            in_image = (points + 0.5) * scale - 0.5 + np.array([x, y], dtype=np.float32)
            faces.append(Face(box_from_landmarks(in_image), in_image, float(score)))
        return by_area(_suppress_overlaps(faces, self.overlap))


def _resize(window: np.ndarray, size: int) -> np.ndarray:
    """Area averaging when shrinking (no aliasing), bilinear when enlarging."""
    if window.shape[0] == size:
        return window
    shrinking = window.shape[0] > size
    method = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(window, (size, size), interpolation=method)


def _intersection_over_union(first: np.ndarray, second: np.ndarray) -> float:
    width = min(first[2], second[2]) - max(first[0], second[0])
    height = min(first[3], second[3]) - max(first[1], second[1])
    overlap = max(width, 0.0) * max(height, 0.0)
    areas = (first[2] - first[0]) * (first[3] - first[1]) + (second[2] - second[0]) * (
        second[3] - second[1]
    )
    return float(overlap / max(areas - overlap, 1e-9))


def _suppress_overlaps(faces: list[Face], overlap: float) -> list[Face]:
    kept: list[Face] = []
    for face in sorted(faces, key=lambda face: face.score, reverse=True):
        if all(_intersection_over_union(face.box, other.box) <= overlap for other in kept):
            kept.append(face)
    return kept


# ----------------------------------------------------------------------------------------------
# Choosing a backend
# ----------------------------------------------------------------------------------------------


def load_face_detector(
    config: ProfileConfig, allow_download: bool = True, device: str | None = None
) -> FaceDetector:
    """The detector ``config.models.face_analysis`` names, on ``device`` (default ``config.device``).

    ``idbooth:toy/NAME``, or a folder that a toy detector was saved to, loads a
    :class:`~idbooth_lib.identity.toy_detector.ToyFaceDetector`; anything else is an insightface
    model pack name (``buffalo_l``) looked up under ``config.models.face_model_root``, or a folder
    of insightface ``.onnx`` files. On a GPU the insightface detector runs on that very GPU
    (``cuda:1`` → onnxruntime device 1), so each process of ``accelerate launch`` uses its own.
    """
    source = config.models.face_analysis
    found = resolve(source, "face_analysis")
    if found.kind == "packaged" or _holds_a_toy_detector(found):
        return ToyDetectorBackend(ToyFaceDetector.load(found.location))
    where = torch.device(device or config.device)
    gpu = (where.index or 0) if where.type == "cuda" and torch.cuda.is_available() else None
    return InsightFaceDetector(source, config.models.face_model_root, gpu, allow_download)


def _holds_a_toy_detector(found) -> bool:
    """A folder with a saved network's ``config.json`` and no insightface models in it."""
    folder = Path(found.location)
    return found.kind == "folder" and (folder / "config.json").is_file() and not holds_models(folder)


@registers_loader("detector")
def load_bundled_detector(bundle, setting: str) -> FaceDetector:
    """The detector of a :class:`~idbooth_lib.models.ModelBundle`, on the bundle's device."""
    return load_face_detector(bundle.config, device=bundle.device)
