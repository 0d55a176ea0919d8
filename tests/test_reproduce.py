"""``make reproduce`` (the whole toy experiment) and the reproduction report built from its results."""

import json

import pytest

from idbooth_lib.config import load_profile
from idbooth_lib.evaluation.comparisons import per_person_comparisons
from idbooth_lib.experiments.report import (
    INCONCLUSIVE,
    NOT_REPRODUCED,
    NOT_RUN,
    REPRODUCED,
    claims_table,
    diversity_claims,
    identity_claims,
    paper_claims,
    utility_claims,
)
from idbooth_lib.experiments.reproduce import (
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
    results = run_reproduce(folder, config, plan, command="test")
    assert [row["setting"] for row in results["recognition"]] == ["real", "real+idbooth"]
    real, augmented = results["recognition"]
    assert augmented["train"]["images"] > real["train"]["images"]  # the synthetic images joined
    assert real["train"]["data"] and real["train"]["posed"]  # studio and posed photos, both real
    assert len(list((folder / "data" / "id_0000" / "train").glob("*.png"))) == 3  # LoRAs: studio
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
    again = run_reproduce(folder, config, plan)
    after = (
        _mtimes(folder / "runs") | _mtimes(folder / "generated") | _mtimes(folder / "evaluation")
    )
    after |= _mtimes(folder / "recognition")
    assert after == before
    assert again["recognition"] == results["recognition"]
    written = (folder / RESULTS_FILE).stat().st_mtime_ns
    assert run_reproduce(folder, config, plan) == again  # the same numbers: the file is kept
    assert (folder / RESULTS_FILE).stat().st_mtime_ns == written


def test_a_plan_with_too_few_people_is_refused():
    with pytest.raises(ValueError, match="six or more"):
        ReproducePlan(identities=4)


def test_a_file_that_is_not_a_reproduction_is_named(tmp_path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"rows": []}))
    with pytest.raises(ValueError, match="other.json lacks plan"):
        read_reproduction(path)


def _record(first, second, low, high, **fields):
    """A stored comparison ``first − second`` whose 95 % interval is [low, high]."""
    return {"first": first, "second": second, "estimate": (low + high) / 2, "low": low,
            "high": high, "units": 24, "level": 0.95} | fields  # fmt: skip


def _separability(intervals, protocol="synthetic_vs_synthetic", measure="eer"):
    """Set-level comparison records of both recognisers: ``intervals[role][pair]``."""
    return [_record(first, second, low, high, protocol=protocol, measure=measure, role=role)
            for role, pairs in intervals.items()
            for (first, second), (low, high) in pairs.items()]  # fmt: skip


#: EER differences (the paper's better method minus the other): below zero is the paper's side.
PAPERS_SIDE = {("portraitbooth", "dreambooth"): (-0.05, -0.01),
               ("idbooth", "dreambooth"): (-0.06, -0.02),
               ("idbooth", "portraitbooth"): (-0.03, -0.001)}  # fmt: skip


@pytest.mark.parametrize(
    ("changed", "statuses"),
    [
        ({}, (REPRODUCED, REPRODUCED)),
        ({("idbooth", "portraitbooth"): (-0.02, +0.01)}, (INCONCLUSIVE, REPRODUCED)),
        ({("idbooth", "portraitbooth"): (+0.01, +0.04)}, (NOT_REPRODUCED, REPRODUCED)),
        ({("idbooth", "portraitbooth"): (+0.01, +0.04),
          ("portraitbooth", "dreambooth"): (-0.02, +0.01)}, (NOT_REPRODUCED, INCONCLUSIVE)),
    ],
)  # fmt: skip
def test_each_half_of_the_papers_order_is_judged_on_its_own_intervals(changed, statuses):
    """ID-Booth ≥ PortraitBooth and PortraitBooth > DreamBooth are two claims: reproduced when
    both recognisers' intervals lie on the paper's side, not reproduced when one lies wholly on
    the other, inconclusive when one straddles zero and none contradicts; one half failing
    leaves the other's status alone."""
    comparisons = _separability({"identity_encoder": PAPERS_SIDE,
                                 "evaluation_encoder": PAPERS_SIDE | changed})  # fmt: skip
    reproduction = {"plan": {"identities": 24}, "methods": _methods((0.3, 0.25, 0.2), (0.4, 0.5, 0.6),
                                                                    (7.0, 6.0, 6.5)),
                    "comparisons": comparisons}  # fmt: skip
    halves = [c for c in identity_claims(reproduction) if "synthetic vs synthetic" in c.claim
              and "(EER" in c.claim]  # fmt: skip
    assert [claim.claim.split(": ")[1].split(" (")[0] for claim in halves] == [
        "ID-Booth ≥ PortraitBooth", "PortraitBooth > DreamBooth"]
    assert tuple(claim.status for claim in halves) == statuses
    first, second = halves
    assert "ID − PB" in first.reason and "PB − DB" not in first.reason
    assert "PB − DB" in second.reason and "ID − PB" not in second.reason
    assert "loss recogniser: " in first.reason and "24 people" in first.reason


