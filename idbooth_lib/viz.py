"""Figures the chapters share, and the house rules every figure of the book keeps.

matplotlib rather than ``torchvision.utils.make_grid`` because a reader needs the row and column
labels (identity, background, pose) next to the pictures, and the book renders matplotlib figures
directly.

The house rules, so that every figure reads at the book's column width:

- at most :data:`MAX_WIDTH_PIXELS` wide as the page shows it; several panels wrap into rows
  (:func:`panels`) rather than stretching one row across the screen;
- every axis that plots data has a label on both axes;
- a method has one colour and one marker everywhere, from its record in
  :mod:`idbooth_lib.methods`, never from the order of lines in one plot (:func:`series_style`);
- a legend names every labelled line and covers none of the plotted points;
- a grid of generated people starts with a column of the real person (:func:`people_grid`).

:func:`house_rule_problems` checks a finished figure against them; the tests run every figure
helper of the library through it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from PIL import Image

from idbooth_lib.methods import (
    REFERENCE_COLOURS,
    display_name,
    find_method,
    get_method,
    method_names,
)
from idbooth_lib.ranges import unit_to_pixels

#: matplotlib's default resolution, at which the notebooks' figures are saved into the pages.
BOOK_DPI = 100
#: Wider than this, a figure is shrunk into the column until its text is a few pixels high.
MAX_WIDTH_PIXELS = 1000
MAX_WIDTH_INCHES = MAX_WIDTH_PIXELS / BOOK_DPI
#: Narrower than this, a grid's faces are too small to compare (the rendered-page check's floor
#: for any figure is a little lower, for the margins a tight layout trims).
MIN_WIDTH_PIXELS = 450
#: The same in inches, at the book's resolution.
MIN_WIDTH_INCHES = MIN_WIDTH_PIXELS / BOOK_DPI
#: Colours for lines that are not a method (a learning rate, a training set): the rest of the
#: Okabe-Ito palette, so that they never borrow a method's colour.
OTHER_COLOURS = ("#0072b2", "#d55e00", "#cc79a7", "#f0e442", "#999999", "#332288")
OTHER_MARKERS = ("D", "v", "P", "X", "*", "h")

#: One colour per five-point landmark, in insightface's order (eyes, nose tip, mouth corners).
LANDMARK_COLOURS = ("#1f77b4", "#2ca02c", "#d62728", "#ff7f0e", "#9467bd")


def image_grid(
    rows: Sequence[Sequence[Image.Image]],
    row_labels: Sequence[str] | None = None,
    column_labels: Sequence[str] | None = None,
    cell_inches: float = 1.2,
    title: str | None = None,
) -> Figure:
    """Plot ``rows`` of images as a grid, with optional labels on the left and on top.

    The cells shrink below ``cell_inches`` where the grid would otherwise be wider than the column
    (row labels take about an inch and a half), and grow where a grid of few columns would be
    narrower than :data:`~idbooth_lib.viz.MIN_WIDTH_PIXELS`: two faces side by side are drawn large enough to
    compare. A row label that names a method is written in the method's colour."""
    n_rows, n_columns = len(rows), max(len(row) for row in rows)
    room = MAX_WIDTH_INCHES - (1.5 if row_labels is not None else 0.2)
    cell_inches = min(max(cell_inches, MIN_WIDTH_INCHES / n_columns), room / n_columns)
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
                first, *rest = row_labels[row_index].split("\n")
                method = find_method(first)
                label = "\n".join([method.display_name if method else first, *rest])
                axis.set_ylabel(label, rotation=0, ha="right", va="center",
                                color=method.colour if method else "black")  # fmt: skip
            if column_labels is not None and row_index == 0:
                axis.set_title(column_labels[column_index], fontsize=9)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def people_grid(
    real: Sequence[Image.Image],
    rows: Sequence[Sequence[Image.Image]],
    row_labels: Sequence[str],
    column_labels: Sequence[str] | None = None,
    cell_inches: float = 1.5,
    title: str | None = None,
) -> Figure:
    """A grid of generated people with the real person first: row ``i`` opens with ``real[i]``
    (cycling through the photos given), so that "this is the same person" can be checked on
    every row rather than taken on trust."""
    if not real:
        raise ValueError("people_grid needs at least one real photo of the person")
    framed = [[real[index % len(real)], *row] for index, row in enumerate(rows)]
    labels = None if column_labels is None else ["real photo", *column_labels]
    return image_grid(framed, row_labels, labels, cell_inches, title)


