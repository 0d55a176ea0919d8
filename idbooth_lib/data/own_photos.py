"""Your own photos (chapter 08): consent first, then one folder of one person's photos.

``idbooth prepare`` reads one sub-folder per person. A reader with photos of one consenting person
has them in a Drive folder, or uploads them one by one; :func:`gather_photos` copies either into
``PHOTOS/<person>/`` and leaves a folder that already holds *other* photos untouched, because on
Colab the work folder lives on Drive and outlives the session: the same folder met again is a
resumed run, a folder with someone else's photos is a mistake that must not mix two people.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path

from idbooth_lib.data.images import is_image_name
from idbooth_lib.data.scan import PROMPT_GENDERS, SOURCE_METADATA_FILE
from idbooth_lib.io import file_sha256, shown_path, write_json
from idbooth_lib.logs import package_logger

LOG = package_logger(__name__)

#: The paper fine-tunes on five photos per person; more than ten adds time, not identity.
RECOMMENDED_PHOTOS = range(5, 11)


class ConsentRequired(ValueError):
    """Photos of a real person are about to be processed without the confirmation of consent."""


def require_consent(confirmed: bool) -> None:
    """Stop unless the reader has confirmed that the person pictured agreed (see the book's
    ethics section): a LoRA of someone's face is a model of that person, and an embedding is
    biometric data."""
    if not confirmed:
        raise ConsentRequired(
            "set I_HAVE_CONSENT = True only if the person in the photos has agreed, freely and "
            "knowing what is made from them (a LoRA that draws their face, embeddings), and can "
            "withdraw; see 'The ethics of face data' in the introduction"
        )


def photo_files(source: str | Path | Iterable[str | Path]) -> list[Path]:
    """The image files of a folder (not its sub-folders), or of a list of files, sorted by name."""
    if isinstance(source, str | Path):
        folder = Path(source).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is not a folder: PHOTOS must name a folder of photos")
        candidates = [path for path in folder.iterdir() if path.is_file()]
    else:
        candidates = [Path(path).expanduser() for path in source]
    return sorted((p for p in candidates if is_image_name(p)), key=lambda path: path.name)


def gather_photos(
    source: str | Path | Iterable[str | Path],
    destination: str | Path,
    person: str = "person",
    gender: str = "female",
) -> Path:
    """Copy the photos of ``source`` into ``destination/person/`` and return that folder; the
    person's ``gender``, the word the paper's prompts use for them, goes into
    ``destination/metadata.json``, where ``idbooth prepare`` reads it.

    A folder that already holds exactly these photos is reused as it is (a resumed run); one that
    holds other files is refused, with nothing changed. Fewer than two photos cannot be fine-tuned
    on; outside :data:`RECOMMENDED_PHOTOS` the photos are still used.
    """
    if gender not in PROMPT_GENDERS:
        raise ValueError(f"GENDER must be one of {PROMPT_GENDERS}, the prompts' words: not {gender!r}")
    photos = photo_files(source)
    if len(photos) < 2:
        raise ValueError(
            f"found {len(photos)} photo(s) in {source}: fine-tuning needs at least two, and the "
            f"paper uses five (.jpg, .png, .webp, ...)"
        )
    folder = Path(destination) / person
    wanted = {path.name: file_sha256(path) for path in photos}
    if folder.exists():
        _check_same_photos(folder, wanted)
    else:
        _copy_whole(photos, folder)
    _record_gender(Path(destination), person, gender)
    return folder


def _record_gender(destination: Path, person: str, gender: str) -> None:
    """Add ``person``'s gender to ``destination/metadata.json``, keeping every other person's."""
    path = destination / SOURCE_METADATA_FILE
    metadata = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    metadata.setdefault("identities", {})[person] = {"gender": gender}
    write_json(path, metadata, keep_unchanged=True)


def _copy_whole(photos: list[Path], folder: Path) -> None:
    """Copy into a hidden folder first and rename it: the folder appears whole or not at all."""
    staging = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for path in photos:
        shutil.copy2(path, staging / path.name)
    staging.rename(folder)


def gathered_photos(destination: str | Path, person: str) -> Path | None:
    """``destination/person/`` when :func:`gather_photos` filled it in an earlier session (two
    photos or more), else None: a chapter run again after a disconnect reuses those photos
    instead of asking for them again."""
    folder = Path(destination) / person
    return folder if folder.is_dir() and len(photo_files(folder)) >= 2 else None


def photo_source(photos: str | Path, destination: str | Path, person: str,
                 uploads: str | Path) -> Path:  # fmt: skip
    """Where chapter 08 takes the photos from: the ``photos`` folder when one is named, else the
    photos gathered before (a resumed run, no dialog), else the browser's upload dialog."""
    if photos:
        return Path(photos).expanduser()
    earlier = gathered_photos(destination, person)
    if earlier is not None:
        LOG.info(f"reusing the {len(photo_files(earlier))} photos gathered before in "
                 f"{shown_path(earlier)}")  # fmt: skip
        return earlier
    return upload_photos(uploads)


def upload_photos(folder: str | Path) -> Path:
    """On Colab: the browser's file dialog, and the chosen files written to ``folder``."""
    from google.colab import files  # only importable on Colab

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.upload().items():
        (folder / Path(name).name).write_bytes(content)
    return folder


def _check_same_photos(folder: Path, wanted: dict[str, str]) -> None:
    """Refuse ``folder`` unless it holds exactly the photos ``wanted`` (name → SHA-256)."""
    found = {path.name: file_sha256(path) for path in folder.iterdir() if path.is_file()}
    if found != wanted:
        raise FileExistsError(
            f"{folder} already holds other photos ({len(found)} files, not these {len(wanted)}): "
            "it belongs to another run. Choose another WORK folder or another person name; "
            "nothing in it was changed"
        )


__all__ = ["RECOMMENDED_PHOTOS", "ConsentRequired", "gather_photos", "gathered_photos",
           "photo_files", "photo_source", "require_consent", "upload_photos"]  # fmt: skip
