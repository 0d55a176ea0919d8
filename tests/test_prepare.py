"""Data preparation: every kind of bad input is reported and none stops the run, the source is never
touched, interrupted runs finish on the next call, and insightface's ArcFace ONNX can embed."""

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TinyArcFace, export_arcface_onnx
from PIL import Image

from idbooth_lib.cli import main
from idbooth_lib.config import load_profile
from idbooth_lib.data import prepare as prepare_module
from idbooth_lib.data.crop import CropSettings, crop_face
from idbooth_lib.data.detect import Face, box_from_landmarks
from idbooth_lib.data.layout import (
    DATASET_FILE,
    EMBEDDINGS_FILE,
    PreparedFaces,
    read_embeddings,
    read_json,
    read_landmarks,
    validate_dataset,
)
from idbooth_lib.data.prepare import prepare_dataset
from idbooth_lib.data.scan import safe_name, unique_names
from idbooth_lib.toy_world.faces import ARCFACE_TEMPLATE_64, ToyFaceWorld
from idbooth_lib.toy_world.messy import write_messy_folder


class TemplateDetector:
    """A detector stub for toy photos: every non-blank square tile of the image's short side holds
    one face at the ArcFace template (where the toy world draws its studio faces). ``offset`` and
    ``scale`` place the face when it was pasted into a larger canvas."""

    def __init__(self, offset=(0.0, 0.0), face_size=None):
        self.offset, self.face_size = np.asarray(offset, np.float32), face_size

    def detect(self, image):
        if self.face_size is not None:
            landmarks = ARCFACE_TEMPLATE_64 * (self.face_size / 64) + self.offset
            return [Face(box_from_landmarks(landmarks), landmarks, 0.99)]
        side = min(image.shape[:2])
        faces = []
        for start in range(0, max(image.shape[:2]) - side + 1, side):
            tile = (
                image[:, start : start + side]
                if image.shape[1] > side
                else image[start : start + side]
            )
            if tile.std(axis=(0, 1)).max() < 3:  # a flat colour holds no face
                continue
            landmarks = ARCFACE_TEMPLATE_64 * (side / 64)
            landmarks = landmarks + (
                np.array([start, 0]) if image.shape[1] > side else np.array([0, start])
            )
            faces.append(Face(box_from_landmarks(landmarks), landmarks.astype(np.float32), 0.9))
        return faces


@pytest.fixture(scope="module")
def world():
    return ToyFaceWorld(seed=0)


def face_image(world, identity, image=0):
    return world.face(identity, image, "constrained").image


def snapshot(folder: Path) -> dict:
    """Every file's bytes hash and modification time: the source must come out identical."""
    return {
        path.relative_to(folder).as_posix(): (
            hashlib.sha256(path.read_bytes()).hexdigest(),
            path.stat().st_mtime_ns,
        )
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    } | {
        path.relative_to(folder).as_posix(): "folder" for path in folder.rglob("*") if path.is_dir()
    }


@pytest.fixture()
def messy_source(tmp_path):
    """A folder with every kind of trouble a real photo folder has."""
    return write_messy_folder(tmp_path / "raw")


