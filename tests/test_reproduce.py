"""``make reproduce`` (the whole toy experiment) and the reproduction report built from its results."""

import json

import pytest

from idbooth_lib.config import load_profile
from idbooth_lib.toy.report import (
    NOT_REPRODUCED,
    NOT_RUN,
    REPRODUCED,
    claims_table,
    ordering_claim,
    paper_claims,
    utility_claim,
)
from idbooth_lib.toy.reproduce import (
    RESULTS_FILE,
    ReproducePlan,
    read_reproduction,
    recognition_comparisons,
    recognition_summary,
    run_reproduce,
)


def _mtimes(folder):
    return {path: path.stat().st_mtime_ns for path in folder.rglob("*") if path.is_file()}


def test_the_experiment_runs_end_to_end_and_a_rerun_trains_nothing_again(tmp_path):
    """Six toy people, one method, a few steps: every stage writes its files, the results name
    every training set, and a second call retrains, redraws and re-evaluates nothing."""
    config = load_profile(
        "toy",
        {"train.num_class_images": "2", "train.max_steps": "2", "generate.num_inference_steps": "2",
         "paths.root": str(tmp_path / "cache")},
        environ={},
    )  # fmt: skip
    plan = ReproducePlan(identities=6, photos_per_identity=3, images_per_identity=2,
                         methods=("idbooth",), recogniser_seeds=(0,), recogniser_epochs=1,
                         benchmark_people_per_fold=3, benchmark_pairs_per_fold=6)  # fmt: skip
    folder = tmp_path / "repro"
    results = run_reproduce(folder, config, plan, log=lambda line: None, command="test")
    assert [row["setting"] for row in results["recognition"]] == ["real", "real+idbooth"]
    real, augmented = results["recognition"]
    assert augmented["train"]["images"] > real["train"]["images"]  # the synthetic images joined
    assert augmented["validation_people"] == real["validation_people"]  # the same held-out people
    assert results["recognition_summary"][0]["seeds"] == 1
    assert results["methods"]["idbooth"]["identity_encoder"]["synthetic_vs_real"]["eer"] is not None
    assert len(list((folder / "generated" / "idbooth").glob("id_*/*.png"))) == 6 * 2
    assert read_reproduction(folder / RESULTS_FILE)["command"] == "test"
    assert {row["identity"] for row in results["rows"]} == {f"id_{k:04d}" for k in range(6)}
    assert results["comparisons"] == []  # one method: nothing to compare it with

    before = (
        _mtimes(folder / "runs") | _mtimes(folder / "generated") | _mtimes(folder / "evaluation")
    )
    before |= _mtimes(folder / "recognition")
    again = run_reproduce(folder, config, plan, log=lambda line: None)
    after = (
        _mtimes(folder / "runs") | _mtimes(folder / "generated") | _mtimes(folder / "evaluation")
    )
    after |= _mtimes(folder / "recognition")
    assert after == before
    assert again["recognition"] == results["recognition"]


def test_a_plan_with_too_few_people_is_refused():
    with pytest.raises(ValueError, match="six or more"):
        ReproducePlan(identities=4)


def test_a_file_that_is_not_a_reproduction_is_named(tmp_path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"rows": []}))
    with pytest.raises(ValueError, match="other.json lacks plan"):
        read_reproduction(path)


@pytest.mark.parametrize(
    ("eers", "status", "words"),
    [
        ({"dreambooth": 0.12, "portraitbooth": 0.09, "idbooth": 0.08}, REPRODUCED, "same order"),
        ({"dreambooth": 0.12, "portraitbooth": 0.08, "idbooth": 0.09}, NOT_REPRODUCED,
         "ID-Booth is behind PortraitBooth"),
        ({"dreambooth": 0.08, "portraitbooth": 0.09, "idbooth": 0.07}, NOT_REPRODUCED,
         "PortraitBooth is not ahead of DreamBooth"),
        ({"dreambooth": 0.12, "portraitbooth": None, "idbooth": 0.08}, NOT_RUN, "undefined"),
    ],
)  # fmt: skip
def test_the_papers_order_is_judged_on_the_numbers(eers, status, words):
    claim = ordering_claim("EER", eers, lower_is_better=True, people=8)
    assert claim.status == status and words in claim.reason


def test_a_higher_is_better_measure_is_judged_the_other_way():
    fdr = {"dreambooth": 2.6, "portraitbooth": 3.3, "idbooth": 3.4}
    assert ordering_claim("FDR", fdr, lower_is_better=False, people=8).status == REPRODUCED


