"""Tables for notebooks and logs.

A notebook shows a :class:`MarkdownTable` as a rendered table (Jupyter calls ``_repr_markdown_``),
and ``print`` gives the same table as plain Markdown text, so no pandas or IPython import is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


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


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> MarkdownTable:
    """Build a :class:`MarkdownTable`; every cell is converted with ``str``."""
    width = len(headers)
    for row in rows:
        if len(row) != width:
            raise ValueError(f"row {row!r} has {len(row)} cells, the header has {width}")
    return MarkdownTable(tuple(map(str, headers)), tuple(tuple(map(str, row)) for row in rows))
