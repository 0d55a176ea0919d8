"""The prepared-dataset layout that every later stage reads, a torch Dataset over it, and a checker.

``idbooth prepare SRC DST`` (:func:`idbooth_lib.data.prepare.prepare_dataset`) turns a folder of raw
photos, one sub-folder per identity, into this layout::

    DST/dataset.json            profile, resolution, aligned size, framing, detector, the
                                recogniser behind the embeddings, identities, complete
    DST/report.json             every source file: status ok / warning / skipped, and the reason
    DST/<identity>/identity.json        source folder name, gender (if known), image stems, the
                                        per-file outcomes, a fingerprint of the source files
    DST/<identity>/train/<stem>.png     face-centred square crop, resolution × resolution
                                        (512 on sd21, 64 on toy): what the diffusion model learns
    DST/<identity>/aligned/<stem>.png   112×112 crop aligned to the ArcFace five-point template
                                        (insightface's norm_crop on the original photo)
    DST/<identity>/landmarks.json       {stem: [[x, y] × 5]} in the *train* crop's pixels
                                        (OpenCV convention: pixel (i, j)'s centre is (i, j))
    DST/<identity>/embeddings.safetensors   one float32 unit vector per stem (key = stem),
                                            from the aligned crop

Why this shape: the fine-tuning stage needs the training crop, its landmarks (to align the
generated x̂0 the same way, differentiably) and the real embedding ``e_pos`` of the very same
image (the ID-Booth paper's e_pos, chapter 03) — computing embeddings once here, rather than at every training step, is both
faster and reproducible. ``<identity>`` and ``<stem>`` are ASCII-safe versions of the source names
(the original names are kept in ``identity.json``), so the layout works on every file system.

A folder is complete when ``dataset.json`` says ``"complete": true``; :func:`validate_dataset`
checks everything else and says how to repair what it finds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch.utils.data import Dataset

from idbooth_lib.io import atomic_path
from idbooth_lib.ranges import pixels_to_signed

LAYOUT_VERSION = 1
DATASET_FILE = "dataset.json"
REPORT_FILE = "report.json"
IDENTITY_FILE = "identity.json"
LANDMARKS_FILE = "landmarks.json"
EMBEDDINGS_FILE = "embeddings.safetensors"
TRAIN_FOLDER = "train"
ALIGNED_FOLDER = "aligned"
#: Per-image progress of an unfinished identity (removed when the identity is complete).
WORK_FOLDER = ".work"
#: How ``dataset.json`` names a recogniser that was passed in code rather than by its source.
PASSED_IN_CODE = "(passed in code)"
LANDMARK_CONVENTION = "pixel (x, y); the centre of pixel column i, row j is (i, j) (OpenCV)"

#: What to tell a user whose prepared dataset is broken: preparation resumes and repairs.
REPAIR_HINT = "run `idbooth prepare SRC DST` again with the same source and profile to repair it"


def train_image_path(root: Path, identity: str, stem: str) -> Path:
    return root / identity / TRAIN_FOLDER / f"{stem}.png"


def aligned_image_path(root: Path, identity: str, stem: str) -> Path:
    return root / identity / ALIGNED_FOLDER / f"{stem}.png"


def read_json(path: Path) -> Any:
    """Parse a JSON file, naming the file in the error."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON ({error}); {REPAIR_HINT}") from error


def write_embeddings(path: Path, embeddings: dict[str, np.ndarray | torch.Tensor]) -> None:
    """Save ``{stem: (D,) vector}`` as float32 safetensors, atomically."""
    tensors = {
        stem: torch.as_tensor(np.asarray(vector), dtype=torch.float32).contiguous()
        for stem, vector in embeddings.items()
    }
    with atomic_path(path) as temporary:
        save_file(tensors, str(temporary), metadata={"layout_version": str(LAYOUT_VERSION)})


def read_embeddings(path: Path) -> dict[str, torch.Tensor]:
    """``{stem: (D,) float32 tensor}`` from an identity's ``embeddings.safetensors``."""
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as error:
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing; {REPAIR_HINT}") from error
        raise ValueError(
            f"{path} is not a readable safetensors file ({error}); {REPAIR_HINT}"
        ) from error


def read_landmarks(path: Path) -> dict[str, np.ndarray]:
    """``{stem: (5, 2) float32}`` from an identity's ``landmarks.json``."""
    return {stem: np.asarray(points, dtype=np.float32) for stem, points in read_json(path).items()}


