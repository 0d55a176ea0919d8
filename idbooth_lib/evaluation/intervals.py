"""Intervals that decide: is a difference between two methods a property of the methods, or noise?

Two methods are compared on the same people, with the same prompts and the same seeds, so their
results are *paired*: person k's ID-Booth images and person k's DreamBooth images share everything
but the method. What varies from one study to the next is which people were drawn. The paired
bootstrap imitates that: draw as many people as there are, with replacement, recompute the
difference of the two methods on those people, and repeat; the middle 95 % of the differences is
the interval. For a measure of one number per person (identity similarity, background adherence)
that is the mean of the resampled per-person differences (:func:`paired_difference`); for a
measure of a whole set (EER: every genuine and impostor pair of the set), the resampled people
bring their images with them and the measure is computed again on them
(:func:`paired_set_difference`). For recognisers trained with several seeds, the seeds are the
unit that is resampled.

A claim then has one of three statuses (:func:`verdict`): **reproduced** when the whole interval
lies on the paper's side of zero, **not reproduced** when the whole interval lies on the other
side, **inconclusive** when it contains zero: then the study cannot tell the methods apart, and
says so instead of reading an order into noise.

Written here rather than with ``scipy.stats.bootstrap``: scipy resamples each sample on its own
(or pairs observations one to one), while a set-level measure needs whole people, each with all of
their images, resampled together across both methods.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
RESAMPLES = 10_000
LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A difference (method A − method B) measured on the data, and its bootstrap interval."""

    estimate: float
    low: float
    high: float
    units: int  # the people (or seeds) it rests on
    level: float = LEVEL

    def contains_zero(self) -> bool:
        return self.low <= 0.0 <= self.high

    def __str__(self) -> str:
        return f"{self.estimate:+.3f} ({self.level:.0%} CI {self.low:+.3f} … {self.high:+.3f})"

    def to_dict(self) -> dict:
        return {"estimate": self.estimate, "low": self.low, "high": self.high,
                "units": self.units, "level": self.level}  # fmt: skip


def _resampled_units(units: int, resamples: int, seed: int) -> np.ndarray:
    """``resamples`` × ``units`` indices of units drawn with replacement (one row per resample)."""
    if units < 2:
        raise ValueError(f"an interval needs at least two people or seeds, got {units}")
    return np.random.default_rng(seed).integers(0, units, size=(resamples, units))


def _interval(estimate: float, resampled: np.ndarray, units: int, level: float) -> Interval:
    tail = (1.0 - level) / 2
    low, high = np.quantile(resampled, [tail, 1.0 - tail])
    return Interval(float(estimate), float(low), float(high), units, level)


def paired_difference(
    first: Sequence[float],
    second: Sequence[float],
    resamples: int = RESAMPLES,
    seed: int = 0,
    level: float = LEVEL,
) -> Interval:
    """Mean of ``first[k] - second[k]`` over the units k (people or seeds), with its paired
    bootstrap interval. Units where either value is missing (None or NaN) are left out."""
    first, second = np.asarray(first, float), np.asarray(second, float)
    if first.shape != second.shape:
        raise ValueError(f"paired values need one per unit in both, got {first.shape} and {second.shape}")
    kept = ~(np.isnan(first) | np.isnan(second))
    differences = (first - second)[kept]
    draws = _resampled_units(len(differences), resamples, seed)
    return _interval(differences.mean(), differences[draws].mean(axis=1), len(differences), level)


def paired_set_difference(
    measure: Callable[[Sequence[int]], float | None],
    units: int,
    resamples: int = 2_000,
    seed: int = 0,
    level: float = LEVEL,
) -> Interval:
    """A set-level difference with its paired bootstrap interval: ``measure(people)`` computes
    method A's measure minus method B's on the people listed (with repeats, each bringing all of
    its images), such as the difference of two EERs. Resamples where it is undefined (None: for
    instance every drawn person is the same, so there are no impostor pairs) are left out; fewer
    resamples by default, as each recomputes the measure."""
    found = paired_set_differences(lambda people: {"": measure(people)}, units, resamples, seed, level)
    if "" not in found:
        raise ValueError("the measure is undefined on the whole set")
    return found[""]


def paired_set_differences(
    measures: Callable[[Sequence[int]], dict[str, float | None]],
    units: int,
    resamples: int = 2_000,
    seed: int = 0,
    level: float = LEVEL,
) -> dict[str, Interval]:
    """:func:`paired_set_difference` for several differences at once, on the same draws of
    people: ``measures(people)`` returns every difference by name. A study compares three
    methods by five measures and two recognisers; scoring every method once per draw is what
    keeps that affordable. Differences undefined on the whole set are left out of the answer."""
    estimates = measures(list(range(units)))
    resampled: dict[str, list[float]] = {name: [] for name in estimates}
    for draw in _resampled_units(units, resamples, seed):
        for name, value in measures(list(draw)).items():
            if value is not None and name in resampled:
                resampled[name].append(value)
    return {
        name: _interval(estimate, np.asarray(resampled[name], float), units, level)
        for name, estimate in estimates.items()
        if estimate is not None and resampled[name]
    }


def verdict(interval: Interval, paper_sign: int) -> str:
    """The claim's status: ``paper_sign`` is +1 when the paper finds A − B above zero, −1 below."""
    if paper_sign not in (1, -1):
        raise ValueError("paper_sign is +1 (the paper finds A above B) or -1 (below)")
    if interval.contains_zero():
        return INCONCLUSIVE
    on_papers_side = (interval.low > 0) == (paper_sign > 0)
    return REPRODUCED if on_papers_side else NOT_REPRODUCED


__all__ = [
    "INCONCLUSIVE",
    "NOT_REPRODUCED",
    "REPRODUCED",
    "Interval",
    "paired_difference",
    "paired_set_difference",
    "paired_set_differences",
    "verdict",
]
