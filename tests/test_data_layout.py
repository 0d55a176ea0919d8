"""The prepared-dataset layout: the torch Dataset over it and the checker that names each problem."""

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from idbooth_lib.config import load_profile
from idbooth_lib.data import PreparedFaces, prepare_dataset, validate_dataset
from idbooth_lib.data.detect import Face, box_from_landmarks
from idbooth_lib.data.layout import (
    DATASET_FILE,
    EMBEDDINGS_FILE,
    LANDMARKS_FILE,
    read_embeddings,
    read_json,
    write_embeddings,
)
from idbooth_lib.io import write_json
from idbooth_lib.toy_world.dataset import write_toy_dataset
from idbooth_lib.toy_world.faces import ARCFACE_TEMPLATE_64


class StudioFaceDetector:
    """Toy studio photos hold one face where the ArcFace template is (the toy world draws it so)."""

    def detect(self, image):
        landmarks = ARCFACE_TEMPLATE_64 * (image.shape[0] / 64)
        return [Face(box_from_landmarks(landmarks), landmarks, 1.0)]


@pytest.fixture()
def prepared(tmp_path, tiny_recogniser):
    """A toy dataset (2 identities × 3 studio photos) prepared into the layout."""
    source = write_toy_dataset(tmp_path / "toy", 2, 3)
    destination = tmp_path / "prepared"
    prepare_dataset(
        source,
        destination,
        load_profile("toy"),
        StudioFaceDetector(),
        tiny_recogniser,
    )
    return destination


def test_the_layout_holds_every_documented_file(prepared):
    manifest = read_json(prepared / DATASET_FILE)
    assert manifest["complete"] and manifest["identities"] == ["id_0000", "id_0001"]
    assert (manifest["resolution"], manifest["aligned_size"], manifest["profile"]) == (
        64,
        112,
        "toy",
    )
    assert (prepared / "report.json").is_file()
    record = read_json(prepared / "id_0000" / "identity.json")
    assert record["num_images"] == 3 and record["stems"] == ["0000", "0001", "0002"]
    assert record["gender"] in ("male", "female")  # read from the toy dataset's metadata.json
    assert record["source_folder"] == "id_0000"
    with Image.open(prepared / "id_0000" / "aligned" / "0001.png") as aligned:
        assert aligned.size == (112, 112)


def test_prepared_faces_yields_training_items(prepared):
    faces = PreparedFaces(prepared)
    assert len(faces) == 6
    item = faces[4]
    assert item["identity"] == "id_0001" and item["stem"] == "0001"
    assert item["image"].shape == (3, 64, 64) and item["image"].dtype == torch.float32
    assert -1 <= item["image"].min() < item["image"].max() <= 1
    assert item["landmarks"].shape == (5, 2)
    np.testing.assert_allclose(item["landmarks"], ARCFACE_TEMPLATE_64, atol=0.3)
    assert item["embedding"].shape == (16,)
    assert float(item["embedding"].norm()) == pytest.approx(1.0, abs=1e-5)
    batch = next(iter(DataLoader(faces, batch_size=4)))
    assert batch["image"].shape == (4, 3, 64, 64) and len(batch["stem"]) == 4
    one = PreparedFaces(prepared, identity="id_0000")
    assert len(one) == 3 and {item["identity"] for item in one} == {"id_0000"}
    assert one.identities == ["id_0000"] and one.metadata["id_0000"]["gender"] in ("male", "female")
    with pytest.raises(KeyError, match="choose one of: id_0000, id_0001"):
        PreparedFaces(prepared, identity="nobody")


def test_embeddings_round_trip_as_float32(tmp_path):
    vectors = {"a": np.array([0.6, 0.8]), "b": torch.tensor([1.0, 0.0], dtype=torch.float64)}
    write_embeddings(tmp_path / EMBEDDINGS_FILE, vectors)
    loaded = read_embeddings(tmp_path / EMBEDDINGS_FILE)
    assert loaded["a"].dtype == torch.float32 and loaded["a"].tolist() == pytest.approx([0.6, 0.8])
    with pytest.raises(FileNotFoundError, match="idbooth prepare"):
        read_embeddings(tmp_path / "missing.safetensors")


def _delete_train_image(root):
    (root / "id_0000" / "train" / "0001.png").unlink()
    return "id_0000/train/0001.png is missing"


def _shrink_aligned_image(root):
    Image.new("RGB", (64, 64)).save(root / "id_0001" / "aligned" / "0000.png")
    return "id_0001/aligned/0000.png is 64×64, expected 112×112"


def _drop_landmarks(root):
    path = root / "id_0000" / LANDMARKS_FILE
    landmarks = read_json(path)
    del landmarks["0002"]
    write_json(path, landmarks)
    return "landmarks.json has no landmarks for '0002'"


def _unnormalise_embedding(root):
    path = root / "id_0001" / EMBEDDINGS_FILE
    embeddings = read_embeddings(path)
    embeddings["0000"] = embeddings["0000"] * 3
    write_embeddings(path, embeddings)
    return "the embedding of '0000' has norm 3.0000, expected 1"


def _mark_unfinished(root):
    manifest = read_json(root / DATASET_FILE)
    write_json(root / DATASET_FILE, {**manifest, "complete": False})
    return "did not finish (it was interrupted)"


def _leave_partial_file(root):
    (root / "id_0000" / "train" / ".0003.abc.png.partial.png").write_bytes(b"")
    return "partial file left by an interrupted run"


def _delete_manifest(root):
    (root / DATASET_FILE).unlink()
    return "is not a prepared dataset"


@pytest.mark.parametrize(
    "damage",
    [
        _delete_train_image,
        _shrink_aligned_image,
        _drop_landmarks,
        _unnormalise_embedding,
        _mark_unfinished,
        _leave_partial_file,
        _delete_manifest,
    ],
)
def test_validation_names_the_file_the_problem_and_the_fix(prepared, damage):
    assert validate_dataset(prepared) == []
    expected = damage(prepared)
    problems = validate_dataset(prepared)
    assert len(problems) == 1, problems
    assert expected in problems[0].replace(str(prepared) + "/", "")
    assert "idbooth prepare" in problems[0]


def test_a_damaged_dataset_is_repaired_by_preparing_again(prepared, tmp_path, tiny_recogniser):
    _delete_train_image(prepared)
    _drop_landmarks(prepared)
    prepare_dataset(
        tmp_path / "toy",
        prepared,
        load_profile("toy"),
        StudioFaceDetector(),
        tiny_recogniser,
    )
    assert validate_dataset(prepared) == []


def test_an_unfinished_or_missing_dataset_is_not_read(prepared, tmp_path):
    _mark_unfinished(prepared)
    with pytest.raises(ValueError, match="interrupted"):
        PreparedFaces(prepared)
    with pytest.raises(FileNotFoundError, match="idbooth prepare SRC DST"):
        PreparedFaces(tmp_path / "nowhere")