def test_every_bad_input_is_reported_and_the_source_is_untouched(
    messy_source, tmp_path, tiny_recogniser
):
    before = snapshot(messy_source)
    destination = tmp_path / "prepared"
    report = prepare_dataset(
        messy_source,
        destination,
        load_profile("toy"),
        TemplateDetector(),
        tiny_recogniser,
    )
    assert snapshot(messy_source) == before
    expected = {
        "alice/plain.png": ("ok", ""),
        "alice/gray.png": ("warning", "grayscale"),
        "alice/rgba.png": ("warning", "alpha"),
        "alice/cmyk.jpg": ("warning", "CMYK"),
        "alice/deep.png": ("warning", "16-bit"),
        "alice/sideways.jpg": ("warning", "EXIF orientation 6"),
        "alice/truncated.jpg": ("skipped", "truncated"),
        "alice/notes.txt": ("skipped", "not an image"),
        "alice/copy_a.png": ("ok", ""),
        "alice/copy_b.png": ("skipped", "duplicate of alice/copy_a.png"),
        "alice/Zoë_李.png": ("ok", ""),
        "alice/Zoe_李.png": ("ok", ""),
        "alice/tiny.png": ("skipped", "too small to crop"),
        "alice/group.png": ("warning", "2 faces found: kept the largest"),
        "alice/blank.png": ("skipped", "no face"),
        "empty/": ("skipped", "empty identity folder"),
        "Zoë/portrait.png": ("ok", ""),
        "README.md": ("skipped", "not inside an identity folder"),
        ".ipynb_checkpoints": ("skipped", "hidden"),
        "alice/.DS_Store": ("skipped", "hidden"),
    }
    found = {record.source: (record.status, record.reason) for record in report.records}
    assert set(found) == set(expected)
    for source, (status, words) in expected.items():
        assert found[source][0] == status, (source, found[source])
        assert words in found[source][1], (source, found[source])
    assert read_json(destination / "report.json")["counts"] == {"ok": 5, "warning": 6, "skipped": 9}
    assert validate_dataset(destination) == []

    stems = [report.for_source(f"alice/{name}").stem for name in ("Zoë_李.png", "Zoe_李.png")]
    assert all(stem.isascii() for stem in stems) and len(set(stems)) == 2
    zoe = report.for_source("Zoë/portrait.png").identity
    assert (
        zoe.isascii() and read_json(destination / zoe / "identity.json")["source_folder"] == "Zoë"
    )
    assert sorted(report.identities) == sorted(["alice", zoe])

    def train(name):
        stem = report.for_source(f"alice/{name}").stem
        return np.asarray(Image.open(destination / "alice" / "train" / f"{stem}.png"), dtype=float)

    upright = np.asarray(face_image(world=ToyFaceWorld(0), identity=0, image=5), dtype=float)
    assert np.abs(train("sideways.jpg") - upright).mean() < 6  # rotated back, up to JPEG loss
    assert 40 < train("deep.png").mean() < 230  # scaled to 8 bits, not clipped to white
    assert "deep.png" in report.summary() and "truncated.jpg" in report.summary()


def test_file_names_that_are_not_utf8_still_work(tmp_path, world, tiny_recogniser):
    folder = tmp_path / "raw" / "person"
    folder.mkdir(parents=True)
    try:
        path = Path(os.fsdecode(bytes(folder) + b"/caf\xe9.png"))  # Latin-1 bytes, not UTF-8
        face_image(world, 0).save(path)
    except (OSError, UnicodeError):
        pytest.skip("this file system accepts only valid Unicode names")
    report = prepare_dataset(
        tmp_path / "raw",
        tmp_path / "out",
        load_profile("toy"),
        TemplateDetector(),
        tiny_recogniser,
    )
    (record,) = report.records
    assert (
        record.status == "ok" and record.source == "person/caf\ufffd.png" and record.stem.isascii()
    )
    assert validate_dataset(tmp_path / "out") == []


def test_safe_names_are_ascii_and_unique_ignoring_case():
    assert safe_name("id_0001") == "id_0001"
    assert safe_name("Zoë_李").startswith("Zoe_") and safe_name("Zoë_李").isascii()
    assert safe_name("李") != safe_name("王")
    assert unique_names(["a", "A", "a_2", "b"]) == ["a", "A_3", "a_2", "b"]


