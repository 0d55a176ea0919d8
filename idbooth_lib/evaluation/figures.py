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