def _recognition(real, idbooth, others=0.5, spread=0.01):
    rows = []
    for setting, accuracy in (("real", real), ("real+dreambooth", others),
                              ("real+portraitbooth", others), ("real+idbooth", idbooth)):  # fmt: skip
        for shift in (-spread, spread):
            rows.append({"setting": setting, "accuracy_mean": accuracy + shift,
                         "tar_at_far_1e-3": 0.1, "train": {"images": 100}})  # fmt: skip
    return {"recognition_summary": recognition_summary(rows)}


def test_the_utility_claim_needs_a_gain_beyond_the_seeds_spread():
    assert utility_claim(_recognition(0.60, 0.70)).status == REPRODUCED
    noisy_real = {"recognition_summary": [
        dict(row, accuracy_seed_std=0.06) if row["setting"] == "real" else row
        for row in _recognition(0.60, 0.70)["recognition_summary"]
    ]}  # fmt: skip
    assert utility_claim(noisy_real).status == NOT_REPRODUCED  # 0.10 < 2 × 0.06
    within_noise = utility_claim(_recognition(0.60, 0.61, spread=0.02))
    assert within_noise.status == NOT_REPRODUCED and "spread" in within_noise.reason
    others_better = utility_claim(_recognition(0.60, 0.70, others=0.75))
    assert others_better.status == NOT_REPRODUCED and "another method" in others_better.reason


def _methods(eers, fdrs, vendis, independent_eers=None):
    independent_eers = independent_eers or eers
    methods = {}
    for index, method in enumerate(("dreambooth", "portraitbooth", "idbooth")):
        found = {}
        for role, eer in (("identity_encoder", eers[index]),
                          ("evaluation_encoder", independent_eers[index])):  # fmt: skip
            measures = {"eer": eer, "fnmr_at_fmr_1e-2": 2 * eer, "fdr": fdrs[index]}
            found[role] = {
                p: dict(measures) for p in ("synthetic_vs_synthetic", "synthetic_vs_real")
            }
            found[role]["real_vs_real"] = {"eer": 0.0, "genuine_mean": 0.99}
        methods[method] = found | {"vendi_mean": vendis[index]}
    return methods


def test_every_claim_gets_a_status_and_the_table_shows_them():
    methods = _methods((0.3, 0.25, 0.2), (0.4, 0.5, 0.6), (7.0, 6.0, 6.5))
    reproduction = {"plan": {"identities": 24}, "methods": methods} | _recognition(0.6, 0.7)
    claims = paper_claims(reproduction)
    assert len(claims) == 11
    assert {c.status for c in claims} == {REPRODUCED, NOT_RUN}
    assert sum(c.status == NOT_RUN for c in claims) == 2  # CMMD and the five real benchmarks
    text = str(claims_table(claims))
    assert text.count("**reproduced**") == len(claims) - 2


def test_separability_is_reproduced_only_when_both_recognisers_agree():
    """The loss's recogniser may flatter the identity methods: the independent one must agree."""
    methods = _methods((0.3, 0.25, 0.2), (0.4, 0.5, 0.6), (7.0, 6.0, 6.5),
                       independent_eers=(0.2, 0.25, 0.3))  # fmt: skip
    reproduction = {"plan": {"identities": 24}, "methods": methods} | _recognition(0.6, 0.7)
    eer_rows = [c for c in paper_claims(reproduction) if "(EER" in c.claim]
    assert [c.status for c in eer_rows] == [NOT_REPRODUCED, NOT_REPRODUCED]
    assert "independent recogniser: ID-Booth is behind PortraitBooth" in eer_rows[0].reason
    assert "loss recogniser: the same order as the paper" in eer_rows[0].reason


def test_recognisers_are_compared_seed_by_seed():
    """real + ID-Booth beats real by 0.05 at every one of five seeds, whose levels differ."""
    rows = [{"setting": setting, "seed": seed, "accuracy_mean": 0.6 + 0.02 * seed + gain}
            for seed in range(5)
            for setting, gain in {"real": 0.0, "real+idbooth": 0.05, "real+dreambooth": 0.05}.items()]
    compared = {(r["first"], r["second"]): r for r in recognition_comparisons(rows)}
    over_real = compared["real+idbooth", "real"]
    assert (over_real["estimate"], over_real["low"], over_real["units"]) == pytest.approx((0.05, 0.05, 5))
    level = compared["real+idbooth", "real+dreambooth"]
    assert level["low"] == pytest.approx(0.0) and level["high"] == pytest.approx(0.0)