def test_crop_follows_the_face_in_a_larger_photo(world):
    face = np.asarray(face_image(world, 4))
    canvas = np.full((200, 300, 3), 90, np.uint8)
    canvas[50:114, 100:164] = face
    template_64 = (np.array(ARCFACE_TEMPLATE_64) + 0.5) * 1.0 - 0.5 + np.array([100, 50])
    crop, landmarks, notes = crop_face(
        canvas, template_64.astype(np.float32), CropSettings(64, 112, 1.0)
    )
    assert np.array_equal(crop, face) and notes == []
    np.testing.assert_allclose(landmarks, ARCFACE_TEMPLATE_64, atol=1e-4)
    bigger, landmarks, notes = crop_face(
        canvas, template_64.astype(np.float32), CropSettings(256, 112, 1.0)
    )
    assert bigger.shape == (256, 256, 3) and "enlarged 4.0×" in notes[0]
    np.testing.assert_allclose(landmarks, (ARCFACE_TEMPLATE_64 + 0.5) * 4 - 0.5, atol=1e-4)
    _, _, notes = crop_face(canvas[:80], template_64.astype(np.float32), CropSettings(64, 112, 1.0))
    assert "edge" in notes[0]
    # A square that leaves the photo by a few pixels is moved inside rather than padded.
    nudged, landmarks, notes = crop_face(face, template_64 - [104, 50], CropSettings(64, 112, 1.0))
    assert np.array_equal(nudged, face) and notes == []
    np.testing.assert_allclose(landmarks, template_64 - [104, 50], atol=1e-4)  # crop starts at 0


@pytest.fixture()
def small_source(tmp_path, world):
    source = tmp_path / "raw"
    for identity in range(2):
        (source / f"person_{identity}").mkdir(parents=True)
        for image in range(3):
            face_image(world, identity, image).save(source / f"person_{identity}" / f"{image}.png")
    return source


def outputs(folder: Path) -> dict:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != "report.json"
    }


ORIGINAL_PREPARE_PHOTO = prepare_module.prepare_photo


@pytest.mark.parametrize("interrupt_in", ["prepare_photo", "write_embeddings"])
def test_an_interrupted_run_finishes_on_the_next_call(
    small_source, tmp_path, tiny_recogniser, monkeypatch, interrupt_in
):
    config = load_profile("toy")
    reference = tmp_path / "reference"
    prepare_dataset(
        small_source, reference, config, TemplateDetector(), tiny_recogniser
    )

    original, calls = getattr(prepare_module, interrupt_in), []

    def interrupted(*arguments, **keywords):
        calls.append(1)
        if len(calls) == (4 if interrupt_in == "prepare_photo" else 2):
            raise KeyboardInterrupt  # what Ctrl-C or a dropped Colab session does
        return original(*arguments, **keywords)

    monkeypatch.setattr(prepare_module, interrupt_in, interrupted)
    resumed = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        prepare_dataset(
            small_source, resumed, config, TemplateDetector(), tiny_recogniser
        )
    assert not read_json(resumed / DATASET_FILE)["complete"]
    assert any("interrupted" in problem for problem in validate_dataset(resumed))
    assert not list(resumed.rglob("*.partial*"))

    monkeypatch.setattr(prepare_module, interrupt_in, original)
    photos = []

    def counted(*arguments, **keywords):
        photos.append(1)
        return ORIGINAL_PREPARE_PHOTO(*arguments, **keywords)

    monkeypatch.setattr(prepare_module, "prepare_photo", counted)
    prepare_dataset(
        small_source, resumed, config, TemplateDetector(), tiny_recogniser
    )
    assert len(photos) == (
        3 if interrupt_in == "prepare_photo" else 0
    )  # finished photos are reused
    assert outputs(resumed) == outputs(reference)
    assert validate_dataset(resumed) == []


