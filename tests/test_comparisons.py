"""Method comparisons with intervals: set-level measures recomputed on resampled people by
weighting pairs, per-person differences, and the statuses they give, on known answers."""

import numpy as np
import pytest

from idbooth_lib.evaluation.comparisons import (
    claim_status,
    combined_status,
    comparisons_table,
    cross_set,
    per_person_comparisons,
    reading,
    set_level_comparisons,
    weighted_separability,
    within_set,
)
from idbooth_lib.evaluation.intervals import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED
from idbooth_lib.evaluation.separability import (
    cross_set_scores,
    separability,
    within_set_scores,
)

PEOPLE = [f"id_{k:04d}" for k in range(6)]


def _embeddings(rng, people, per_person, spread, centres=None):
    """``per_person`` embeddings around a centre per person (``centres``, or new ones); a larger
    ``spread`` mixes people."""
    centres = rng.normal(0, 1, (len(people), 16)) if centres is None else centres
    vectors = np.repeat(centres, per_person, axis=0) + rng.normal(0, spread, (len(people) * per_person, 16))
    return vectors, np.repeat(people, per_person)


def test_with_every_person_once_the_measures_are_the_exact_ones():
    rng = np.random.default_rng(0)
    synthetic, labels = _embeddings(rng, PEOPLE, 7, 1.2)
    real, real_labels = _embeddings(rng, PEOPLE, 3, 1.2)
    once = np.ones(len(PEOPLE), int)
    for tagged, exact in (
        (within_set(synthetic, labels, PEOPLE), separability(*within_set_scores(synthetic, labels))),
        (cross_set(synthetic, labels, real, real_labels, PEOPLE),
         separability(*cross_set_scores(synthetic, labels, real, real_labels))),
    ):  # fmt: skip
        weighted = weighted_separability(tagged, once)
        for measure in ("eer", "fnmr_at_fmr_1e-2", "fdr"):
            assert weighted[measure] == pytest.approx(exact[measure], abs=1e-9), measure


def test_a_person_drawn_twice_brings_their_pairs_twice_and_no_pairs_with_their_copy():
    """The weighted EER of a draw equals the EER of the pairs listed out by hand: genuine pairs
    within each drawn copy, impostor pairs between copies of different people."""
    rng = np.random.default_rng(1)
    synthetic, labels = _embeddings(rng, PEOPLE, 5, 1.5)
    drawn = [0, 0, 2, 3, 3, 3]
    genuine, impostor = [], []
    for slot, a in enumerate(drawn):
        g, _ = within_set_scores(synthetic[labels == PEOPLE[a]], labels[labels == PEOPLE[a]])
        genuine += list(g)
        for b in drawn[slot + 1 :]:
            if a != b:
                pair = np.isin(labels, [PEOPLE[a], PEOPLE[b]])
                impostor += list(within_set_scores(synthetic[pair], labels[pair])[1])
    counts = np.bincount(drawn, minlength=len(PEOPLE))
    weighted = weighted_separability(within_set(synthetic, labels, PEOPLE), counts)
    by_hand = separability(np.array(genuine), np.array(impostor))
    assert weighted["eer"] == pytest.approx(by_hand["eer"], abs=1e-9)
    assert weighted["fdr"] == pytest.approx(by_hand["fdr"], abs=1e-9)
    alone = weighted_separability(within_set(synthetic, labels, PEOPLE), np.eye(6, dtype=int)[2] * 3)
    assert alone["eer"] is None  # one person drawn three times: no impostor pair


def test_a_method_that_separates_people_is_decided_better_on_every_set_measure():
    rng = np.random.default_rng(2)
    centres = rng.normal(0, 1, (len(PEOPLE), 16))
    real, real_labels = _embeddings(rng, PEOPLE, 3, 0.3, centres)
    scores = {}
    for method, spread in {"idbooth": 0.4, "dreambooth": 3.0}.items():
        synthetic, labels = _embeddings(rng, PEOPLE, 8, spread, centres)
        scores[method] = {
            "synthetic_vs_synthetic": within_set(synthetic, labels, PEOPLE),
            "synthetic_vs_real": cross_set(synthetic, labels, real, real_labels, PEOPLE),
        }
    records = set_level_comparisons(scores, [("idbooth", "dreambooth")], resamples=200)
    assert {(r["protocol"], r["measure"]) for r in records} >= {
        ("synthetic_vs_synthetic", "eer"), ("synthetic_vs_synthetic", "fdr"),
        ("synthetic_vs_real", "eer"),
    }  # fmt: skip
    for record in records:
        lower_is_better = record["measure"] != "fdr"
        assert claim_status(record, lower_is_better) == REPRODUCED, record
        assert record["units"] == len(PEOPLE)


def test_the_same_method_twice_is_inconclusive():
    rng = np.random.default_rng(4)
    synthetic, labels = _embeddings(rng, PEOPLE, 6, 1.0)
    same = {"synthetic_vs_synthetic": within_set(synthetic, labels, PEOPLE)}
    records = set_level_comparisons({"idbooth": same, "portraitbooth": same},
                                    [("idbooth", "portraitbooth")], resamples=100)  # fmt: skip
    eer = next(r for r in records if r["measure"] == "eer")
    assert (eer["estimate"], eer["low"], eer["high"]) == (0.0, 0.0, 0.0)
    assert claim_status(eer, True) == INCONCLUSIVE


