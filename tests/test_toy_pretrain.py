"""The VAE, text and diffusion recipes run a few steps on tiny models and write loadable folders.

They are the recipes of the shipped toy models, so a test keeps them from rotting.
"""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from idbooth_lib.identity.toy_recogniser import RecogniserConfig, ToyRecogniser
from idbooth_lib.toy.pretrain.diffusion import DIFFUSION_RECIPE, train_diffusion
from idbooth_lib.toy.pretrain.text import (
    TEXT_RECIPE,
    distinct_people,
    photos_by_person,
    train_text_encoder,
)
from idbooth_lib.toy.pretrain.vae import VAE_RECIPE, train_vae

DATA = {"identities": 3, "wild_per_identity": 2, "constrained_per_identity": 1, "batch_size": 4}


@pytest.fixture()
def tiny_vae(tmp_path, monkeypatch, logged):
    monkeypatch.setenv("IDBOOTH_CACHE", str(tmp_path / "cache"))
    recogniser = tmp_path / "recogniser"
    ToyRecogniser(RecogniserConfig((8, 16, 16), 1, 16)).save(recogniser)
    recipe = dataclasses.replace(
        VAE_RECIPE, block_out_channels=(8, 16, 16), norm_num_groups=8, steps=2, **DATA
    )
    vae = train_vae(recipe, tmp_path / "vae", recogniser, checkpoint_every=1)
    assert vae.config.scaling_factor > 0 and "scaling factor" in logged()[-1]
    return tmp_path / "vae"


def test_vae_recipe_writes_a_diffusers_folder(tiny_vae):
    from diffusers import AutoencoderKL

    vae = AutoencoderKL.from_pretrained(tiny_vae)
    latents = vae.encode(torch.zeros(1, 3, 64, 64)).latent_dist.mean
    assert latents.shape == (1, VAE_RECIPE.latent_channels, 16, 16)


@pytest.fixture()
def tiny_recogniser(tmp_path):
    folder = tmp_path / "recogniser"
    ToyRecogniser(RecogniserConfig((8, 16, 16), 1, 16)).save(folder)
    return folder


def tiny_text_recipe():
    return dataclasses.replace(
        TEXT_RECIPE,
        text_width=32,
        text_layers=1,
        text_heads=2,
        steps=2,
        **{**DATA, "batch_size": 3},
    )


def test_contrastive_batches_hold_one_photo_per_person():
    identities = np.repeat(np.arange(10), 4)
    rng = np.random.default_rng(0)
    for _ in range(20):
        batch = distinct_people(photos_by_person(identities), 8, rng)
        assert len(set(identities[batch])) == 8


def test_diffusion_recipe_needs_the_text_encoder_first(tiny_vae, tmp_path):
    with pytest.raises(FileNotFoundError, match="pretrain text --output"):
        train_diffusion(DIFFUSION_RECIPE, tmp_path / "empty", tiny_vae, steps=1)


def test_text_and_diffusion_recipes_write_a_pipeline_that_diffusers_loads(
    tiny_vae, tiny_recogniser, tmp_path
):
    from diffusers import StableDiffusionPipeline
    from transformers import CLIPTextModel

    output = tmp_path / "foundation"
    train_text_encoder(tiny_text_recipe(), output, tiny_recogniser)
    text_encoder = CLIPTextModel.from_pretrained(output / "text_encoder")
    recipe = dataclasses.replace(DIFFUSION_RECIPE, unet_channels=(32, 32), steps=2, **DATA)
    output = tmp_path / "foundation"
    train_diffusion(recipe, output, tiny_vae, checkpoint_every=1)
    # what a user types, with no torch_dtype: every part must load in the same dtype
    pipeline = StableDiffusionPipeline.from_pretrained(output, safety_checker=None)
    assert {pipeline.unet.dtype, pipeline.vae.dtype, pipeline.text_encoder.dtype} == {torch.float32}
    assert pipeline.tokenizer.tokenize("sks") == ["sks</w>"]
    # transformers 4's slow CLIPTokenizer reads these two files, not tokenizer.json
    from transformers import CLIPTokenizer

    slow = CLIPTokenizer(
        str(output / "tokenizer" / "vocab.json"), str(output / "tokenizer" / "merges.txt")
    )
    assert slow.tokenize("photo of sks person") == pipeline.tokenizer.tokenize(
        "photo of sks person"
    )
    image = pipeline(
        "photo of sks person", num_inference_steps=2, height=64, width=64, output_type="np"
    ).images[0]
    assert image.shape == (64, 64, 3)
    # the UNet trained under the text encoder without changing it, as SD keeps CLIP frozen
    for name, value in text_encoder.state_dict().items():
        assert torch.equal(value, pipeline.text_encoder.state_dict()[name]), name


