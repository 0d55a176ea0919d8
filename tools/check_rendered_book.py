"""Read the rendered book as a reader meets it and list what breaks the house rules.

Why a check of the HTML and not of the notebooks' sources: what a reader trips over is in the
executed outputs — a path of the machine that built the book, a figure as wide as two screens, a
table that scrolls sideways — and in how pages are put together (an exercise whose solution is
missing). The checks:

- no absolute path of the building machine (its temporary folder, the repository, the home
  folder) in a page;
- no figure wider than :data:`MAX_FIGURE_PIXELS`;
- no table of more than :data:`MAX_TABLE_COLUMNS` columns, nor one that cannot wrap into the
  column: the browser wraps a cell's text at spaces, so a table's narrowest width is set by the
  longest unbreakable word of each column (a code span, a number with its interval); their sum
  may hold at most :data:`MAX_TABLE_CHARACTERS` characters, about the column at 1280 px;
- every exercise of a chapter ("## Exercises", a numbered list) followed by its ``# Solution N``.

Usage: ``python tools/check_rendered_book.py [_build/html]``; exits 1 and lists the problems.
"""

from __future__ import annotations

import re
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from bs4 import BeautifulSoup
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
MAX_FIGURE_PIXELS = 1000
#: Narrower than this, a figure's faces or labels are too small to read at 1280 px.
MIN_FIGURE_PIXELS = 320
MAX_TABLE_COLUMNS = 6
MAX_TABLE_CHARACTERS = 110


def machine_paths(root: Path = ROOT) -> tuple[str, ...]:
    """Folders whose absolute paths must never reach a reader's page."""
    return tuple(dict.fromkeys([str(root), tempfile.gettempdir(), str(Path.home())]))


def absolute_path_problems(text: str, paths: Iterable[str]) -> list[str]:
    """Each place ``text`` names one of ``paths`` followed by a separator (a path inside it)."""
    problems = []
    for path in paths:
        if not path.strip("/"):
            continue  # the root folder (a HOME of "/") would match every "/word"
        for found in re.finditer(re.escape(path.rstrip("/")) + r"/[^\s\"'<)]*", text):
            problems.append(f"absolute path {found.group(0)}")
    return list(dict.fromkeys(problems))  # a path inside two of them is reported once


def table_problems(soup: BeautifulSoup) -> list[str]:
    """Tables too wide for the column: too many columns, or too many characters in a row."""
    problems = []
    for table in soup.find_all("table"):
        cells = [row.find_all(["th", "td"]) for row in table.find_all("tr")]
        rows = [[cell.get_text(" ", strip=True) for cell in row] for row in cells]
        if not rows:
            continue
        columns = max(len(row) for row in rows)
        narrowest = sum(max((_unbreakable(row[i]) for row in cells if i < len(row)), default=0) + 3
                        for i in range(columns))  # fmt: skip
        head = " | ".join(rows[0])[:60]
        if columns > MAX_TABLE_COLUMNS:
            problems.append(f"table of {columns} columns ({head} …)")
        elif narrowest > MAX_TABLE_CHARACTERS:
            problems.append(f"table at least {narrowest} characters wide ({head} …)")
    return problems


def _unbreakable(cell) -> int:
    """The longest run of a cell that the browser will not wrap: a word, or a whole code span
    (the theme keeps inline code on one line)."""
    spans = [code.get_text() for code in cell.find_all("code")]
    text = cell.get_text(" ")
    for span in spans:
        text = text.replace(span, " ")
    return max([len(span) for span in spans] + [len(word) for word in text.split()] + [0])


def figure_problems(soup: BeautifulSoup, page: Path) -> list[str]:
    """Images of the page wider or narrower than the house rules allow."""
    problems = []
    for image in soup.find_all("img"):
        source = image.get("src", "")
        if source.startswith(("http", "data:")):
            continue
        path = (page.parent / source).resolve()
        if path.suffix.lower() == ".png" and path.is_file():
            width = Image.open(path).size[0]
            if width > MAX_FIGURE_PIXELS:
                problems.append(f"figure {path.name} is {width} px wide")
            elif width < MIN_FIGURE_PIXELS and path.parent.name == "_images":  # the chapters' own figures, not the theme's icons
                problems.append(f"figure {path.name} is only {width} px wide")
    return problems


def exercise_problems(soup: BeautifulSoup) -> list[str]:
    """Exercises without a ``# Solution N`` after them on the page."""
    heading = next((h for h in soup.find_all(["h2", "h3"])
                    if h.get_text(strip=True).rstrip("#¶").strip() in ("Exercise", "Exercises")),
                   None)  # fmt: skip
    if heading is None:
        return []
    section = heading.find_parent("section") or soup
    items = section.find("ol")
    count = len(items.find_all("li", recursive=False)) if items else 1
    text = section.get_text(" ")
    if count == 1:
        return [] if re.search(r"#\s*Solution\b", text) else ["the exercise has no solution"]
    return [f"exercise {n} has no solution" for n in range(1, count + 1)
            if not re.search(rf"#\s*Solution {n}\b", text)]  # fmt: skip


def math_problems(soup: BeautifulSoup, page: Path) -> list[str]:
    """MathJax that a reader offline would not get: loaded from the network, or named but absent
    from the built book (formulas would show as raw TeX)."""
    problems = []
    for script in soup.find_all("script", src=True):
        source = script["src"]
        if "mathjax" not in source.lower():
            continue
        if source.startswith(("http:", "https:", "//")):
            problems.append(f"MathJax is loaded from the network ({source})")
        elif not (page.parent / source.split("?")[0]).resolve().is_file():
            problems.append(f"MathJax file {source} is missing from the build")
    return problems


def page_problems(page: Path, paths: Iterable[str] = ()) -> list[str]:
    """Every problem of one rendered page."""
    text = page.read_text(encoding="utf-8")
    soup = BeautifulSoup(text, "html.parser")
    main = soup.find("main") or soup
    return [
        *absolute_path_problems(main.get_text(" "), paths),
        *table_problems(main),
        *figure_problems(main, page),
        *exercise_problems(main),
        *math_problems(soup, page),
    ]


def notebook_output_problems(notebook: dict, paths: Iterable[str]) -> list[str]:
    """The same rules on an executed notebook's outputs, before any page is built: absolute
    paths in printed text and figures wider than the house rule."""
    import base64
    import io

    problems = []
    for number, cell in enumerate(notebook["cells"]):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            texts = [output.get("text", ""), data.get("text/plain", ""), data.get("text/markdown", "")]
            text = "".join("".join(t) if isinstance(t, list) else t for t in texts)
            problems += [f"cell {number}: {p}" for p in absolute_path_problems(text, paths)]
            if "image/png" in data:
                png = base64.b64decode("".join(data["image/png"]))
                width = Image.open(io.BytesIO(png)).size[0]
                if width > MAX_FIGURE_PIXELS:
                    problems.append(f"cell {number}: a figure {width} px wide")
                elif width < MIN_FIGURE_PIXELS:
                    problems.append(f"cell {number}: a figure only {width} px wide")
    return problems


def book_problems(html: Path, paths: Iterable[str] | None = None) -> list[str]:
    """``page: problem`` for every chapter and prose page of a built book."""
    paths = machine_paths() if paths is None else tuple(paths)
    pages = sorted([*(html / "notebooks").glob("*.html"), *(html / "book").glob("*.html")])
    return [f"{page.relative_to(html)}: {problem}"
            for page in pages for problem in page_problems(page, paths)]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    problems = book_problems(Path(arguments[0] if arguments else ROOT / "_build" / "html"))
    print("\n".join(problems) or "no problems found")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
