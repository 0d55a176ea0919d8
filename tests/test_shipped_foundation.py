"""The shipped toy foundation model loads offline with plain diffusers, as SD 2.1 does."""

from pathlib import Path

import torch

from idbooth_lib.config import load_profile
from idbooth_lib.models import resolve_source

CONFIG = load_profile("toy", environ={})


def test_foundation_loads_offline_with_plain_diffusers(monkeypatch):
    """Exactly as a user loads SD 2.1: StableDiffusionPipeline.from_pretrained(folder), no network."""
    from diffusers import (
        AutoencoderKL,
        DDPMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextModel, CLIPTokenizer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = resolve_source(CONFIG.models.base_model)
    pipeline = StableDiffusionPipeline.from_pretrained(folder, torch_dtype=torch.float32)
    assert isinstance(pipeline.unet, UNet2DConditionModel)
    assert isinstance(pipeline.vae, AutoencoderKL)
    assert isinstance(pipeline.text_encoder, CLIPTextModel)
    assert isinstance(pipeline.tokenizer, CLIPTokenizer)
    assert isinstance(pipeline.scheduler, DDPMScheduler)
    assert pipeline.scheduler.config.beta_schedule == "scaled_linear"
    assert pipeline.unet.dtype == torch.float32
    assert pipeline.tokenizer.tokenize("photo of sks person")[2] == "sks</w>"
    assert pipeline.tokenizer.model_max_length == 77
    latents = torch.zeros(1, pipeline.unet.config.in_channels, 16, 16)
    hidden = pipeline.text_encoder(
        pipeline.tokenizer(
            ["photo of a person"], padding="max_length", return_tensors="pt"
        ).input_ids
    )[0]
    assert hidden.shape == (1, 77, pipeline.unet.config.cross_attention_dim)
    assert pipeline.unet(latents, 10, hidden).sample.shape == latents.shape
    image = pipeline("photo of a person", num_inference_steps=2, output_type="np").images[0]
    assert image.shape == (64, 64, 3)


def test_a_plain_default_load_generates(monkeypatch):
    """The user's exact call, with no ``torch_dtype``: transformers 5 loads the text encoder in the
    dtype its config names, diffusers the UNet and VAE in float32; they must agree."""
    from diffusers import StableDiffusionPipeline

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = resolve_source(CONFIG.models.base_model)
    pipe = StableDiffusionPipeline.from_pretrained(folder, safety_checker=None)
    image = pipe("photo of a person", num_inference_steps=4).images[0]
    assert image.size == (64, 64)
    assert {pipe.unet.dtype, pipe.vae.dtype, pipe.text_encoder.dtype} == {torch.float32}


def test_foundation_weights_are_stored_in_half_precision():
    from safetensors import safe_open

    folder = Path(resolve_source(CONFIG.models.base_model))
    for path in folder.rglob("*.safetensors"):
        with safe_open(str(path), framework="pt") as handle:
            assert handle.get_tensor(next(iter(handle.keys()))).dtype == torch.float16, path


def test_shipped_tokenizer_also_loads_as_the_slow_clip_tokenizer():
    """transformers 4 (often Colab's) builds CLIPTokenizer from vocab.json and merges.txt."""
    from transformers import CLIPTokenizer

    folder = Path(resolve_source(CONFIG.models.base_model)) / "tokenizer"
    slow = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))
    fast = CLIPTokenizer.from_pretrained(folder)
    prompt = "face side-portrait photo of female sks person, beach background"
    assert slow.tokenize(prompt) == fast.tokenize(prompt)
    assert slow(prompt).input_ids == fast(prompt).input_ids
