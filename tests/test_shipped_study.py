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


def test_chapter_06s_reading_states_the_shipped_numbers(study):
    """Every number the reading in chapter 06 quotes, and every comparison it makes."""
    db, pb, idb = METHODS
    trained = sorted({s["step"] for s in study["summary"]} - {0})
    base = _at(study, db, 0)
    assert (round(base["background"], 2), round(base["pose"], 2)) == (0.80, 0.94)
    assert [round(_at(study, m, 25)["background"], 2) for m in METHODS] == [0.47, 0.49, 0.60]
    gained = [round(_at(study, m, 25)["identity_independent_gained"], 2) for m in METHODS]
    assert gained == [0.05, 0.13, 0.09]
    assert all(0.15 <= _at(study, m, s)["background"] <= 0.25 for m in METHODS for s in trained
               if s >= 100)  # fmt: skip
    gained = [round(_at(study, m, 200)["identity_independent_gained"], 2) for m in METHODS]
    assert gained == [0.33, 0.47, 0.43]
    for step in trained:  # PortraitBooth gains the most identity, DreamBooth the least
        ours = [_at(study, m, step)["identity_independent_gained"] for m in METHODS]
        assert ours[1] > ours[2] > ours[0], step
    for step in (25, 50):  # ID-Booth keeps the most background early
        assert _at(study, idb, step)["background"] > max(
            _at(study, m, step)["background"] for m in (db, pb)
        )
    assert round(_at(study, idb, 50)["background"], 2) == 0.34

    from idbooth_lib.experiments.tradeoff import balanced_step

    assert balanced_step(study["summary"]) == 50 == load_profile("toy", environ={}).train.max_steps
    at_50 = [_at(study, m, 50)["background"] for m in METHODS]
    assert (round(min(at_50), 2), round(max(at_50), 2)) == (0.26, 0.34)
    assert [round(_eer(study, 50, m), 3) for m in METHODS] == [0.347, 0.323, 0.354]
    assert [round(_eer(study, 200, m), 3) for m in METHODS] == [0.323, 0.245, 0.256]
    for step in trained:
        for m in METHODS:
            assert abs(_eer(study, step, m) - _eer(study, step, m, "evaluation_encoder")) <= 0.04
    best = min(_eer(study, s, m, role) for s in trained for m in METHODS
               for role in ("identity_encoder", "evaluation_encoder"))  # fmt: skip
    assert 0.23 <= best <= 0.27
    step_50 = study["evaluations"]["50/idbooth"]["encoders"]["identity_encoder"]
    impostors = [study["evaluations"][f"50/{m}"]["encoders"]["identity_encoder"]
                 ["synthetic_vs_synthetic"]["impostor_mean"] for m in METHODS]  # fmt: skip
    assert (round(min(impostors), 2), round(max(impostors), 2)) == (0.28, 0.34)
    assert round(step_50["real_vs_real"]["impostor_mean"], 2) == 0.01
    assert round(step_50["real_vs_real"]["genuine_mean"], 3) == 0.995
    for step in trained:  # more diverse than PortraitBooth at every step but 200
        assert (_at(study, idb, step)["vendi"] > _at(study, pb, step)["vendi"]) == (step != 200)
    assert [round(_at(study, m, 50)["vendi"], 2) for m in (idb, pb)] == [6.34, 6.14]
    assert round(base["vendi"], 1) == 10.9
    assert all(0.4 <= _at(study, m, 100)["vendi"] / base["vendi"] <= 0.6 for m in METHODS)
    frechet = {name: found["fidelity"]["frechet_distance"]
               for name, found in study["evaluations"].items()}  # fmt: skip
    for m in METHODS:
        assert frechet["0/base"] > frechet[f"25/{m}"] > frechet[f"100/{m}"] > frechet[f"200/{m}"]
    assert all(found["memorisation"]["near_copies"] == 0 for found in study["evaluations"].values())


def test_chapter_06s_reading_of_the_slower_rate(study):
    from idbooth_lib.experiments.study import shipped_variant

    slower = read_tradeoff(shipped_variant("tradeoff_idbooth_lr1e-3.json"))
    six = {row["identity"] for row in slower["rows"]}
    assert len(six) == 6 and slower["train"]["learning_rate"] == 1e-3
    fast = [dict(r, method="fast") for r in study["rows"]
            if r["method"] == "idbooth" and r["identity"] in six]  # fmt: skip
    both = {(s["method"], s["step"]): s for s in summarise(fast + slower["rows"])}
    assert round(both[("fast", 50)]["identity_independent_gained"], 2) == 0.24
    assert round(both[("idbooth", 200)]["identity_independent_gained"], 2) == 0.22
    assert (
        round(both[("fast", 50)]["background"], 1)
        == round(both[("idbooth", 200)]["background"], 1)
        == 0.3
    )


