"""Shared test fixtures: paths, and tiny Stable-Diffusion-shaped models built in seconds."""

import dataclasses
import logging
import warnings
from pathlib import Path

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(scope="session")
def repository_root() -> Path:
    return ROOT


@pytest.fixture()
def logged(caplog):
    """``logged()``: the lines the library has logged in this test so far (info and above)."""
    caplog.set_level(logging.INFO, logger="idbooth_lib")
    return lambda: [record.getMessage() for record in caplog.records]


@pytest.fixture(scope="session")
def tiny_tokenizer_folder(tmp_path_factory) -> Path:
    from idbooth_lib.toy.tokenizer import build_tokenizer, identity_names

    folder = tmp_path_factory.mktemp("tokenizer")
    build_tokenizer(folder, identity_names(20))
    return folder


@pytest.fixture()
def make_tiny_pipeline(tiny_tokenizer_folder):
    """Build a randomly initialised StableDiffusionPipeline of the toy model's shape (64 px, float32);
    every call gives the same weights, as a fresh process loading the same model would."""
    import torch
    from transformers import CLIPTokenizer

    from idbooth_lib.toy.pretrain.diffusion import (
        DIFFUSION_RECIPE,
        assemble_pipeline,
        build_scheduler,
        build_unet,
    )
    from idbooth_lib.toy.pretrain.text import TEXT_RECIPE, build_text_encoder
    from idbooth_lib.toy.pretrain.vae import VAE_RECIPE, build_vae

    def build():
        torch.manual_seed(0)
        tokenizer = CLIPTokenizer.from_pretrained(tiny_tokenizer_folder)
        recipe = dataclasses.replace(DIFFUSION_RECIPE, unet_channels=(32, 32))
        text_recipe = dataclasses.replace(TEXT_RECIPE, text_width=32, text_layers=1, text_heads=2)
        vae = build_vae(
            dataclasses.replace(VAE_RECIPE, block_out_channels=(8, 16, 16), norm_num_groups=8)
        )
        unet = build_unet(recipe, 32, latent_channels=vae.config.latent_channels)
        text_encoder = build_text_encoder(text_recipe, tokenizer)
        pipeline = assemble_pipeline(vae, text_encoder, tokenizer, unet, build_scheduler())
        pipeline.set_progress_bar_config(disable=True)
        return pipeline

    return build


@pytest.fixture()
def tiny_pipeline(make_tiny_pipeline):
    """A randomly initialised StableDiffusionPipeline of the toy model's shape, 64 px, float32."""
    return make_tiny_pipeline()


@pytest.fixture()
def tiny_recogniser():
    from idbooth_lib.identity.toy_recogniser import RecogniserConfig, ToyRecogniser

    return ToyRecogniser(RecogniserConfig((8, 16, 16), 1, 16)).eval().requires_grad_(False)


class TinyArcFace(torch.nn.Module):
    """3×112×112 → 512, shaped like an insightface ArcFace export (one input, one output)."""

    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, stride=4, padding=1),
            torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(4),
            torch.nn.Flatten(),
            torch.nn.Linear(128, 512),
        )

    def forward(self, images):
        return self.body(images)


def export_arcface_onnx(model: torch.nn.Module, path: Path, opset: int | None = None) -> None:
    """Export like insightface's ArcFace files: one input ``data``, one output, dynamic batch.

    ``opset=None`` is torch's default (20 with torch 2.14), newer than onnx2torch's converters.
    """
    options = {} if opset is None else {"opset_version": opset}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter is legacy
        torch.onnx.export(
            model,
            (torch.zeros(1, 3, 112, 112),),
            str(path),
            input_names=["data"],
            output_names=["embedding"],
            dynamic_axes={"data": {0: "batch"}, "embedding": {0: "batch"}},
            dynamo=False,
            **options,
        )