def panels(
    count: int, panel_inches: tuple[float, float] = (3.3, 2.8)
) -> tuple[Figure, list[Axes]]:
    """``count`` axes of ``panel_inches`` each, wrapped into as many rows as the column needs;
    the spare axes of the last row are hidden."""
    columns = max(1, min(count, int(MAX_WIDTH_INCHES // panel_inches[0])))
    rows = math.ceil(count / columns)
    figure, axes = plt.subplots(rows, columns, squeeze=False,
                                figsize=(panel_inches[0] * columns, panel_inches[1] * rows))  # fmt: skip
    flat = list(axes.flat)
    for spare in flat[count:]:
        spare.set_visible(False)
    return figure, flat[:count]


#: Line styles that tell settings of one method apart, all in the method's colour.
VARIANT_LINESTYLES = ("-", "--", ":", "-.")


def series_style(label: str, index: int = 0) -> dict[str, str]:
    """Colour, marker and line of a plotted series: a method's own (by its name or display name);
    a setting of a method (``"ID-Booth, lr 1e-3"``) in the method's colour, told apart by the
    ``index``-th line style and marker, so that no variant of ID-Booth wears another method's
    colour; the base model's or real photos' grey and black; else the ``index``-th other colour."""
    method = find_method(label)
    if method is not None:
        return {"color": method.colour, "marker": method.marker, "linestyle": "-"}
    variant_of = find_method(label.split(",")[0]) if "," in label else None
    if variant_of is not None:
        return {"color": variant_of.colour, "marker": OTHER_MARKERS[index % len(OTHER_MARKERS)],
                "linestyle": VARIANT_LINESTYLES[index % len(VARIANT_LINESTYLES)]}  # fmt: skip
    if label in REFERENCE_COLOURS:
        return {"color": REFERENCE_COLOURS[label], "marker": "."}
    taken = {get_method(name).colour.lower() for name in method_names()}
    free = [colour for colour in OTHER_COLOURS if colour not in taken]  # a new method may own one
    return {"color": free[index % len(free)], "marker": OTHER_MARKERS[index % len(OTHER_MARKERS)]}


def house_rule_problems(figure: Figure) -> list[str]:
    """What in a finished figure breaks the house rules (empty when nothing does): its width as
    the page shows it, axes without labels, a method in a colour not its own, a legend that
    leaves out a labelled line or covers plotted points."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    # the page saves the drawing's tight box with 0.1 in of padding on each side
    width = (figure.get_tightbbox(renderer).width + 0.2) * BOOK_DPI
    problems = [f"{width:.0f} px wide (at most {MAX_WIDTH_PIXELS})"] if width > MAX_WIDTH_PIXELS else []
    for number, axis in enumerate(figure.axes):
        if axis.get_visible() and _plots_data(axis):
            problems += [f"axes {number}: {problem}" for problem in _axis_problems(axis, renderer)]
    return problems


def _plots_data(axis: Axes) -> bool:
    """Lines, points or bars, as opposed to a panel that only shows images."""
    return bool(axis.lines or axis.collections or axis.patches) and axis.axison


def _labelled(axis: Axes) -> list:
    return [artist for artist in [*axis.lines, *axis.collections, *axis.patches]
            if not artist.get_label().startswith("_")]  # fmt: skip


def _axis_problems(axis: Axes, renderer) -> list[str]:
    problems = [f"no {name}-axis label" for name, label in
                (("x", axis.get_xlabel()), ("y", axis.get_ylabel())) if not label.strip()]  # fmt: skip
    for artist in _labelled(axis):
        method = find_method(artist.get_label())
        colours = _colours(artist)
        if method is not None and colours and method.colour.lower() not in colours:
            problems.append(f"{artist.get_label()} drawn in {colours}, not {method.colour}")
    legends = [legend for legend in (axis.get_legend(), *axis.figure.legends) if legend]
    named = {text.get_text() for legend in legends for text in legend.get_texts()}
    missing = sorted({artist.get_label() for artist in _labelled(axis)} - named)
    if missing and len(_labelled(axis)) > 1:
        problems.append(f"legend leaves out {missing}")
    for legend in legends:
        box = legend.get_window_extent(renderer)
        covered = sum(int(box.contains(x, y)) for x, y in _points_on_screen(axis))
        if covered:
            problems.append(f"legend covers {covered} plotted points")
    return problems


def _colours(artist) -> set[str]:
    """The hex colours an artist is drawn in (a line's, or a collection's faces and edges)."""
    from matplotlib.colors import to_hex

    if hasattr(artist, "get_color") and not hasattr(artist, "get_facecolors"):
        return {to_hex(artist.get_color())}
    if hasattr(artist, "get_facecolors"):
        return {to_hex(colour) for colour in [*artist.get_facecolors(), *artist.get_edgecolors()]}
    return {to_hex(artist.get_facecolor())}


def _points_on_screen(axis: Axes) -> np.ndarray:
    """Every scatter point of an axis and points every few pixels along its lines, in display
    pixels (a legend laid over the middle of a straight line covers none of its vertices)."""
    points = [_along(line.get_transform().transform(line.get_xydata())) for line in axis.lines]
    for collection in axis.collections:
        offsets = collection.get_offsets()
        if len(offsets):
            points.append(collection.get_offset_transform().transform(offsets))
    points = [block for block in points if len(block)]
    return np.concatenate(points) if points else np.empty((0, 2))


def _along(vertices: np.ndarray, spacing: float = 5.0) -> np.ndarray:
    """Points every ``spacing`` pixels along a polyline given by its display-space vertices."""
    pieces = [vertices[:1]]
    for start, end in zip(vertices[:-1], vertices[1:], strict=True):
        count = int(np.nan_to_num(np.linalg.norm(end - start)) // spacing) + 1
        pieces.append(start + np.linspace(0, 1, count + 1)[1:, None] * (end - start))
    return np.concatenate(pieces)


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
    Raw per-step values are too noisy to compare: the timestep is random at every step. A method
    keeps its colour in every panel, also in those where another method has no line.
    """
    names = sorted({term for history in histories.values() for term in history.terms})
    figure, axes = panels(len(names))
    for axis, name in zip(axes, names, strict=True):
        for index, (run, history) in enumerate(histories.items()):
            if name in history.terms:
                style = series_style(run, index)
                axis.plot(history.steps, _moving_average(history.terms[name], smooth),
                          label=display_name(run), color=style["color"])  # fmt: skip
        axis.set(title=name, xlabel="training step", ylabel=f"loss (mean of {smooth} steps)")
    legend_below(figure)
    return figure


def legend_below(figure: Figure) -> None:
    """One legend under all panels, naming every labelled line once: it cannot hide data, and
    since a series keeps its colour in every panel, one legend serves them all."""
    named: dict[str, object] = {}
    for axis in figure.axes:
        for handle, label in zip(*axis.get_legend_handles_labels(), strict=True):
            named.setdefault(label, handle)
    order = {name: index for index, name in enumerate(map(display_name, method_names()))}
    named = dict(sorted(named.items(), key=lambda item: order.get(item[0], len(order))))
    rows = math.ceil(len(named) / 4)
    figure.tight_layout(rect=(0, min(0.4, 0.3 * rows / figure.get_size_inches()[1]), 1, 1))
    figure.legend(list(named.values()), list(named), loc="lower center", frameon=False,
                  ncol=min(len(named), 4), fontsize=8)  # fmt: skip


def _moving_average(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing mean over up to ``window`` values, the same length as ``values``."""
    cumulative = np.cumsum(np.insert(np.asarray(values, dtype=float), 0, 0.0))
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - window, 0)
    return (cumulative[ends] - cumulative[starts]) / (ends - starts)