def test_a_higher_is_better_measure_is_judged_the_other_way():
    """FDR: the paper's side of ``first − second`` is above zero."""
    above = {pair: (-high, -low) for pair, (low, high) in PAPERS_SIDE.items()}
    comparisons = _separability({"identity_encoder": above, "evaluation_encoder": above},
                                measure="fdr")  # fmt: skip
    reproduction = {"plan": {"identities": 24}, "comparisons": comparisons,
                    "methods": _methods((0.3, 0.25, 0.2), (0.4, 0.5, 0.6), (7.0, 6.0, 6.5))}  # fmt: skip
    fdr = next(c for c in identity_claims(reproduction) if "synthetic vs synthetic" in c.claim
               and "(FDR" in c.claim)  # fmt: skip
    assert fdr.status == REPRODUCED


def test_results_without_intervals_say_how_to_get_them():
    reproduction = {"plan": {"identities": 24}, "methods": _methods((0.3, 0.25, 0.2),
                                                                    (0.4, 0.5, 0.6), (7.0, 6.0, 6.5))}  # fmt: skip
    for claim in identity_claims(reproduction) + diversity_claims(reproduction):
        assert claim.status == NOT_RUN and "make reproduce" in claim.reason


def test_diversity_is_compared_person_by_person():
    """Vendi per person, from a study's rows: ID-Booth is 0.5 above PortraitBooth for each of
    eight people whose levels differ, and PortraitBooth level with DreamBooth."""
    rows = [{"method": method, "identity": f"id_{k}", "vendi": 6.0 + 0.3 * k + shift}
            for k in range(8)
            for method, shift in {"dreambooth": 0.0, "portraitbooth": 0.0, "idbooth": 0.5}.items()]
    reproduction = {"plan": {"identities": 8},
                    "methods": _methods((0.3, 0.25, 0.2), (0.4, 0.5, 0.6), (7.0, 6.0, 6.5)),
                    "comparisons": per_person_comparisons(rows, ["vendi"])}  # fmt: skip
    more_diverse, costs = diversity_claims(reproduction)
    assert more_diverse.status == REPRODUCED and "ID − PB +0.50 [+0.50, +0.50] ✓" in more_diverse.reason
    assert costs.status == INCONCLUSIVE  # no difference: the interval is [0, 0]


def _seed_rows(gains, seeds=5):
    """Recogniser rows: each setting's accuracy is a seed's level plus its gain over real."""
    return [{"setting": setting, "seed": seed, "accuracy_mean": 0.6 + 0.02 * seed + gain,
             "accuracy_std": 0.0, "tar_at_far_1e-3": 0.1, "train": {"images": 100}}
            for seed in range(seeds) for setting, gain in gains.items()]  # fmt: skip


def _recognition(gains, seeds=5):
    rows = _seed_rows(gains, seeds)
    return {"recognition": rows, "recognition_summary": recognition_summary(rows)}


@pytest.mark.parametrize(
    ("others", "status"),
    [(0.02, REPRODUCED), (0.05, INCONCLUSIVE), (0.08, NOT_REPRODUCED)],
)
def test_the_utility_claim_is_judged_seed_by_seed(others, status):
    """real + ID-Booth gains 0.05 over real at every seed; the other methods' images gain
    ``others``: less (reproduced), as much (inconclusive: the interval is [0, 0]) or more."""
    gains = {"real": 0.0, "real+dreambooth": others, "real+portraitbooth": 0.0, "real+idbooth": 0.05}
    over_real, over_others = utility_claims(_recognition(gains))
    assert over_real.status == REPRODUCED  # judged on its own, whatever the other methods gain
    assert over_real.reason.startswith("toy benchmark accuracy: real + ID-Booth − real +0.050 [+0.050, +0.050] ✓")
    assert "5 seeds" in over_real.reason and "DreamBooth" not in over_real.reason
    assert over_others.status == status and "− real +0" not in over_others.reason


