"""Reading a source folder of raw photos: one sub-folder per identity, anything else reported.

Why a module of its own: names in a user's folder are arbitrary (accents, spaces, ``a.jpg`` beside
``A.png``, bytes that are not UTF-8), and folders hold hidden files, documents and byte-identical
copies. :func:`scan_source` turns the folder into identities with candidate photos, each with a
file-system-safe output name and a content hash, before a single image is decoded; what is not a
photo becomes a :class:`~idbooth_lib.data.report.FileRecord` with its reason. The folder is only
ever read.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from idbooth_lib.data.images import is_image_name
from idbooth_lib.data.report import SKIPPED, FileRecord
from idbooth_lib.io import file_sha256
from idbooth_lib.vocabulary import GENDERS

#: The optional file in SRC that gives each identity's gender (a toy dataset writes one).
SOURCE_METADATA_FILE = "metadata.json"
#: The genders the paper's prompts name ("face portrait photo of female sks person"): the
#: vocabulary's, so that a person's metadata and the prompts written for them use the same words.
PROMPT_GENDERS: tuple[str, ...] = GENDERS


def safe_name(text: str) -> str:
    """An ASCII file-system-safe version of ``text``; changed names get a short hash of the
    original so that ``Zoë`` and ``Zoe`` stay different."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_text).strip("._-")
    if cleaned == text:
        return text
    digest = hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()[:6]
    return f"{cleaned}_{digest}" if cleaned else digest


def unique_names(names: Iterable[str]) -> list[str]:
    """:func:`safe_name` of each, made unique ignoring case (``a.jpg`` and ``A.png`` must not
    collide on macOS or Windows): later duplicates get ``_2``, ``_3``, ... in the given order."""
    wanted = [safe_name(name) for name in names]
    taken = Counter(name.casefold() for name in wanted)
    seen: set[str] = set()
    result = []
    for name in wanted:
        candidate, number = name, 1
        while candidate.casefold() in seen or (candidate != name and taken[candidate.casefold()]):
            number += 1
            candidate = f"{name}_{number}"
        seen.add(candidate.casefold())
        result.append(candidate)
    return result


@dataclass
class SourceFile:
    """One candidate photo: where it is, its output stem, and what is known before decoding."""

    path: Path
    relative: str
    stem: str
    digest: str | None
    problem: str | None = None
    duplicate_of: str | None = None


@dataclass
class SourceIdentity:
    """One identity folder of the source."""

    folder: Path
    name: str
    gender: str | None
    files: list[SourceFile] = field(default_factory=list)
    ignored: list[FileRecord] = field(default_factory=list)

    @property
    def source_name(self) -> str:
        """The source folder's name, printable (see ``_relative``)."""
        return _relative(self.folder, self.folder.parent)

    def fingerprint(self) -> str:
        """Changes whenever anything that decides this identity's output changes."""
        content = [
            self.source_name,
            self.gender,
            [(f.relative, f.stem, f.digest, f.problem, f.duplicate_of) for f in self.files],
            [asdict(record) for record in self.ignored],
        ]
        return hashlib.sha256(json.dumps(content).encode("utf-8")).hexdigest()


def _relative(path: Path, source: Path) -> str:
    """``path`` relative to SRC, printable: bytes that are not UTF-8 (possible in Linux file
    names) are shown as U+FFFD instead of breaking the JSON report."""
    text = path.relative_to(source).as_posix()
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _digest(path: Path) -> tuple[str | None, str | None]:
    try:
        return file_sha256(path), None
    except OSError as error:
        return None, f"unreadable file ({error.strerror or error})"


def _genders(source: Path) -> dict[str, str]:
    """Genders from ``SRC/metadata.json`` (``{"identities": {folder: {"gender": ...}}}``), if any."""
    try:
        metadata = json.loads((source / SOURCE_METADATA_FILE).read_text(encoding="utf-8"))
        return {
            folder: str(values["gender"])
            for folder, values in metadata.get("identities", {}).items()
            if isinstance(values, dict) and values.get("gender")
        }
    except (OSError, ValueError, AttributeError):
        return {}


def _is_hidden(path: Path) -> bool:
    """Hidden and tool-made entries (``.ipynb_checkpoints``, ``.DS_Store``, ``__MACOSX``)."""
    return path.name.startswith(".") or path.name in ("__MACOSX", "Thumbs.db", "desktop.ini")


def _stray_reason(path: Path) -> str:
    if _is_hidden(path):
        return "hidden or system entry ignored"
    return "not inside an identity folder: SRC must hold one sub-folder of photos per identity"


def _ignored_entry(path: Path, source: Path) -> FileRecord | None:
    """A record for an entry of an identity folder that is not a photo, or None for a photo."""
    relative = _relative(path, source)
    if _is_hidden(path):
        return FileRecord(relative, SKIPPED, "hidden or system file ignored")
    if path.is_dir():
        return FileRecord(
            relative, SKIPPED, "nested folder ignored: put an identity's photos directly in it"
        )
    if not is_image_name(path):
        return FileRecord(
            relative,
            SKIPPED,
            f"not an image file (suffix {path.suffix or 'none'!r}); photos must be "
            ".jpg, .png, .webp, .bmp or .tif",
        )
    return None


def scan_source(source: Path) -> tuple[list[SourceIdentity], list[FileRecord]]:
    """The identities of ``source`` with their candidate photos, and records for stray entries.

    Files are hashed here so that byte-identical copies are found before any decoding: the first
    (in sorted order, across all identities) is used, later ones are reported as duplicates.
    """
    genders = _genders(source)
    entries = sorted(source.iterdir())
    folders = [path for path in entries if path.is_dir() and not _is_hidden(path)]
    stray = [
        FileRecord(_relative(path, source), SKIPPED, _stray_reason(path))
        for path in entries
        if path not in folders and path.name != SOURCE_METADATA_FILE
    ]
    identities, first_copy = [], {}
    for folder, name in zip(folders, unique_names(p.name for p in folders), strict=True):
        identity = SourceIdentity(folder, name, genders.get(folder.name))
        photos = []
        for path in sorted(folder.iterdir()):
            ignored = _ignored_entry(path, source)
            if ignored is None:
                photos.append(path)
            else:
                identity.ignored.append(ignored)
        for path, stem in zip(photos, unique_names(p.stem for p in photos), strict=True):
            digest, problem = _digest(path)
            file = SourceFile(path, _relative(path, source), stem, digest, problem)
            if digest is not None:
                file.duplicate_of = first_copy.setdefault(digest, file.relative)
                if file.duplicate_of == file.relative:
                    file.duplicate_of = None
            identity.files.append(file)
        identities.append(identity)
    return identities, stray
