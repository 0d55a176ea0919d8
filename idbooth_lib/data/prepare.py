"""Data preparation: a folder of raw photos per identity → the prepared layout of :mod:`.layout`.

For every photo: decode it robustly (:mod:`.images`), find the largest face (:mod:`.detect`), cut
a face-centred square at the training resolution, align a 112×112 crop to the ArcFace template with
insightface's ``norm_crop``, and — once per identity, batched — embed the aligned crops with the
profile's recogniser. Nothing a user's folder can contain stops the run: every file ends up in
``report.json`` as ``ok``, ``warning`` (used, but something was fixed or is doubtful) or
``skipped``, with the reason. The source folder is only ever read.

Interruptions are expected (Colab disconnects, Ctrl-C). Every file is written atomically, each
finished photo leaves a small record in ``<identity>/.work/``, and an identity's ``identity.json``
is written last, carrying a fingerprint of its source files. Running the same command again skips
complete identities and finished photos and does the rest; a changed source folder is redone.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import unicodedata
import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm.auto import tqdm

from idbooth_lib.config import PACKAGED_PREFIX, ProfileConfig
from idbooth_lib.data.detect import Face, FaceDetector, load_face_detector, template_square
from idbooth_lib.data.images import ImageReadError, is_image_name, read_image
from idbooth_lib.data.layout import (
    ALIGNED_FOLDER,
    DATASET_FILE,
    EMBEDDINGS_FILE,
    IDENTITY_FILE,
    LANDMARK_CONVENTION,
    LANDMARKS_FILE,
    LAYOUT_VERSION,
    REPORT_FILE,
    TRAIN_FOLDER,
    WORK_FOLDER,
    aligned_image_path,
    identity_problems,
    read_json,
    train_image_path,
    write_embeddings,
)
from idbooth_lib.io import save_image, write_json

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
#: The optional file in SRC that gives each identity's gender (a toy dataset writes one).
SOURCE_METADATA_FILE = "metadata.json"
EMBEDDING_BATCH = 32

OK, WARNING, SKIPPED = "ok", "warning", "skipped"


def default_zoom(config: ProfileConfig) -> float:
    """How much wider than the ArcFace framing the training crop is.

    The toy world draws its faces in the ArcFace framing (zoom 1 reproduces its 64 px images);
    real portraits keep hair, chin and some shoulders with 1.6, closer to the whole studio photos
    the paper resized to 512 px.
    """
    return 1.0 if config.models.face_analysis.startswith(PACKAGED_PREFIX) else 1.6


# ----------------------------------------------------------------------------------------------
# The report
# ----------------------------------------------------------------------------------------------


@dataclass
class FileRecord:
    """What happened to one source file (or folder): ``status`` is ok, warning or skipped."""

    source: str
    status: str
    reason: str = ""
    identity: str | None = None
    stem: str | None = None


@dataclass
class Report:
    """The outcome of :func:`prepare_dataset`; ``DST/report.json`` is :meth:`to_dict`."""

    source: str
    destination: str
    profile: str
    resolution: int
    records: list[FileRecord]
    identities: list[str]

    def count(self, status: str) -> int:
        return sum(record.status == status for record in self.records)

    @property
    def images(self) -> int:
        """Photos that made it into the dataset (ok and warning)."""
        return sum(record.stem is not None for record in self.records)

    def problems(self) -> list[FileRecord]:
        """Records that are not plainly ok: what a user should read."""
        return [record for record in self.records if record.status != OK]

    def for_source(self, relative: str) -> FileRecord:
        """The record of one source path (relative to SRC, with ``/``)."""
        for record in self.records:
            if record.source == relative:
                return record
        raise KeyError(f"{relative!r} is not in the report of {self.source}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "destination": self.destination,
            "profile": self.profile,
            "resolution": self.resolution,
            "identities": self.identities,
            "counts": {status: self.count(status) for status in (OK, WARNING, SKIPPED)},
            "files": [asdict(record) for record in self.records],
        }

    def summary(self, limit: int = 20) -> str:
        """A few lines for the console: totals, then each warning and skip."""
        lines = [
            f"prepared {self.images} images of {len(self.identities)} identities from "
            f"{self.source} into {self.destination} (profile {self.profile}, "
            f"{self.resolution} px)",
            f"  ok {self.count(OK)}, warning {self.count(WARNING)}, skipped {self.count(SKIPPED)}"
            f" — every file with its reason is in {Path(self.destination) / REPORT_FILE}",
        ]
        problems = self.problems()
        lines += [f"  {r.status:>7}  {r.source}: {r.reason}" for r in problems[:limit]]
        if len(problems) > limit:
            lines.append(f"  ... and {len(problems) - limit} more in {REPORT_FILE}")
        return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# Reading the source folder
# ----------------------------------------------------------------------------------------------


def safe_name(text: str) -> str:
    """An ASCII file-system-safe version of ``text``; changed names get a short hash of the
    original so that ``Zoë`` and ``Zoe`` stay different."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_text).strip("._-")
    if cleaned == text:
        return text
    digest = hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()[:6]
    return f"{cleaned}_{digest}" if cleaned else digest