def test_a_changed_source_is_redone_and_other_settings_are_refused(
    small_source, tmp_path, tiny_recogniser, world
):
    config, destination = load_profile("toy"), tmp_path / "prepared"

    def run(config):
        return prepare_dataset(
            small_source, destination, config, TemplateDetector(), tiny_recogniser
        )

    run(config)
    (small_source / "person_0" / "0.png").unlink()
    face_image(world, 0, 7).save(small_source / "person_0" / "7.png")
    report = run(config)
    assert read_json(destination / "person_0" / "identity.json")["stems"] == ["1", "2", "7"]
    assert not (destination / "person_0" / "train" / "0.png").exists()
    assert set(read_landmarks(destination / "person_0" / "landmarks.json")) == {"1", "2", "7"}
    assert report.images == 6 and validate_dataset(destination) == []
    with pytest.raises(FileExistsError, match="other settings"):
        run(load_profile("toy", {"data.resolution": 32}))
    with pytest.raises(ValueError, match="inside the source"):
        prepare_dataset(
            small_source, small_source / "out", config, TemplateDetector(), tiny_recogniser
        )
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "thesis.tex").write_text("")
    with pytest.raises(FileExistsError, match="not a prepared dataset"):
        prepare_dataset(
            small_source, tmp_path / "busy", config, TemplateDetector(), tiny_recogniser
        )


# ----------------------------------------------------------------------------------------------
# insightface's ArcFace as the encoder, on sd21-shaped settings
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def arcface_pack(tmp_path_factory):
    """An insightface root holding a tiny recognition model where buffalo_l's would be."""
    root = tmp_path_factory.mktemp("insightface")
    folder = root / "models" / "buffalo_l"
    folder.mkdir(parents=True)
    torch.manual_seed(0)
    model = TinyArcFace().eval()
    export_arcface_onnx(model, folder / "w600k_r50.onnx")
    return root, model


def test_arcface_onnx_embeds_rgb_crops_like_the_network(arcface_pack):
    from idbooth_lib.identity.arcface_onnx import ArcFaceOnnx, load_insightface_recogniser

    root, model = arcface_pack
    encoder = load_insightface_recogniser("buffalo_l", root, allow_download=False)
    assert isinstance(encoder, ArcFaceOnnx)
    crops = np.random.default_rng(0).integers(0, 256, (3, 112, 112, 3), dtype=np.uint8)
    embeddings = encoder.embed(crops)
    images = torch.from_numpy(crops).permute(0, 3, 1, 2).float().div(127.5).sub(1)
    expected = torch.nn.functional.normalize(model(images), dim=-1).detach().numpy()
    np.testing.assert_allclose(embeddings, expected, atol=1e-4)  # RGB order and scaling agree
    np.testing.assert_allclose(encoder(images).numpy(), expected, atol=1e-4)
    with pytest.raises(ValueError, match="aligned crops"):
        encoder.embed(crops[:, :64])


def test_prepare_end_to_end_with_arcface_onnx_on_sd21_settings(
    arcface_pack, tmp_path, world, monkeypatch, capsys
):
    root, _ = arcface_pack
    source = tmp_path / "raw"
    for identity in range(2):
        (source / f"person_{identity}").mkdir(parents=True)
        for image in range(2):
            canvas = Image.new("RGB", (128, 128), (70, 90, 110))
            canvas.paste(face_image(world, identity, image), (32, 32))
            canvas.save(source / f"person_{identity}" / f"{image}.jpg", quality=95)
    from idbooth_lib import models

    monkeypatch.setitem(  # the loader the data stage registered for the bundle's detector
        models._LOADERS,
        "detector",
        lambda bundle, setting: TemplateDetector(offset=(32, 32), face_size=64),
    )
    destination = tmp_path / "prepared"
    code = main(
        [
            "prepare",
            str(source),
            str(destination),
            "--profile",
            "sd21",
            "--quiet",
            "--set",
            "data.resolution=128",
            "--set",
            f"models.face_model_root={root}",
        ]
    )
    assert code == 0 and "prepared 4 images of 2 identities" in capsys.readouterr().out
    assert validate_dataset(destination) == []
    manifest = read_json(destination / DATASET_FILE)
    assert (
        manifest["resolution"] == 128
        and manifest["encoder"] == "buffalo_l"
        and manifest["zoom"] == 1.6
    )
    embeddings = read_embeddings(destination / "person_0" / EMBEDDINGS_FILE)
    assert embeddings["0"].shape == (512,) and embeddings["0"].dtype == torch.float32
    item = PreparedFaces(destination, "person_1")[0]
    assert item["image"].shape == (3, 128, 128) and item["identity"] == "person_1"