def dataset_identities(root: Path) -> list[str]:
    """The identity folders a complete prepared dataset lists in ``dataset.json``."""
    if not (root / DATASET_FILE).is_file():
        raise FileNotFoundError(
            f"{root / DATASET_FILE} is missing: {root} is not a prepared dataset; create it with "
            "`idbooth prepare SRC DST` (or prepare_dataset in a notebook)"
        )
    manifest = read_json(root / DATASET_FILE)
    if not manifest.get("complete"):
        raise ValueError(
            f"{root / DATASET_FILE} belongs to an unfinished preparation (it was interrupted); "
            f"{REPAIR_HINT}"
        )
    return list(manifest["identities"])


def dataset_encoder(root: Path) -> str | None:
    """The recogniser that made a prepared dataset's embeddings, as ``dataset.json`` records it:
    a model source (``idbooth:toy/recogniser``, ``buffalo_l``, a path) or the class of a module
    passed in code; None for a dataset prepared before this was recorded."""
    if not (root / DATASET_FILE).is_file():
        raise FileNotFoundError(
            f"{root / DATASET_FILE} is missing: {root} is not a prepared dataset; create it with "
            "`idbooth prepare SRC DST` (or prepare_dataset in a notebook)"
        )
    return read_json(root / DATASET_FILE).get("encoder")


@dataclass(frozen=True)
class PreparedItem:
    """One image of a prepared dataset."""

    identity: str
    stem: str


class PreparedFaces(Dataset):
    """The prepared images as a torch Dataset.

    Each item is a dict: ``image`` (3, R, R) float32 in [-1, 1] (the training crop), ``landmarks``
    (5, 2) in its pixels, ``embedding`` (D,) unit vector of the same image, ``identity`` and
    ``stem``. ``identity`` restricts the dataset to one person — ID-Booth fine-tunes one LoRA per
    identity.
    """

    def __init__(self, root: str | Path, identity: str | None = None) -> None:
        self.root = Path(root)
        identities = dataset_identities(self.root)
        if identity is not None:
            if identity not in identities:
                raise KeyError(
                    f"identity {identity!r} is not in {self.root / DATASET_FILE}; "
                    f"choose one of: {', '.join(identities)}"
                )
            identities = [identity]
        self.identities = identities
        #: Each identity's ``identity.json`` (source folder, gender for prompts, stems, outcomes).
        self.metadata: dict[str, dict[str, Any]] = {}
        self.landmarks: dict[str, dict[str, np.ndarray]] = {}
        self.embeddings: dict[str, dict[str, torch.Tensor]] = {}
        self.items: list[PreparedItem] = []
        for name in identities:
            self.metadata[name] = read_json(self.root / name / IDENTITY_FILE)
            self.landmarks[name] = read_landmarks(self.root / name / LANDMARKS_FILE)
            self.embeddings[name] = read_embeddings(self.root / name / EMBEDDINGS_FILE)
            self.items += [PreparedItem(name, stem) for stem in self.metadata[name]["stems"]]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for index in range(len(self)):
            yield self[index]

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.items[index]
        with Image.open(train_image_path(self.root, item.identity, item.stem)) as image:
            pixels = np.asarray(image.convert("RGB"))
        tensor = pixels_to_signed(pixels[None].copy())[0]
        return {
            "image": tensor,
            "landmarks": torch.from_numpy(self.landmarks[item.identity][item.stem]),
            "embedding": self.embeddings[item.identity][item.stem],
            "identity": item.identity,
            "stem": item.stem,
        }


# ----------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------


def validate_dataset(root: str | Path) -> list[str]:
    """Every problem found in a prepared dataset, one sentence each; an empty list means valid.

    Each message names the file, the problem and the fix. Checks: the manifest, each identity's
    files, image sizes, landmark shapes, embedding shape, dtype and norm, and left-over partial
    files of an interrupted run.
    """
    root = Path(root)
    manifest_path = root / DATASET_FILE
    if not manifest_path.is_file():
        return [
            f"{manifest_path} is missing: {root} is not a prepared dataset; create it with "
            "`idbooth prepare SRC DST`"
        ]
    try:
        manifest = read_json(manifest_path)
    except ValueError as error:
        return [str(error)]
    problems = _check_manifest(manifest_path, manifest)
    if problems:
        return problems
    dimensions: set[int] = set()
    for identity in manifest["identities"]:
        problems += identity_problems(
            root, identity, manifest["resolution"], manifest["aligned_size"], dimensions
        )
    if len(dimensions) > 1:
        problems.append(
            f"{root}: identities have embeddings of different sizes {sorted(dimensions)} "
            f"(prepared with different encoders); delete {root} and prepare it again"
        )
    problems += [
        f"{leftover} is a partial file left by an interrupted run; {REPAIR_HINT}"
        for leftover in sorted(root.rglob("*.partial*"))
    ]
    return problems


