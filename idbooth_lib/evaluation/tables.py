"""The tables of an evaluation as the book shows them: six columns at most, measures by name.

Each takes results of :func:`~idbooth_lib.evaluation.run.evaluate_folders` per method. A number
with no natural scale (FDR, the Fréchet distance) is shown beside one that gives it one: the
real photos against themselves, and the base model before any fine-tuning.
"""

from __future__ import annotations

from idbooth_lib.evaluation import paper
from idbooth_lib.evaluation.comparisons import PROTOCOL_NAMES
from idbooth_lib.methods import display_name
from idbooth_lib.reporting import MarkdownTable, markdown_table, number

#: The identity rows of the paper's table: key, the name a reader sees, decimals.
IDENTITY_MEASURES = (
    ("eer", "EER", 3),
    ("fnmr_at_fmr_1e-2", "FMR100", 3),
    ("fnmr_at_fmr_1e-3", "FMR1000", 3),
    ("genuine_mean", "genuine μ", 3),
    ("genuine_std", "genuine σ", 3),
    ("impostor_mean", "impostor μ", 3),
    ("impostor_std", "impostor σ", 3),
    ("fdr", "FDR", 2),
)


def identity_table(
    evaluations: dict[str, dict], role: str, base: dict | None = None, with_paper: bool = True
) -> MarkdownTable:
    """One row per protocol and measure; a column per method (the paper's value in brackets
    where it publishes one), and a last one with the base model's value (``base``, when given)
    and the real photos' own: the floor and the ceiling that give the others their scale."""
    methods = list(evaluations)
    reference = evaluations[methods[-1]]["encoders"][role]
    rows = []
    for protocol in ("synthetic_vs_synthetic", "synthetic_vs_real"):
        for measure, name, digits in IDENTITY_MEASURES:
            row = [f"{name}, {PROTOCOL_NAMES[protocol]}"]
            for method in methods:
                ours = number(evaluations[method]["encoders"][role][protocol].get(measure), digits)
                theirs = paper.published(protocol, measure, method) if with_paper else None
                row.append(ours if theirs is None else f"{ours} ({number(theirs, digits)})")
            real = number(reference["real_vs_real"].get(measure), digits)
            if base is not None:  # one column for both scales, so that four methods still fit
                real = f"{number(base['encoders'][role][protocol].get(measure), digits)} / {real}"
            row.append(real)
            rows.append(row)
    paper_note = " (paper)" if with_paper else ""
    headers = ["measure", *(display_name(m) + paper_note for m in methods)]
    headers.append("base model / real–real" if base is not None else "real–real")
    return markdown_table(headers, rows)


def quality_table(evaluations: dict[str, dict], base: dict | None = None) -> MarkdownTable:
    """Per method (and the base model): Vendi, Fréchet distance, background and pose kept,
    near copies. The base model's row gives the Fréchet distance its scale."""
    shown = dict(evaluations) | ({"base model": base} if base is not None else {})
    rows = []
    for name, found in shown.items():
        adherence = found.get("adherence", {})
        rows.append((display_name(name), number(found["diversity"].get("vendi_mean"), 2),
                     number(found["fidelity"]["frechet_distance"]),
                     number(adherence.get("background"), 2), number(adherence.get("pose"), 2),
                     number(found["memorisation"].get("near_copy_share"), 2)))  # fmt: skip
    return markdown_table(["method", "Vendi", "Fréchet distance", "background", "pose",
                           "near copies"], rows)  # fmt: skip


def fidelity_table(evaluations: dict[str, dict], base: dict | None = None) -> MarkdownTable:
    """Per method (and the base model): precision, recall, density and coverage (k-NN)."""
    shown = dict(evaluations) | ({"base model": base} if base is not None else {})
    keys = ("precision", "recall", "density", "coverage")
    rows = [(display_name(name), *(number(found["fidelity"]["prdc"].get(key), 2) for key in keys))
            for name, found in shown.items()]  # fmt: skip
    return markdown_table(["method", *keys], rows)


__all__ = ["IDENTITY_MEASURES", "fidelity_table", "identity_table", "quality_table"]
