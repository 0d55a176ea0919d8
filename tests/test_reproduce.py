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
    assert augmented["validation"] == real["validation"]  # the same held-out real people
    assert results["recognition_summary"][0]["seeds"] == 1
    assert results["methods"]["idbooth"]["identity_encoder"]["synthetic_vs_real"]["eer"] is not None
    assert len(list((folder / "generated" / "idbooth").glob("id_*/*.png"))) == 6 * 2
    assert read_reproduction(folder / RESULTS_FILE)["command"] == "test"

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
    within_noise = utility_claim(_recognition(0.60, 0.61, spread=0.02))
    assert within_noise.status == NOT_REPRODUCED and "spread" in within_noise.reason
    others_better = utility_claim(_recognition(0.60, 0.70, others=0.75))
    assert others_better.status == NOT_REPRODUCED and "another method" in others_better.reason


def test_every_claim_gets_a_status_and_the_table_shows_them():
    methods = {
        m: {"identity_encoder": {p: {"eer": e, "fdr": f} for p in
                                 ("synthetic_vs_synthetic", "synthetic_vs_real")}
            | {"real_vs_real": {"eer": 0.0, "genuine_mean": 0.99}}, "vendi_mean": v}
        for m, e, f, v in (("dreambooth", 0.3, 0.4, 7.0), ("portraitbooth", 0.25, 0.5, 6.0),
                           ("idbooth", 0.2, 0.6, 6.5))
    }  # fmt: skip
    reproduction = {"plan": {"identities": 24}, "methods": methods} | _recognition(0.6, 0.7)
    claims = paper_claims(reproduction)
    assert {c.status for c in claims} == {REPRODUCED, NOT_RUN}
    assert sum(c.status == NOT_RUN for c in claims) == 2  # CMMD and the five real benchmarks
    text = str(claims_table(claims))
    assert text.count("**reproduced**") == len(claims) - 2


def test_the_recognition_figures_draw_every_setting_and_the_chosen_epoch():
    from idbooth_lib.recognition.figures import plot_setting_accuracy, plot_training_curves

    curves = [{"epoch": e, "loss": 5 - e, "validation_accuracy": a, "lr": 0.1}
              for e, a in ((1, 0.6), (2, 0.8), (3, 0.7))]  # fmt: skip
    figure = plot_training_curves({"real": {"curves": curves, "selected_epoch": 2}})
    marker = figure.axes[1].lines[-1]
    assert list(marker.get_xdata()) == [2] and list(marker.get_ydata()) == [0.8]
    rows = [{"setting": s, "accuracy_mean": a} for s, a in
            (("real", 0.7), ("real", 0.72), ("real+idbooth", 0.8), ("real+idbooth", 0.78))]  # fmt: skip
    figure = plot_setting_accuracy(
        rows, [{"model": "idbooth:toy/recogniser", "accuracy_mean": 0.99}]
    )
    axis = figure.axes[0]
    assert [t.get_text() for t in axis.get_xticklabels()] == ["real", "real+idbooth"]
    assert [round(bar.get_height(), 3) for bar in axis.patches] == [0.71, 0.79]