def test_one_seed_cannot_judge_the_utility_claim():
    gains = {"real": 0.0, "real+idbooth": 0.05}
    assert {claim.status for claim in utility_claims(_recognition(gains, seeds=1))} == {NOT_RUN}


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
    """Intervals on the paper's side for every comparison: every comparable claim is reproduced."""
    methods = _methods((0.3, 0.25, 0.2), (0.4, 0.5, 0.6), (7.0, 6.0, 6.5))
    above = {pair: (-high, -low) for pair, (low, high) in PAPERS_SIDE.items()}
    comparisons = []
    for protocol in ("synthetic_vs_synthetic", "synthetic_vs_real"):
        both = {"identity_encoder": PAPERS_SIDE, "evaluation_encoder": PAPERS_SIDE}
        comparisons += _separability(both, protocol, "eer") + _separability(both, protocol, "fnmr_at_fmr_1e-2")
        comparisons += _separability({r: above for r in both}, protocol, "fdr")
    comparisons += [_record("idbooth", "portraitbooth", 0.1, 0.5, measure="vendi"),
                    _record("portraitbooth", "dreambooth", -0.5, -0.1, measure="vendi")]  # fmt: skip
    reproduction = {"plan": {"identities": 24}, "methods": methods, "comparisons": comparisons}
    reproduction |= _recognition({"real": 0.0, "real+dreambooth": 0.02, "real+portraitbooth": 0.02,
                                  "real+idbooth": 0.05})  # fmt: skip
    claims = paper_claims(reproduction)
    assert len(claims) == 16  # ten halves of the order, two of diversity, CMMD, two of utility, benchmarks
    assert {c.status for c in claims} == {REPRODUCED, NOT_RUN}
    assert sum(c.status == NOT_RUN for c in claims) == 2  # CMMD and the five real benchmarks
    text = str(claims_table(claims))
    assert text.count("**reproduced**") == len(claims) - 2


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


def _paths(shift: float, people: int = 6) -> dict:
    """A study whose three methods walk one trade-off path (identity gained = 0.8 − background),
    ID-Booth ``shift`` above it and less far along at step 50, with person-to-person noise."""
    rows = []
    for k in range(people):
        noise = 0.01 * (k % 3 - 1)  # −0.01, 0, +0.01: no drift of its own
        for method, backgrounds in {"dreambooth": (0.8, 0.5, 0.3), "portraitbooth": (0.8, 0.4, 0.2),
                                    "idbooth": (0.8, 0.6, 0.35)}.items():  # fmt: skip
            for step, background in zip((0, 25, 50), backgrounds, strict=True):
                gained = 0.8 - background + (shift + noise if method == "idbooth" and step else 0.0)
                rows.append({"method": method, "identity": f"id_{k}", "step": step,
                             "background": background, "identity_independent_gained": gained})  # fmt: skip
    from idbooth_lib.experiments.tradeoff import summarise

    return {"rows": rows, "summary": summarise([dict(r, identity_loss_gained=None, identity_independent=None,
                                                     identity_loss=None, pose=None, vendi=None) for r in rows])}


@pytest.mark.parametrize(("shift", "said"), [(0.0, "cannot be told from PortraitBooth's path"),
                                             (-0.1, "lies below PortraitBooth's path"),
                                             (+0.1, "lies above PortraitBooth's path")])  # fmt: skip
def test_the_reports_reading_of_the_paths_follows_the_study(shift, said):
    from idbooth_lib.experiments.report import path_reading

    text = str(path_reading(_paths(shift), 50))
    assert said in text and "step 50" in text
    assert ("less far along" in text) == (shift >= 0)  # ID-Booth keeps more background at step 50


def test_a_path_is_read_between_its_steps():
    from idbooth_lib.experiments.tradeoff import gain_on_path

    path = [(0.8, 0.0), (0.5, 0.2), (0.3, 0.4)]
    assert gain_on_path(path, 0.4) == pytest.approx(0.3)
    assert gain_on_path(path, 0.8) == pytest.approx(0.0)
    assert gain_on_path(path, 0.1) is None  # never kept so few


def test_the_counted_reading_uses_the_tables_words_and_follows_them():
    """Chapter 06's and 07's count of the comparison tables: the shipped reproduction's, and the
    same with PortraitBooth's lead over DreamBooth taken away."""
    import copy

    from idbooth_lib.experiments.report import comparisons_reading
    from idbooth_lib.experiments.reproduce import read_reproduction, shipped_reproduction

    shipped = read_reproduction(shipped_reproduction())
    text = str(comparisons_reading(shipped["comparisons"]))
    assert "PB − DB: reproduced in 9, inconclusive in 3" in text and "ID − PB: not reproduced in 12" in text
    level = copy.deepcopy(shipped["comparisons"])
    for record in level:
        if (record["first"], record["second"]) == ("portraitbooth", "dreambooth"):
            record.update(low=-1.0, high=1.0)
    assert "PB − DB: inconclusive in 12" in str(comparisons_reading(level))
