"""The faces of a folder of images, found, cropped and aligned with data preparation's own code.

``GEN`` and ``SRC`` of ``idbooth evaluate`` have the layout ``idbooth prepare`` reads: one
sub-folder of images per identity. Each image goes through
:func:`~idbooth_lib.data.crop.prepare_photo` — decode, detect, training-style crop, ArcFace
alignment — exactly as a real photo is prepared, so generated and real faces are measured alike.
What cannot be used (a corrupt file, a non-image, an image without a face, a stray file outside
the identity folders) is listed with its reason, and never stops the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from idbooth_lib.data.crop import CropSettings, UnusablePhoto, prepare_photo
from idbooth_lib.data.detect import FaceDetector
from idbooth_lib.data.scan import scan_source
from idbooth_lib.logs import progress_bar


@dataclass
class FaceSet:
    """The usable faces of one folder: per face its identity, file, aligned 112×112 crop,
    training-style crop and landmarks (in that crop), plus every unusable file and why."""

    root: str
    identities: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    aligned: list[np.ndarray] = field(default_factory=list)
    crops: list[np.ndarray] = field(default_factory=list)
    landmarks: list[np.ndarray] = field(default_factory=list)
    #: The whole decoded images, kept only when asked for (adherence judges the whole scene).
    images: list[np.ndarray] = field(default_factory=list)
    unusable: list[dict[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.files)

    @property
    def labels(self) -> np.ndarray:
        return np.asarray(self.identities)

    def of(self, identity: str) -> np.ndarray:
        """Indices of ``identity``'s faces."""
        return np.flatnonzero(self.labels == identity)

    def summary(self) -> dict[str, int]:
        return {
            "usable": len(self),
            "unusable": len(self.unusable),
            "total": len(self) + len(self.unusable),
        }


def read_face_set(
    root: str | Path,
    detector: FaceDetector,
    settings: CropSettings,
    keep_images: bool = False,
    own_files: tuple[str, ...] = (),
) -> FaceSet:
    """Every face of ``root`` (one sub-folder per identity); see the module docstring.

    ``own_files`` are file names that belong in the folders (a manifest), not strays. A file
    byte-identical to an earlier one is listed as unusable, as data preparation skips it: a
    duplicate would count as its own nearest neighbour in the memorisation baseline."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"{root} is not a folder: it must hold one sub-folder of images per identity"
        )
    identities, stray = scan_source(root)
    faces = FaceSet(str(root))
    faces.unusable += [
        {"file": record.source, "reason": record.reason}
        for record in stray
        if Path(record.source).name not in own_files
    ]
    total = sum(len(identity.files) for identity in identities)
    with progress_bar(total=total, desc=f"faces in {root.name}", unit="image") as bar:
        for identity in identities:
            faces.unusable += [
                {"file": record.source, "reason": record.reason}
                for record in identity.ignored
                if Path(record.source).name not in own_files
            ]
            if not identity.files:
                reason = "empty identity folder: no images in it"
                faces.unusable.append({"file": f"{identity.source_name}/", "reason": reason})
            for file in identity.files:
                bar.update(1)
                problem = file.problem or (
                    f"duplicate of {file.duplicate_of} (identical bytes)"
                    if file.duplicate_of
                    else None
                )
                if problem is not None:
                    faces.unusable.append({"file": file.relative, "reason": problem})
                    continue
                try:
                    photo = prepare_photo(file.path, detector, settings)
                except UnusablePhoto as error:
                    faces.unusable.append({"file": file.relative, "reason": str(error)})
                    continue
                # the file-system-safe name, as `idbooth prepare` (and so training and
                # generation) names an identity: raw SRC "Zoë K" matches GEN's "Zoe_K_<hash>"
                faces.identities.append(identity.name)
                faces.files.append(file.relative)
                faces.aligned.append(photo.aligned)
                faces.crops.append(photo.train)
                faces.landmarks.append(photo.landmarks)
                if keep_images:
                    faces.images.append(photo.pixels)  # decoded once, by prepare_photo
    return faces
