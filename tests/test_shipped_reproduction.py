"""The results of ``make reproduce`` the book ships: complete, made at the book's toy setting and
scale, and read by chapter 07 and the report as their prose says."""

import pytest

from idbooth_lib.config import load_profile
from idbooth_lib.toy.report import NOT_RUN, paper_claims
from idbooth_lib.toy.reproduce import (
    ReproducePlan,
    read_reproduction,
    recognition_comparisons,
    shipped_reproduction,
)


@pytest.fixture(scope="module")
def reproduction():
    path = shipped_reproduction()
    assert path is not None, "idbooth_lib/toy/weights/study/reproduce.json is not shipped"
    return read_reproduction(path)


def test_the_reproduction_is_complete_and_says_where_it_came_from(reproduction):
    plan = ReproducePlan()
    assert reproduction["plan"]["identities"] == plan.identities
    assert reproduction["plan"]["images_per_identity"] == plan.images_per_identity
    assert tuple(reproduction["plan"]["recogniser_seeds"]) == plan.recogniser_seeds
    assert reproduction["date"] and reproduction["commit"]
    assert reproduction["command"].startswith("python -m idbooth_lib.toy.reproduce")
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
    assert len(claims) == 11
    assert all(claim.status and claim.reason for claim in claims)
    assert sum(claim.status == NOT_RUN for claim in claims) == 2  # CMMD, the five real benchmarks


def test_chapter_07s_reading_states_the_shipped_numbers(reproduction):
    summary = {row["setting"]: row for row in reproduction["recognition_summary"]}
    accuracy = {s: round(row["accuracy_mean"], 3) for s, row in summary.items()}
    assert accuracy == {"real": 0.749, "real+dreambooth": 0.808, "real+portraitbooth": 0.792,
                        "real+idbooth": 0.769}  # fmt: skip
    spreads = [row["accuracy_seed_std"] for row in summary.values()]
    assert (round(min(spreads), 3), round(max(spreads), 3)) == (0.017, 0.03)
    reference = {row["model"]: round(row["accuracy_mean"], 3)
                 for row in reproduction["reference_recognisers"]}  # fmt: skip
    assert reference == {"untrained toy backbone": 0.73, "idbooth:toy/recogniser": 1.0,
                         "idbooth:toy/recogniser_b": 0.998}  # fmt: skip
    real = reproduction["recognition"][0]
    assert (real["train"]["images"], real["train"]["classes"]) == (95, 19)
    assert real["validation"]["classes"] == 5
    assert all(800 < row["train_images"] < 850 for s, row in summary.items() if s != "real")
    assert summary["real+idbooth"]["accuracy_mean"] == min(
        row["accuracy_mean"] for s, row in summary.items() if s != "real"
    )  # "ID-Booth's images help least"
    compared = {(r["first"], r["second"]): r for r in recognition_comparisons(reproduction["recognition"])}
    over_real = compared["real+idbooth", "real"]
    assert (round(over_real["estimate"], 3), round(over_real["low"], 3)) == (0.021, -0.025)
    methods = reproduction["methods"]
    eers = {m: round(methods[m]["identity_encoder"]["synthetic_vs_synthetic"]["eer"], 3)
            for m in methods}  # fmt: skip
    assert eers == {"dreambooth": 0.333, "portraitbooth": 0.304, "idbooth": 0.341}
    for protocol in ("synthetic_vs_synthetic", "synthetic_vs_real"):  # PortraitBooth separates best
        found = {m: methods[m]["identity_encoder"][protocol] for m in methods}
        assert min(found, key=lambda m: found[m]["eer"]) == "portraitbooth"
        assert max(found, key=lambda m: found[m]["fdr"]) == "portraitbooth"
    assert [round(methods[m]["vendi_mean"], 2) for m in ("dreambooth", "idbooth")] == [9.26, 9.23]


def test_the_reports_statuses_follow_the_numbers(reproduction):
    """What the report shows today; when a rerun changes a status, this test says which."""
    statuses = [claim.status for claim in paper_claims(reproduction)]
    assert statuses == ["not reproduced"] * 5 + ["reproduced", "reproduced", "reproduced",
                                                 "not run", "inconclusive", "not run"]  # fmt: skip
    assert reproduction["comparisons"], "the results predate the intervals: rerun make reproduce"
