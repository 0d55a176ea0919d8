"""Paired bootstrap intervals over people, and the three statuses of a claim, on known answers."""

import numpy as np
import pytest

from idbooth_lib.evaluation.intervals import (
    INCONCLUSIVE,
    NOT_REPRODUCED,
    REPRODUCED,
    paired_difference,
    paired_set_difference,
    verdict,
)


def test_a_constant_difference_has_no_width_and_decides():
    interval = paired_difference([0.5, 0.7, 0.9], [0.2, 0.4, 0.6])
    assert (interval.estimate, interval.low, interval.high) == pytest.approx((0.3, 0.3, 0.3))
    assert verdict(interval, +1) == REPRODUCED and verdict(interval, -1) == NOT_REPRODUCED


def test_pairing_removes_what_the_people_share():
    """People differ a lot (spread 1), the methods by 0.05 for everyone: only the pairing sees it."""
    rng = np.random.default_rng(0)
    people = rng.normal(0, 1, 12)
    interval = paired_difference(people + 0.05 + rng.normal(0, 0.01, 12), people)
    assert 0.03 < interval.low < interval.estimate < interval.high < 0.07
    assert verdict(interval, +1) == REPRODUCED


def test_noise_alone_is_inconclusive_and_missing_values_are_left_out():
    rng = np.random.default_rng(1)
    interval = paired_difference(rng.normal(0, 1, 8), rng.normal(0, 1, 8))
    assert interval.contains_zero() and verdict(interval, +1) == INCONCLUSIVE
    with_gap = paired_difference([1.0, None, 3.0, 4.0], [0.0, 5.0, 2.0, 3.0])
    assert with_gap.units == 3 and with_gap.estimate == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least two"):
        paired_difference([1.0], [0.0])


def test_the_interval_covers_the_true_difference_about_95_times_in_100():
    rng = np.random.default_rng(2)
    covered = 0
    for trial in range(200):
        differences = rng.normal(0.1, 0.2, 20)
        interval = paired_difference(differences, np.zeros(20), resamples=2000, seed=trial)
        covered += interval.low <= 0.1 <= interval.high
    assert 0.88 <= covered / 200 <= 0.99  # the percentile bootstrap runs a little short at n = 20


def _eer_difference_on(people_scores):
    """EER(A) − EER(B) on resampled people, each bringing all of its images: genuine pairs within
    each drawn person, impostor pairs between drawn people who are not the same person."""
    from idbooth_lib.evaluation.separability import equal_error_rate

    def eer(method, people):
        genuine, impostor = [], []
        for slot, a in enumerate(people):
            genuine += list(people_scores[method]["genuine"][a])
            for b in people[slot + 1 :]:
                if a != b:
                    impostor += list(people_scores[method]["impostor"][min(a, b), max(a, b)])
        return equal_error_rate(np.array(genuine), np.array(impostor)) if impostor else None

    def measure(people):
        first, second = eer("A", people), eer("B", people)
        return None if first is None or second is None else first - second

    return measure


def test_a_set_level_measure_is_recomputed_on_resampled_people():
    """A separates its 8 people perfectly (EER 0), B not at all (EER about 0.5)."""
    rng = np.random.default_rng(3)
    people = 8
    scores = {}
    for method, (genuine_mean, impostor_mean) in {"A": (0.9, 0.1), "B": (0.5, 0.5)}.items():
        scores[method] = {
            "genuine": {p: rng.normal(genuine_mean, 0.05, 6) for p in range(people)},
            "impostor": {(a, b): rng.normal(impostor_mean, 0.05, 16)
                         for a in range(people) for b in range(a + 1, people)},
        }  # fmt: skip
    interval = paired_set_difference(_eer_difference_on(scores), people, resamples=300)
    assert interval.estimate < -0.3 and interval.high < -0.2
    assert verdict(interval, -1) == REPRODUCED  # the claim "A has the lower EER"
