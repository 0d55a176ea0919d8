"""The two pictures of an identity evaluation: score distributions and DET curves, one call each."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from idbooth_lib.evaluation.separability import error_curve


def plot_score_distributions(
    scores: dict[str, tuple[np.ndarray, np.ndarray]], bins: int = 40
) -> Figure:
    """One panel per entry ``name: (genuine, impostor)``: the two histograms of cosine scores,
    normalised to densities so that sets of different sizes compare."""
    figure, axes = plt.subplots(1, len(scores), figsize=(4 * len(scores), 3), squeeze=False)
    edges = np.linspace(-1, 1, bins + 1)
    for axis, (name, (genuine, impostor)) in zip(axes[0], scores.items(), strict=True):
        axis.hist(impostor, edges, density=True, alpha=0.6, label="impostor", color="tab:red")
        axis.hist(genuine, edges, density=True, alpha=0.6, label="genuine", color="tab:blue")
        axis.set(title=name, xlabel="cosine score", ylabel="density")
        axis.legend(frameon=False)
    figure.tight_layout()
    return figure


def plot_det_curves(scores: dict[str, tuple[np.ndarray, np.ndarray]]) -> Figure:
    """FNMR against FMR, both on log axes (a DET curve), one line per ``name: (genuine,
    impostor)``; lower-left is better. Zero rates are drawn at the axes' floor."""
    figure, axis = plt.subplots(figsize=(4.5, 4))
    for name, (genuine, impostor) in scores.items():
        fmr, fnmr = error_curve(genuine, impostor)
        floor = 1 / (10 * max(len(genuine), len(impostor)))
        axis.plot(np.maximum(fmr, floor), np.maximum(fnmr, floor), label=name)
    axis.set(xscale="log", yscale="log", xlabel="FMR", ylabel="FNMR", title="DET")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(frameon=False)
    figure.tight_layout()
    return figure


#: Axis labels of the trade-off study's measures.
MEASURE_LABELS = {
    "identity_independent_gained": "identity gained (independent recogniser)",
    "identity_loss_gained": "identity gained (loss recogniser)",
    "identity_independent": "similarity to the real photos (independent)",
    "background": "background adherence",
    "pose": "pose adherence",
    "vendi": "Vendi score (per person)",
}


def plot_tradeoff(
    summary: list[dict],
    rows: list[dict] | None = None,
    x: str = "background",
    y: str = "identity_independent_gained",
    highlight_step: int | None = None,
) -> Figure:
    """Each method's path through (prompt kept, identity gained) along training: the mean over
    identities at every sampled step, labelled by step; with ``rows`` and ``highlight_step``, each
    identity's own point at that step, faintly, so the spread behind the mean shows."""
    figure, axis = plt.subplots(figsize=(6, 4.5))
    for index, method in enumerate(dict.fromkeys(s["method"] for s in summary)):
        colour = f"C{index}"
        mine = sorted((s for s in summary if s["method"] == method), key=lambda s: s["step"])
        axis.plot([s[x] for s in mine], [s[y] for s in mine], "o-", color=colour, label=method)
        for s in mine:
            axis.annotate(str(s["step"]), (s[x], s[y]), fontsize=7, color=colour,
                          xytext=(3, 3), textcoords="offset points")  # fmt: skip
        if rows is not None and highlight_step is not None:
            points = [r for r in rows if r["method"] == method and r["step"] == highlight_step]
            axis.scatter([r[x] for r in points], [r[y] for r in points], color=colour, alpha=0.25)
    axis.set(xlabel=MEASURE_LABELS.get(x, x), ylabel=MEASURE_LABELS.get(y, y))
    axis.grid(True, alpha=0.3)
    axis.legend(frameon=False)
    figure.tight_layout()
    return figure


def plot_along_training(summary: list[dict], measures: tuple[str, ...]) -> Figure:
    """One panel per measure: its mean over identities (± one standard deviation) against the
    training step, one line per method."""
    figure, axes = plt.subplots(1, len(measures), figsize=(3.6 * len(measures), 3.2), squeeze=False)
    for axis, measure in zip(axes[0], measures, strict=True):
        for index, method in enumerate(dict.fromkeys(s["method"] for s in summary)):
            mine = sorted((s for s in summary if s["method"] == method), key=lambda s: s["step"])
            steps = np.array([s["step"] for s in mine])
            mean = np.array([s[measure] for s in mine], float)
            spread = np.array([s[f"{measure}_std"] for s in mine], float)
            axis.plot(steps, mean, "o-", color=f"C{index}", label=method, markersize=3)
            axis.fill_between(steps, mean - spread, mean + spread, color=f"C{index}", alpha=0.12)
        axis.set(xlabel="training step", title=MEASURE_LABELS.get(measure, measure))
        axis.grid(True, alpha=0.3)
    axes[0][0].legend(frameon=False, fontsize=8)
    figure.tight_layout()
    return figure


def plot_nearest_real(audits: dict[str, dict], bins: int = 30) -> Figure:
    """Per set (``name: memorisation result``), the histogram of each synthetic image's distance
    to its nearest real photo, with the real photos' own nearest-other distances' 5th percentile
    and the near-copy threshold as lines: a near copy lies left of the threshold."""
    figure, axes = plt.subplots(1, len(audits), figsize=(3.6 * len(audits), 3), squeeze=False)
    for axis, (name, audit) in zip(axes[0], audits.items(), strict=True):
        axis.hist(audit["nearest_real_distance"], bins, color="tab:blue", alpha=0.7)
        axis.axvline(audit["real_baseline_quantile"], color="tab:green", linestyle="--",
                     label="real vs real, 5th pct.")  # fmt: skip
        axis.axvline(audit["threshold"], color="tab:red", label="near-copy threshold")
        axis.set(title=name, xlabel="distance to the nearest real photo", ylabel="images")
    axes[0][0].legend(frameon=False, fontsize=8)
    figure.tight_layout()
    return figure
