"""What the chapters say about their results, written from the results.

A sentence beside a table that says "hurts", "all three", "well above" or a number is a second copy
of the table, and it drifts when the experiment is rerun. The chapters therefore show such
readings as the output of these functions: every number and every comparative word below comes
from the results file, and a rerun that changes the numbers changes the words. What stays typed
in a chapter is what no rerun changes: the method, the protocol, why a measure is read the way
it is.

Each function returns :class:`~idbooth_lib.reporting.MarkdownText`, which a notebook shows
rendered and ``print`` shows as text.
"""

from __future__ import annotations

from typing import Any

from idbooth_lib.evaluation.comparisons import find
from idbooth_lib.methods import PAPER_METHODS, display_name
from idbooth_lib.reporting import MarkdownText, number


def _side_of_zero(record: dict[str, Any]) -> str:
    """Where a difference's interval lies: ``below zero``, ``above zero`` or ``across zero``."""
    if record["high"] < 0:
        return "below zero"
    if record["low"] > 0:
        return "above zero"
    return "across zero"


def _than(value: float, reference: float) -> str:
    return "above" if value > reference else "below" if value < reference else "level with"


def _count_words(count: int, total: int) -> str:
    """``all three``, ``two of the three``, ``none of the three``."""
    words = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}
    whole = words.get(total, str(total))
    if count == total:
        return f"all {whole}" if total > 2 else ("both" if total == 2 else "the one")
    return f"{'none' if count == 0 else words.get(count, str(count))} of the {whole}"


def live_reading(scored: dict[str, dict], trained: str, untrained: str, record: dict) -> MarkdownText:
    """One recogniser trained in the chapter against the backbone it started from, on the
    chapter's benchmark: one seed, so the sentence says how far one draw is to be trusted."""
    found, start = scored[trained], scored[untrained]
    gap = found["accuracy_mean"] - start["accuracy_mean"]
    return MarkdownText(
        f"Trained live here (one seed; epoch {record['selected_epoch']} chosen on the held-out "
        f"people), the recogniser reaches {number(found['accuracy_mean'])} on this chapter's "
        f"benchmark ({found['pairs']} pairs), {_than(found['accuracy_mean'], start['accuracy_mean'])} "
        f"the untrained backbone's {number(start['accuracy_mean'])} ({gap:+.3f}). The folds' "
        f"spread of {number(found['accuracy_std'])} says how much one benchmark of this size "
        "moves by chance; the seeds of section 4 say how much a training does."
    )


def studio_reading(reproduction: dict) -> MarkdownText:
    """What the recognisers trained on the real photos alone reached, against the untrained
    backbone they started from (``make reproduce``'s results)."""
    first = next(row for row in reproduction["recognition"] if row["setting"] == "real")
    summary = {row["setting"]: row for row in reproduction["recognition_summary"]}
    reference = {row["model"]: row for row in reproduction["reference_recognisers"]}
    untrained = reference["untrained toy backbone"]["accuracy_mean"]
    real = summary["real"]["accuracy_mean"]
    train, validation = first["train"], first["validation"]
    each = ""
    if train.get("posed"):
        each = (f" ({train['data'] // train['classes']} studio and "
                f"{train['posed'] // train['classes']} posed each)")
    return MarkdownText(
        f"**The studio session against no training.** Trained on it alone — {train['images']} photos "
        f"of {train['classes']} people{each}, {validation['classes']} more people held out for "
        f"validation — the recognisers reach {number(real)} on the toy benchmark of `make "
        f"reproduce` ({first['pairs']} pairs; mean over {summary['real']['seeds']} seeds), "
        f"{_than(real, untrained)} the untrained backbone's {number(untrained)}. Recogniser training "
        "on the CPU is not bit-for-bit repeatable, so a rerun of the same command moves these means "
        "by a few hundredths: read differences with their intervals."
    )


