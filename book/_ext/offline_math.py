"""Formulas that render without a network: MathJax served from the built book itself.

Sphinx's MathJax extension loads MathJax from a CDN, so a reader offline (a workshop's laptops, a
train) sees raw TeX. MathJax is a JavaScript program: rendering the formulas in Python at build
time would need LaTeX, which the book does not ask a reader to install. This extension instead
copies MathJax 3's SVG build from the ``sphinx-mathjax-offline`` wheel (pip installs it with the
book's extras) into ``_static/mathjax`` and points ``mathjax_path`` at it. Only the combined
``tex-svg.js`` (it draws glyphs as SVG paths, so no font files are needed) and the TeX extensions
it may load on demand are copied, about 2.7 MB, not the wheel's 24 MB.

Written here rather than enabling the wheel's own extension, which copies all 24 MB and loads the
CHTML build, whose web fonts are a second set of files to keep in step.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

#: The wheel's package (a directory whose name is not an identifier: found, not imported).
PACKAGE = "sphinx-mathjax-offline"
#: What the book copies from the wheel's ``static/mathjax``, relative to it.
COPIED = ("tex-svg.js", "input/tex/extensions")
#: Where the built book serves it, relative to ``_static``.
SERVED = "mathjax"


def mathjax_folder() -> Path:
    """The MathJax distribution inside the installed wheel; a clear error naming the fix."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{PACKAGE} is not installed: pip install -e '.[book]' (make book does)")
    return Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax"


def copy_mathjax(app, exception) -> None:
    """After a successful build, put MathJax where ``mathjax_path`` says it is."""
    if exception is not None or app.builder.format != "html":
        return
    source, target = mathjax_folder(), Path(app.outdir) / "_static" / SERVED
    for part in COPIED:
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part, dirs_exist_ok=True)
        else:
            (target / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / part, target / part)


def setup(app):
    mathjax_folder()  # fail at the start of a build, not after it
    app.config.mathjax_path = f"{SERVED}/{COPIED[0]}"
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