def test_chapter_06s_further_claims(study):
    """One person in eight per method gets both; the memorisation margin; the slower rate lies on
    or below the faster one's curve; the Tufts figure comes from the paper's data."""
    import numpy as np

    from idbooth_lib.evaluation import paper
    from idbooth_lib.experiments.study import shipped_variant
    from idbooth_lib.experiments.tradeoff import people_with_both

    assert [len(people_with_both(study["rows"], m)) for m in METHODS] == [1, 1, 1]
    for m in METHODS:
        audit = study["evaluations"][f"50/{m}"]["memorisation"]
        assert min(audit["nearest_real_distance"]) > 20 * audit["threshold"]
    assert paper.REAL_VS_REAL["genuine_mean"] == 0.871

    slower = read_tradeoff(shipped_variant("tradeoff_idbooth_lr1e-3.json"))
    six = {row["identity"] for row in slower["rows"]}
    fast = summarise(
        [r for r in study["rows"] if r["method"] == "idbooth" and r["identity"] in six]
    )
    path = sorted((s["background"], s["identity_independent_gained"]) for s in fast)
    backgrounds, gains = zip(*path, strict=True)
    for point in summarise(slower["rows"]):
        if point["step"] == 0 or not backgrounds[0] <= point["background"] <= backgrounds[-1]:
            continue
        on_fast_curve = np.interp(point["background"], backgrounds, gains)
        assert point["identity_independent_gained"] <= on_fast_curve + 0.01, point["step"]
    at_100 = next(s for s in summarise(slower["rows"]) if s["step"] == 100)
    assert (
        round(at_100["background"], 2) == 0.50
        and round(at_100["identity_independent_gained"], 2) == 0.11
    )
    assert round(float(np.interp(0.5, backgrounds, gains)), 2) == 0.16


def rounded_reading(rows: list[dict]) -> dict:
    """ID-Booth's curve_reading with every number rounded as chapter 06 prints it."""
    from idbooth_lib.experiments.tradeoff import curve_reading

    return {
        name: tuple(round(x, 2) for x in value) if isinstance(value, tuple) else round(value, 2)
        for name, value in curve_reading(rows, "idbooth").items()
    }


#: The paper's LoRA on the shipped foundation, ID-Booth, the study's first six people.
PAPER_LORA_ON_SIX = {"gained at background 0.5": 0.16, "gained at background 0.3": 0.25,
                     "step 50": (0.24, 0.31), "step 200": (0.43, 0.21), "people with both": 1,
                     "people": 6}  # fmt: skip


def variant_beside_the_study(study, name: str) -> tuple[dict, list[dict]]:
    """A shipped ID-Booth variant and the study's ID-Booth rows of the same people, whose reading
    chapter 06 prints beside it (the paper's LoRA on the shipped foundation)."""
    from idbooth_lib.experiments.study import shipped_variant

    variant = read_tradeoff(shipped_variant(name))
    people = {row["identity"] for row in variant["rows"]}
    beside = [r for r in study["rows"] if r["method"] == "idbooth" and r["identity"] in people]
    assert rounded_reading(beside) == PAPER_LORA_ON_SIX
    return variant, beside


def test_chapter_06s_reading_of_the_lora_without_cross_attention_keys_and_values(study):
    """The text-pathway variant: a little above the paper's LoRA's curve, two of six people with
    both, the same end point at step 200."""
    variant, _ = variant_beside_the_study(study, "tradeoff_idbooth_no_cross_kv.json")
    assert "attn2.to_k" not in variant["train"]["lora_target_modules"]
    assert "attn2.to_q" in variant["train"]["lora_target_modules"]
    assert rounded_reading(variant["rows"]) == {
        "gained at background 0.5": 0.2, "gained at background 0.3": 0.29, "step 50": (0.19, 0.51),
        "step 200": (0.44, 0.21), "people with both": 2, "people": 6}  # fmt: skip