def unique_names(names: Iterable[str]) -> list[str]:
    """:func:`safe_name` of each, made unique ignoring case (``a.jpg`` and ``A.png`` must not
    collide on macOS or Windows): later duplicates get ``_2``, ``_3``, ... in the given order."""
    wanted = [safe_name(name) for name in names]
    taken = Counter(name.casefold() for name in wanted)
    seen: set[str] = set()
    result = []
    for name in wanted:
        candidate, number = name, 1
        while candidate.casefold() in seen or (candidate != name and taken[candidate.casefold()]):
            number += 1
            candidate = f"{name}_{number}"
        seen.add(candidate.casefold())
        result.append(candidate)
    return result


@dataclass
class SourceFile:
    """One candidate photo: where it is, its output stem, and what is known before decoding."""

    path: Path
    relative: str
    stem: str
    digest: str | None
    problem: str | None = None
    duplicate_of: str | None = None


@dataclass
class SourceIdentity:
    """One identity folder of the source."""

    folder: Path
    name: str
    gender: str | None
    files: list[SourceFile] = field(default_factory=list)
    ignored: list[FileRecord] = field(default_factory=list)

    @property
    def source_name(self) -> str:
        """The source folder's name, printable (see ``_relative``)."""
        return _relative(self.folder, self.folder.parent)

    def fingerprint(self) -> str:
        """Changes whenever anything that decides this identity's output changes."""
        content = [
            self.source_name,
            self.gender,
            [(f.relative, f.stem, f.digest, f.problem, f.duplicate_of) for f in self.files],
            [asdict(record) for record in self.ignored],
        ]
        return hashlib.sha256(json.dumps(content).encode("utf-8")).hexdigest()


def _relative(path: Path, source: Path) -> str:
    """``path`` relative to SRC, printable: bytes that are not UTF-8 (possible in Linux file
    names) are shown as U+FFFD instead of breaking the JSON report."""
    text = path.relative_to(source).as_posix()
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _digest(path: Path) -> tuple[str | None, str | None]:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest(), None
    except OSError as error:
        return None, f"unreadable file ({error.strerror or error})"


def _genders(source: Path) -> dict[str, str]:
    """Genders from ``SRC/metadata.json`` (``{"identities": {folder: {"gender": ...}}}``), if any."""
    try:
        metadata = json.loads((source / SOURCE_METADATA_FILE).read_text(encoding="utf-8"))
        return {
            folder: str(values["gender"])
            for folder, values in metadata.get("identities", {}).items()
            if isinstance(values, dict) and values.get("gender")
        }
    except (OSError, ValueError, AttributeError):
        return {}


def _is_hidden(path: Path) -> bool:
    """Hidden and tool-made entries (``.ipynb_checkpoints``, ``.DS_Store``, ``__MACOSX``)."""
    return path.name.startswith(".") or path.name in ("__MACOSX", "Thumbs.db", "desktop.ini")


