"""Face detection: the shared interface, the toy backend, the toy detector recipe and insightface's
error path when its models are missing (no network is ever used here)."""

import dataclasses

import numpy as np
import pytest
import torch

from idbooth_lib.config import load_profile
from idbooth_lib.data import detect
from idbooth_lib.data.detect import (
    Face,
    FaceDetector,
    ToyDetectorBackend,
    box_from_landmarks,
    load_face_detector,
    template_square,
)
from idbooth_lib.identity.arcface_onnx import InsightFaceModelsMissingError
from idbooth_lib.identity.toy_detector import DetectorConfig, ToyFaceDetector
from idbooth_lib.toy_world.faces import ARCFACE_TEMPLATE_64, ARCFACE_TEMPLATE_112

TINY = DetectorConfig(widths=(4, 8, 8, 8), hidden=16)


class FixedAnswerModel(torch.nn.Module):
    """Stands in for a trained detector: every window holds a face at the template landmarks."""

    config = DetectorConfig()

    def forward(self, images):
        logits = torch.full((len(images),), 5.0)
        return logits, torch.as_tensor(ARCFACE_TEMPLATE_64).expand(len(images), 5, 2)


def test_template_square_frames_the_template_exactly():
    # The template in a 64 px crop, resized from 112 px with pixel *areas* kept (what cv2 does).
    template_64 = (ARCFACE_TEMPLATE_112 + 0.5) * (64 / 112) - 0.5
    x0, y0, side = template_square(template_64)
    assert (x0, y0, side) == pytest.approx((0.0, 0.0, 64.0), abs=1e-3)
    x0, y0, side = template_square(template_64 * 2 + 10, zoom=1.5)
    assert side == pytest.approx(192.0, abs=1e-3)
    assert (x0 + side / 2, y0 + side / 2) == pytest.approx((73.5, 73.5), abs=1e-3)
    assert box_from_landmarks(template_64) == pytest.approx([-0.5, -0.5, 63.5, 63.5], abs=1e-3)
    # The toy world's own template (scaled without the half-pixel care) is within 0.25 px.
    assert template_square(ARCFACE_TEMPLATE_64)[:2] == pytest.approx((0, 0), abs=0.25)


def test_toy_backend_windows_cover_the_image():
    backend = ToyDetectorBackend(ToyFaceDetector(TINY))
    assert backend.windows(64, 64) == [(0, 0, 64)]
    assert backend.windows(64, 128) == [(0, 0, 64), (32, 0, 64), (64, 0, 64)]
    assert backend.windows(100, 64) == [(0, 0, 64), (0, 32, 64), (0, 36, 64)]


def test_toy_backend_maps_landmarks_back_and_merges_overlaps():
    backend = ToyDetectorBackend(FixedAnswerModel())
    assert isinstance(backend, FaceDetector)
    faces = backend.detect(np.zeros((128, 256, 3), np.uint8))  # windows of 128 px, scale 2
    assert len(faces) == 2  # the middle window overlaps both others and scores the same
    assert faces[0].area >= faces[1].area and 0 < faces[0].score <= 1
    starts = sorted(
        face.landmarks[0, 0] - (ARCFACE_TEMPLATE_64[0, 0] + 0.5) * 2 + 0.5 for face in faces
    )
    assert starts == pytest.approx([0.0, 128.0], abs=1e-4)


def test_tiny_random_detector_keeps_the_interface():
    backend = ToyDetectorBackend(ToyFaceDetector(TINY), threshold=0.0)
    faces = backend.detect(np.random.default_rng(0).integers(0, 255, (64, 96, 3), dtype=np.uint8))
    assert faces and all(isinstance(face, Face) for face in faces)
    assert all(face.landmarks.shape == (5, 2) and face.box.shape == (4,) for face in faces)
    assert [face.area for face in faces] == sorted((face.area for face in faces), reverse=True)


def test_toy_detector_round_trips_and_rejects_wrong_sizes(tmp_path):
    torch.manual_seed(0)
    model = ToyFaceDetector(TINY).eval()
    model.save(tmp_path / "detector")
    loaded = ToyFaceDetector.load(tmp_path / "detector")
    images = torch.rand(2, 3, 64, 64) * 2 - 1
    for expected, found in zip(model(images), loaded(images), strict=True):
        torch.testing.assert_close(found, expected, atol=2e-2, rtol=1e-2)  # fp16 on disk
    assert loaded.config == TINY
    with pytest.raises(ValueError, match="64×64"):
        model(torch.zeros(1, 3, 32, 32))
    with pytest.raises(FileNotFoundError, match="pretrain detector"):
        ToyFaceDetector.load(tmp_path / "nowhere")


