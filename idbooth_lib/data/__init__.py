"""Data preparation: raw photos per identity → face crops, landmarks and identity embeddings.

The layout it writes is documented in :mod:`idbooth_lib.data.layout`; every later stage (fine-tuning,
evaluation) reads it through :class:`PreparedFaces`.
"""

from idbooth_lib.data.detect import Face, FaceDetector, load_face_detector
from idbooth_lib.data.layout import PreparedFaces, validate_dataset
from idbooth_lib.data.prepare import FileRecord, Report, prepare_dataset

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
