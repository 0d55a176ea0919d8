"""Figures of chapter 07: learning curves of recognition training, and accuracy per training set."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from idbooth_lib.methods import display_name
from idbooth_lib.viz import legend_below, series_style


def plot_training_curves(records: dict[str, dict]) -> Figure:
    """Loss and held-out validation accuracy per epoch, one line per ``name: training.json``; the
    chosen epoch (best validation accuracy) is marked."""
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(8, 3.2))
    for index, (name, record) in enumerate(records.items()):
        epochs = [row["epoch"] for row in record["curves"]]
        line, = loss_axis.plot(epochs, [row["loss"] for row in record["curves"]], label=name,
                               color=series_style(name, index)["color"])  # fmt: skip
        accuracy = [row["validation_accuracy"] for row in record["curves"]]
        accuracy_axis.plot(epochs, accuracy, color=line.get_color(), label=name)
        chosen = record["selected_epoch"]
        accuracy_axis.plot([chosen], [accuracy[epochs.index(chosen)]], "o", color=line.get_color())
    loss_axis.set(xlabel="epoch", ylabel="margin loss", title="training loss")
    accuracy_axis.set(xlabel="epoch", ylabel="accuracy (10-fold)",
                      title="validation: held-out people (● chosen)")  # fmt: skip
    legend_below(figure)
    return figure


def plot_setting_accuracy(rows: list[dict], reference: list[dict] | None = None) -> Figure:
    """Toy-benchmark accuracy per training set: one dot per seed and the mean as a bar; the
    ``reference`` recognisers (trained on far more data) as lines of their own style, each named
    with its value in the legend beside the plot, so that two lines at nearly the same height
    stay readable. The axis starts at 0.5, where a verification benchmark's guessing lies, and
    says so: bars that start higher would exaggerate small differences."""
    figure, axis = plt.subplots(figsize=(7.5, 3.4))
    settings = list(dict.fromkeys(row["setting"] for row in rows))
    for index, setting in enumerate(settings):
        values = [row["accuracy_mean"] for row in rows if row["setting"] == setting]
        method = setting.removeprefix("real+")
        colour = series_style(method)["color"] if method != setting else "0.6"
        axis.bar(index, np.mean(values) - 0.5, bottom=0.5, color=colour, alpha=0.35,
                 edgecolor="0.3", label="_mean")  # fmt: skip
        axis.plot([index] * len(values), values, "o", color="0.15", markersize=4,
                  label="one seed" if index == 0 else "_seed")  # fmt: skip
    for number, found in enumerate(reference or []):
        axis.axhline(found["accuracy_mean"], linestyle=("--", ":", "-.")[number % 3],
                     color=series_style(found["model"], number)["color"],
                     label=f"{found['model']}: {found['accuracy_mean']:.3f}")  # fmt: skip
    names = ["real + " + display_name(s.removeprefix("real+")) if s.startswith("real+") else s
             for s in settings]  # fmt: skip
    axis.set_xticks(range(len(settings)), names, rotation=15)
    axis.set_ylim(0.5, 1.01)  # room for a reference line at 1.0
    axis.set(xlabel="recogniser trained on", ylabel="accuracy (axis from chance, 0.5)",
             title="toy benchmark accuracy (bar: mean over seeds)")  # fmt: skip
    axis.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)
    figure.tight_layout()
    return figure