def test_detector_recipe_runs_resumes_and_benchmarks(tmp_path, monkeypatch, logged):
    from idbooth_lib.toy.pretrain.detector import (
        DETECTOR_RECIPE,
        benchmark_detector,
        train_detector,
    )

    monkeypatch.setenv("IDBOOTH_CACHE", str(tmp_path / "cache"))
    recipe = dataclasses.replace(
        DETECTOR_RECIPE,
        architecture=TINY,
        identities=3,
        wild_per_identity=2,
        constrained_per_identity=1,
        scenes=6,
        batch_size=8,
        steps=3,
    )
    model = train_detector(recipe, tmp_path / "detector", checkpoint_every=2)
    assert "saved" in logged()[-1] and (tmp_path / "detector" / "recipe.json").is_file()
    loaded = ToyFaceDetector.load(tmp_path / "detector")
    torch.testing.assert_close(
        loaded(torch.zeros(1, 3, 64, 64))[1],
        model(torch.zeros(1, 3, 64, 64))[1],
        atol=0.1,
        rtol=0.01,
    )
    before = len(logged())
    train_detector(recipe, tmp_path / "detector", steps=4)
    assert logged()[before] == "resumed from step 3"
    scores = benchmark_detector(loaded, identities=4, negatives=4)
    assert {"landmark_error_px", "detection_rate", "noise_rejection_rate"} <= set(scores)
    assert 0 <= scores["scenery_rejection_rate"] <= 1 and scores["landmark_error_px"] >= 0


def test_load_face_detector_picks_the_toy_backend(tmp_path):
    ToyFaceDetector(TINY).save(tmp_path / "detector")
    config = load_profile("toy", {"models.face_analysis": str(tmp_path / "detector")}, environ={})
    assert isinstance(load_face_detector(config), ToyDetectorBackend)
    assert isinstance(load_face_detector(load_profile("toy")), ToyDetectorBackend)  # packaged


def _forbid_downloads(monkeypatch):
    from insightface.utils import storage

    def no_network(*arguments, **keywords):
        raise ConnectionError("no network in tests")

    monkeypatch.setattr(storage, "download_file", no_network)


def test_missing_insightface_models_say_where_and_how(tmp_path, monkeypatch):
    _forbid_downloads(monkeypatch)
    config = load_profile("sd21", {"models.face_model_root": str(tmp_path), "device": "cpu"})
    with pytest.raises(InsightFaceModelsMissingError) as caught:
        load_face_detector(config)
    message = str(caught.value)
    assert "missing" in message and str(tmp_path / "models" / "buffalo_l") in message
    assert "buffalo_l.zip" in message and "Colab" in message and "download failed" in message


def test_no_download_is_tried_when_downloads_are_off(tmp_path, monkeypatch):
    from insightface.utils import storage

    monkeypatch.setattr(storage, "download_file", lambda *a, **k: pytest.fail("downloaded"))
    config = load_profile("sd21", {"models.face_model_root": str(tmp_path), "device": "cpu"})
    with pytest.raises(FileNotFoundError, match="downloads are switched off"):
        load_face_detector(config, allow_download=False)
    assert not (tmp_path / "models").exists()


def test_insightface_detector_runs_on_this_processs_gpu(monkeypatch, tmp_path):
    """Under ``accelerate launch`` process k works on ``cuda:k``: its detector must too, not GPU 0."""
    import insightface.app

    made = {}

    class RecordingFaceAnalysis:
        def __init__(self, **keywords):
            made["init"] = keywords

        def prepare(self, **keywords):
            made["prepare"] = keywords

    monkeypatch.setattr(insightface.app, "FaceAnalysis", RecordingFaceAnalysis)
    monkeypatch.setattr(detect, "insightface_pack_folder", lambda *arguments: tmp_path)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    config = load_profile("sd21", environ={})
    detect.load_face_detector(config, device="cuda:1")
    assert made["init"]["provider_options"][0] == {"device_id": 1}
    assert made["init"]["providers"][0] == "CUDAExecutionProvider"
    assert made["prepare"]["ctx_id"] == 1
    detect.load_face_detector(config, device="cpu")
    assert "providers" not in made["init"] and made["prepare"]["ctx_id"] == -1
