"""The two pictures of an identity evaluation: score distributions and DET curves, one call each."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from idbooth_lib.evaluation.separability import error_curve
from idbooth_lib.methods import display_name
from idbooth_lib.viz import legend_below, panels, series_style


def plot_score_distributions(
    scores: dict[str, tuple[np.ndarray, np.ndarray]], bins: int = 40
) -> Figure:
    """One panel per entry ``name: (genuine, impostor)``: the two histograms of cosine scores,
    normalised to densities so that sets of different sizes compare."""
    figure, axes = panels(len(scores))
    edges = np.linspace(-1, 1, bins + 1)
    for axis, (name, (genuine, impostor)) in zip(axes, scores.items(), strict=True):
        axis.hist(impostor, edges, density=True, alpha=0.6, label="impostor", color="tab:red")
        axis.hist(genuine, edges, density=True, alpha=0.6, label="genuine", color="tab:blue")
        axis.set(title=display_name(name), xlabel="cosine score", ylabel="density")
        axis.legend(frameon=False, loc="upper left")
    figure.tight_layout()
    return figure


def plot_det_curves(scores: dict[str, tuple[np.ndarray, np.ndarray]]) -> Figure:
    """FNMR against FMR, both on log axes (a DET curve), one line per ``name: (genuine,
    impostor)``; lower-left is better. Zero rates are drawn at the axes' floor."""
    figure, axis = plt.subplots(figsize=(4.5, 4))
    for index, (name, (genuine, impostor)) in enumerate(scores.items()):
        fmr, fnmr = error_curve(genuine, impostor)
        floor = 1 / (10 * max(len(genuine), len(impostor)))
        axis.plot(np.maximum(fmr, floor), np.maximum(fnmr, floor), label=display_name(name),
                  color=series_style(name, index)["color"])  # fmt: skip
    axis.set(xscale="log", yscale="log", xlabel="false match rate (FMR)",
             ylabel="false non-match rate (FNMR)", title="DET")  # fmt: skip
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.02, 1))
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
    identity's own point at that step, faintly, so the spread behind the mean shows (the legend
    says so). The legend sits beside the plot, where it cannot hide a point."""
    figure, axis = plt.subplots(figsize=(8.5, 4.5))  # the legend beside it takes about 3 in
    for index, method in enumerate(dict.fromkeys(s["method"] for s in summary)):
        style = series_style(method, index)
        mine = sorted((s for s in summary if s["method"] == method), key=lambda s: s["step"])
        axis.plot([s[x] for s in mine], [s[y] for s in mine], style.get("linestyle", "-"),
                  marker=style["marker"], color=style["color"],
                  label=f"{display_name(method)}, mean over people")  # fmt: skip
        # step labels of each path on its own side (above, below, ...), so two paths that pass
        # close by do not write their numbers over each other
        offset = ((3, 4), (3, -10), (-14, 4), (-14, -10))[index % 4]
        for s in mine:
            axis.annotate(str(s["step"]), (s[x], s[y]), fontsize=7, color=style["color"],
                          xytext=offset, textcoords="offset points")  # fmt: skip
        if rows is not None and highlight_step is not None:
            points = [r for r in rows if r["method"] == method and r["step"] == highlight_step]
            axis.scatter([r[x] for r in points], [r[y] for r in points], color=style["color"],
                         marker=style["marker"], alpha=0.25,
                         label=f"{display_name(method)}, one person at step {highlight_step}")  # fmt: skip
    axis.set(xlabel=MEASURE_LABELS.get(x, x), ylabel=MEASURE_LABELS.get(y, y))
    axis.grid(True, alpha=0.3)
    axis.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1),
                title="numbers: training step")  # fmt: skip
    figure.tight_layout()
    return figure


def plot_along_training(summary: list[dict], measures: tuple[str, ...]) -> Figure:
    """One panel per measure: its mean over identities (± one standard deviation) against the
    training step, one line per method; panels wrap into rows, one legend for all of them."""
    figure, axes = panels(len(measures), (3.2, 2.7))
    for axis, measure in zip(axes, measures, strict=True):
        for index, method in enumerate(dict.fromkeys(s["method"] for s in summary)):
            style = series_style(method, index)
            mine = sorted((s for s in summary if s["method"] == method), key=lambda s: s["step"])
            steps = np.array([s["step"] for s in mine])
            mean = np.array([s[measure] for s in mine], float)
            spread = np.array([s[f"{measure}_std"] for s in mine], float)
            axis.plot(steps, mean, "-", marker=style["marker"], color=style["color"],
                      label=display_name(method), markersize=3)  # fmt: skip
            axis.fill_between(steps, mean - spread, mean + spread, color=style["color"], alpha=0.12,
                              label="_spread")  # fmt: skip
        axis.set(xlabel="training step", ylabel="mean ± sd over people",
                 title=MEASURE_LABELS.get(measure, measure))  # fmt: skip
        axis.title.set_fontsize(9)
        axis.grid(True, alpha=0.3)
    legend_below(figure)
    return figure


def plot_nearest_real(audits: dict[str, dict], bins: int = 30) -> Figure:
    """Per set (``name: memorisation result``), the histogram of each synthetic image's distance
    to its nearest real photo, with the real photos' own nearest-other distances' 5th percentile
    and the near-copy threshold as lines: a near copy lies left of the threshold."""
    figure, axes = panels(len(audits))
    for index, (axis, (name, audit)) in enumerate(zip(axes, audits.items(), strict=True)):
        distances = np.asarray(audit["nearest_real_distance"], float)
        lowest = min(distances.min(), audit["threshold"], audit["real_baseline_quantile"]) / 2
        edges = np.geomspace(max(lowest, 1e-6), distances.max() * 1.05, bins + 1)
        # an exact copy (distance 0) is drawn in the first bin, not dropped by the log axis
        axis.hist(np.maximum(distances, edges[0]), edges, color=series_style(name, index)["color"], alpha=0.7)
        axis.axvline(audit["real_baseline_quantile"], color="tab:green", linestyle="--",
                     label="real vs real, 5th pct.")  # fmt: skip
        axis.axvline(audit["threshold"], color="tab:red", label="near-copy threshold")
        axis.set(title=display_name(name), xlabel="distance to the nearest real photo",
                 ylabel="images")  # fmt: skip
        # the threshold and the 5th percentile sit close to zero, far left of the images: a log
        # axis gives both lines and the histogram room to be seen
        axis.set_xscale("log")
    legend_below(figure)
    return figure