def _check_manifest(path: Path, manifest: Any) -> list[str]:
    required = ("resolution", "aligned_size", "identities", "complete")
    missing = [key for key in required if not isinstance(manifest, dict) or key not in manifest]
    if missing:
        return [f"{path} lacks {', '.join(missing)}; delete the folder and prepare it again"]
    if not manifest["complete"]:
        return [f"{path} says the preparation did not finish (it was interrupted); {REPAIR_HINT}"]
    if not manifest["identities"]:
        return [f"{path} lists no identities: no usable photo was found; see report.json"]
    return []


def identity_problems(
    root: Path,
    identity: str,
    resolution: int,
    aligned_size: int,
    dimensions: set[int] | None = None,
) -> list[str]:
    """Problems of one identity's outputs (empty when it is complete and sound); preparation also
    uses this to decide whether an identity must be redone. ``dimensions`` collects embedding sizes."""
    dimensions = set() if dimensions is None else dimensions
    folder = root / identity
    record_path = folder / IDENTITY_FILE
    if not record_path.is_file():
        return [
            f"{record_path} is missing (identity {identity!r} is listed in "
            f"{root / DATASET_FILE}); {REPAIR_HINT}"
        ]
    try:
        stems = list(read_json(record_path)["stems"])
        landmarks = read_landmarks(folder / LANDMARKS_FILE)
        embeddings = read_embeddings(folder / EMBEDDINGS_FILE)
    except (ValueError, KeyError, TypeError, FileNotFoundError) as error:
        return [f"{folder}: {error}" if str(folder) not in str(error) else str(error)]
    problems = []
    if not stems:
        problems.append(f"{record_path} lists no images; {REPAIR_HINT}")
    if (folder / WORK_FOLDER).exists():
        problems.append(f"{folder / WORK_FOLDER} is left from an interrupted run; {REPAIR_HINT}")
    for stem in stems:
        problems += _check_image(root, identity, stem, resolution, aligned_size)
        problems += _check_landmarks(folder / LANDMARKS_FILE, stem, landmarks)
        problems += _check_embedding(folder / EMBEDDINGS_FILE, stem, embeddings, dimensions)
    for extra in sorted(set(landmarks) - set(stems)):
        problems.append(
            f"{folder / LANDMARKS_FILE} has landmarks for {extra!r}, which "
            f"{record_path} does not list; {REPAIR_HINT}"
        )
    return problems


def _check_image(
    root: Path, identity: str, stem: str, resolution: int, aligned_size: int
) -> list[str]:
    problems = []
    for path, size in (
        (train_image_path(root, identity, stem), resolution),
        (aligned_image_path(root, identity, stem), aligned_size),
    ):
        if not path.is_file():
            problems.append(f"{path} is missing; {REPAIR_HINT}")
            continue
        try:
            with Image.open(path) as image:
                found = image.size
        except OSError as error:
            problems.append(f"{path} cannot be read ({error}); {REPAIR_HINT}")
            continue
        if found != (size, size):
            problems.append(
                f"{path} is {found[0]}×{found[1]}, expected {size}×{size} as {DATASET_FILE} "
                f"says; {REPAIR_HINT}"
            )
    return problems


def _check_landmarks(path: Path, stem: str, landmarks: dict[str, np.ndarray]) -> list[str]:
    if stem not in landmarks:
        return [f"{path} has no landmarks for {stem!r}; {REPAIR_HINT}"]
    points = landmarks[stem]
    if points.shape != (5, 2) or not np.isfinite(points).all():
        return [
            f"{path}: landmarks of {stem!r} must be 5 finite (x, y) pairs, got shape "
            f"{points.shape}; {REPAIR_HINT}"
        ]
    return []


def _check_embedding(
    path: Path, stem: str, embeddings: dict[str, torch.Tensor], dimensions: set[int]
) -> list[str]:
    if stem not in embeddings:
        return [f"{path} has no embedding for {stem!r}; {REPAIR_HINT}"]
    vector = embeddings[stem]
    if vector.dtype != torch.float32 or vector.dim() != 1:
        return [
            f"{path}: the embedding of {stem!r} must be a float32 vector, got "
            f"{vector.dtype} {tuple(vector.shape)}; {REPAIR_HINT}"
        ]
    dimensions.add(int(vector.numel()))
    norm = float(vector.norm())
    if not np.isfinite(norm) or abs(norm - 1.0) > 1e-3:
        return [
            f"{path}: the embedding of {stem!r} has norm {norm:.4f}, expected 1 "
            f"(L2-normalised); {REPAIR_HINT}"
        ]
    return []
