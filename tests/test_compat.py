"""The constraints files of `make colab-check` / `make floors-check` agree with pyproject.toml, and
the record of a check reads pytest and the environment right."""

import json
import sys

import pytest
from conftest import ROOT
from packaging.requirements import Requirement
from packaging.version import Version

sys.path.insert(0, str(ROOT / "tools"))
import compat_versions  # noqa: E402

# Python 3.11+; `make floors-check` runs on 3.10, where the files' agreement is not its question.
tomllib = pytest.importorskip("tomllib")

#: The extras the chapters' install cell names (`idbooth-book[diffusion,faces]`).
CELL_EXTRAS = ("diffusion", "faces")


def _declared() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = project["dependencies"] + [
        line for extra in CELL_EXTRAS for line in project["optional-dependencies"][extra]
    ]
    return {Requirement(line).name.lower(): Requirement(line) for line in lines}


def _floor(requirement: Requirement) -> str:
    return next(spec.version for spec in requirement.specifier if spec.operator == ">=")


def test_the_floors_file_pins_every_declared_floor():
    pins = compat_versions.pinned_versions(ROOT / "compat" / "floors.txt")
    declared = _declared()
    assert set(pins) == set(declared)
    for name, requirement in declared.items():
        assert Version(pins[name]) == Version(_floor(requirement)), name


def test_colab_versions_lie_in_the_declared_ranges_so_the_install_cell_keeps_them():
    pins = compat_versions.pinned_versions(ROOT / "compat" / "colab-gpu.txt")
    declared = _declared()
    assert {"torch", "diffusers", "transformers", "peft", "accelerate", "numpy"} <= set(pins)
    for name, version in pins.items():
        if name in declared:
            assert declared[name].specifier.contains(version), (name, version)


def test_every_chapter_installs_the_extras_the_check_installs():
    script = (ROOT / "tools" / "colab_check.sh").read_text()
    assert f"EXTRAS={','.join(CELL_EXTRAS)}\n" in script
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        assert f"idbooth-book[{','.join(CELL_EXTRAS)}] @ git+" in notebook.read_text(), notebook


def test_pins_are_read_from_a_constraints_file(tmp_path):
    file = tmp_path / "c.txt"
    file.write_text("# comment\ntorch==2.11.0  # pinned\nPeft == 0.19.1\nnumpy>=2\n\n")
    assert compat_versions.pinned_versions(file) == {"torch": "2.11.0", "peft": "0.19.1"}


@pytest.mark.parametrize(
    ("installed", "pinned", "same"),
    [("2.11.0+cu128", "2.11.0", True), ("2.11.0", "2.11.0", True), ("2.11.1", "2.11.0", False)],
)
def test_a_local_build_tag_is_the_pinned_release(installed, pinned, same):
    assert compat_versions.same_release(installed, pinned) is same


def test_the_record_reads_pytests_closing_line_and_failures():
    log = (
        "FAILED tests/test_a.py::test_x - TypeError: nope\n"
        "ERROR tests/test_b.py::test_y\n"
        "===== 2 failed, 428 passed, 3 skipped, 10 deselected in 301.2s =====\n"
    )
    assert compat_versions.pytest_counts(log) == {
        "failed": 2, "passed": 428, "skipped": 3, "deselected": 10,
    }  # fmt: skip
    assert compat_versions.failed_tests(log) == ["tests/test_a.py::test_x", "tests/test_b.py::test_y"]
    assert compat_versions.pytest_counts("no tests ran") == {}


def test_the_install_cell_shows_pips_warnings():
    """``--quiet`` would hide what pip says about a conflict with Colab's own packages."""
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        code = "".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
        assert '"pip", "install", "--progress-bar", "off",' in code and '"--quiet"' not in code, notebook


def test_the_record_names_the_commit_that_was_installed(tmp_path):
    log = tmp_path / "pytest.log"
    log.write_text("===== 3 passed in 1.0s =====\n")
    result = tmp_path / "result.json"
    arguments = ["record", str(ROOT / "compat" / "colab-gpu.txt"), str(log), str(result),
                 "--commit", "abc1234"]  # fmt: skip
    assert compat_versions.main(arguments) == 0
    record = json.loads(result.read_text())
    assert record["commit"] == "abc1234" and record["pytest"] == {"passed": 3}
