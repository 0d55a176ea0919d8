"""LoRA files that every supported peft reads: only the settings that define the adapter are
written, unknown ones are dropped on reading, and plain diffusers loads the file offline."""

import dataclasses
import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from idbooth_lib.config import load_profile
from idbooth_lib.diffusion.lora import (
    ADAPTER_SETTINGS,
    LORA_FILE,
    METADATA_KEY,
    add_lora,
    keep_adapter_settings_only,
    load_lora,
    read_lora,
    save_lora,
)
from idbooth_lib.experiments.study import shipped_runs
from idbooth_lib.methods import PAPER_METHODS

#: Options a newer peft writes: two that peft 0.21 added and 0.19 (Colab's) does not know, and
#: one that no peft knows yet, so that the test means the same under every installed peft.
NEWER_PEFT_OPTIONS = {"unet.kasa_config": None, "unet.use_bdlora": None, "unet.a_future_option": 1}


def _header(file) -> dict:
    with safe_open(file, framework="pt") as handle:
        return json.loads(handle.metadata()[METADATA_KEY])


def _trained_lora(make_tiny_pipeline, folder):
    """A LoRA at rank 4, alpha 8 with non-zero up-weights (a fresh one would change nothing)."""
    pipeline = make_tiny_pipeline()
    train = dataclasses.replace(load_profile("toy", environ={}).train, lora_rank=4, lora_alpha=8)
    parameters = add_lora(pipeline.unet, train)
    with torch.no_grad():
        for parameter in parameters:
            parameter.add_(0.05 * torch.randn_like(parameter))
    save_lora(pipeline.unet, folder)
    return pipeline


def _draw(pipeline) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return pipeline("photo of sks person", num_inference_steps=2, generator=generator,
                    output_type="pt").images  # fmt: skip


def test_a_saved_lora_names_only_the_settings_that_define_the_adapter(make_tiny_pipeline, tmp_path):
    _trained_lora(make_tiny_pipeline, tmp_path)
    settings = _header(tmp_path / LORA_FILE)
    assert {key.removeprefix("unet.") for key in settings} <= set(ADAPTER_SETTINGS)
    assert settings["unet.r"] == 4 and settings["unet.lora_alpha"] == 8
    assert "unet.peft_version" not in settings


@pytest.mark.parametrize("method", PAPER_METHODS)
def test_every_shipped_lora_names_only_the_settings_that_define_the_adapter(method):
    for file in sorted(shipped_runs(method).glob(f"*/{LORA_FILE}")):
        keys = {key.removeprefix("unet.") for key in _header(file)}
        assert keys <= set(ADAPTER_SETTINGS), (file, keys - set(ADAPTER_SETTINGS))


def _with_newer_options(file, into):
    """A copy of ``file`` whose header also carries options that only a newer peft knows."""
    with safe_open(file, framework="pt") as handle:
        header = dict(handle.metadata())
    header[METADATA_KEY] = json.dumps(json.loads(header[METADATA_KEY]) | NEWER_PEFT_OPTIONS)
    into.mkdir()
    save_file(load_file(file), into / LORA_FILE, metadata=header)
    return into / LORA_FILE


def test_a_lora_from_a_newer_peft_loads_with_its_unknown_options_dropped(
    make_tiny_pipeline, tmp_path
):
    trained = _trained_lora(make_tiny_pipeline, tmp_path / "run")
    newer = _with_newer_options(tmp_path / "run" / LORA_FILE, tmp_path / "newer")
    pipeline = make_tiny_pipeline()
    with pytest.raises(TypeError):  # what plain diffusers does with it, on any peft
        pipeline.load_lora_weights(newer.parent, weight_name=LORA_FILE, adapter_name="plain")

    load_lora(pipeline, newer.parent, adapter_name="book")
    assert pipeline.unet.peft_config["book"].lora_alpha == 8
    assert torch.allclose(_draw(pipeline), _draw(trained), atol=1e-5)
    read = set(read_lora(newer)[1])
    assert "unet.a_future_option" not in read and set(_header(tmp_path / "run" / LORA_FILE)) <= read


def test_rewriting_a_lora_keeps_its_tensors_and_drops_other_options(make_tiny_pipeline, tmp_path):
    _trained_lora(make_tiny_pipeline, tmp_path / "run")
    newer = _with_newer_options(tmp_path / "run" / LORA_FILE, tmp_path / "newer")
    keep_adapter_settings_only(newer)
    assert set(_header(newer)) == set(_header(tmp_path / "run" / LORA_FILE))
    before, after = load_file(tmp_path / "run" / LORA_FILE), load_file(newer)
    assert before.keys() == after.keys()
    assert all(torch.equal(before[name], after[name]) for name in before)
    assert not list(newer.parent.glob("*.partial.*"))


def test_plain_diffusers_loads_the_file_offline_as_the_book_says(
    make_tiny_pipeline, tmp_path, monkeypatch
):
    """``load_lora_weights(run, weight_name=LORA_FILE)`` with the hub off, as on a cluster."""
    import diffusers.loaders.lora_base as lora_base

    trained = _trained_lora(make_tiny_pipeline, tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(lora_base, "HF_HUB_OFFLINE", True, raising=False)
    pipeline = make_tiny_pipeline()
    pipeline.load_lora_weights(tmp_path, weight_name=LORA_FILE)
    assert torch.allclose(_draw(pipeline), _draw(trained), atol=1e-5)


def test_reading_a_missing_lora_names_the_file_and_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"{LORA_FILE} does not exist: name a run folder"):
        read_lora(tmp_path)