def test_chapter_06s_reading_of_the_foundation_trained_twice_as_long(study):
    """The longer-trained foundation: a firmer base model and a higher curve than the shipped
    foundation's on the same six people, two of them with both, not most."""
    from idbooth_lib.experiments.tradeoff import curve_reading

    longer, shipped = variant_beside_the_study(study, "tradeoff_idbooth_foundation_9000.json")
    assert "--set models.base_model=" in longer["command"]
    assert longer["train"]["lora_target_modules"] == study["train"]["lora_target_modules"]
    assert rounded_reading(longer["rows"]) == {
        "gained at background 0.5": 0.21, "gained at background 0.3": 0.36, "step 50": (0.25, 0.41),
        "step 200": (0.41, 0.32), "people with both": 2, "people": 6}  # fmt: skip
    backgrounds = [round(curve_reading(rows, "idbooth", steps=(0, 100))[key][1], 2)
                   for rows in (shipped, longer["rows"]) for key in ("step 0", "step 100")]
    assert backgrounds == [0.81, 0.17, 0.88, 0.3]


def test_chapter_06s_reading_of_the_paired_intervals(study):
    """The sentence under chapter 06's comparisons table, reading by reading (eight people,
    the book's step)."""
    from idbooth_lib.evaluation.comparisons import per_person_comparisons, reading
    from idbooth_lib.experiments.tradeoff import COMPARED_PER_PERSON

    step = load_profile("toy", environ={}).train.max_steps
    found = {(r["measure"], r["first"], r["second"]): reading(r)
             for r in per_person_comparisons(study["rows"], COMPARED_PER_PERSON, step=step)}  # fmt: skip
    for recogniser in ("identity_independent_gained", "identity_loss_gained"):
        assert found[recogniser, "portraitbooth", "dreambooth"] == "PortraitBooth ahead"
        assert found[recogniser, "idbooth", "portraitbooth"] == "PortraitBooth ahead"
    assert found["background", "idbooth", "portraitbooth"] == "ID-Booth ahead"
    assert found["pose", "portraitbooth", "dreambooth"] == "DreamBooth ahead"
    assert {v for (m, a, b), v in found.items() if (a, b) == ("idbooth", "dreambooth")} == {
        "no difference shown"
    }
    assert found["vendi", "idbooth", "portraitbooth"] == "inconclusive"


def test_chapter_06s_reading_of_the_set_level_intervals(study):
    """The paragraph under chapter 06's EER table: ID-Booth behind PortraitBooth, PortraitBooth
    ahead of DreamBooth synthetic vs real, ID-Booth and DreamBooth undecided (the book's step)."""
    from idbooth_lib.evaluation.comparisons import reading

    step = str(load_profile("toy", environ={}).train.max_steps)
    found = {(r["measure"], r["protocol"], r["role"], r["first"], r["second"]): r
             for r in study["comparisons"][step] if r.get("protocol")}  # fmt: skip
    roles, protocols = ("identity_encoder", "evaluation_encoder"), ("synthetic_vs_real", "synthetic_vs_synthetic")
    behind = {(p, r): reading(found["eer", p, r, "idbooth", "portraitbooth"]) for p in protocols for r in roles}
    assert behind.pop(("synthetic_vs_synthetic", "identity_encoder")) == "inconclusive"
    assert set(behind.values()) == {"not reproduced"}
    inconclusive = found["eer", "synthetic_vs_synthetic", "identity_encoder", "idbooth", "portraitbooth"]
    assert (round(inconclusive["estimate"], 3), round(inconclusive["low"], 3)) == (0.031, -0.006)
    assert all(found["fdr", p, r, "idbooth", "portraitbooth"]["high"] < 0 for p in protocols for r in roles)
    ahead = [found["eer", "synthetic_vs_real", r, "portraitbooth", "dreambooth"] for r in roles]
    assert [round(c["estimate"], 3) for c in ahead] == [-0.099, -0.070] and all(c["high"] < 0 for c in ahead)
    assert all(reading(found["eer", "synthetic_vs_synthetic", r, "portraitbooth", "dreambooth"])
               == "inconclusive" for r in roles)  # fmt: skip
    assert {reading(c) for (m, p, r, a, b), c in found.items() if (a, b) == ("idbooth", "dreambooth")
            and m in ("eer", "fnmr_at_fmr_1e-2", "fdr")} == {"inconclusive"}  # fmt: skip
