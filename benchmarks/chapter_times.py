"""How long each chapter takes to run top to bottom, with its defaults, on this machine.

    .venv/bin/python benchmarks/chapter_times.py                 # every chapter of _toc.yml
    .venv/bin/python benchmarks/chapter_times.py --only 04 05    # some of them

An instructor planning a workshop needs to know which chapters a room of laptops can run live and
which to read from their shipped results: the instructor's page (``book/teaching.md``) shows the
times this writes. Each chapter runs with papermill in a fresh kernel, exactly as a reader's
"Run all" does (the toy profile, shipped results loaded where the chapter offers them), one
chapter at a time so that no two compete for the cores. Chapter 08 runs on its stand-ins, as it
does on a machine without a GPU.

Results go to ``benchmarks/results/chapter_times_<cores>cpu.json``, with the machine's core count,
the date and the commit.
"""

from __future__ import annotations

import argparse
import datetime
import os
import tempfile
import time
from pathlib import Path

import papermill
import yaml
from bench_report import publish

from idbooth_lib.env import source_commit

ROOT = Path(__file__).resolve().parent.parent


def chapters(only: list[str] | None = None) -> list[Path]:
    """The chapter notebooks in the order of ``_toc.yml`` (the report included), or those whose
    names start with one of ``only``."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    entries = [chapter["file"] for part in toc["parts"] for chapter in part["chapters"]]
    found = [ROOT / f"{entry}.ipynb" for entry in entries if (ROOT / f"{entry}.ipynb").exists()]
    if only:
        found = [path for path in found if path.name.startswith(tuple(only))]
    return found


def run_chapter(path: Path, folder: Path) -> float:
    """Seconds one chapter takes in a fresh kernel, from its first cell to its last."""
    began = time.perf_counter()
    papermill.execute_notebook(str(path), str(folder / path.name), cwd=str(path.parent),
                               progress_bar=False, log_output=False, kernel_name="python3")  # fmt: skip
    return time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", help="chapter name prefixes, such as 04 05")
    parser.add_argument("--output", type=Path, help="results file (default: results/chapter_times_<N>cpu.json)")
    arguments = parser.parse_args(argv)
    os.environ.setdefault("IDBOOTH_STANDIN", "1")  # chapter 08 on stand-ins, as without a GPU
    cores, commit = os.cpu_count(), source_commit()  # the code the chapters run, read before they run
    timings = {}
    with tempfile.TemporaryDirectory(prefix="chapter-times-") as folder:
        for path in chapters(arguments.only):
            timings[path.stem] = round(run_chapter(path, Path(folder)), 1)
            print(f"{path.stem}: {timings[path.stem]:.0f} s", flush=True)
    report = {
        "what": "seconds each chapter takes top to bottom with its defaults (papermill, fresh kernel)",
        "cpu_cores": cores,
        "profile": "toy",
        "seconds": timings,
        "total_seconds": round(sum(timings.values()), 1),
        "date": datetime.date.today().isoformat(),
        "commit": commit,
        "command": "python benchmarks/chapter_times.py",
    }
    publish(report, arguments.output, f"chapter_times_{cores}cpu")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