def test_a_resumed_text_recipe_keeps_its_vocabulary(tiny_recogniser, tmp_path, monkeypatch):
    """A resumed run reads the vocabulary kept beside its checkpoints instead of building one:
    the checkpoint's embedding rows belong to those token ids, even if the tokenizer code has
    changed since the run began."""
    import idbooth_lib.toy.pretrain.text as text_recipe

    monkeypatch.setenv("IDBOOTH_CACHE", str(tmp_path / "cache"))
    output = tmp_path / "foundation"
    recipe = tiny_text_recipe()
    train_text_encoder(recipe, output, tiny_recogniser, steps=1, checkpoint_every=1)
    first = (output / "tokenizer" / "vocab.json").read_text()

    def refuse(*arguments):
        raise AssertionError("a resumed run rebuilt its vocabulary")

    monkeypatch.setattr(text_recipe, "build_tokenizer", refuse)
    train_text_encoder(recipe, output, tiny_recogniser, steps=2, checkpoint_every=1)
    assert (output / "tokenizer" / "vocab.json").read_text() == first


def test_the_text_and_diffusion_recipes_write_the_same_files_twice(
    tiny_vae, tiny_recogniser, tmp_path, monkeypatch
):
    """Seeded and with a reproducible vocabulary, a rerun of the recipes writes what they wrote."""
    diffusion = dataclasses.replace(DIFFUSION_RECIPE, unet_channels=(32, 32), steps=2, **DATA)
    written = []
    for run in ("first", "second"):
        monkeypatch.setenv("IDBOOTH_CACHE", str(tmp_path / run / "cache"))
        output = tmp_path / run / "foundation"
        train_text_encoder(tiny_text_recipe(), output, tiny_recogniser)
        train_diffusion(diffusion, output, tiny_vae)
        written.append(
            {
                path.relative_to(output): path.read_bytes()
                for path in sorted(output.rglob("*"))
                if path.is_file() and path.name != "recipe.json"  # it holds the run's minutes
            }
        )
    assert written[0].keys() == written[1].keys()
    assert {"unet", "text_encoder", "tokenizer"} <= {name.parts[0] for name in written[0]}
    for name, content in written[0].items():
        assert content == written[1][name], name


def test_probe_recipe_writes_a_probe_that_loads_and_reports_its_accuracy(tmp_path, monkeypatch):
    import json

    from idbooth_lib.evaluation.adherence import SceneProbe
    from idbooth_lib.toy.pretrain.probe import ProbeRecipe, train_probe

    monkeypatch.setenv("IDBOOTH_CACHE", str(tmp_path / "cache"))
    recipe = ProbeRecipe(identities=12, wild_per_identity=2, held_out_identities=2, steps=3)
    train_probe(recipe, tmp_path / "probe")
    probe = SceneProbe.load(tmp_path / "probe")
    backgrounds, poses = probe(torch.zeros(2, 3, 64, 64))
    assert backgrounds.shape == (2, 10) and poses.shape == (2, 2)
    accuracy = json.loads((tmp_path / "probe" / "accuracy.json").read_text())
    assert accuracy["held_out_images"] == 4 and 0 <= accuracy["pose"] <= 1


def test_the_shipped_probe_reads_real_toy_scenes():
    """Its recorded held-out accuracy, and a fresh check on the book's own world (seed 0)."""
    import json

    from idbooth_lib.evaluation.adherence import SceneProbe
    from idbooth_lib.generation.prompts import BACKGROUNDS, POSES
    from idbooth_lib.models import resolve_source
    from idbooth_lib.ranges import pixels_to_signed
    from idbooth_lib.toy_world.render import render_faces

    folder = resolve_source("idbooth:toy/probe")
    assert json.loads(Path(folder, "accuracy.json").read_text())["background"] > 0.95
    faces = render_faces(0, range(20), 5, "wild")
    with torch.no_grad():
        backgrounds, poses = SceneProbe.load(folder)(pixels_to_signed(faces.images))
    wanted_b = torch.tensor([BACKGROUNDS.index(b) for b in faces.backgrounds])
    wanted_p = torch.tensor([POSES.index(p) for p in faces.poses])
    assert (backgrounds.argmax(1) == wanted_b).float().mean() > 0.9
    assert (poses.argmax(1) == wanted_p).float().mean() > 0.9


