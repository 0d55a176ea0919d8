"""Data preparation (chapter 01): raw photos per identity → face crops, landmarks and embeddings.

The layout it writes is documented in :mod:`idbooth_lib.data.layout`; every later stage (fine-tuning,
evaluation) reads it through :class:`~idbooth_lib.data.layout.PreparedFaces`.
"""

from idbooth_lib.data.detect import Face, FaceDetector, load_face_detector
from idbooth_lib.data.layout import PreparedFaces, validate_dataset
from idbooth_lib.data.prepare import prepare_dataset
from idbooth_lib.data.report import FileRecord, Report

__all__ = [
    "Face",
    "FaceDetector",
    "FileRecord",
    "PreparedFaces",
    "Report",
    "load_face_detector",
    "prepare_dataset",
    "validate_dataset",
]
