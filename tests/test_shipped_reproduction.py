"""The results of ``make reproduce`` the book ships: complete, made at the book's toy setting and
scale, and read by chapter 07 and the report as their prose says."""

import pytest

from idbooth_lib.config import load_profile
from idbooth_lib.toy.report import NOT_RUN, paper_claims
from idbooth_lib.toy.reproduce import ReproducePlan, read_reproduction, shipped_reproduction


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
    assert accuracy == {"real": 0.718, "real+dreambooth": 0.786, "real+portraitbooth": 0.787,
                        "real+idbooth": 0.77}  # fmt: skip
    spreads = [row["accuracy_seed_std"] for row in summary.values()]
    assert (round(min(spreads), 3), round(max(spreads), 3)) == (0.01, 0.029)
    reference = {row["model"]: round(row["accuracy_mean"], 3)
                 for row in reproduction["reference_recognisers"]}  # fmt: skip
    assert reference == {"untrained toy backbone": 0.73, "idbooth:toy/recogniser": 1.0,
                         "idbooth:toy/recogniser_b": 0.998}  # fmt: skip
    assert summary["real"]["accuracy_mean"] < reference["untrained toy backbone"]
    real = reproduction["recognition"][0]
    assert (real["train"]["images"], real["train"]["classes"]) == (95, 19)
    assert real["validation"]["classes"] == 5
    assert all(800 < row["train_images"] < 850 for s, row in summary.items() if s != "real")
    assert round(summary["real"]["tar_at_far_1e-3_mean"], 2) == 0.05
    tars = [summary[f"real+{m}"]["tar_at_far_1e-3_mean"] for m in ("dreambooth", "portraitbooth",
                                                                   "idbooth")]  # fmt: skip
    assert (round(min(tars), 2), round(max(tars), 2)) == (0.10, 0.14)
    gain = summary["real+idbooth"]["accuracy_mean"] - summary["real"]["accuracy_mean"]
    noise = max(summary["real"]["accuracy_seed_std"], summary["real+idbooth"]["accuracy_seed_std"])
    assert round(gain, 3) == 0.052 and gain < 2 * noise
    assert summary["real+idbooth"]["accuracy_mean"] == min(
        row["accuracy_mean"] for s, row in summary.items() if s != "real"
    )  # "ID-Booth's images help least"
    methods = reproduction["methods"]
    eers = {m: round(methods[m]["identity_encoder"]["synthetic_vs_synthetic"]["eer"], 3)
            for m in methods}  # fmt: skip
    assert eers == {"dreambooth": 0.333, "portraitbooth": 0.304, "idbooth": 0.342}
    for protocol in ("synthetic_vs_synthetic", "synthetic_vs_real"):  # PortraitBooth separates best
        found = {m: methods[m]["identity_encoder"][protocol] for m in methods}
        assert min(found, key=lambda m: found[m]["eer"]) == "portraitbooth"
        assert max(found, key=lambda m: found[m]["fdr"]) == "portraitbooth"
    assert [round(methods[m]["vendi_mean"], 2) for m in ("dreambooth", "idbooth")] == [9.25, 9.26]


def test_the_reports_statuses_follow_the_numbers(reproduction):
    """What the report shows today; when a rerun changes a status, this test says which."""
    statuses = [claim.status for claim in paper_claims(reproduction)]
    assert statuses == ["not reproduced"] * 5 + ["reproduced", "reproduced", "reproduced",
                                                 "not run", "not reproduced", "not run"]  # fmt: skip