def test_recipe_changes_from_the_command_line_keep_each_fields_type():
    from idbooth_lib.config import replace_fields

    changed = replace_fields(
        DIFFUSION_RECIPE,
        ["steps=9000", "learning_rate=3e-4", "unet_channels=16,32", "continue_from=some/folder"],
    )
    assert (changed.steps, changed.learning_rate, changed.unet_channels) == (9000, 3e-4, (16, 32))
    assert changed.continue_from == "some/folder"
    assert replace_fields(changed, ["continue_from=none"]).continue_from is None
    with pytest.raises(ValueError, match="NAME one of unet_channels"):
        replace_fields(DIFFUSION_RECIPE, ["stepz=1"])


def test_a_continued_diffusion_recipe_starts_from_the_trained_unet(
    tiny_vae, tiny_recogniser, tmp_path
):
    """With a learning rate of zero, continuing changes nothing: the run began at the weights it
    was given, not at random ones. Another architecture is refused, naming what to keep."""
    from diffusers import UNet2DConditionModel

    first = tmp_path / "first"
    train_text_encoder(tiny_text_recipe(), first, tiny_recogniser)
    recipe = dataclasses.replace(DIFFUSION_RECIPE, unet_channels=(32, 32), steps=2, **DATA)
    train_diffusion(recipe, first, tiny_vae)
    again = tmp_path / "again"
    train_text_encoder(tiny_text_recipe(), again, tiny_recogniser)
    continued = dataclasses.replace(recipe, continue_from=str(first), learning_rate=0.0, steps=1)
    train_diffusion(continued, again, tiny_vae)
    trained, kept = (UNet2DConditionModel.from_pretrained(f / "unet") for f in (first, again))
    for name, value in trained.state_dict().items():
        assert torch.equal(value, kept.state_dict()[name]), name
    wider = dataclasses.replace(continued, unet_channels=(32, 64))
    with pytest.raises(ValueError, match="another architecture"):
        train_diffusion(wider, tmp_path / "again", tiny_vae)


def _tiny_unet(channels, seed):
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    return UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=channels,
        layers_per_block=1, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=16,
        attention_head_dim=8, norm_num_groups=8,
    )  # fmt: skip


def _stage(folder, unet, steps, continue_from=None):
    """A pipeline folder of one training stage: its UNet and the recipe record of the stage."""
    unet.save_pretrained(folder / "unet")
    (folder / "vae").mkdir(exist_ok=True)
    (folder / "vae" / "config.json").write_text("{}")
    recipe = {"recipe": {"continue_from": continue_from}, "steps": steps, "minutes": 1.0}
    (folder / "recipe.json").write_text(json.dumps(recipe))
    return folder


def test_averaged_unets_are_the_mean_and_continue_the_longest_stage(tmp_path):
    """Two stages of one run: the average's weights are their mean (stored in fp16), its other
    parts are the base's, and its recipe continues the later stage, so that summing training
    along ``continue_from`` counts both stages once."""
    from diffusers import UNet2DConditionModel

    from idbooth_lib.toy.pretrain.average import average_unets, training_steps

    first = _stage(tmp_path / "first", _tiny_unet((32, 32), 0), steps=10)
    second = _stage(tmp_path / "second", _tiny_unet((32, 32), 1), steps=5, continue_from=str(first))
    output = average_unets([first, second], tmp_path / "average", base=first)
    mean = UNet2DConditionModel.from_pretrained(output / "unet").state_dict()
    one, two = (UNet2DConditionModel.from_pretrained(f / "unet").state_dict() for f in (first, second))
    for name, value in mean.items():
        assert torch.allclose(value, (one[name] + two[name]) / 2, atol=2e-3), name
    assert json.loads((output / "recipe.json").read_text())["recipe"]["continue_from"] == str(second)
    assert training_steps(output) == 15
    assert (output / "vae" / "config.json").is_file()


def test_unets_of_different_architectures_are_not_averaged_and_nothing_is_written(tmp_path):
    from idbooth_lib.toy.pretrain.average import main

    first = _stage(tmp_path / "first", _tiny_unet((32, 32), 0), steps=10)
    wider = _stage(tmp_path / "wider", _tiny_unet((32, 64), 1), steps=5)
    with pytest.raises(SystemExit):
        main([str(first), str(wider), "--output", str(tmp_path / "average"), "--base", str(first)])
    assert not (tmp_path / "average").exists() and not (tmp_path / "average.partial").exists()
