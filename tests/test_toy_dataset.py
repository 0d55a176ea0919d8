"""Tests for writing and reading toy face data sets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from idbooth_lib.toy_world.dataset import load_toy_metadata, write_toy_dataset
from idbooth_lib.toy_world.faces import LANDMARK_NAMES, ToyFaceWorld, parse_caption


def _write(destination: Path, **overrides) -> Path:
    arguments = {
        "identities": 2,
        "images_per_identity": 3,
        "mode": "wild",
        "seed": 7,
    }
    arguments.update(overrides)
    return write_toy_dataset(destination, **arguments)


def _file_bytes(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_layout_and_images(tmp_path: Path) -> None:
    destination = _write(tmp_path / "faces")
    assert destination == tmp_path / "faces"
    assert sorted(p.name for p in destination.iterdir()) == ["id_0000", "id_0001", "metadata.json"]
    for folder in ("id_0000", "id_0001"):
        names = sorted(p.name for p in (destination / folder).iterdir())
        assert names == ["0000.png", "0001.png", "0002.png"]
    with Image.open(destination / "id_0001" / "0002.png") as image:
        assert image.mode == "RGB" and image.size == (64, 64)
    assert not [p for p in destination.rglob("*") if ".partial" in p.name]


def test_metadata_holds_the_ground_truth(tmp_path: Path) -> None:
    destination = _write(tmp_path / "faces")
    metadata = load_toy_metadata(destination)
    assert metadata == load_toy_metadata(destination / "metadata.json")
    assert metadata["complete"] is True
    assert (metadata["seed"], metadata["mode"], metadata["size"]) == (7, "wild", 64)
    assert metadata["generator_version"]
    assert metadata["landmark_names"] == list(LANDMARK_NAMES)
    world = ToyFaceWorld(seed=7)
    assert set(metadata["identities"]) == {"id_0000", "id_0001"}
    for folder, entry in metadata["identities"].items():
        assert folder == f"id_{entry['index']:04d}"
        traits = world.identity(entry["index"])
        assert entry["gender"] == traits.gender and entry["traits"] == traits.to_dict()
    assert len(metadata["images"]) == 6
    for record in metadata["images"]:
        face = world.face(record["identity_index"], int(Path(record["file"]).stem), "wild")
        assert record["identity"] == f"id_{record['identity_index']:04d}"
        assert record["file"].startswith(record["identity"] + "/")
        assert record["caption"] == face.caption
        assert parse_caption(record["caption"])["background"] == record["scene"]["background"]
        assert record["scene"] == face.scene.to_dict()
        np.testing.assert_allclose(record["landmarks"], face.landmarks, atol=1e-3)
        with Image.open(destination / record["file"]) as image:
            assert np.array_equal(np.asarray(image), np.asarray(face.image))


def test_rerun_with_same_parameters_rewrites_identically(tmp_path: Path) -> None:
    destination = _write(tmp_path / "faces")
    before = _file_bytes(destination)
    _write(destination)
    assert _file_bytes(destination) == before


def test_empty_existing_folder_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    _write(tmp_path / "empty", identities=1, images_per_identity=1)
    assert (tmp_path / "empty" / "id_0000" / "0000.png").is_file()


def test_refuses_a_folder_with_other_content(tmp_path: Path) -> None:
    destination = _write(tmp_path / "faces")
    with pytest.raises(FileExistsError, match="faces.*empty folder"):
        _write(destination, seed=8)
    other = tmp_path / "holiday photos"
    other.mkdir()
    (other / "beach.jpg").write_bytes(b"not a toy dataset")
    with pytest.raises(FileExistsError, match="holiday photos"):
        _write(other)
    assert (other / "beach.jpg").read_bytes() == b"not a toy dataset"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"identities": 0}, "identities"),
        ({"images_per_identity": 0}, "images_per_identity"),
        ({"mode": "studio"}, "constrained"),
        ({"seed": -1}, "seed"),
    ],
)
def test_invalid_arguments_raise_clear_errors(
    tmp_path: Path, overrides: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _write(tmp_path / "faces", **overrides)
    assert not (tmp_path / "faces").exists()


def test_load_metadata_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="metadata.json"):
        load_toy_metadata(tmp_path)
    broken = tmp_path / "metadata.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="metadata.json"):
        load_toy_metadata(tmp_path)
    broken.write_text(json.dumps({"images": []}), encoding="utf-8")
    with pytest.raises(ValueError, match="missing"):
        load_toy_metadata(broken)


def test_interrupted_dataset_is_flagged_and_can_be_rewritten(tmp_path: Path) -> None:
    destination = _write(tmp_path / "faces")
    metadata_file = destination / "metadata.json"
    metadata = json.loads(metadata_file.read_text(encoding="utf-8"))
    metadata["complete"] = False
    metadata_file.write_text(json.dumps(metadata), encoding="utf-8")
    with pytest.raises(ValueError, match="unfinished"):
        load_toy_metadata(destination)
    _write(destination)
    assert load_toy_metadata(destination)["complete"] is True
