"""The book: table of contents, README commands, CI entry point, and the strict build.

The strict build executes every notebook (cached on the notebooks' content and on a hash of
``idbooth_lib``) and fails on any warning, broken reference or execution error.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import NOTEBOOKS, ROOT

sys.path.insert(0, str(ROOT / "tools"))
import check_rendered_book  # noqa: E402
import refresh_book_cache  # noqa: E402


def _toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc["parts"]:
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


def test_every_notebook_is_in_the_table_of_contents():
    listed = set(_toc_files())
    assert {f"notebooks/{path.stem}" for path in NOTEBOOKS} <= listed
    for entry in listed:
        assert any((ROOT / f"{entry}{suffix}").exists() for suffix in (".md", ".ipynb")), entry


def test_the_introductions_road_map_names_every_chapter_of_the_table_of_contents():
    """The road map lists ``**NN Title.**`` for each chapter, in the order the book shows them."""
    intro = (ROOT / "book" / "intro.md").read_text()
    road_map = intro[intro.index("## Roadmap"):intro.index("(ethics-of-face-data)=")]
    listed = re.findall(r"^- \*\*(\d\d) ", road_map, flags=re.MULTILINE)
    chapters = [Path(entry).name[:2] for entry in _toc_files() if entry.startswith("notebooks/")]
    assert listed == chapters


def test_readme_opens_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    commands = re.findall(r"```(?:bash|sh)?\n(.*?)```", text, flags=re.S)
    assert [block.strip() for block in commands[:2]] == ["make book", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_cache_is_dropped_when_the_library_changes(tmp_path, monkeypatch):
    package = tmp_path / "idbooth_lib"
    package.mkdir()
    (package / "a.py").write_text("x = 1\n")
    monkeypatch.setattr(
        refresh_book_cache, "library_hash", lambda: refresh_book_cache._hash_of(package)
    )
    build = tmp_path / "_build"
    (build / ".jupyter_cache").mkdir(parents=True)
    (build / ".doctrees").mkdir()
    assert refresh_book_cache.refresh(build) is False  # first run: nothing to compare with
    assert refresh_book_cache.refresh(build) is False  # unchanged library keeps the cache
    assert (build / ".jupyter_cache").exists()
    (package / "a.py").write_text("x = 2\n")
    assert refresh_book_cache.refresh(build) is True
    assert not (build / ".jupyter_cache").exists()
    assert not (build / ".doctrees").exists()  # or Sphinx would skip the unchanged notebooks


@pytest.mark.book
def test_strict_book_build_renders_every_chapter():
    build = ROOT / "_build"
    refresh_book_cache.refresh(build)
    command = [
        str(Path(sys.executable).with_name("jupyter-book")),
        "build",
        str(ROOT),
        "-W",
        "-n",
        "--keep-going",
    ]
    # A non-interactive MPLBACKEND (set by some CI images) would stop the kernels from showing figures.
    environment = {key: value for key, value in os.environ.items() if key != "MPLBACKEND"}
    environment["IDBOOTH_STANDIN"] = "1"  # as make book: chapter 08 on stand-ins, GPU or not
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=environment)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    html = build / "html"
    for path in NOTEBOOKS:
        page = (html / "notebooks" / f"{path.stem}.html").read_text()
        assert "Traceback" not in page
        first_cell = "".join(json.loads(path.read_text())["cells"][0]["source"])
        title = first_cell.splitlines()[0].removeprefix("# ").strip()
        assert re.search(r"<h1>([^<]*)", page).group(1).strip() == title, "the title must render"
        assert "<p>| " not in page, f"{path.stem}: a Markdown table output was not rendered"
        assert page.count("<img") >= 3, f"{path.stem}: figures missing from the rendered page"
    assert (html / "book" / "api.html").exists()
    report = (html / "book" / "report.html").read_text()  # a generated page: its tables must be there
    assert "Traceback" not in report and "<p>| " not in report
    assert report.count("reproduced</strong>") >= 2 and "holds</strong>" in report
    assert check_rendered_book.book_problems(html) == []  # paths, widths, exercises


PAGE = """<html><body><main><h1>Chapter</h1><p>wrote {path}/chapter05-x/gen/a.png</p>
<table><tr>{header}</tr><tr>{row}</tr></table><img src="{image}">
<section><h2>Exercises<a class="headerlink">#</a></h2><ol><li>One?</li><li>Two?</li></ol>
<pre># Solution 1
print(1)</pre></section></main></body></html>"""


def test_the_rendered_page_check_finds_each_breach(tmp_path):
    from PIL import Image

    Image.new("RGB", (1200, 300)).save(tmp_path / "wide.png")
    page = tmp_path / "page.html"
    page.write_text(PAGE.format(path="/scratch/build", header="<th>a</th>" * 7,
                                row="<td>1</td>" * 7, image="wide.png"))  # fmt: skip
    problems = " | ".join(check_rendered_book.page_problems(page, ["/scratch/build"]))
    assert "absolute path /scratch/build/chapter05-x/gen/a.png" in problems
    assert "table of 7 columns" in problems and "wide.png is 1200 px wide" in problems
    assert "exercise 2 has no solution" in problems and "exercise 1 has" not in problems
    Image.new("RGB", (900, 300)).save(tmp_path / "narrow.png")
    page.write_text(PAGE.format(path="chapter05-x", header="<th>a</th>" * 3, row="<td>1</td>" * 3,
                                image="narrow.png").replace("</pre>", "\n# Solution 2</pre>"))  # fmt: skip
    assert check_rendered_book.page_problems(page, ["/scratch/build"]) == []
    offline = PAGE.format(path="", header="<th>a</th>", row="<td>1</td>", image="narrow.png").replace(
        "</pre>", "\n# Solution 2</pre>")
    page.write_text(offline.replace("<main>", '<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js"></script><main>'))
    assert any("MathJax is loaded from the network" in p for p in check_rendered_book.page_problems(page, []))
    page.write_text(offline.replace("<main>", '<script src="_static/mathjax/tex-svg.js"></script><main>'))
    assert any("tex-svg.js is missing" in p for p in check_rendered_book.page_problems(page, []))
    (tmp_path / "_static" / "mathjax").mkdir(parents=True)
    (tmp_path / "_static" / "mathjax" / "tex-svg.js").write_text("// MathJax")
    assert check_rendered_book.page_problems(page, []) == []
    (tmp_path / "_images").mkdir()
    Image.new("RGB", (207, 113)).save(tmp_path / "_images" / "tiny.png")  # two faces too small to compare
    page.write_text(PAGE.format(path="", header="<th>a</th>", row="<td>1</td>", image="_images/tiny.png"))
    assert any("tiny.png is only 207 px wide" in p for p in check_rendered_book.page_problems(page, []))
    Image.new("RGB", (207, 113)).save(tmp_path / "icon.png")  # a theme's icon is not a figure
    page.write_text(PAGE.format(path="", header="<th>a</th>", row="<td>1</td>", image="icon.png"))
    assert not any("icon.png" in p for p in check_rendered_book.page_problems(page, []))
    wrapping = "<td>" + "word " * 60 + "</td>"  # long, but it wraps at the spaces
    page.write_text(PAGE.format(path="", header="<th>a</th>" * 2, row=wrapping * 2, image="narrow.png"))
    assert not any("characters" in p for p in check_rendered_book.page_problems(page, []))
    unbreakable = "<td><code>" + "x" * 60 + "</code></td>"
    page.write_text(PAGE.format(path="", header="<th>a</th>" * 2, row=unbreakable * 2,
                                image="narrow.png"))  # fmt: skip
    assert any("characters wide" in p for p in check_rendered_book.page_problems(page, []))
    code_spans = "<td><code>idbooth evaluate --synthetic gen --real photos</code></td>"
    page.write_text(PAGE.format(path="", header="<th>a</th>" * 3, row=code_spans * 3,
                                image="narrow.png"))  # fmt: skip
    assert any("characters wide" in p for p in check_rendered_book.page_problems(page, []))


def test_nothing_cites_a_file_that_readers_do_not_have():
    """The project's own notes on the paper live outside the repository: the library, the book and
    the notebooks cite the paper (or a chapter), never that file."""
    places = [*(ROOT / "idbooth_lib").rglob("*.py"), *(ROOT / "book").glob("*.md"), *NOTEBOOKS]
    places += [ROOT / "README.md", *(ROOT / "benchmarks").glob("*.py")]
    citing = [str(path.relative_to(ROOT)) for path in places if "PAPER.md" in path.read_text()]
    assert citing == []


def test_the_readmes_local_route_installs_what_it_runs():
    """``conda env create -f environment.yml`` then ``jupyter lab notebooks/``: JupyterLab must
    come with the extras that environment.yml installs."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the floors check runs 3.10

    readme = (ROOT / "README.md").read_text()
    assert "jupyter lab notebooks/" in readme
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    installed = re.search(r"-e \.\[([a-z,]+)\]", (ROOT / "environment.yml").read_text()).group(1)
    wanted = [requirement for extra in installed.split(",") for requirement in extras[extra]]
    assert any(requirement.startswith("jupyterlab") for requirement in wanted)


