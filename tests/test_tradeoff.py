"""The identity–prompt trade-off study: LoRA snapshots along training, rows, resume, the CLI."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from test_trainer import _config, _data

from idbooth_lib.cli import main
from idbooth_lib.config import load_profile
from idbooth_lib.diffusion.basics import sample
from idbooth_lib.diffusion.lora import LORA_FILE, load_lora, remove_lora
from idbooth_lib.evaluation.separability import similarity_to_real
from idbooth_lib.experiments.study import write_study_photos
from idbooth_lib.experiments.tradeoff import (
    BASE,
    EVALUATION_FILE,
    RESULTS_FILE,
    StudyPlan,
    balanced_step,
    run_tradeoff,
    samples_folder,
    study_rows,
    summarise,
)
from idbooth_lib.training.finetune import finetune, snapshot_folder


def _weights(folder):
    return load_file(folder / LORA_FILE)


def _same_weights(first, second):
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def test_snapshots_are_the_lora_at_their_steps(tiny_pipeline, tiny_recogniser, tmp_path):
    """Step 0 draws exactly what the base model draws; with a constant learning rate the step-2
    snapshot of a 4-step run is the LoRA of a 2-step run, and the last one is the final LoRA."""
    data = _data()
    before = sample(tiny_pipeline, ["photo of sks person"], guidance_scale=2.0, steps=2, seed=3)
    constant = dict(lr_scheduler="constant", lora_snapshot_steps=(0, 2, 4))
    run = tmp_path / "long"
    finetune(tiny_pipeline, tiny_recogniser, data, _config(max_steps=4, **constant), run)  # fmt: skip
    remove_lora(tiny_pipeline.unet)
    short = tmp_path / "short"
    finetune(tiny_pipeline, tiny_recogniser, data, _config(max_steps=2, lr_scheduler="constant"),
             short)  # fmt: skip
    remove_lora(tiny_pipeline.unet)
    assert _same_weights(_weights(snapshot_folder(run, 2)), _weights(short))
    assert _same_weights(_weights(snapshot_folder(run, 4)), _weights(run))
    assert not _same_weights(_weights(snapshot_folder(run, 2)), _weights(run))
    load_lora(tiny_pipeline, snapshot_folder(run, 0))
    untrained = sample(tiny_pipeline, ["photo of sks person"], guidance_scale=2.0, steps=2, seed=3)
    assert torch.equal(untrained, before)
    assert not list((run / "snapshots").glob("*.partial"))


def test_snapshot_steps_do_not_change_the_run_and_a_resume_rewrites_them(
    tiny_pipeline, tiny_recogniser, tmp_path
):
    """Asking for snapshots does not make another run (same folder, no mismatch), and a run
    killed after a checkpoint resumes and still writes every later snapshot."""
    data = _data()
    run = tmp_path / "run"
    config = _config(max_steps=4, checkpointing_steps=2, lora_snapshot_steps=(2, 4))
    finetune(tiny_pipeline, tiny_recogniser, data, config, run)
    remove_lora(tiny_pipeline.unet)
    reference = _weights(snapshot_folder(run, 4))
    (run / "finished.json").unlink()
    (run / LORA_FILE).unlink()
    for step in (2, 4):
        for file in snapshot_folder(run, step).iterdir():
            file.unlink()
        snapshot_folder(run, step).rmdir()
    # the newest checkpoint is step 2: the resume trains steps 3-4 and writes the step-4 snapshot
    finetune(tiny_pipeline, tiny_recogniser, data, config, run)
    remove_lora(tiny_pipeline.unet)
    assert _same_weights(_weights(snapshot_folder(run, 4)), reference)
    without = dataclasses.replace(config, lora_snapshot_steps=())
    finetune(tiny_pipeline, tiny_recogniser, data, without, run)  # no error


def test_similarity_to_real_is_each_identitys_mean_cosine_to_its_own_photos():
    synthetic = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 2.0]])
    real = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 3.0]])
    found = similarity_to_real(synthetic, ["a", "a", "b"], real, ["a", "a", "b"])
    # a: rows (1,0) and (0,1) against (1,0) and (1,1)/√2 -> (1 + 0.7071 + 0 + 0.7071) / 4
    assert found["a"] == pytest.approx((1 + 2 * 2**-0.5) / 4)
    assert found["b"] == pytest.approx(1.0)
    assert set(similarity_to_real(synthetic, ["a", "a", "c"], real, ["a", "a", "b"])) == {"a"}


def _evaluation(identity_value, background):
    """The parts of an ``idbooth evaluate`` result that the study reads, for identities x, y."""
    per_identity = {"x": identity_value, "y": identity_value / 2}
    encoders = {
        role: {"similarity_to_real": per_identity}
        for role in ("identity_encoder", "evaluation_encoder")
    }
    return {
        "identities": {"matched": ["x", "y"]},
        "encoders": encoders,
        "adherence": {
            "per_identity": {i: {"background": background, "pose": 1.0} for i in ("x", "y")}
        },
        "diversity": {
            "vendi": {"x": 2.0, "y": 4.0},
            "pose_spread_per_identity": {"x": {"yaw_proxy_std": 0.1}, "y": {}},
        },
    }


def test_rows_gain_identity_over_the_base_model_shared_by_every_method():
    plan = StudyPlan(snapshot_steps=(10,), methods=("dreambooth", "idbooth"))
    evaluations = {
        (0, BASE): _evaluation(0.2, 0.9),
        (10, "dreambooth"): _evaluation(0.6, 0.5),
        (10, "idbooth"): _evaluation(0.4, 0.7),
    }
    rows = study_rows(evaluations, plan)
    assert len(rows) == 2 * 2 * 2  # methods x identities x steps, step 0 repeated per method
    by_key = {(r["method"], r["identity"], r["step"]): r for r in rows}
    assert by_key[("idbooth", "x", 0)]["identity_independent_gained"] == 0.0
    assert by_key[("dreambooth", "x", 10)]["identity_independent_gained"] == pytest.approx(0.4)
    assert by_key[("dreambooth", "y", 10)]["identity_loss_gained"] == pytest.approx(0.2)
    assert by_key[("idbooth", "y", 10)]["yaw_spread"] is None
    summary = {(s["method"], s["step"]): s for s in summarise(rows)}
    assert summary[("idbooth", 10)]["identity_independent_gained"] == pytest.approx(0.15)
    assert summary[("idbooth", 10)]["background"] == pytest.approx(0.7)
    assert summary[("dreambooth", 0)]["vendi"] == pytest.approx(3.0)
    assert summary[("dreambooth", 0)]["vendi_std"] == pytest.approx(1.0)


def test_plan_refuses_unknown_methods_and_steps():
    with pytest.raises(ValueError, match="unknown methods"):
        StudyPlan(methods=("textual_inversion",))
    with pytest.raises(ValueError, match="positive"):
        StudyPlan(snapshot_steps=(0, 5))


def _mtimes(folder):
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_the_study_runs_resumes_and_redraws_only_what_is_missing(tmp_path):
    """A tiny study on the shipped toy models: every row is there, a second run changes no file,
    and a deleted image is drawn again and only its folder evaluated again."""
    config = load_profile(
        "toy",
        {"train.num_class_images": "2", "generate.num_inference_steps": "2"},
        environ={},
    )
    plan = StudyPlan(snapshot_steps=(1, 2), methods=("idbooth",), images_per_identity=2)
    study = tmp_path / "study"
    photos = write_study_photos(study, config, identities=2, photos=3)

    def run():
        return run_tradeoff(study, config, photos, plan)

    results = run()
    assert {(r["identity"], r["step"]) for r in results["rows"]} == {
        (identity, step) for identity in ("id_0000", "id_0001") for step in (0, 1, 2)
    }
    assert results["commit"] and results["date"]
    assert all(r["background"] is not None for r in results["rows"])
    manifest = samples_folder(study, 2, "idbooth") / "id_0000" / "manifest.jsonl"
    records = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert {r["file"] for r in records} == {"id_0000/0000.png", "id_0000/0001.png"}

    before = _mtimes(study / "samples") | _mtimes(study / "runs")
    stamped = (study / RESULTS_FILE).stat().st_mtime_ns
    again = run()
    assert (study / RESULTS_FILE).stat().st_mtime_ns == stamped  # same results: the file stays
    assert again["rows"] == results["rows"]
    assert (_mtimes(study / "samples") | _mtimes(study / "runs")) == before

    lost = samples_folder(study, 1, "idbooth") / "id_0001" / "0001.png"
    lost.unlink()
    run()
    assert lost.is_file()
    evaluation = samples_folder(study, 1, "idbooth") / EVALUATION_FILE
    assert evaluation.stat().st_mtime_ns > before[evaluation]  # its images changed
    untouched = samples_folder(study, 2, "idbooth") / EVALUATION_FILE
    assert untouched.stat().st_mtime_ns == before[untouched]
    assert (study / RESULTS_FILE).is_file()
    assert set(again["evaluations"]) == {"0/base", "1/idbooth", "2/idbooth"}


def test_cli_tradeoff_rejects_bad_steps(capsys, tmp_path):
    with pytest.raises(SystemExit) as stopped:
        main(["tradeoff", "--output", str(tmp_path), "--steps", "10,abc"])
    assert stopped.value.code == 2
    assert "positive steps" in capsys.readouterr().err


def test_the_balanced_step_weighs_identity_reached_against_prompt_kept():
    def entry(method, step, background, gained):
        return {"method": method, "step": step, "background": background,
                "identity_independent_gained": gained}  # fmt: skip

    summary = [entry(m, 0, 0.8, 0.0) for m in ("dreambooth", "idbooth")]
    # step 10 keeps the prompt but learns little; step 40 learns most but loses the prompt
    summary += [entry("dreambooth", 10, 0.8, 0.1), entry("idbooth", 10, 0.8, 0.1)]
    summary += [entry("dreambooth", 20, 0.4, 0.3), entry("idbooth", 20, 0.6, 0.2)]
    summary += [entry("dreambooth", 40, 0.1, 0.4), entry("idbooth", 40, 0.1, 0.4)]
    # balances: 10 -> (0.25, 0.25); 20 -> (0.5, 0.5); 40 -> (0.125, 0.125)
    assert balanced_step(summary) == 20
    summary[-2]["background"] = summary[-1]["background"] = 0.8  # nothing lost at 40 after all
    assert balanced_step(summary) == 40


def test_a_study_of_one_person_is_refused_with_the_reason(tmp_path):
    config = load_profile("toy", environ={})
    photos = write_study_photos(tmp_path, config, identities=1, photos=2)
    with pytest.raises(ValueError, match="two or more"):
        run_tradeoff(tmp_path, config, photos, StudyPlan(snapshot_steps=(1,)))  # fmt: skip


def test_a_study_is_read_through_its_accessors_and_says_how_it_was_made():
    from idbooth_lib.experiments.skeleton import Made
    from idbooth_lib.experiments.tradeoff import evaluation_at, people_in

    study = {"evaluations": {"0/base": {"identities": {"matched": ["a", "b", "c"]}},
                             "50/idbooth": {"identities": {"matched": ["a", "b"]}}},
             "date": "2026-01-02", "commit": "abc1234", "command": "idbooth tradeoff --output /x/y/STUDY"}  # fmt: skip
    assert evaluation_at(study, 0, "idbooth") is study["evaluations"]["0/base"]  # one base model
    assert people_in(evaluation_at(study, 50, "idbooth")) == ["a", "b"]
    with pytest.raises(KeyError, match="no evaluation '100/idbooth'; it has 0/base, 50/idbooth"):
        evaluation_at(study, 100, "idbooth")
    told = Made.of(study).told()
    assert told == "made 2026-01-02 at commit abc1234 by\nidbooth tradeoff --output STUDY"
    assert Made.of({}).told().startswith("made ? at commit ? by")


def test_an_experiment_hands_its_training_models_on_and_lets_the_pipeline_go(monkeypatch):
    from idbooth_lib.experiments.skeleton import ExperimentModels
    from idbooth_lib.models import ModelBundle

    loaded = []
    monkeypatch.setattr(ModelBundle, "_load", lambda self, name: loaded.append(name) or object())
    models = ExperimentModels(load_profile("toy", environ={}))
    training = models.training.load("pipeline", "detector", "identity_encoder")
    sampling = models.sampling
    assert models.training is None  # the training pipeline is let go before drawing
    assert sampling.detector is training.detector
    assert sampling.identity_encoder is training.identity_encoder
    assert sampling.pipeline is not training.pipeline  # drawn in generation's dtype
    assert loaded == ["pipeline", "detector", "identity_encoder", "pipeline"]