def synthetic_reading(reproduction: dict) -> MarkdownText:
    """What adding each method's images did to the recogniser, seed by seed against the real
    photos alone, and how close the synthetic images are to their people."""
    from idbooth_lib.experiments.reproduce import recognition_comparisons

    summary = {row["setting"]: row for row in reproduction["recognition_summary"]}
    compared = recognition_comparisons(reproduction["recognition"])
    methods = [m for m in PAPER_METHODS if f"real+{m}" in summary]
    against_real = {m: find(compared, first=f"real+{m}", second="real") for m in methods}
    sides = [_side_of_zero(record) for record in against_real.values()]
    below, above = sides.count("below zero"), sides.count("above zero")
    verdict = ("hurt here" if below > above else "help here" if above > below
               else "change little here")  # fmt: skip
    spreads = [summary[f"real+{m}"]["accuracy_seed_std"] for m in methods]
    accuracies = ", ".join(f"{number(summary[f'real+{m}']['accuracy_mean'])} with {display_name(m)}'s"
                           for m in methods)  # fmt: skip
    plan = reproduction["plan"]
    real_images = summary["real"]["train_images"]
    added = min(summary[f"real+{m}"]["train_images"] for m in methods) - real_images
    genuine = [found["identity_encoder"]["synthetic_vs_real"]["genuine_mean"]
               for found in reproduction["methods"].values()]  # fmt: skip
    real_genuine = next(iter(reproduction["methods"].values()))["identity_encoder"]["real_vs_real"]["genuine_mean"]
    return MarkdownText(
        f"**Synthetic images {verdict}.** With {plan['images_per_identity']} synthetic images of each "
        f"person added ({added} synthetic beside {real_images} real training images), the benchmark "
        f"accuracy is {accuracies} images, against {number(summary['real']['accuracy_mean'])} for the "
        f"real photos alone (means over {summary['real']['seeds']} seeds; the seeds' standard "
        f"deviations are {number(min(spreads))}–{number(max(spreads))}). Of the differences from "
        f"the real photos alone, {_count_words(below, len(sides))} intervals lie below zero and "
        f"{_count_words(above, len(sides))} above. The synthetic images outnumber the real ones "
        f"{added / real_images:.0f} to one, and a synthetic image and a real photo of one person "
        f"score {number(min(genuine), 2)} to {number(max(genuine), 2)} by the loss's recogniser (the "
        f"*genuine μ, syn–real* row below), where two real photos score {number(real_genuine, 2)}."
    )


def utility_order_reading(reproduction: dict) -> MarkdownText:
    """Which method's images helped the recogniser most and least, with the intervals of the
    differences between them, and the shipped recognisers as the scale."""
    from idbooth_lib.experiments.reproduce import recognition_comparisons

    summary = {row["setting"]: row for row in reproduction["recognition_summary"]}
    compared = recognition_comparisons(reproduction["recognition"])
    methods = [m for m in PAPER_METHODS if f"real+{m}" in summary]
    ranked = sorted(methods, key=lambda m: summary[f"real+{m}"]["accuracy_mean"])
    worst, best = ranked[0], ranked[-1]
    against = []
    for other in methods:
        if other == worst:
            continue
        record = find(compared, first=f"real+{worst}", second=f"real+{other}") or \
            find(compared, first=f"real+{other}", second=f"real+{worst}")  # fmt: skip
        if record is not None:
            flipped = record["first"] != f"real+{worst}"
            low, high = (-record["high"], -record["low"]) if flipped else (record["low"], record["high"])
            side = "below zero" if high < 0 else "above zero" if low > 0 else "across zero"
            against.append(f"{side} against {display_name(other)}'s ({low:+.3f} to {high:+.3f})")
    shipped = [row for row in reproduction["reference_recognisers"] if row["model"] != "untrained toy backbone"]
    scale = " and ".join(number(row["accuracy_mean"]) for row in shipped)
    return MarkdownText(
        f"**Which images helped least.** {display_name(worst)}'s images gave the lowest accuracy "
        f"and {display_name(best)}'s the highest; the interval of its difference lies "
        f"{' and '.join(against)}. **The scale.** All of them stay below the shipped "
        f"recognisers ({scale}), trained on thousands of images of many more people: synthetic "
        "images of the same people add views of them, not people."
    )


__all__ = ["live_reading", "studio_reading", "synthetic_reading", "utility_order_reading"]
