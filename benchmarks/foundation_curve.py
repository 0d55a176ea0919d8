"""The foundation pilots' curve: each measure of ``benchmarks/foundation.py`` against training compute.

    .venv/bin/python benchmarks/foundation_curve.py

Reads the 16-people results files named in :data:`SERIES` (each a UNet measured on the same
people, prompts and seeds) and draws identity, faces found, backgrounds and poses against the CPU
minutes each UNet cost along its ``continue_from`` chain, with issue #31's targets as dashed
lines. The paired intervals between UNets are in the files' ``against`` entries and in
``pretraining/README.md``; the figure is for seeing the slopes. Writes
``results/foundation_curve_16people.png``.
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from bench_report import RESULTS  # noqa: E402

#: Each design, its UNets in the order they were trained (file stems in ``results/``).
SERIES = {
    "narrow UNet (32, 64, 128), 1,500 names": [
        "foundation_shipped_16people", "foundation_average_16people", "foundation_anneal_16people"],
    "narrow UNet, 256 names (pilot A)": ["foundation_pilot_n256_16people"],
    "wide UNet (32, 96, 192), 1,500 names (pilots B, C, on)": [
        "foundation_pilot_wide_16people", "foundation_pilot_wide_6000_16people",
        "foundation_wide_9000_16people", "foundation_wide_12000_16people"],
    "the wide UNet drawn at guidance 2 (the sampler), from its fourth stage": [
        "foundation_wide_12000_guidance_2_16people", "foundation_wide_15000_guidance_2_16people",
        "foundation_wide_18000_guidance_2_16people"],
}  # fmt: skip
#: The measures drawn and the targets the foundation must reach on them.
TARGETS = {"identity": 0.6, "faces_found": 0.97, "background": 0.95, "pose": 0.93}


def read_series() -> dict[str, list[dict]]:
    """Each series' results, in training order; a file not measured yet is left out."""
    found = {}
    for label, stems in SERIES.items():
        files = [RESULTS / f"{stem}.json" for stem in stems]
        found[label] = [json.loads(path.read_text()) for path in files if path.is_file()]
    return {label: results for label, results in found.items() if results}


def draw(series: dict[str, list[dict]]):
    figure, axes = plt.subplots(1, len(TARGETS), figsize=(13, 3.6))
    for axis, (measure, target) in zip(axes, TARGETS.items(), strict=True):
        for index, (label, results) in enumerate(series.items()):
            minutes = [result["training_minutes"] for result in results]
            axis.plot(minutes, [result[measure] for result in results], marker="o",
                      color=f"C{index}", label=label)  # fmt: skip
        axis.axhline(target, color="0.4", linestyle="--", linewidth=1, label="target")
        axis.set_xlabel("training, CPU minutes (2 cores)")
        axis.set_ylabel(measure.replace("_", " "))
        axis.set_title(f"{measure.replace('_', ' ')} (target {target})", fontsize=10)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 0.16, 1, 1))
    return figure


def main() -> int:
    output = RESULTS / "foundation_curve_16people.png"
    draw(read_series()).savefig(output, dpi=110)
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
