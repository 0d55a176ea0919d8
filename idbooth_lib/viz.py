"""Figures the chapters share: labelled image grids and landmark overlays.

matplotlib rather than ``torchvision.utils.make_grid`` because a reader needs the row and column
labels (identity, background, pose) next to the pictures, and the book renders matplotlib figures
directly.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from idbooth_lib.ranges import unit_to_pixels

#: One colour per five-point landmark, in insightface's order (eyes, nose tip, mouth corners).
LANDMARK_COLOURS = ("#1f77b4", "#2ca02c", "#d62728", "#ff7f0e", "#9467bd")


def image_grid(
    rows: Sequence[Sequence[Image.Image]],
    row_labels: Sequence[str] | None = None,
    column_labels: Sequence[str] | None = None,
    cell_inches: float = 1.2,
    title: str | None = None,
) -> Figure:
    """Plot ``rows`` of images as a grid, with optional labels on the left and on top."""
    n_rows, n_columns = len(rows), max(len(row) for row in rows)
    figure, axes = plt.subplots(
        n_rows,
        n_columns,
        figsize=(cell_inches * n_columns, cell_inches * n_rows),
        squeeze=False,
    )
    for row_index, axes_row in enumerate(axes):
        for column_index, axis in enumerate(axes_row):
            axis.set_xticks([])
            axis.set_yticks([])
            for spine in axis.spines.values():
                spine.set_visible(False)
            if column_index < len(rows[row_index]):
                axis.imshow(np.asarray(rows[row_index][column_index]))
            if row_labels is not None and column_index == 0:
                axis.set_ylabel(row_labels[row_index], rotation=0, ha="right", va="center")
            if column_labels is not None and row_index == 0:
                axis.set_title(column_labels[column_index], fontsize=9)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def draw_landmarks(
    axis: plt.Axes, landmarks: np.ndarray, size: float = 18, labels: Sequence[str] | None = None
) -> None:
    """Overlay five-point landmarks (pixel coordinates) on an axis that shows the image."""
    for index, (x, y) in enumerate(np.asarray(landmarks)):
        colour = LANDMARK_COLOURS[index % len(LANDMARK_COLOURS)]
        label = labels[index] if labels is not None else None
        axis.scatter([x], [y], s=size, c=colour, edgecolors="white", linewidths=0.5, label=label)


def tensor_to_images(images) -> list[Image.Image]:
    """A batch ``(B, 3, H, W)`` with values in [0, 1] → a list of PIL images (for grids)."""
    return [Image.fromarray(item) for item in unit_to_pixels(images).cpu().numpy()]


def plot_loss_terms(histories: dict[str, object], smooth: int = 25) -> Figure:
    """One panel per loss term, one line per run (e.g. per method), smoothed over ``smooth`` steps.

    ``histories`` maps a run's name to its :class:`~idbooth_lib.training.finetune.LossHistory`.
    Raw per-step values are too noisy to compare: the timestep is random at every step.
    """
    names = sorted({term for history in histories.values() for term in history.terms})
    figure, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3), squeeze=False)
    for axis, name in zip(axes[0], names, strict=True):
        for run, history in histories.items():
            if name in history.terms:
                axis.plot(history.steps, _moving_average(history.terms[name], smooth), label=run)
        axis.set(title=name, xlabel="step")
        axis.legend(fontsize=8)  # each panel: not every run has every term
    figure.tight_layout()
    return figure


def _moving_average(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing mean over up to ``window`` values, the same length as ``values``."""
    cumulative = np.cumsum(np.insert(np.asarray(values, dtype=float), 0, 0.0))
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - window, 0)
    return (cumulative[ends] - cumulative[starts]) / (ends - starts)
