"""Every chapter executes top to bottom on the toy profile, and is committed as the book expects.

papermill runs each notebook with small values injected after its ``parameters`` cell, the way a
reader's edit of that cell would; the strict book build (tests/test_book.py) runs them with the
defaults.
"""

import json
import sys

import papermill
import pytest
import yaml
from conftest import NOTEBOOKS, ROOT

sys.path.insert(0, str(ROOT / "tools"))
from check_rendered_book import machine_paths, notebook_output_problems  # noqa: E402

#: Per-chapter overrides that keep the test run short; chapters absent here use their defaults.
FAST_PARAMETERS = {
    "00_setup": {"IDENTITIES": 2, "IMAGES_PER_IDENTITY": 3},
    "01_data_preparation": {"IDENTITIES": 3, "IMAGES_PER_IDENTITY": 3},
    "02_latent_diffusion": {"STEPS": 3, "GUIDANCE_SCALES": [1.0, 5.0], "SAMPLES_PER_CELL": 1},
    "03_identity_objective": {"IDENTITIES": 3, "IMAGES_PER_IDENTITY": 3},
    "04_finetuning": {"STEPS": 4, "SAMPLES": 2},
    "05_generation": {"IDENTITIES": 1, "IMAGES_PER_IDENTITY": 3},
    "06_evaluation": {"LIVE_IDENTITIES": 2, "LIVE_IMAGES": 3},
    "07_recognition": {
        "IDENTITIES": 6,
        "PHOTOS_PER_IDENTITY": 3,
        "POSED_PER_IDENTITY": 2,
        "EPOCHS": 2,
        "BENCHMARK_PAIRS_PER_FOLD": 6,
    },
    # the real route's chapter: the sd21 profile on the random stand-ins of its models
    "08_your_photos": {"PROFILE": "sd21", "STANDIN": True},
}

#: Seconds one cell may run before the test fails naming it. At the fast parameters no cell takes
#: a minute; without a limit, a kernel exchange that stalls (as nbclient's imitation of an Output
#: widget can, see idbooth_lib.generation.explorer) would hang CI until its own time ran out.
CELL_TIMEOUT_S = 600


def _cells(path):
    return json.loads(path.read_text())["cells"]


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_executes_on_toy_profile(path, tmp_path):
    parameters = {"PROFILE": "toy", **FAST_PARAMETERS.get(path.stem, {})}
    papermill.execute_notebook(
        str(path),
        str(tmp_path / path.name),
        parameters=parameters,
        cwd=str(tmp_path),
        kernel_name="python3",
        progress_bar=False,
        execution_timeout=CELL_TIMEOUT_S,
    )
    executed = json.loads((tmp_path / path.name).read_text())
    errors = [
        output
        for cell in executed["cells"]
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors
    # what a reader sees: no path of this machine, no figure wider than the column
    assert notebook_output_problems(executed, machine_paths()) == []


#: A chapter shows short steps; longer machinery belongs in idbooth_lib, where it is tested.
MAX_CELL_LINES = 20


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_is_committed_clean_and_complete(path):
    cells = _cells(path)
    code_cells = [cell for cell in cells if cell["cell_type"] == "code"]
    assert all(not cell["outputs"] and cell["execution_count"] is None for cell in code_cells)
    assert sum("parameters" in cell["metadata"].get("tags", []) for cell in cells) == 1
    text = "".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown")
    for heading in ("What you will learn", "Prerequisites", "Summary", "Where to go next"):
        assert heading in text, f"{path.name} lacks '{heading}'"
    assert "Exercise" in text
    title = "".join(cells[0]["source"])
    assert cells[0]["cell_type"] == "markdown" and title.startswith("# "), (
        "title must open the notebook"
    )
    assert any("hide-cell" in cell["metadata"].get("tags", []) for cell in code_cells)
    longest = max(len("".join(cell["source"]).split("\n")) for cell in code_cells)
    assert longest <= MAX_CELL_LINES, f"a code cell of {longest} lines: the library holds the rest"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_badges_point_at_the_configured_repository(path):
    """The launch badge must open this very file on the branch named in _config.yml."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repository = config["repository"]["url"].removeprefix("https://github.com/")
    branch = config["repository"]["branch"]
    relative = path.relative_to(ROOT).as_posix()
    first = "".join(_cells(path)[0]["source"])
    assert (
        f"https://colab.research.google.com/github/{repository}/blob/{branch}/{relative}" in first
    )
    assert f"https://github.com/{repository}/blob/{branch}/{relative}" in first
    setup = "".join("".join(cell["source"]) for cell in _cells(path))
    assert f'REPOSITORY = "{config["repository"]["url"]}"' in setup
    assert f"@{branch}" in setup