def _stray_reason(path: Path) -> str:
    if _is_hidden(path):
        return "hidden or system entry ignored"
    return "not inside an identity folder: SRC must hold one sub-folder of photos per identity"


def _ignored_entry(path: Path, source: Path) -> FileRecord | None:
    """A record for an entry of an identity folder that is not a photo, or None for a photo."""
    relative = _relative(path, source)
    if _is_hidden(path):
        return FileRecord(relative, SKIPPED, "hidden or system file ignored")
    if path.is_dir():
        return FileRecord(
            relative, SKIPPED, "nested folder ignored: put an identity's photos directly in it"
        )
    if not is_image_name(path):
        return FileRecord(
            relative,
            SKIPPED,
            f"not an image file (suffix {path.suffix or 'none'!r}); photos must be "
            ".jpg, .png, .webp, .bmp or .tif",
        )
    return None


def scan_source(source: Path) -> tuple[list[SourceIdentity], list[FileRecord]]:
    """The identities of ``source`` with their candidate photos, and records for stray entries.

    Files are hashed here so that byte-identical copies are found before any decoding: the first
    (in sorted order, across all identities) is used, later ones are reported as duplicates.
    """
    genders = _genders(source)
    entries = sorted(source.iterdir())
    folders = [path for path in entries if path.is_dir() and not _is_hidden(path)]
    stray = [
        FileRecord(_relative(path, source), SKIPPED, _stray_reason(path))
        for path in entries
        if path not in folders and path.name != SOURCE_METADATA_FILE
    ]
    identities, first_copy = [], {}
    for folder, name in zip(folders, unique_names(p.name for p in folders), strict=True):
        identity = SourceIdentity(folder, name, genders.get(folder.name))
        photos = []
        for path in sorted(folder.iterdir()):
            ignored = _ignored_entry(path, source)
            if ignored is None:
                photos.append(path)
            else:
                identity.ignored.append(ignored)
        for path, stem in zip(photos, unique_names(p.stem for p in photos), strict=True):
            digest, problem = _digest(path)
            file = SourceFile(path, _relative(path, source), stem, digest, problem)
            if digest is not None:
                file.duplicate_of = first_copy.setdefault(digest, file.relative)
                if file.duplicate_of == file.relative:
                    file.duplicate_of = None
            identity.files.append(file)
        identities.append(identity)
    return identities, stray


# ----------------------------------------------------------------------------------------------
# One photo
# ----------------------------------------------------------------------------------------------


class UnusablePhoto(Exception):
    """The photo is skipped; ``args[0]`` is the reason for the report."""


@dataclass
class PreparedPhoto:
    """What one usable photo yields."""

    train: np.ndarray
    aligned: np.ndarray
    landmarks: np.ndarray
    notes: list[str]


@dataclass(frozen=True)
class CropSettings:
    """The geometry of the outputs: training crop side, aligned crop side and framing."""

    resolution: int
    aligned_size: int
    zoom: float


def _nudge_inside(start: int, size: int, length: int) -> int:
    """Move a crop ``[start, start + size)`` inside ``[0, length)`` if that takes a small shift."""
    if size > length:
        return start
    inside = min(max(start, 0), length - size)
    return inside if abs(inside - start) <= MAXIMUM_NUDGE * size else start