def test_every_notebook_page_is_committed_without_outputs():
    """Chapters and generated pages alike (the report is a notebook in book/): the book executes
    them, so a committed output could only be stale."""
    for entry in _toc_files():
        path = ROOT / f"{entry}.ipynb"
        if path.exists():
            cells = json.loads(path.read_text())["cells"]
            assert all(not c.get("outputs") for c in cells if c["cell_type"] == "code"), entry


def test_troubleshooting_states_the_profiles_checkpoint_interval():
    """The page quotes each profile's ``train.checkpointing_steps``; a change of either value
    must reach the page."""
    from idbooth_lib.config import load_profile

    page = " ".join((ROOT / "book" / "troubleshooting.md").read_text().split())
    toy, sd21 = (load_profile(name, environ={}).train.checkpointing_steps for name in ("toy", "sd21"))
    assert f"({toy} on the toy profile, {sd21} on `sd21`)" in page


def test_the_root_folder_is_not_taken_for_a_machine_path(tmp_path):
    """With HOME at "/" every "/word" would otherwise count as a path of this machine."""
    assert check_rendered_book.absolute_path_problems("see /usr/share and a/b", ["/"]) == []
    found = check_rendered_book.absolute_path_problems("x /home/me/work/a.png", ["/home/me", "/home/me/work"])
    assert found == ["absolute path /home/me/work/a.png"]


