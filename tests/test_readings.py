"""The chapters' readings follow their results: the same function says the opposite words when
the numbers say the opposite (idbooth_lib.experiments.readings)."""

import copy

import pytest
from conftest import ROOT

from idbooth_lib.experiments.readings import (
    against_the_paper_reading,
    curves_reading,
    one_person_reading,
    read_train_steps,
    train_step_reading,
    variant_reading,
)
from idbooth_lib.experiments.study import shipped_results
from idbooth_lib.experiments.tradeoff import read_tradeoff


@pytest.fixture(scope="module")
def study():
    return read_tradeoff(shipped_results())


def _measured(idbooth_variety: float) -> dict:
    return {
        "base model": {"loss recogniser": (-0.2, 0.6), "independent": (-0.1, 0.6)},
        "dreambooth": {"loss recogniser": (0.0, 0.5), "independent": (0.0, 0.5)},
        "portraitbooth": {"loss recogniser": (0.3, 0.5), "independent": (0.2, 0.5)},
        "idbooth": {"loss recogniser": (0.1, idbooth_variety), "independent": (0.1, idbooth_variety)},
    }


def test_one_persons_variety_is_read_in_the_direction_it_lies():
    assert "the paper's direction" in str(one_person_reading(_measured(0.7)))
    assert "the opposite of the paper's direction" in str(one_person_reading(_measured(0.3)))
    text = str(one_person_reading(_measured(0.3)))
    assert "every fine-tuned model moves towards this person" in text and "order the methods alike" in text


def test_the_gpu_reading_says_when_memory_does_not_fit_a_t4():
    runs = read_train_steps(ROOT / "benchmarks" / "results")
    assert runs is not None and "Memory fits a free Colab T4" in str(train_step_reading(runs))
    heavy = copy.deepcopy(runs)
    heavy["main"]["variants"]["idbooth"]["peak_memory_gib"] = 20.0
    assert "Memory does not fit a free Colab T4" in str(train_step_reading(heavy))


def _shifted(rows: list[dict], shift: float) -> list[dict]:
    return [dict(row, identity_independent_gained=row["identity_independent_gained"] + (shift if row["step"] else 0))
            for row in rows if row["method"] == "idbooth"]  # fmt: skip


def test_a_variant_is_said_to_move_the_curve_only_when_its_intervals_say_so(study):
    baseline = [row for row in study["rows"] if row["method"] == "idbooth"]
    assert "The curve moves up:" in str(variant_reading(baseline, _shifted(baseline, 0.2), "a", "b"))
    assert "The curve moves down:" in str(variant_reading(baseline, _shifted(baseline, -0.2), "a", "b"))
    assert "does not move beyond noise" in str(variant_reading(baseline, _shifted(baseline, 0.0), "a", "b"))


def test_the_curves_name_the_leader_the_study_has(study):
    text = str(curves_reading(study, 50))
    assert "At every step PortraitBooth gains the most identity and DreamBooth the least." in text
    swapped = copy.deepcopy(study)
    for summary in swapped["summary"]:  # PortraitBooth and ID-Booth trade places
        summary["method"] = {"portraitbooth": "idbooth", "idbooth": "portraitbooth"}.get(summary["method"],
                                                                                        summary["method"])
    assert "At every step ID-Booth gains the most identity" in str(curves_reading(swapped, 50))


def test_the_recognisers_are_said_to_agree_only_when_every_verdict_does(study):
    assert "does not flatter" not in str(against_the_paper_reading(study, 50))  # 49 of 60 agree
    agreeing = copy.deepcopy(study)
    for records in agreeing["comparisons"].values():
        loss = {(r["first"], r["second"], r["measure"], r.get("protocol")): r for r in records
                if r.get("role") == "identity_encoder"}  # fmt: skip
        for record in records:
            if record.get("role") == "evaluation_encoder":
                twin = loss[(record["first"], record["second"], record["measure"], record.get("protocol"))]
                record.update(low=twin["low"], high=twin["high"], estimate=twin["estimate"])
    assert "does not flatter the identity methods" in str(against_the_paper_reading(agreeing, 50))
