"""Data preparation (chapter 01): a folder of raw photos per identity → the prepared layout of :mod:`~idbooth_lib.data.layout`.

For every photo: decode it robustly (:mod:`~idbooth_lib.data.images`), find the largest face (:mod:`~idbooth_lib.data.detect`), cut
the training crop and align a 112×112 crop to the ArcFace template (:mod:`~idbooth_lib.data.crop`), and — once per
identity, batched — embed the aligned crops with the profile's recogniser, loaded by
:func:`~idbooth_lib.identity.encoders.load_identity_encoder` like everywhere else, so every form
of recogniser it takes (toy, ArcFace ``.onnx``, arcface_torch ``.pth``, insightface pack) works
here too. ``dataset.json`` records which recogniser made the embeddings; fine-tuning refuses a
loss recogniser that differs. Nothing a user's folder can contain stops the run: every file ends up
in ``report.json`` (:mod:`~idbooth_lib.data.report`). The source folder is only ever read (:mod:`~idbooth_lib.data.scan`).

Interruptions are expected (Colab disconnects, Ctrl-C). Every file is written atomically, each
finished photo leaves a small record in ``<identity>/.work/``, and an identity's ``identity.json``
is written last, carrying a fingerprint of its source files. Running the same command again skips
complete identities and finished photos and does the rest; a changed source folder is redone.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

import idbooth_lib.identity.encoders  # noqa: F401 (registers the recognisers' ModelBundle loader)
from idbooth_lib.config import ProfileConfig
from idbooth_lib.data.crop import (
    CropSettings,
    UnusablePhoto,
    prepare_photo,
)
from idbooth_lib.data.detect import FaceDetector
from idbooth_lib.data.layout import (
    ALIGNED_FOLDER,
    DATASET_FILE,
    EMBEDDINGS_FILE,
    IDENTITY_FILE,
    LANDMARK_CONVENTION,
    LANDMARKS_FILE,
    LAYOUT_VERSION,
    PASSED_IN_CODE,
    REPORT_FILE,
    TRAIN_FOLDER,
    WORK_FOLDER,
    aligned_image_path,
    identity_problems,
    read_json,
    train_image_path,
    write_embeddings,
)
from idbooth_lib.data.report import OK, SKIPPED, WARNING, FileRecord, Report
from idbooth_lib.data.scan import SourceFile, SourceIdentity, scan_source
from idbooth_lib.io import save_image, write_json
from idbooth_lib.logs import package_logger, progress_bar
from idbooth_lib.models import ModelBundle, as_bundle
from idbooth_lib.ranges import pixels_to_signed

LOG = package_logger(__name__)

EMBEDDING_BATCH = 32


@torch.no_grad()
def embed_aligned(encoder: Any, crops: list[np.ndarray]) -> np.ndarray:
    """(N, D) float32 unit embeddings of aligned uint8 RGB crops, in batches."""
    parameter = next(iter(getattr(encoder, "parameters", list)()), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    chunks = []
    for start in range(0, len(crops), EMBEDDING_BATCH):
        images = pixels_to_signed(np.stack(crops[start : start + EMBEDDING_BATCH])).to(device)
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
    models: ModelBundle,
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
    models: ModelBundle,
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
    _finish_identity(folder, identity, records, landmarks, models.identity_encoder)
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
    """What decides the content of the outputs; a rerun must match it to reuse them.

    ``encoder`` names the recogniser behind the embeddings: the profile's source
    (``models.identity_encoder``) when it is loaded from there, else the class of the module
    passed in, marked as such. Fine-tuning compares a source with its own loss recogniser's.
    """
    return {
        "layout_version": LAYOUT_VERSION,
        "profile": config.name,
        "resolution": config.data.resolution,
        "aligned_size": config.data.aligned_size,
        "framing": config.data.train_framing,
        "zoom": zoom,
        "detector": config.models.face_analysis if detector is None else type(detector).__name__,
        "encoder": (
            config.models.identity_encoder
            if encoder is None
            else f"{type(encoder).__name__} {PASSED_IN_CODE}"
        ),
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
    zoom: float | None = None,
) -> Report:
    """Prepare ``source`` (one sub-folder of photos per identity) into ``destination``.

    ``detector`` and ``encoder`` default to the profile's (``config.models.face_analysis`` and
    ``config.models.identity_encoder``), loaded only if some photo still needs them. ``zoom``
    defaults to the profile's ``data.crop_zoom``. Returns the :class:`~idbooth_lib.data.report.Report` also saved as ``report.json``.
    """
    source, destination = Path(source), Path(destination)
    _check_folders(source, destination)
    zoom = config.data.crop_zoom if zoom is None else float(zoom)
    settings = _settings(config, detector, encoder, zoom)
    crop = CropSettings.from_config(config, zoom)
    identities, records = scan_source(source)
    _start_destination(destination, settings)
    given = {"detector": detector, "identity_encoder": encoder}
    models = as_bundle(config, given)  # each loaded only if some photo still needs it
    prepared = []
    total = sum(len(identity.files) for identity in identities)
    with progress_bar(total=total, desc="preparing faces", unit="photo") as bar:
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
    LOG.info(report.summary())
    return report