def crop_face(
    pixels: np.ndarray, landmarks: np.ndarray, settings: CropSettings
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Face-centred square crop at ``settings.resolution`` and the landmarks in its pixels.

    The square comes from :func:`~idbooth_lib.data.detect.template_square` (scale and shift, no
    rotation). If it leaves the photo by a little, it is moved inside; if by more, the missing part
    repeats the edge pixels. Shrinking uses area averaging (no aliasing), enlarging bicubic.
    """
    height, width = pixels.shape[:2]
    x0, y0, side = template_square(landmarks, settings.zoom)
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
    return PreparedPhoto(train, aligned, in_crop, notes + crop_notes)


# ----------------------------------------------------------------------------------------------
# Models, loaded only when some photo needs them
# ----------------------------------------------------------------------------------------------


def load_encoder(config: ProfileConfig) -> torch.nn.Module:
    """The profile's identity encoder: a packaged toy recogniser, or insightface's ArcFace."""
    source = config.models.identity_encoder
    if source.startswith(PACKAGED_PREFIX):
        from idbooth_lib.identity.encoders import load_identity_encoder

        device = config.device if torch.cuda.is_available() else "cpu"
        return load_identity_encoder(source, device)
    from idbooth_lib.identity.arcface_onnx import load_insightface_recogniser

    return load_insightface_recogniser(source, config.models.face_model_root)


class LazyModels:
    """The detector and encoder, each loaded on first use (a resumed, finished run loads none)."""

    def __init__(self, config: ProfileConfig, detector: Any, encoder: Any) -> None:
        self.config, self._detector, self._encoder = config, detector, encoder

    @property
    def detector(self) -> FaceDetector:
        if self._detector is None:
            self._detector = load_face_detector(self.config)
        return self._detector

    @property
    def encoder(self) -> Any:
        if self._encoder is None:
            self._encoder = load_encoder(self.config)
        return self._encoder


@torch.no_grad()
def embed_aligned(encoder: Any, crops: list[np.ndarray]) -> np.ndarray:
    """(N, D) float32 unit embeddings of aligned uint8 RGB crops, in batches."""
    parameter = next(iter(getattr(encoder, "parameters", list)()), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    chunks = []
    for start in range(0, len(crops), EMBEDDING_BATCH):
        batch = torch.from_numpy(np.stack(crops[start : start + EMBEDDING_BATCH]))
        images = batch.permute(0, 3, 1, 2).float().div(127.5).sub(1.0).to(device)
        chunks.append(F.normalize(encoder(images).float(), dim=-1).cpu())
    return torch.cat(chunks).numpy().astype(np.float32)


# ----------------------------------------------------------------------------------------------
# One identity
# ----------------------------------------------------------------------------------------------


def _work_record_path(folder: Path, stem: str) -> Path:
    return folder / WORK_FOLDER / f"{stem}.json"


def _finished_photo(folder: Path, file: SourceFile) -> dict | None:
    """The work record of a photo finished by an earlier, interrupted run, if still valid."""
    path = _work_record_path(folder, file.stem)
    try:
        record = read_json(path)
    except (FileNotFoundError, ValueError):
        return None
    root, identity = folder.parent, folder.name
    outputs_exist = (
        train_image_path(root, identity, file.stem).is_file()
        and aligned_image_path(root, identity, file.stem).is_file()
    )
    return record if record.get("digest") == file.digest and outputs_exist else None


def _prepare_file(
    file: SourceFile,
    identity: SourceIdentity,
    folder: Path,
    settings: CropSettings,
    models: LazyModels,
) -> tuple[FileRecord, np.ndarray | None]:
    """Process one candidate photo, or reuse an earlier run's result."""
    if file.problem is not None:
        return FileRecord(file.relative, SKIPPED, file.problem, identity.name), None
    if file.duplicate_of is not None:
        reason = f"duplicate of {file.duplicate_of} (identical bytes)"
        return FileRecord(file.relative, SKIPPED, reason, identity.name), None
    finished = _finished_photo(folder, file)
    if finished is not None:
        record = FileRecord(**finished["record"])
        return record, np.asarray(finished["landmarks"], dtype=np.float32)
    try:
        photo = prepare_photo(file.path, models.detector, settings)
    except UnusablePhoto as error:
        return FileRecord(file.relative, SKIPPED, str(error), identity.name), None
    save_image(
        train_image_path(folder.parent, folder.name, file.stem), Image.fromarray(photo.train)
    )
    save_image(
        aligned_image_path(folder.parent, folder.name, file.stem), Image.fromarray(photo.aligned)
    )
    status = WARNING if photo.notes else OK
    record = FileRecord(file.relative, status, "; ".join(photo.notes), identity.name, file.stem)
    write_json(
        _work_record_path(folder, file.stem),
        {"digest": file.digest, "record": asdict(record), "landmarks": photo.landmarks.tolist()},
    )
    return record, photo.landmarks


def _completed_identity(
    folder: Path, identity: SourceIdentity, settings: CropSettings
) -> list[FileRecord] | None:
    """The records of an identity a previous run finished from the same source files, if its
    outputs are still sound (the same checks as :func:`validate_dataset`), else None."""
    try:
        stored = read_json(folder / IDENTITY_FILE)
    except (FileNotFoundError, ValueError):
        return None
    if stored.get("fingerprint") != identity.fingerprint():
        return None
    if identity_problems(folder.parent, folder.name, settings.resolution, settings.aligned_size):
        return None
    return [FileRecord(**record) for record in stored["files"]]


def _finish_identity(
    folder: Path, identity: SourceIdentity, records: list[FileRecord], landmarks: dict, encoder: Any
) -> None:
    """Embed the aligned crops, then write landmarks, embeddings and (last) ``identity.json``."""
    stems = list(landmarks)
    crops = []
    for stem in stems:
        with Image.open(aligned_image_path(folder.parent, folder.name, stem)) as image:
            crops.append(np.asarray(image.convert("RGB")))
    embeddings = embed_aligned(encoder, crops)
    write_embeddings(folder / EMBEDDINGS_FILE, dict(zip(stems, embeddings, strict=True)))
    write_json(
        folder / LANDMARKS_FILE,
        {stem: np.round(points, 4).tolist() for stem, points in landmarks.items()},
    )
    write_json(
        folder / IDENTITY_FILE,
        {
            "layout_version": LAYOUT_VERSION,
            "identity": identity.name,
            "source_folder": identity.source_name,
            "gender": identity.gender,
            "num_images": len(stems),
            "stems": stems,
            "sources": {r.stem: r.source for r in records if r.stem is not None},
            "embedding_dim": int(embeddings.shape[1]),
            "landmark_convention": LANDMARK_CONVENTION,
            "files": [asdict(record) for record in records],
            "fingerprint": identity.fingerprint(),
        },
    )
    shutil.rmtree(folder / WORK_FOLDER, ignore_errors=True)
    _remove_unlisted_images(folder, set(stems))


def _remove_unlisted_images(folder: Path, stems: set[str]) -> None:
    """Drop crops an interrupted run made from photos that are no longer in the source."""
    for subfolder in (TRAIN_FOLDER, ALIGNED_FOLDER):
        for path in (folder / subfolder).glob("*.png"):
            if path.stem not in stems:
                path.unlink()


def prepare_identity(
    identity: SourceIdentity,
    destination: Path,
    settings: CropSettings,
    models: LazyModels,
    bar: Any,
) -> tuple[list[FileRecord], bool]:
    """Prepare one identity; returns its records and whether it has at least one image."""
    folder = destination / identity.name
    completed = _completed_identity(folder, identity, settings)
    if completed is not None:
        bar.update(len(identity.files))
        return completed, any(record.stem for record in completed)
    if (folder / IDENTITY_FILE).exists():
        shutil.rmtree(folder)  # other source files, or damaged outputs: start this identity afresh
    records = list(identity.ignored)
    relative_folder = f"{identity.source_name}/"
    if not identity.files:
        what = "no photos among its files" if identity.ignored else "the folder is empty"
        records.append(FileRecord(relative_folder, SKIPPED, f"empty identity folder: {what}"))
        return records, False
    landmarks: dict[str, np.ndarray] = {}
    for file in identity.files:
        record, points = _prepare_file(file, identity, folder, settings, models)
        records.append(record)
        if points is not None:
            landmarks[file.stem] = points
        bar.update(1)
    if not landmarks:
        reason = "no usable photo in this identity folder: identity left out"
        records.append(FileRecord(relative_folder, SKIPPED, reason))
        shutil.rmtree(folder, ignore_errors=True)
        return records, False
    _finish_identity(folder, identity, records, landmarks, models.encoder)
    return records, True


# ----------------------------------------------------------------------------------------------
# The whole folder
# ----------------------------------------------------------------------------------------------


def _check_folders(source: Path, destination: Path) -> None:
    if not source.is_dir():
        raise FileNotFoundError(
            f"{source} is not a folder: SRC must hold one sub-folder of photos per identity"
        )
    resolved_source, resolved_destination = source.resolve(), destination.resolve()
    if resolved_destination == resolved_source or resolved_source in resolved_destination.parents:
        raise ValueError(
            f"{destination} is inside the source folder {source}: preparation never writes into "
            "the source; choose a destination outside it"
        )
    if destination.exists() and not destination.is_dir():
        raise FileExistsError(f"{destination} exists and is not a folder; choose another path")


def _settings(config: ProfileConfig, detector: Any, encoder: Any, zoom: float) -> dict[str, Any]:
    """What decides the content of the outputs; a rerun must match it to reuse them."""
    return {
        "layout_version": LAYOUT_VERSION,
        "profile": config.name,
        "resolution": config.data.resolution,
        "aligned_size": config.data.aligned_size,
        "zoom": zoom,
        "detector": config.models.face_analysis if detector is None else type(detector).__name__,
        "encoder": config.models.identity_encoder if encoder is None else type(encoder).__name__,
    }


def _start_destination(destination: Path, settings: dict[str, Any]) -> None:
    """Refuse a folder holding anything but a preparation with the same settings, then mark the
    dataset unfinished until the run completes."""
    manifest = destination / DATASET_FILE
    if manifest.is_file():
        stored = read_json(manifest)
        found = {key: stored.get(key) for key in settings}
        if found != settings:
            raise FileExistsError(
                f"{destination} holds a dataset prepared with other settings {json.dumps(found)}, "
                f"not {json.dumps(settings)}. Choose another destination, or delete {destination}."
            )
    elif destination.exists() and any(destination.iterdir()):
        raise FileExistsError(
            f"{destination} is not empty and holds no {DATASET_FILE}: it is not a prepared "
            "dataset. Choose an empty or new folder."
        )
    write_json(manifest, {**settings, "identities": [], "complete": False})


def prepare_dataset(
    source: str | Path,
    destination: str | Path,
    config: ProfileConfig,
    detector: FaceDetector | None = None,
    encoder: Any = None,
    progress: bool = True,
    zoom: float | None = None,
) -> Report:
    """Prepare ``source`` (one sub-folder of photos per identity) into ``destination``.

    ``detector`` and ``encoder`` default to the profile's (``config.models.face_analysis`` and
    ``config.models.identity_encoder``), loaded only if some photo still needs them. ``zoom``
    defaults to :func:`default_zoom`. Returns the :class:`Report` also saved as ``report.json``.
    """
    source, destination = Path(source), Path(destination)
    _check_folders(source, destination)
    zoom = default_zoom(config) if zoom is None else float(zoom)
    settings = _settings(config, detector, encoder, zoom)
    crop = CropSettings(config.data.resolution, config.data.aligned_size, zoom)
    identities, records = scan_source(source)
    _start_destination(destination, settings)
    models = LazyModels(config, detector, encoder)
    prepared = []
    total = sum(len(identity.files) for identity in identities)
    with tqdm(total=total, desc="preparing faces", unit="photo", disable=not progress) as bar:
        for identity in identities:
            identity_records, has_images = prepare_identity(
                identity, destination, crop, models, bar
            )
            records += identity_records
            if has_images:
                prepared.append(identity.name)
    report = Report(
        str(source), str(destination), config.name, config.data.resolution, records, prepared
    )
    write_json(destination / REPORT_FILE, report.to_dict())
    write_json(destination / DATASET_FILE, {**settings, "identities": prepared, "complete": True})
    if progress:
        print(report.summary())
    return report


__all__ = [
    "CropSettings",
    "FileRecord",
    "Report",
    "align_face",
    "crop_face",
    "default_zoom",
    "embed_aligned",
    "load_encoder",
    "prepare_dataset",
    "prepare_photo",
    "safe_name",
    "scan_source",
    "unique_names",
]