def test_set_level_comparisons_refuse_different_people():
    rng = np.random.default_rng(5)
    synthetic, labels = _embeddings(rng, PEOPLE, 4, 1.0)
    with pytest.raises(ValueError, match="same people"):
        set_level_comparisons({
            "idbooth": {"synthetic_vs_synthetic": within_set(synthetic, labels, PEOPLE)},
            "dreambooth": {"synthetic_vs_synthetic": within_set(synthetic, labels, PEOPLE[::-1])},
        }, [("idbooth", "dreambooth")], resamples=10)  # fmt: skip


def test_per_person_differences_are_paired_by_person_at_the_step_asked():
    rows = []
    for k, person in enumerate(PEOPLE):
        for method, extra in {"idbooth": 0.1, "dreambooth": 0.0}.items():
            rows.append({"method": method, "identity": person, "step": 50, "background": k + extra})
            rows.append({"method": method, "identity": person, "step": 100, "background": k - extra})
    (at_50,) = per_person_comparisons(rows, ["background"], [("idbooth", "dreambooth")], step=50)
    (at_100,) = per_person_comparisons(rows, ["background"], [("idbooth", "dreambooth")], step=100)
    assert at_50["estimate"] == pytest.approx(0.1) and at_50["low"] == pytest.approx(0.1)
    assert claim_status(at_50, False) == REPRODUCED and claim_status(at_100, False) == NOT_REPRODUCED


def test_a_claim_on_several_comparisons_takes_the_weakest_status():
    assert combined_status([REPRODUCED, REPRODUCED]) == REPRODUCED
    assert combined_status([REPRODUCED, INCONCLUSIVE]) == INCONCLUSIVE
    assert combined_status([INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED]) == NOT_REPRODUCED
    assert combined_status([]) == INCONCLUSIVE


def test_a_study_compares_methods_from_its_kept_embeddings_and_rows(tmp_path):
    """What the trade-off study and the reproduction store: per-person and set-level intervals
    for each method pair, from the embeddings files their evaluations keep."""
    from idbooth_lib.evaluation.embedding_store import write_embeddings
    from idbooth_lib.experiments.tradeoff import method_comparisons

    rng = np.random.default_rng(6)
    centres = rng.normal(0, 1, (len(PEOPLE), 16))
    real, real_labels = _embeddings(rng, PEOPLE, 3, 0.3, centres)
    files, rows = {}, []
    for method, spread in {"idbooth": 0.4, "dreambooth": 3.0}.items():
        synthetic, labels = _embeddings(rng, PEOPLE, 5, spread, centres)
        files[method] = tmp_path / f"{method}.embeddings.safetensors"
        write_embeddings(files[method], {role: (synthetic, real) for role in
                                         ("identity_encoder", "evaluation_encoder")},
                         labels, real_labels)  # fmt: skip
        rows += [{"method": method, "identity": p, "step": 50, "background": 1.0 - spread / 10,
                  "pose": 1.0, "vendi": 3.0, "identity_independent_gained": 0.0,
                  "identity_loss_gained": 0.0} for p in PEOPLE]  # fmt: skip
    records = method_comparisons(files, rows, ("dreambooth", "idbooth"))
    assert {(r["first"], r["second"]) for r in records} == {("idbooth", "dreambooth")}
    background = next(r for r in records if r["measure"] == "background")
    assert background["estimate"] == pytest.approx(0.26)
    for role in ("identity_encoder", "evaluation_encoder"):
        eer = next(r for r in records if r.get("role") == role and r["measure"] == "eer"
                   and r["protocol"] == "synthetic_vs_synthetic")  # fmt: skip
        assert claim_status(eer, lower_is_better=True) == REPRODUCED
    assert method_comparisons(files, rows, ("idbooth",)) == []  # one method: nothing to compare


def _record(first, second, low, high, measure):
    return {"first": first, "second": second, "measure": measure, "estimate": (low + high) / 2,
            "low": low, "high": high, "units": 8}  # fmt: skip


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (_record("idbooth", "dreambooth", -0.06, -0.01, "eer"), REPRODUCED),  # lower EER: paper's side
        (_record("dreambooth", "idbooth", 0.01, 0.06, "eer"), REPRODUCED),  # the same, listed reversed
        (_record("idbooth", "dreambooth", 0.01, 0.06, "eer"), NOT_REPRODUCED),
        (_record("idbooth", "portraitbooth", -0.2, 0.3, "vendi"), INCONCLUSIVE),
        (_record("portraitbooth", "dreambooth", -0.9, -0.1, "vendi"), REPRODUCED),  # PB less varied
        (_record("idbooth", "portraitbooth", 0.02, 0.09, "background"), "ID-Booth ahead"),
        (_record("idbooth", "portraitbooth", -0.09, -0.02, "identity_loss_gained"), "PortraitBooth ahead"),
        (_record("idbooth", "portraitbooth", -0.09, 0.02, "pose"), "no difference shown"),
    ],
)  # fmt: skip
def test_a_comparison_reads_as_a_claims_status_or_as_who_is_ahead(record, expected):
    assert reading(record) == expected


def test_the_table_lists_each_comparison_with_its_interval_and_reading():
    records = [_record("idbooth", "dreambooth", -0.06, -0.01, "eer")
               | {"protocol": "synthetic_vs_real", "role": "evaluation_encoder"}]  # fmt: skip
    table = comparisons_table(records)
    assert table.headers == ("measure", "comparison", "difference (95 % interval)", "reading")
    assert table.rows == (("EER, syn–real (independent)", "ID-Booth − DreamBooth",
                           "-0.035 (-0.060 … -0.010)", REPRODUCED),)  # fmt: skip
