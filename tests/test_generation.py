"""Generation: the paper's prompt plan, and `idbooth generate` drawing it from trained LoRAs,
resuming an interrupted run without duplicates or half-written files."""

import dataclasses
import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from idbooth_lib.config import PAPER_NEGATIVE_PROMPT, load_profile
from idbooth_lib.generation.prompts import (
    BACKGROUNDS,
    instance_token,
    parse_prompt,
    prompt_plan,
)


def test_the_21_image_plan_is_one_studio_image_and_each_background_twice():
    plan = prompt_plan("alice", "female", 21, 0, PAPER_NEGATIVE_PROMPT)
    assert (
        plan[0].background is None and plan[0].prompt == "face portrait photo of female sks person"
    )
    for background in BACKGROUNDS:
        poses = sorted(image.pose for image in plan if image.background == background)
        assert poses == ["frontal", "side"]
    assert all(parse_prompt(image.prompt)["name"] == "sks" for image in plan)
    assert {image.negative_prompt for image in plan} == {PAPER_NEGATIVE_PROMPT}
    hundred = prompt_plan("alice", "female", 100, 0, PAPER_NEGATIVE_PROMPT)
    assert sum(image.pose == "side" for image in hundred) == 50
    assert all(image.background is not None for image in hundred)


def test_the_plan_is_deterministic_and_the_same_for_every_method():
    """Nothing in the plan depends on the method; seeds differ per image and per identity."""
    first, again = (prompt_plan("alice", "female", 21, 0, "") for _ in range(2))
    assert first == again
    assert len({image.seed for image in first}) == 21
    other = prompt_plan("bob", "female", 21, 0, "")
    assert [image.prompt for image in other] == [image.prompt for image in first]
    assert not {image.seed for image in other} & {image.seed for image in first}
    assert prompt_plan("alice", "female", 21, 1, "")[0].seed != first[0].seed
    assert instance_token("photo of sks person") == "sks"
    with pytest.raises(ValueError, match="instance_prompt"):
        instance_token("a photo of sks")


@pytest.fixture()
def trained_runs(make_tiny_pipeline, tiny_recogniser, tmp_path):
    """Two finished tiny runs (DreamBooth and ID-Booth of one identity), as `idbooth train` leaves
    them, and the profile to generate with."""
    from idbooth_lib.io import write_json
    from idbooth_lib.training.finetune import IdentityData, finetune

    generator = torch.Generator().manual_seed(1)
    data = IdentityData(
        instance_images=torch.rand(2, 3, 64, 64, generator=generator) * 2 - 1,
        instance_landmarks=torch.tensor([[22.0, 29], [42, 29], [32, 40], [24, 50], [40, 50]]).expand(2, 5, 2).clone(),
        class_images=torch.rand(2, 3, 64, 64, generator=generator) * 2 - 1,
        instance_embeddings=torch.nn.functional.normalize(torch.randn(2, 16, generator=generator), dim=-1),
        class_embeddings=torch.eye(2, 16),
    )  # fmt: skip
    config = load_profile(
        "toy",
        {"generate.num_inference_steps": "2", "generate.batch_size": "3", "seed": "0"},
        environ={},
    )
    folders = []
    for method in ("dreambooth", "idbooth"):
        folder = tmp_path / "runs" / method
        train = dataclasses.replace(config.train, method=method, max_steps=1)
        finetune(make_tiny_pipeline(), tiny_recogniser, data, train, folder)
        write_json(folder / "run.json", {"identity": "Zoë K", "gender": "female", "method": method})
        folders.append(folder)
    return folders, config


def _manifest(folder):
    return [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]


def test_generate_writes_every_planned_image_once_with_a_matching_manifest(
    trained_runs, make_tiny_pipeline, tmp_path
):
    from idbooth_lib.generation.generate import generate_images

    folders, config = trained_runs
    drawn = generate_images(folders, tmp_path / "gen", config, 7, make_tiny_pipeline())
    assert drawn == {"dreambooth/Zoë K": 7, "idbooth/Zoë K": 7}
    for method in ("dreambooth", "idbooth"):
        identity = next((tmp_path / "gen" / method).iterdir())
        assert identity.name != "Zoë K"  # a safe file name, the identity kept in the manifest
        records = _manifest(identity)
        files = sorted(path.name for path in identity.glob("*.png"))
        assert (
            [record["file"].split("/")[1] for record in records]
            == files
            == [f"{index:04d}.png" for index in range(7)]
        )
        assert {record["method"] for record in records} == {method}
        assert {record["identity"] for record in records} == {"Zoë K"}
    # what `idbooth evaluate --synthetic GEN/<method>` reads for prompt adherence
    from idbooth_lib.evaluation.adherence import read_manifest

    listed = read_manifest(tmp_path / "gen" / "idbooth")
    assert len(listed) == 7 and all((tmp_path / "gen" / "idbooth" / f).is_file() for f in listed)
    seeds = {
        m: [r["seed"] for r in _manifest(next((tmp_path / "gen" / m).iterdir()))]
        for m in ("dreambooth", "idbooth")
    }
    assert seeds["dreambooth"] == seeds["idbooth"]  # the same noise for both methods


