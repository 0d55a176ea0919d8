"""Drop the book's execution cache when the library it imports has changed.

Why: Jupyter Book's cache is keyed on the notebooks' code cells only. A notebook whose cells did not
change but whose library did would otherwise be shown with stale outputs (STYLE.md, complaint 7).
The key here is a hash of every file of ``idbooth_lib`` (code and shipped weights). Sphinx's own
record of the pages it has read goes too, or it would not look at those notebooks again.

Usage: ``python tools/refresh_book_cache.py [BUILD_DIR]`` (default ``_build``).
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def library_hash() -> str:
    """The hash of this repository's ``idbooth_lib``."""
    return _hash_of(ROOT / "idbooth_lib")


def _hash_of(package: Path) -> str:
    """SHA-256 over the relative paths and bytes of every file in ``package``."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(package).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def refresh(build_dir: Path) -> bool:
    """Remove ``build_dir``'s execution cache and doctrees if the library changed; True if so."""
    stamp = build_dir / ".library-hash"
    current = library_hash()
    stale = stamp.exists() and stamp.read_text().strip() != current
    if stale:
        # The execution cache holds the outputs; Sphinx's doctrees remember which pages it has
        # read, and without dropping them it would not even re-read (so not re-execute) the
        # notebooks whose own text did not change.
        for folder in (".jupyter_cache", ".doctrees"):
            shutil.rmtree(build_dir / folder, ignore_errors=True)
    build_dir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(current + "\n")
    return stale


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "_build"
    if refresh(target):
        print(f"idbooth_lib changed: cleared the execution cache and doctrees in {target}")
