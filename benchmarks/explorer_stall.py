"""How often a widget cell stalls a headless execution: an ``Output`` explorer against an ``Image`` one.

    .venv/bin/python benchmarks/explorer_stall.py --runs 30

Chapter 05's prompt explorer once displayed its picture into an ``ipywidgets.Output`` while the
cell ran. Executed by papermill or the book build, nbclient imitates that Output widget by sending
its state back to the kernel on the shell channel, and some executions then stop answering (CI hung
in chapter 05 until its time ran out; nbclient issue #312 reports the same). The explorer now
replaces the bytes of an ``ipywidgets.Image`` instead. This script executes a one-cell notebook of
each kind ``--runs`` times, alternating, with a per-cell limit of ``--limit`` seconds, and counts
the executions that ran into the limit (a healthy one takes about a second). Results go to
``benchmarks/results/explorer_stall.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import papermill

from idbooth_lib.env import source_commit

RESULTS = Path(__file__).resolve().parent / "results"

COMMON = """
import ipywidgets as widgets
import numpy as np
from IPython.display import display
from PIL import Image

seed = widgets.IntSlider(value=0, min=0, max=99)
button = widgets.Button(description="draw")


def drawn():
    return Image.fromarray(np.random.default_rng(seed.value).integers(0, 255, (64, 64, 3), np.uint8))
"""

#: The explorer's old shape: the drawing is displayed into an Output widget during the cell.
OUTPUT_CELL = COMMON + """
picture = widgets.Output()


def on_draw(_=None):
    with picture:
        picture.clear_output()
        display("a prompt", drawn().resize((192, 192), Image.NEAREST))


button.on_click(on_draw)
display(widgets.VBox([seed, button, picture]))
on_draw()
"""

#: The explorer's shape now (idbooth_lib.generation.explorer): the drawing replaces an Image's bytes.
IMAGE_CELL = COMMON + """
from idbooth_lib.generation.explorer import png_bytes

prompt, picture = widgets.Label(), widgets.Image(format="png", width=192, height=192)


def on_draw(_=None):
    prompt.value, picture.value = "a prompt", png_bytes(drawn())


button.on_click(on_draw)
display(widgets.VBox([seed, button, prompt, picture]))
on_draw()
"""


def write_notebook(path: Path, source: str) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source), nbformat.v4.new_code_cell("print('done')")]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    nbformat.write(notebook, path)
    return path


def execute_once(path: Path, limit: float) -> float:
    """Seconds one execution took; an execution that hit the per-cell limit counts as ``limit``."""
    began = time.perf_counter()
    try:
        papermill.execute_notebook(str(path), str(path.with_suffix(".out.ipynb")),
                                   kernel_name="python3", progress_bar=False,
                                   execution_timeout=limit)
    except papermill.PapermillExecutionError:
        raise
    except Exception:  # nbclient's CellTimeoutError, or an Empty reply: the execution stalled
        return limit
    return time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="executions of each notebook")
    parser.add_argument("--limit", type=float, default=20.0, help="seconds a cell may take")
    arguments = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="explorer-stall-"))
    notebooks = {"output_widget": write_notebook(folder / "output.ipynb", OUTPUT_CELL),
                 "image_widget": write_notebook(folder / "image.ipynb", IMAGE_CELL)}
    seconds: dict[str, list[float]] = {name: [] for name in notebooks}
    for run in range(arguments.runs):
        for name, path in notebooks.items():
            seconds[name].append(execute_once(path, arguments.limit))
        print(f"run {run + 1}/{arguments.runs}", {n: f"{s[-1]:.1f}s" for n, s in seconds.items()},
              flush=True)
    # A stall shows as an execution that took at least half the limit; a healthy one takes ~1 s.
    stalled = {name: sum(s >= arguments.limit / 2 for s in times) for name, times in seconds.items()}
    result = {
        "date": datetime.date.today().isoformat(),
        "commit": source_commit(),
        "command": " ".join(["python", "benchmarks/explorer_stall.py", *(argv or sys.argv[1:])]),
        "runs": arguments.runs,
        "limit_s": arguments.limit,
        "stalled": stalled,
        "seconds": {name: [round(s, 2) for s in times] for name, times in seconds.items()},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "explorer_stall.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"stalled executions of {arguments.runs}:", stalled)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
