"""Where the benchmarks put what they measured: printed, and written as JSON to ``results/``."""

from __future__ import annotations

import json
from pathlib import Path

from idbooth_lib.io import write_json

RESULTS = Path(__file__).resolve().parent / "results"


def publish(report: dict, output: Path | None, name: str) -> Path:
    """Print ``report`` and write it to ``output`` (default ``results/NAME.json``), whole or not
    at all, so an interrupted run never leaves half a results file."""
    print(json.dumps(report, indent=2))
    path = output or RESULTS / f"{name}.json"
    write_json(path, report)
    return path
