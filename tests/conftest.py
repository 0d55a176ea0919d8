"""Shared test fixtures: paths, and tiny Stable-Diffusion-shaped models built in seconds."""

import dataclasses
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(scope="session")
def repository_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def tiny_tokenizer_folder(tmp_path_factory) -> Path:
    from idbooth_lib.toy.tokenizer import build_tokenizer, identity_names

    folder = tmp_path_factory.mktemp("tokenizer")
    build_tokenizer(folder, identity_names(20))
    return folder


@pytest.fixture()
def tiny_pipeline(tiny_tokenizer_folder):
    """A randomly initialised StableDiffusionPipeline of the toy model's shape, 64 px, float32."""
    import torch
    from transformers import CLIPTokenizer

    from idbooth_lib.toy.pretrain.diffusion import (
        DIFFUSION_RECIPE,
        assemble_pipeline,
        build_scheduler,
        build_text_encoder,
        build_unet,
    )
    from idbooth_lib.toy.pretrain.vae import VAE_RECIPE, build_vae

    torch.manual_seed(0)
    tokenizer = CLIPTokenizer.from_pretrained(tiny_tokenizer_folder)
    recipe = dataclasses.replace(
        DIFFUSION_RECIPE, unet_channels=(32, 32), text_width=32, text_layers=1, text_heads=2
    )
    vae = build_vae(dataclasses.replace(VAE_RECIPE, block_out_channels=(8, 16, 16), norm_num_groups=8))
    unet = build_unet(recipe, latent_channels=vae.config.latent_channels)
    pipeline = assemble_pipeline(
        vae, build_text_encoder(recipe, tokenizer), tokenizer, unet, build_scheduler()
    )
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


@pytest.fixture()
def tiny_recogniser():
    from idbooth_lib.identity.toy_recogniser import RecogniserConfig, ToyRecogniser

    return ToyRecogniser(RecogniserConfig((8, 16, 16), 1, 16)).eval().requires_grad_(False)