def test_the_cli_explains_missing_insightface_models(small_source, tmp_path, monkeypatch, capsys):
    from insightface.utils import storage

    def no_network(*arguments, **keywords):
        raise ConnectionError("no network in tests")

    monkeypatch.setattr(storage, "download_file", no_network)
    arguments = [
        "prepare",
        str(small_source),
        str(tmp_path / "out"),
        "--profile",
        "sd21",
        "--quiet",
    ]
    code = main([*arguments, "--set", f"models.face_model_root={tmp_path / 'empty'}"])
    error = capsys.readouterr().err
    assert code == 2 and "insightface models 'buffalo_l' are missing" in error
    assert str(tmp_path / "empty" / "models" / "buffalo_l") in error and "buffalo_l.zip" in error


@pytest.mark.parametrize("form", [".onnx", ".pth"])
def test_prepare_takes_every_recogniser_form_that_training_takes(form, tmp_path, capsys):
    """An insightface ArcFace ``.onnx`` or an arcface_torch ``.pth`` (the paper's R100 is one)
    embeds the dataset through ``load_identity_encoder``, and ``dataset.json`` names it."""
    from test_identity_encoders import tiny_iresnet

    from idbooth_lib.identity.encoders import load_identity_encoder
    from idbooth_lib.toy_world.dataset import write_toy_dataset

    torch.manual_seed(0)
    path = tmp_path / f"recogniser{form}"
    if form == ".onnx":
        export_arcface_onnx(TinyArcFace().eval(), path)
    else:
        torch.save(tiny_iresnet().state_dict(), path)
    source = write_toy_dataset(tmp_path / "raw", 2, 2)
    destination = tmp_path / "prepared"
    arguments = ["prepare", str(source), str(destination), "--quiet"]
    assert main([*arguments, "--set", f"models.identity_encoder={path}"]) == 0
    assert read_json(destination / DATASET_FILE)["encoder"] == str(path)
    encoder = load_identity_encoder(str(path))
    aligned = np.asarray(Image.open(destination / "id_0000" / "aligned" / "0000.png"))
    with torch.no_grad():
        expected = torch.nn.functional.normalize(
            encoder(torch.from_numpy(aligned[None].copy()).permute(0, 3, 1, 2).float() / 127.5 - 1),
            dim=-1,
        )[0]
    stored = read_embeddings(destination / "id_0000" / EMBEDDINGS_FILE)["0000"]
    torch.testing.assert_close(stored, expected, atol=1e-5, rtol=1e-4)


def test_the_papers_framing_keeps_the_whole_photo_centre_square():
    """``data.train_framing=photo``: short side resized to the resolution, centre square kept;
    the landmarks move with it. The default frames the face instead."""
    pixels = np.zeros((96, 128, 3), np.uint8)
    pixels[:, 16:112] = 200  # the centre square is the bright part
    landmarks = ARCFACE_TEMPLATE_64.astype(np.float32) + np.array([0.0, 20.0], np.float32)
    photo = CropSettings(resolution=48, aligned_size=112, zoom=1.0, framing="photo")
    crop, in_crop, notes = crop_face(pixels, landmarks, photo)
    assert crop.shape == (48, 48, 3) and crop.min() == 200 and notes == []
    np.testing.assert_allclose(in_crop, (landmarks + 0.5 - [16, 0]) * 0.5 - 0.5, atol=1e-5)
    face, _, _ = crop_face(pixels, landmarks, CropSettings(48, 112, 1.0))
    assert face.min() < 200  # the face-centred square reaches past the bright centre
    with pytest.raises(ValueError, match="train_framing"):
        CropSettings(48, 112, 1.0, framing="whole")
