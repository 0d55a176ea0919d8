"""Small file-writing helpers shared by every stage.

Why: users interrupt long runs (Ctrl-C, a Colab disconnect, a cluster time limit). A file that is
written in place can be left half-written and then silently read by the next stage. Writing to a
temporary file in the same folder and renaming it over the target is atomic on POSIX and Windows, so
a reader sees either the old file or the complete new one, never a fragment.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PIL import Image


def cache_root() -> Path:
    """``$IDBOOTH_CACHE`` or ``~/.cache/idbooth``: files that can be rebuilt at any time (toy
    renders, recipe checkpoints)."""
    return Path(os.environ.get("IDBOOTH_CACHE", "~/.cache/idbooth")).expanduser()


def shown_path(path: str | os.PathLike[str], relative_to: str | os.PathLike[str] | None = None) -> str:
    """A path as a reader should see it printed: relative to ``relative_to`` (say, a chapter's
    work folder) when it lies inside, ``idbooth_lib/...`` inside this package (its shipped
    weights), ``~/...`` in the home folder, else as given.

    Why: an absolute path names the machine that ran the code (its temporary folder, someone's
    home folder); in a rendered page or a shared log it means nothing to the reader, whose own
    folders are elsewhere."""
    path = Path(path).expanduser()
    package_parent = Path(__file__).resolve().parents[1]
    for base, prefix in ((relative_to, ""), (package_parent, ""), (Path.home(), "~/")):
        if base is not None:
            try:
                return prefix + str(path.relative_to(Path(base).expanduser()))
            except ValueError:
                pass
    return str(path)


def without_folder(text: str, folder: str | os.PathLike[str]) -> str:
    """``text`` with every path inside ``folder`` written relative to it (``WORK/gen/a.png``
    becomes ``gen/a.png`` for ``folder=WORK``): for messages a notebook prints, whose reader's
    work folder is somewhere else."""
    return str(text).replace(f"{Path(folder).expanduser()}{os.sep}", "")


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it onto ``target`` only on success.

    The temporary file keeps the target's suffix so that libraries which infer the format from the
    file name (PIL, safetensors) behave the same as for the real path. On any exception the temporary
    file is removed and ``target`` is left untouched. The finished file gets the permissions of a
    file opened normally (``0o666`` less the umask), not ``mkstemp``'s private ``0o600``, so that
    results stay readable to a group on a shared cluster when the umask says so.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{target.stem}.",
        suffix=f"{target.suffix}.partial{target.suffix}",
        dir=target.parent,
    )
    os.close(handle)
    temporary_path = Path(temporary)
    try:
        yield temporary_path
        os.chmod(temporary_path, 0o666 & ~_umask())
        os.replace(temporary_path, target)
    finally:
        temporary_path.unlink(missing_ok=True)


def _umask() -> int:
    """The process's umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's bytes, in hex: what tells two files apart whatever their names
    (a duplicate photo, a retrained LoRA, a work folder holding other photos)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_text(path: str | os.PathLike[str], text: str, keep_unchanged: bool = False) -> None:
    """Write UTF-8 ``text`` atomically; with ``keep_unchanged``, a file that already holds exactly
    this is left alone (a rerun that changes nothing touches no file)."""
    path = Path(path)
    if keep_unchanged and path.is_file() and path.read_text(encoding="utf-8") == text:
        return
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike[str], data: Any, keep_unchanged: bool = False) -> None:
    """Write ``data`` as indented UTF-8 JSON (see :func:`write_text`)."""
    write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n", keep_unchanged)


def read_results(path: str | os.PathLike[str], fields: tuple[str, ...], maker: str) -> dict:
    """A JSON results file holding ``fields``; anything else is a one-line ``ValueError`` naming
    the file and ``maker``, the command that writes such a file."""
    path = Path(path)
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} is not a readable results file ({error}): run `{maker}` to "
                         "make one") from error  # fmt: skip
    missing = [key for key in fields if not isinstance(results, dict) or key not in results]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}: it was not written by `{maker}`; "
                         "run it again")  # fmt: skip
    return results


def save_image(path: str | os.PathLike[str], image: Image.Image) -> None:
    """Save a PIL image atomically; the format follows ``path``'s suffix."""
    target = Path(path)
    with atomic_path(target) as temporary:
        image.save(temporary, format=Image.registered_extensions()[target.suffix.lower()])