def test_an_interrupted_generation_resumes_without_duplicates_or_truncated_files(
    trained_runs, make_tiny_pipeline, tmp_path, monkeypatch
):
    from idbooth_lib.generation import generate as generate_module
    from idbooth_lib.generation.generate import generate_images

    folders, config = trained_runs
    original, saved = generate_module.save_image, []

    def save_then_die(path, image):
        if len(saved) == 4:
            raise KeyboardInterrupt  # in the middle of the second batch of three
        original(path, image)
        saved.append(path)

    monkeypatch.setattr(generate_module, "save_image", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        generate_images(folders[:1], tmp_path / "gen", config, 7, make_tiny_pipeline())
    identity = next((tmp_path / "gen" / "dreambooth").iterdir())
    assert len(_manifest(identity)) == 3  # only the finished batch is listed
    monkeypatch.setattr(generate_module, "save_image", original)
    drawn = generate_images(folders[:1], tmp_path / "gen", config, 7, make_tiny_pipeline())
    assert drawn == {"dreambooth/Zoë K": 4}  # the unlisted fourth image is drawn again
    assert [r["index"] for r in _manifest(identity)] == list(range(7))
    assert not list((tmp_path / "gen").rglob("*.partial*"))
    for path in identity.glob("*.png"):
        Image.open(path).load()  # every file complete
    fresh = tmp_path / "fresh"
    generate_images(folders[:1], fresh, config, 7, make_tiny_pipeline())
    for path in identity.glob("*.png"):
        again = fresh / "dreambooth" / identity.name / path.name
        assert np.array_equal(np.asarray(Image.open(path)), np.asarray(Image.open(again)))
    assert generate_images(
        folders[:1], tmp_path / "gen", config, 7, make_tiny_pipeline()
    ) == {"dreambooth/Zoë K": 0}


def test_a_retrained_lora_or_a_smaller_plan_is_redrawn_or_trimmed(
    trained_runs, make_tiny_pipeline, tmp_path
):
    from idbooth_lib.generation.generate import generate_images

    folders, config = trained_runs
    generate_images(folders[:1], tmp_path / "gen", config, 4, make_tiny_pipeline())
    identity = next((tmp_path / "gen" / "dreambooth").iterdir())
    assert generate_images(
        folders[:1], tmp_path / "gen", config, 2, make_tiny_pipeline()
    ) == {"dreambooth/Zoë K": 0}
    assert sorted(path.name for path in identity.glob("*.png")) == ["0000.png", "0001.png"]
    lora = folders[0] / "pytorch_lora_weights.safetensors"
    from safetensors.torch import load_file, save_file

    weights = load_file(lora)
    save_file({k: v * 2 for k, v in weights.items()}, lora)  # "retrained"
    assert generate_images(
        folders[:1], tmp_path / "gen", config, 2, make_tiny_pipeline()
    ) == {"dreambooth/Zoë K": 2}


def test_a_folder_without_finished_runs_is_a_clear_error(tmp_path):
    from idbooth_lib.cli import main

    (tmp_path / "runs" / "a").mkdir(parents=True)
    (tmp_path / "runs" / "a" / "run.json").write_text("{}")
    code = main(["generate", "--runs", str(tmp_path / "runs"), "--output", str(tmp_path / "gen")])
    assert code == 2


def test_prompt_explorer_draws_on_open_and_on_each_press():
    """The explorer shows the first choice's picture at once and redraws with the values chosen;
    it holds no Output widget, which nbclient answers on the shell channel and can stall on."""
    import ipywidgets as widgets

    from idbooth_lib.generation.explorer import prompt_explorer

    calls = []

    def draw(person, method, pose, background, seed):
        calls.append((person, method, pose, background, seed))
        return Image.new("RGB", (8, 8), (seed, 0, 0)), f"{pose} {background} {seed}"

    explorer = prompt_explorer(draw, ["id_0000", "id_0001"], ["base model", "idbooth"],
                               ["studio", "forest"], method="idbooth", background="forest")
    boxes = [row.children[1] for row in explorer.children if isinstance(row, widgets.HBox)]
    button, prompt, picture = explorer.children[len(boxes):]
    assert calls == [("id_0000", "idbooth", "frontal", "forest", 0)]
    assert Image.open(io.BytesIO(picture.value)).size == (192, 192)

    boxes[4].value = 7
    button.click()
    assert calls[-1] == ("id_0000", "idbooth", "frontal", "forest", 7)
    assert prompt.value == "frontal forest 7"
    assert Image.open(io.BytesIO(picture.value)).convert("RGB").getpixel((0, 0)) == (7, 0, 0)
    assert not any(isinstance(child, widgets.Output) for child in explorer.children)


def test_a_lora_is_attached_for_the_length_of_a_with_block_only():
    """``lora_attached`` takes the LoRA off again however the block ends."""
    from diffusers import StableDiffusionPipeline

    from idbooth_lib.diffusion.lora import lora_attached
    from idbooth_lib.experiments.study import shipped_runs
    from idbooth_lib.models import resolve_source

    pipeline = StableDiffusionPipeline.from_pretrained(resolve_source("idbooth:toy/foundation"),
                                                       safety_checker=None)  # fmt: skip
    run = shipped_runs("idbooth") / "id_0000"
    with lora_attached(pipeline, run):
        assert pipeline.get_active_adapters()
    assert not pipeline.get_active_adapters()
    with pytest.raises(RuntimeError, match="stopped"), lora_attached(pipeline, run):
        raise RuntimeError("stopped half-way")
    assert not pipeline.get_active_adapters()
