"""How good the shipped toy models are: the report written by ``benchmarks/toy_models.py``.

The measurements live next to the weights (``weights/quality.json``), so that the book — on any
machine, Colab included — shows the numbers of exactly the models it loads.
"""

from __future__ import annotations

import json
from pathlib import Path

from idbooth_lib.reporting import MarkdownTable, markdown_table

QUALITY_FILE = Path(__file__).resolve().parent / "weights" / "quality.json"

#: (key path in the report, what it measures, the bar it must meet)
ROWS = (
    (
        ("recognisers", "loss", "accuracy_mean"),
        "recogniser (loss): 10-fold verification, unseen identities",
        "≥ 0.97",
    ),
    (
        ("recognisers", "evaluation", "accuracy_mean"),
        "recogniser (evaluation): 10-fold verification",
        "≥ 0.97",
    ),
    (("detector", "landmark_error_px"), "detector: mean landmark error at 64×64 (px)", "≤ 1.5"),
    (("detector", "detection_rate"), "detector: faces found", "-"),
    (("detector", "noise_rejection_rate"), "detector: noise images rejected", "-"),
    (("detector", "scenery_rejection_rate"), "detector: face-free scenery rejected", "-"),
    (("vae", "psnr_db"), "VAE reconstruction PSNR (dB)", "reported"),
    (("vae", "accuracy_originals"), "loss recogniser on originals", "-"),
    (("vae", "accuracy_reconstructions"), "loss recogniser on VAE reconstructions", "-"),
    (("vae", "accuracy_lost"), "accuracy lost on reconstructions (originals − these)", "≤ 0.02"),
    (
        ("foundation", "background_accuracy"),
        "generated images: background as prompted (probe)",
        "≥ 0.90",
    ),
    (("foundation", "pose_accuracy"), "generated images: pose as prompted (probe)", "≥ 0.90"),
    (("foundation", "probe_background_accuracy_real"), "the probe's background on real faces", "-"),
    (("foundation", "probe_pose_accuracy_real"), "the probe's pose on real faces", "-"),
    (
        ("foundation", "frechet_distance"),
        "Fréchet distance, generated vs real (recogniser features)",
        "reported",
    ),
    (
        ("foundation", "name_output_mean_cosine"),
        "text encoder: mean cosine between the outputs of two people's names",
        "-",
    ),
    (
        ("foundation", "sks_vs_a_output_cosine"),
        "text encoder: cosine between `photo of sks person` and `photo of a person`",
        "-",
    ),
    (
        ("foundation", "named_identity_mean_cosine"),
        "pretraining people drawn by name: mean cosine to their real photos",
        "-",
    ),
    (
        ("foundation", "named_identity_rank1_of_20"),
        "pretraining people drawn by name: nearest of 20 is right",
        "-",
    ),
    (
        ("dreambooth", "mean_cosine_to_real"),
        "DreamBooth LoRA: mean cosine of `sks` samples to the real photos",
        "≥ 0.5",
    ),
    (
        ("dreambooth", "rank1_share"),
        "DreamBooth LoRA: share of samples whose nearest of 100 identities is right",
        "≥ 0.5",
    ),
    (
        ("dreambooth", "class_prompt_diversity_before"),
        "variety of `photo of a person` before DreamBooth (1 − mean pairwise cosine)",
        "-",
    ),
    (
        ("dreambooth", "class_prompt_diversity_after"),
        "variety of `photo of a person` after DreamBooth",
        "-",
    ),
)


def load_quality(path: Path = QUALITY_FILE) -> dict:
    """The stored report (an empty dict if the benchmark has not been run), with the accuracy the
    VAE loses (``vae.accuracy_lost``) worked out from the two accuracies it holds."""
    report = json.loads(path.read_text()) if path.is_file() else {}
    vae = report.get("vae", {})
    if {"accuracy_originals", "accuracy_reconstructions"} <= vae.keys():
        vae["accuracy_lost"] = vae["accuracy_originals"] - vae["accuracy_reconstructions"]
    return report


def _lookup(report: dict, keys: tuple[str, ...]):
    for key in keys:
        if not isinstance(report, dict) or key not in report:
            return None
        report = report[key]
    return report


def shipped_model_report(path: Path = QUALITY_FILE) -> MarkdownTable:
    """A table of every measurement with its bar; ``not measured`` where the report has no value."""
    report = load_quality(path)
    rows = []
    for keys, label, bar in ROWS:
        value = _lookup(report, keys)
        shown = (
            "not measured"
            if value is None
            else f"{value:.3f}"
            if isinstance(value, float)
            else str(value)
        )
        rows.append((label, shown, bar, meets_bar(value, bar)))
    return markdown_table(["measurement", "value", "bar", "met"], rows)


def meets_bar(value, bar: str) -> str:
    """ "yes" or "no" for a numeric bar (``≥ x`` or ``≤ x``); empty where the row has none."""
    if not isinstance(value, (int, float)) or bar[:1] not in "≥≤" or not bar:
        return ""
    limit = float(bar[1:])
    return "yes" if (value >= limit if bar[0] == "≥" else value <= limit) else "no"


def recipe_report(weights: Path = QUALITY_FILE.parent) -> MarkdownTable:
    """How each shipped model was trained: the recipe command, its steps and its minutes."""
    commands = {
        "recogniser": "recogniser",
        "recogniser_b": "recogniser_b",
        "foundation/vae": "vae",
        "foundation/text_encoder": "text",
        "foundation": "diffusion",
    }
    rows = []
    for folder, recipe in commands.items():
        record_file = weights / folder / "recipe.json"
        if record_file.is_file():
            record = json.loads(record_file.read_text())
            rows.append(
                (
                    f"`python -m idbooth_lib.toy.pretrain {recipe}`",
                    str(record["steps"]),
                    f"{record['minutes']:.0f}",
                    record["machine"],
                )
            )
        else:
            rows.append(
                (f"`python -m idbooth_lib.toy.pretrain {recipe}`", "-", "not recorded", "-")
            )
    return markdown_table(["recipe", "steps", "minutes", "machine"], rows)
