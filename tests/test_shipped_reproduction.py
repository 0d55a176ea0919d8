"""The results of ``make reproduce`` the book ships: complete, made at the book's toy setting and
scale, and read by chapter 07 and the report as their prose says."""

import pytest

from idbooth_lib.config import load_profile
from idbooth_lib.experiments.report import NOT_RUN, data_checks, paper_claims
from idbooth_lib.experiments.reproduce import (
    ReproducePlan,
    read_reproduction,
    shipped_reproduction,
)


@pytest.fixture(scope="module")
def reproduction():
    path = shipped_reproduction()
    assert path is not None, "idbooth_lib/experiments/results/reproduce.json is not shipped"
    return read_reproduction(path)


def test_the_reproduction_is_complete_and_says_where_it_came_from(reproduction):
    plan = ReproducePlan()
    assert reproduction["plan"]["identities"] == plan.identities
    assert reproduction["plan"]["images_per_identity"] == plan.images_per_identity
    assert tuple(reproduction["plan"]["recogniser_seeds"]) == plan.recogniser_seeds
    assert reproduction["date"] and reproduction["commit"]
    # made by `make reproduce` (whose module was idbooth_lib.toy.reproduce before experiments/)
    assert reproduction["command"].startswith("python -m idbooth_lib.")
    assert reproduction["command"].split()[2].endswith(".reproduce")
    settings = [row["setting"] for row in reproduction["recognition_summary"]]
    assert settings == list(plan.settings)
    assert all(
        row["seeds"] == len(plan.recogniser_seeds) for row in reproduction["recognition_summary"]
    )
    for method, found in reproduction["methods"].items():
        usable = found["faces_found"]["synthetic"]
        assert usable["total"] == plan.identities * plan.images_per_identity, method


def test_it_was_made_with_the_books_toy_setting(reproduction):
    book = load_profile("toy", environ={}).train
    for field in ("learning_rate", "max_steps", "lr_scheduler", "lora_rank", "lora_alpha"):
        assert reproduction["train"][field] == getattr(book, field), field


def test_every_claim_of_the_report_has_a_status_and_a_reason(reproduction):
    claims = paper_claims(reproduction)
    assert len(claims) == 16
    assert all(claim.status and claim.reason for claim in claims)
    assert sum(claim.status == NOT_RUN for claim in claims) == 2  # CMMD, the five real benchmarks


def test_chapter_07s_readings_follow_the_numbers(reproduction):
    """Chapter 07's readings are written from the results: the shipped ones say the synthetic
    images hurt, and the same results with every synthetic set made to help say so instead."""
    import copy

    from idbooth_lib.experiments.readings import (
        studio_reading,
        synthetic_reading,
        utility_order_reading,
    )
    from idbooth_lib.experiments.reproduce import recognition_summary

    shipped = str(synthetic_reading(reproduction))
    assert "hurt here" in shipped and "all three intervals lie below zero" in shipped
    assert "above the untrained backbone's" in str(studio_reading(reproduction))
    assert str(utility_order_reading(reproduction)).startswith("**Which images helped least.** ID-Booth's")
    helped = copy.deepcopy(reproduction)
    for row in helped["recognition"]:
        if row["setting"] != "real":
            row["accuracy_mean"] += 0.2
    helped["recognition_summary"] = recognition_summary(helped["recognition"])
    flipped = str(synthetic_reading(helped))
    assert "help here" in flipped and "none of the three intervals lie below zero and all three above" in flipped


def test_the_reports_statuses_follow_the_numbers(reproduction):
    """What the report shows today; when a rerun changes a status, this test says which."""
    statuses = [claim.status for claim in paper_claims(reproduction)]
    order = ["not reproduced", "inconclusive", "not reproduced", "reproduced", "not reproduced",
             "inconclusive", "not reproduced", "reproduced", "not reproduced", "reproduced"]
    assert statuses == order + ["reproduced", "reproduced", "not run",
                                "not reproduced", "not reproduced", "not run"]  # fmt: skip
    assert [check.status for check in data_checks(reproduction)] == ["holds"]  # not a claim
    assert reproduction["comparisons"], "the results predate the intervals: rerun make reproduce"


def test_chapter_07_reads_the_recognition_training_benchmark():
    """Section 3's reading of what studio photos teach comes from the committed benchmark: its
    gains, and whether the studio session's interval lies wholly above the studio photos'."""
    import copy
    from pathlib import Path

    from idbooth_lib.experiments.readings import (
        read_recognition_training,
        recognition_training_reading,
    )

    found = read_recognition_training(Path(__file__).resolve().parents[1] / "benchmarks" / "results")
    text = str(recognition_training_reading(found))
    studio, session = found["studio-24x5"], found["studio+posed-24x5"]
    assert f"buy {studio['gain']:+.3f} ({studio['gain_low']:+.3f} to {studio['gain_high']:+.3f})" in text
    assert "wholly above" not in text  # the shipped intervals overlap
    separated = copy.deepcopy(found)
    separated["studio+posed-24x5"]["gain_low"] = studio["gain_high"] + 0.01
    assert "wholly above the studio photos' alone" in str(recognition_training_reading(separated))
    assert session["gain_low"] > 0.05 > studio["gain_low"]  # why make reproduce uses the session


