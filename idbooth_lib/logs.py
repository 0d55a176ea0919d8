"""What the library says while it works: one logger per package, one switch for how much is shown.

Every package logs through :func:`package_logger` (``idbooth_lib.training``, ``idbooth_lib.data``,
...), with Python's own ``logging``, so a script or a cluster job can route, filter or silence
the library like any other. Nothing is shown until someone says how much to show, with
:func:`set_verbosity`:

=============  ===================================================================================
``quiet``      warnings only
``info``       one line per step of work (what a chapter shows)
``progress``   those lines and a progress bar for each long loop: a person watches a terminal
               (what the command line shows unless given ``--quiet``)
=============  ===================================================================================

``with verbosity("quiet"):`` changes it for a block. Progress bars are ``tqdm.auto`` bars made by
:func:`progress_bar`; they stay hidden below ``progress``, so a notebook, a test or a log file
never fills with bars nobody watches.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

LIBRARY = "idbooth_lib"
VERBOSITIES = ("quiet", "info", "progress")
_LEVELS = {"quiet": logging.WARNING, "info": logging.INFO, "progress": logging.INFO}
_shown = {"verbosity": "quiet"}


def package_logger(module: str) -> logging.Logger:
    """The logger of the package that ``module`` (a ``__name__``) belongs to:
    ``idbooth_lib.training.run`` logs as ``idbooth_lib.training``. A module run with
    ``python -m`` is named ``__main__``; its real name is read from its spec, so that its lines
    are shown like the rest of the library's."""
    if module == "__main__":
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        module = spec.name if spec is not None else LIBRARY
    return logging.getLogger(".".join(module.split(".")[:2]))


class _ToStandardOutput(logging.StreamHandler):
    """Each message on whatever ``sys.stdout`` is when it is written (a notebook cell's output, a
    test's capture), as the plain line ``print`` would write."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))
        self.relative_to: str | None = None

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler sets it once; stdout is looked up instead
        pass

    def format(self, record: logging.LogRecord) -> str:
        from idbooth_lib.io import without_folder

        line = super().format(record)
        return without_folder(line, self.relative_to) if self.relative_to else line


def _handler() -> _ToStandardOutput:
    """The library logger's one handler of this module, added on first use."""
    library = logging.getLogger(LIBRARY)
    for handler in library.handlers:
        if isinstance(handler, _ToStandardOutput):
            return handler
    handler = _ToStandardOutput()
    library.addHandler(handler)
    return handler


def set_verbosity(level: str, relative_to: str | os.PathLike[str] | None = None) -> None:
    """Show ``level`` of what the library says (see the module docstring). ``relative_to``: a
    work folder whose path is left out of every line shown (a chapter's temporary folder means
    nothing to its reader)."""
    if level not in VERBOSITIES:
        raise ValueError(f"unknown verbosity {level!r}: choose one of {', '.join(VERBOSITIES)}")
    handler = _handler()
    handler.relative_to = None if relative_to is None else os.fspath(relative_to)
    logging.getLogger(LIBRARY).setLevel(_LEVELS[level])
    _shown["verbosity"] = level


@contextmanager
def verbosity(level: str) -> Iterator[None]:
    """``level`` inside the block, what was set before after it."""
    library = logging.getLogger(LIBRARY)
    before = library.level, _shown["verbosity"]
    set_verbosity(level, _handler().relative_to)
    try:
        yield
    finally:
        library.setLevel(before[0])
        _shown["verbosity"] = before[1]


def progress_bar(*arguments: Any, **options: Any):
    """A ``tqdm.auto`` bar, hidden unless the verbosity is ``progress``."""
    from tqdm.auto import tqdm

    return tqdm(*arguments, disable=_shown["verbosity"] != "progress", **options)


__all__ = ["LIBRARY", "VERBOSITIES", "package_logger", "progress_bar", "set_verbosity", "verbosity"]
