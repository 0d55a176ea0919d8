"""The whole ``sd21`` route, through the command line, on Stable Diffusion 2.1-base's architecture.

prepare → train (all three methods) → generate → evaluate (both recognisers) → fr-train
(iResNet-50) → fr-eval, on the ``sd21`` profile with its model sources pointed at the stand-ins of
:mod:`idbooth_lib.standin` (SD 2.1-base's structure, insightface-layout packs, DINOv2 and CLIP
folders, all random). Besides the sources, the test changes what a CPU needs and what keeps it
short (``STANDIN_CPU_SETTINGS``: fp32 on the CPU, 64 px instead of 512, 4 class images, 2
sampling steps), and 2 training steps and 3 images per person. Every code path is the one a GPU
run takes.
"""

import json

import pytest

from idbooth_lib.diffusion.lora import LORA_FILE
from idbooth_lib.standin import ROUTE_METHODS as METHODS


@pytest.fixture(scope="module")
def route(tmp_path_factory):
    """Run the route once; each test reads what it left in its folder."""
    from idbooth_lib.standin import STANDIN_CPU_SETTINGS, route_stages, run_route, standin_sources

    folder = tmp_path_factory.mktemp("route")
    settings = [*standin_sources(folder / "models"), *STANDIN_CPU_SETTINGS]
    options = ["--profile", "sd21", *(word for s in settings for word in ("--set", s))]
    patch = pytest.MonkeyPatch()
    patch.setenv("IDBOOTH_HOME", str(folder / "home"))
    patch.setenv("HF_HUB_OFFLINE", "1")
    try:
        measured = run_route(route_stages(folder, options))
    finally:
        patch.undo()
    assert [stage["stage"] for stage in measured][-1] == "fr-eval"
    return folder


def test_the_stand_in_has_sd21_base_structure(route):
    """The folder the route trained on is SD 2.1-base's architecture at reduced width."""
    from diffusers import StableDiffusionPipeline

    pipeline = StableDiffusionPipeline.from_pretrained(route / "models" / "sd21-standin")
    unet, vae = pipeline.unet.config, pipeline.vae.config
    assert tuple(unet.down_block_types) == ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",)
    assert tuple(unet.up_block_types) == ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3
    assert tuple(unet.attention_head_dim) == (5, 10, 20, 20) and unet.use_linear_projection
    assert unet.cross_attention_dim * 320 == unet.block_out_channels[0] * 1024
    assert pipeline.text_encoder.config.hidden_size == unet.cross_attention_dim
    assert vae.latent_channels == 4 and vae.scaling_factor == 0.18215
    assert pipeline.vae_scale_factor == 8 and unet.sample_size == 64
    assert type(pipeline.scheduler).__name__ == "PNDMScheduler"
    assert pipeline.scheduler.config.steps_offset == 1
    assert pipeline.text_encoder.dtype.is_floating_point and str(pipeline.unet.dtype) == "torch.float32"


def test_every_method_trains_a_lora_that_plain_diffusers_loads(route):
    from diffusers import StableDiffusionPipeline

    pipeline = StableDiffusionPipeline.from_pretrained(route / "models" / "sd21-standin")
    for method in METHODS:
        for run in sorted((route / "runs" / method).iterdir()):
            record = json.loads((run / "run.json").read_text())
            assert record["config"]["name"] == "sd21" and record["method"] == method
            pipeline.load_lora_weights(run, weight_name=LORA_FILE, adapter_name=f"{method}_{run.name}")
    assert len(pipeline.get_list_adapters()["unet"]) == 12


def test_generation_draws_every_person_of_every_method_at_the_set_size(route):
    from PIL import Image

    for method in METHODS:
        people = sorted(p for p in (route / "generated" / method).iterdir() if p.is_dir())
        assert len(people) == 4
        for person in people:
            images = sorted(person.glob("*.png"))
            assert len(images) == 3 and Image.open(images[0]).size == (64, 64)


def test_evaluation_scores_with_both_insightface_recognisers(route):
    results = json.loads((route / "evaluation.json").read_text())
    encoders = results["encoders"]
    assert set(encoders) == {"identity_encoder", "evaluation_encoder"}
    assert encoders["evaluation_encoder"]["source"] == "cheetah_s"
    assert encoders["identity_encoder"]["source"] == "buffalo_l"
    for role in encoders.values():
        assert role["synthetic_vs_synthetic"]["genuine_pairs"] > 0


def test_a_recogniser_is_trained_and_scored_with_insightface_protocol(route):
    record = json.loads((route / "fr" / "training.json").read_text())
    assert record["config"]["backbone"] == "iresnet50"
    scored = json.loads((route / "fr-eval.json").read_text())
    (benchmark,) = scored["benchmarks"].values()
    assert benchmark["pairs"] == 20 and benchmark["protocol"] == "insightface"
    assert 0.0 <= benchmark["accuracy_mean"] <= 1.0
