"""Figures of chapter 07: learning curves of recognition training, and accuracy per training set."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def plot_training_curves(records: dict[str, dict]) -> Figure:
    """Loss and held-out validation accuracy per epoch, one line per ``name: training.json``; the
    chosen epoch (best validation accuracy) is marked."""
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(8, 3.2))
    for name, record in records.items():
        epochs = [row["epoch"] for row in record["curves"]]
        line, = loss_axis.plot(epochs, [row["loss"] for row in record["curves"]], label=name)  # fmt: skip
        accuracy = [row["validation_accuracy"] for row in record["curves"]]
        accuracy_axis.plot(epochs, accuracy, color=line.get_color(), label=name)
        chosen = record["selected_epoch"]
        accuracy_axis.plot([chosen], [accuracy[epochs.index(chosen)]], "o", color=line.get_color())
    loss_axis.set(xlabel="epoch", ylabel="margin loss", title="training loss")
    accuracy_axis.set(xlabel="epoch", ylabel="accuracy (10-fold)",
                      title="validation: held-out people (● chosen)")  # fmt: skip
    accuracy_axis.legend(fontsize=8)
    figure.tight_layout()
    return figure


def plot_setting_accuracy(rows: list[dict], reference: list[dict] | None = None) -> Figure:
    """Toy-benchmark accuracy per training set: one dot per seed and the mean as a bar; the
    ``reference`` recognisers (trained on far more data) as dashed lines."""
    figure, axis = plt.subplots(figsize=(6, 3.4))
    settings = list(dict.fromkeys(row["setting"] for row in rows))
    for index, setting in enumerate(settings):
        values = [row["accuracy_mean"] for row in rows if row["setting"] == setting]
        axis.bar(index, np.mean(values), color="0.85", edgecolor="0.4")
        axis.plot([index] * len(values), values, "o", color="C0")
    for number, found in enumerate(reference or []):
        axis.axhline(found["accuracy_mean"], linestyle="--", color=f"C{number + 1}",
                     label=f"{found['model']}")  # fmt: skip
    axis.set_xticks(range(len(settings)), settings, rotation=15)
    values = [row["accuracy_mean"] for row in rows]
    axis.set_ylim(max(0.5, min(values) - 0.05), 1.0)
    axis.set(ylabel="toy benchmark accuracy", title="trained on … (● one seed, bar: mean)")
    if reference:
        axis.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    return figure