#: The library code each chapter teaches, shown on its page with ``show_source`` as it runs.
CODE_ON_THE_PAGE = {
    "01_data_preparation": ["prepare_photo"],
    "03_identity_objective": ["identity_loss", "triplet_loss", "identity_term"],
    "06_evaluation": ["equal_error_rate", "interpolated_crossing", "paired_difference"],
    "08_your_photos": ["read_lora", "load_lora"],
}


@pytest.mark.parametrize("chapter", sorted(CODE_ON_THE_PAGE))
def test_the_page_shows_the_code_it_teaches(chapter):
    notebook = json.loads((ROOT / "notebooks" / f"{chapter}.ipynb").read_text(encoding="utf-8"))
    code = "\n".join("".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code")
    shown = set(re.findall(r"show_source\((\w+)\)", code))
    assert set(CODE_ON_THE_PAGE[chapter]) <= shown, set(CODE_ON_THE_PAGE[chapter]) - shown


#: Every measure the comparison tables name, and the glossary term that defines it.
MEASURE_TERMS = {"eer": "EER", "fnmr_at_fmr_1e-2": "FMR", "fdr": "FDR", "vendi": "Vendi score",
                 "genuine_mean": "Genuine mean", "impostor_mean": "Impostor mean",
                 "identity_independent_gained": "Identity gained", "identity_loss_gained": "Identity gained",
                 "background": "Background kept", "pose": "Pose kept",
                 "accuracy_mean": "Verification benchmark"}  # fmt: skip


def test_every_measure_has_one_glossary_entry_that_chapter_06_links():
    from idbooth_lib.evaluation.comparisons import MEASURE_NAMES

    glossary = (ROOT / "book" / "glossary.md").read_text()
    block = glossary[glossary.index("```{glossary}"):]
    terms = re.findall(r"^([A-Z0-9a-z][^\n]*)\n(?=(?:[^\n ]+[^\n]*\n)*  )", block, flags=re.MULTILINE)
    assert set(MEASURE_NAMES) == set(MEASURE_TERMS), "a measure without its glossary term"
    for term in set(MEASURE_TERMS.values()):
        assert terms.count(term) == 1, term  # defined once
    chapter = (ROOT / "notebooks" / "06_evaluation.ipynb").read_text()
    linked = {found.split(" <")[-1].rstrip(">").lower() for found in re.findall(r"\{term\}`([^`]*)`", chapter)}
    wanted = {"EER", "FMR", "FDR", "Vendi score", "Identity gained", "Background kept", "Near copy"}
    assert {term.lower() for term in wanted} <= linked, {t for t in wanted if t.lower() not in linked}
