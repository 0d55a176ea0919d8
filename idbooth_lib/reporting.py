"""Tables for notebooks and logs.

A notebook shows a :class:`MarkdownTable` as a rendered table (Jupyter calls ``_repr_markdown_``),
and ``print`` gives the same table as plain Markdown text, so no pandas or IPython import is needed.

The house rule for tables: at most :data:`MAX_COLUMNS` columns, because a wider one scrolls
sideways in the book's column and its right half goes unread. A table that needs more is two
tables, or puts two numbers in one cell (``0.347 (paper 0.124)``). :func:`number` rounds a
measure to what it can support and writes large ones with thousands separators.
"""

from __future__ import annotations

import inspect
import json
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class MarkdownTable:
    """A header and rows of cells, shown as a Markdown table."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def _repr_markdown_(self) -> str:
        return str(self)

    def __str__(self) -> str:
        lines = [_line(self.headers), _line(["---"] * len(self.headers))]
        lines += [_line(row) for row in self.rows]
        return "\n".join(lines)


def _line(cells: Sequence[str]) -> str:
    # A literal "|" inside a cell would split it into two columns.
    return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"


@dataclass(frozen=True)
class MarkdownText:
    """Markdown prose a notebook shows rendered (a list, a paragraph); ``print`` gives the text."""

    text: str

    def _repr_markdown_(self) -> str:
        return self.text

    def __str__(self) -> str:
        return self.text


#: The widest table that fits the book's column at 1280 px.
MAX_COLUMNS = 6


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> MarkdownTable:
    """Build a :class:`MarkdownTable`; every cell is converted with ``str``."""
    width = len(headers)
    if width > MAX_COLUMNS:
        raise ValueError(f"a table of {width} columns ({', '.join(map(str, headers))}) does not fit "
                         f"the page: at most {MAX_COLUMNS}; split it or join cells")  # fmt: skip
    for row in rows:
        if len(row) != width:
            raise ValueError(f"row {row!r} has {len(row)} cells, the header has {width}")
    return MarkdownTable(tuple(map(str, headers)), tuple(tuple(map(str, row)) for row in rows))


def number(value: float | None, digits: int = 3, sign: bool = False) -> str:
    """A measure as text: "–" for None (not measurable, e.g. no face found), ``digits`` decimals
    below 100, whole numbers with thousands separators from 100 on (an FDR of 22381.87 is
    "22,382": its decimals say nothing); ``sign`` writes a gain as ``+0.120``."""
    if value is None:
        return "–"
    plus = "+" if sign else ""
    if abs(value) >= 100:
        return f"{value:{plus},.0f}"
    return f"{value:{plus}.{digits}f}"


@dataclass(frozen=True)
class SourceListing:
    """A library function's source, shown in a notebook as a highlighted code block."""

    name: str
    source: str

    def _repr_markdown_(self) -> str:
        return f"`{self.name}`:\n\n```python\n{self.source}```"

    def __str__(self) -> str:
        return self.source


def show_source(function) -> SourceListing:
    """The source of ``function`` as it stands in the installed library.

    Why a chapter shows it this way rather than copying the code into the page: the page and the
    library cannot drift apart, and what the reader sees is exactly what ran."""
    module = function.__module__
    return SourceListing(f"{module}.{function.__qualname__}",
                         textwrap.dedent(inspect.getsource(function)))  # fmt: skip


def wrapped_command(command: str, width: int = 86) -> str:
    """A long shell command as a reader can copy it from a page: broken before its options into
    lines of at most ``width`` characters, each but the last ending in `` \\`` (a continuation
    the shell reads as one line). An option and its value stay together. An absolute path (of
    the machine that ran it) is shortened to its last part, the folder as the reader's own
    commands name it."""
    command = re.sub(r"(?<=[=\s])/(?:[^\s/]+/)+([^\s/]+)", r"\1", command)
    words = command.split(" ")
    parts = [words[0]]
    for word in words[1:]:
        if word.startswith("-"):
            parts.append(word)
        else:
            parts[-1] += f" {word}"
    lines = [parts[0]]
    for part in parts[1:]:
        if len(lines[-1]) + len(part) + 3 > width:
            lines.append(f"    {part}")
        else:
            lines[-1] += f" {part}"
    return " \\\n".join(lines)


#: Where ``benchmarks/chapter_times.py`` writes, relative to a checkout of the repository.
CHAPTER_TIMES_PATTERN = "chapter_times_*cpu.json"


def read_chapter_times(results_folder: str | Path) -> dict | None:
    """The newest chapter timings in ``results_folder`` (``benchmarks/results`` of a checkout), or
    None where there are none (a Colab runtime holds only the notebook, not the repository)."""
    found = sorted(Path(results_folder).glob(CHAPTER_TIMES_PATTERN))
    if not found:
        return None
    return max((json.loads(path.read_text(encoding="utf-8")) for path in found), key=lambda run: run["date"])


def chapter_times_table(measured: dict) -> MarkdownTable:
    """Minutes per chapter, as ``benchmarks/chapter_times.py`` measured them."""
    return markdown_table(["chapter", "minutes, top to bottom"],
                          [(name, f"{seconds / 60:.1f}") for name, seconds in measured["seconds"].items()])  # fmt: skip


def chapter_times_caption(measured: dict) -> str:
    """Where and when the times were measured, and the whole book's total."""
    return (f"measured on {measured['cpu_cores']} CPU cores on {measured['date']} (commit "
            f"{measured['commit']}): {measured['total_seconds'] / 60:.0f} minutes for the whole book")  # fmt: skip
