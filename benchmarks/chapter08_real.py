"""Chapter 08 run once on the real models, as a reader runs it, with the time of each section.

    python benchmarks/chapter08_real.py --photos FOLDER --gender female --consent

On a CUDA machine that can download (or already holds) SD 2.1-base, ``buffalo_l`` and
``cheetah_s``: papermill executes ``notebooks/08_your_photos.ipynb`` top to bottom with
``STANDIN = False`` and the ``colab`` setting (800 steps), in a scratch work folder, and the time
of every cell (papermill records it) is summed per numbered section of the chapter. ``--consent``
states that the person in ``--photos`` agreed (the chapter refuses without it).

Results go to ``benchmarks/results/chapter08_<gpu>.json`` with the date, the commit and the GPU;
chapter 00's time table reads them when present. The executed notebook is kept beside the
results file only with ``--keep-notebook`` (it shows the photos).
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
import tempfile
from pathlib import Path

import torch
from bench_report import RESULTS, publish

from idbooth_lib.env import source_commit

CHAPTER = Path(__file__).resolve().parents[1] / "notebooks" / "08_your_photos.ipynb"


def section_times(executed: dict) -> list[dict]:
    """Seconds per section: each code cell's papermill duration, added to the ``## `` heading
    above it (cells before the first heading count as "set-up")."""
    sections: dict[str, float] = {}
    current = "set-up"
    for cell in executed["cells"]:
        source = "".join(cell["source"])
        heading = re.search(r"^## (.+)$", source, flags=re.MULTILINE)
        if cell["cell_type"] == "markdown" and heading:
            current = heading.group(1).strip()
        elif cell["cell_type"] == "code":
            seconds = cell.get("metadata", {}).get("papermill", {}).get("duration") or 0.0
            sections[current] = sections.get(current, 0.0) + seconds
    return [{"section": name, "seconds": round(seconds, 1)} for name, seconds in sections.items()]


def run_chapter(photos: Path, gender: str, steps_setting: str, work: Path) -> dict:
    import papermill

    output = work / "08_executed.ipynb"
    papermill.execute_notebook(
        str(CHAPTER), str(output), cwd=str(CHAPTER.parent), kernel_name="python3",
        parameters={"STANDIN": False, "I_HAVE_CONSENT": True, "PHOTOS": str(photos),
                    "GENDER": gender, "WORK": str(work / "work"), "SETTING": steps_setting},
    )  # fmt: skip
    return json.loads(output.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, required=True, help="5-10 photos of one person")
    parser.add_argument("--gender", choices=("female", "male"), required=True)
    parser.add_argument("--consent", action="store_true", help="the person pictured agreed")
    parser.add_argument("--setting", choices=("colab", "paper"), default="colab")
    parser.add_argument("--keep-notebook", action="store_true")
    parser.add_argument("--output", type=Path, default=None, help="JSON file to write")
    arguments = parser.parse_args(argv)
    if not arguments.consent:
        parser.error("--consent is required: only photos of a person who agreed (chapter 08, 1)")
    if not torch.cuda.is_available():
        parser.error("no CUDA GPU here: this runs the real models (the CPU route is the book's)")
    if not arguments.photos.is_dir():
        parser.error(f"--photos {arguments.photos} is not a folder of photos")
    gpu = torch.cuda.get_device_name(0)
    with tempfile.TemporaryDirectory(prefix="chapter08-real-") as scratch:
        executed = run_chapter(arguments.photos, arguments.gender, arguments.setting, Path(scratch))
        sections = section_times(executed)
        name = f"chapter08_{re.sub(r'[^a-z0-9]+', '_', gpu.lower()).strip('_')}"
        if arguments.keep_notebook:
            (RESULTS / f"{name}.ipynb").write_text(json.dumps(executed))
    report = {
        "date": datetime.date.today().isoformat(),
        "commit": source_commit(),
        "device": gpu,
        "setting": arguments.setting,
        "sections": sections,
        "total_seconds": round(sum(section["seconds"] for section in sections), 1),
    }
    publish(report, arguments.output, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
