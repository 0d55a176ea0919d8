"""The trade-off study the book ships: complete, made with the book's toy setting, and its LoRAs
load in plain diffusers. Chapter 06's reading of it is checked here against the numbers."""

import json

import pytest

from idbooth_lib.config import load_profile
from idbooth_lib.diffusion.lora import LORA_FILE
from idbooth_lib.experiments.study import STUDY_IDENTITIES, shipped_results, shipped_runs
from idbooth_lib.experiments.tradeoff import read_tradeoff, summarise
from idbooth_lib.generation.generate import read_run
from idbooth_lib.methods import PAPER_METHODS as METHODS

SHOWN = ("id_0000", "id_0001")


@pytest.fixture(scope="module")
def study():
    path = shipped_results()
    assert path is not None, "idbooth_lib/experiments/results/tradeoff.json is not shipped"
    return read_tradeoff(path)


def test_the_study_is_complete_and_says_where_it_came_from(study):
    assert study["date"] and study["commit"] and study["command"].startswith("idbooth tradeoff")
    steps = [0, *study["plan"]["snapshot_steps"]]
    people = {row["identity"] for row in study["rows"]}
    assert len(people) == STUDY_IDENTITIES >= 8
    assert {(r["method"], r["identity"], r["step"]) for r in study["rows"]} == {
        (m, p, s) for m in METHODS for p in people for s in steps
    }
    assert len(steps) >= 6  # the base model and five snapshots
    assert study["summary"] == json.loads(json.dumps(summarise(study["rows"])))


def test_the_books_toy_setting_is_a_step_of_the_study(study):
    """The shipped LoRAs are snapshots at train.max_steps of a constant-rate run, which is
    exactly a run of the book's setting: every other training setting must agree."""
    train = load_profile("toy", environ={}).train
    assert train.max_steps in study["plan"]["snapshot_steps"]
    assert train.lr_scheduler == study["train"]["lr_scheduler"] == "constant"
    import dataclasses

    from idbooth_lib.training.fingerprint import ADDED_LATER, NOT_SHAPING

    made_apart = {"method", "max_steps", *NOT_SHAPING}  # settings that change no number
    for field in dataclasses.fields(train):
        if field.name not in made_apart:
            value = getattr(train, field.name)
            wanted = list(value) if isinstance(value, tuple) else value
            # a setting added after the study ran: the study ran as its default does
            made = study["train"].get(field.name, ADDED_LATER.get(f"train.{field.name}"))
            assert made == wanted, field.name
    for method in METHODS:
        assert f"{train.max_steps}/{method}" in study["evaluations"]


@pytest.mark.parametrize("method", METHODS)
def test_the_shipped_loras_are_run_folders_that_diffusers_loads(method, repository_root):
    from diffusers import StableDiffusionPipeline

    folder = repository_root / "idbooth_lib" / "toy" / "weights" / "foundation"
    pipeline = StableDiffusionPipeline.from_pretrained(folder, safety_checker=None)
    for identity in SHOWN:
        run = read_run(shipped_runs(method) / identity)
        assert run.method == method and run.identity == identity and run.gender
        # the form the book tells a researcher to type: offline, diffusers <= 0.39 needs weight_name
        run = shipped_runs(method) / identity
        pipeline.load_lora_weights(run, weight_name=LORA_FILE, adapter_name="check")
        assert "check" in pipeline.get_active_adapters()
        pipeline.delete_adapters("check")


def _at(study, method, step):
    return next(s for s in study["summary"] if s["method"] == method and s["step"] == step)


def _eer(study, step, method, role="identity_encoder"):
    name = "0/base" if step == 0 else f"{step}/{method}"
    return study["evaluations"][name]["encoders"][role]["synthetic_vs_synthetic"]["eer"]


def test_every_shipped_results_file_names_a_clean_commit():
    """A results file the book shows says which code made it: a commit with uncommitted changes
    ("-dirty") names code no reader can check out, so its run cannot be repeated."""
    import json

    from idbooth_lib.experiments.study import SHIPPED

    for path in sorted(SHIPPED.glob("*.json")):
        commit = json.loads(path.read_text(encoding="utf-8"))["commit"]
        assert commit and not commit.endswith("-dirty"), (path.name, commit)
