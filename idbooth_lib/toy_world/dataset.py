"""Write the toy face world to disk as an image-folder data set with its ground truth.

Why a folder of PNGs: the real ID-Booth pipeline reads image folders (one folder per identity), so
the toy data uses the same layout and the later chapters run unchanged on either. ``metadata.json``
keeps everything the generator knows -- identity traits, scene conditions, captions and the five
landmarks -- so that detectors, verifiers and prompt-adherence checks can be scored against truth.

Layout::

    DST/metadata.json
    DST/id_0000/0000.png
    DST/id_0000/0001.png
    ...
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from idbooth_lib.io import save_image, write_json
from idbooth_lib.logs import progress_bar
from idbooth_lib.toy_world.faces import (
    GENERATOR_VERSION,
    LANDMARK_NAMES,
    ToyFace,
    ToyFaceWorld,
    check_mode,
)

METADATA_FILE = "metadata.json"
LANDMARK_CONVENTION = "pixel (x, y); the centre of pixel column i, row j is (i, j) (OpenCV)"


def identity_folder(index: int) -> str:
    """Folder name of identity ``index``: ``id_0000``, ``id_0001``, ..."""
    return f"id_{index:04d}"


def image_name(index: int) -> str:
    """File name of image ``index`` inside an identity folder: ``0000.png``, ..."""
    return f"{index:04d}.png"


def _positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")
    return value


def _parameters(
    identities: int, images_per_identity: int, mode: str, seed: int, size: int
) -> dict[str, Any]:
    """The values that fully determine a data set's content (the generator is deterministic)."""
    return {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "mode": mode,
        "size": size,
        "identities": identities,
        "images_per_identity": images_per_identity,
    }


def _stored_parameters(destination: Path) -> dict[str, Any] | None:
    """The parameters of the toy data set already in ``destination``, or None if there is none."""
    try:
        metadata = json.loads((destination / METADATA_FILE).read_text(encoding="utf-8"))
        return dict(metadata["parameters"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _check_destination(destination: Path, parameters: dict[str, Any]) -> None:
    """Allow a missing or empty folder, or one holding the same data set (rewriting it is safe
    because the output is identical); refuse anything else rather than mix data sets."""
    if destination.exists() and not destination.is_dir():
        raise FileExistsError(f"{destination} exists and is not a folder; choose another path.")
    if not destination.exists() or not any(destination.iterdir()):
        return
    found = _stored_parameters(destination)
    if found == parameters:
        return
    what = "a toy data set with other parameters " + json.dumps(found) if found else "other files"
    raise FileExistsError(
        f"{destination} is not empty: it holds {what}, not the requested toy data set "
        f"{json.dumps(parameters)}. Choose an empty folder, or delete {destination} first."
    )


def _image_record(face: ToyFace, identity_index: int, image_index: int) -> dict[str, Any]:
    folder = identity_folder(identity_index)
    return {
        "file": f"{folder}/{image_name(image_index)}",
        "identity": folder,
        "identity_index": identity_index,
        "caption": face.caption,
        "scene": face.scene.to_dict(),
        "landmarks": [[round(float(x), 4), round(float(y), 4)] for x, y in face.landmarks],
    }


def write_toy_dataset(
    destination: str | os.PathLike[str],
    identities: int,
    images_per_identity: int,
    mode: str = "constrained",
    seed: int = 0,
    size: int = 64,
) -> Path:
    """Render ``identities`` x ``images_per_identity`` toy faces into ``destination``.

    ``mode="constrained"`` gives studio photos like the paper's Tufts training set; ``"posed"``
    keeps the studio backdrop but turns the head and moves the light; ``"wild"`` varies
    background, pose, light and framing. Every file is written atomically and
    ``metadata.json`` is written first as incomplete and last as complete, so an interrupted run is
    recognised and can simply be repeated.
    """
    _positive_int("identities", identities)
    _positive_int("images_per_identity", images_per_identity)
    check_mode(mode)
    world = ToyFaceWorld(seed, size)
    destination = Path(destination)
    parameters = _parameters(identities, images_per_identity, mode, world.seed, world.size)
    _check_destination(destination, parameters)
    metadata: dict[str, Any] = {
        "parameters": parameters,
        "complete": False,
        "generator_version": GENERATOR_VERSION,
        "seed": world.seed,
        "mode": mode,
        "size": world.size,
        "landmark_names": list(LANDMARK_NAMES),
        "landmark_convention": LANDMARK_CONVENTION,
        "identities": {},
        "images": [],
    }
    write_json(destination / METADATA_FILE, metadata)
    bar = progress_bar(total=identities * images_per_identity, desc="toy faces", unit="image")
    with bar:
        for identity_index in range(identities):
            traits = world.identity(identity_index)
            metadata["identities"][identity_folder(identity_index)] = {
                "index": identity_index,
                "gender": traits.gender,
                "traits": traits.to_dict(),
            }
            for image_index in range(images_per_identity):
                face = world.face(identity_index, image_index, mode)
                record = _image_record(face, identity_index, image_index)
                save_image(destination / record["file"], face.image)
                metadata["images"].append(record)
                bar.update(1)
    metadata["complete"] = True
    write_json(destination / METADATA_FILE, metadata)
    return destination


def load_toy_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read the ground truth of a toy data set; ``path`` is its folder or its metadata.json."""
    path = Path(path)
    file = path / METADATA_FILE if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(
            f"No toy-dataset metadata at {file}; create the data set with write_toy_dataset()."
        )
    try:
        metadata = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(
            f"{file} is not valid JSON ({error}); delete the folder and rewrite "
            "the data set with write_toy_dataset()."
        ) from error
    missing = [
        key
        for key in ("parameters", "images", "identities", "landmark_names")
        if not isinstance(metadata, dict) or key not in metadata
    ]
    if missing:
        raise ValueError(f"{file} is not toy-dataset metadata: missing {', '.join(missing)}.")
    if not metadata.get("complete", False):
        raise ValueError(
            f"{file} belongs to an unfinished data set (the run was interrupted); "
            "run write_toy_dataset() again with the same arguments."
        )
    return metadata
