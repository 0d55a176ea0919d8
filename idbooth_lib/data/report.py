"""The preparation report: what happened to every file of the source folder, and why.

Nothing a user's folder contains stops a preparation (chapter 01); instead every file ends up in
``DST/report.json`` as ``ok``, ``warning`` (used, but something was fixed or is doubtful) or
``skipped``, with the reason. :class:`Report` is that file in memory, with a console summary.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from idbooth_lib.data.layout import REPORT_FILE
from idbooth_lib.io import shown_path

OK, WARNING, SKIPPED = "ok", "warning", "skipped"


@dataclass
class FileRecord:
    """What happened to one source file (or folder): ``status`` is ok, warning or skipped."""

    source: str
    status: str
    reason: str = ""
    identity: str | None = None
    stem: str | None = None


@dataclass
class Report:
    """The outcome of :func:`~idbooth_lib.data.prepare.prepare_dataset`; ``DST/report.json`` is :meth:`to_dict`."""

    source: str
    destination: str
    profile: str
    resolution: int
    records: list[FileRecord]
    identities: list[str]

    def count(self, status: str) -> int:
        return sum(record.status == status for record in self.records)

    @property
    def images(self) -> int:
        """Photos that made it into the dataset (ok and warning)."""
        return sum(record.stem is not None for record in self.records)

    def problems(self) -> list[FileRecord]:
        """Records that are not plainly ok: what a user should read."""
        return [record for record in self.records if record.status != OK]

    def for_source(self, relative: str) -> FileRecord:
        """The record of one source path (relative to SRC, with ``/``)."""
        for record in self.records:
            if record.source == relative:
                return record
        raise KeyError(f"{relative!r} is not in the report of {self.source}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "destination": self.destination,
            "profile": self.profile,
            "resolution": self.resolution,
            "identities": self.identities,
            "counts": {status: self.count(status) for status in (OK, WARNING, SKIPPED)},
            "files": [asdict(record) for record in self.records],
        }

    def summary(self, limit: int = 20, relative_to: str | Path | None = None) -> str:
        """A few lines for the console: totals, then each warning and skip; folders are shown
        relative to ``relative_to`` (a notebook's work folder) where they lie inside it."""
        source, destination = (shown_path(folder, relative_to)
                               for folder in (self.source, self.destination))  # fmt: skip
        lines = [
            f"prepared {self.images} images of {_people(len(self.identities))} from "
            f"{source} into {destination} (profile {self.profile}, {self.resolution} px)",
            f"  ok {self.count(OK)}, warning {self.count(WARNING)}, skipped {self.count(SKIPPED)}"
            f" — every file with its reason is in {Path(destination) / REPORT_FILE}",
        ]
        problems = self.problems()
        lines += [f"  {r.status:>7}  {r.source}: {r.reason}" for r in problems[:limit]]
        if len(problems) > limit:
            lines.append(f"  ... and {len(problems) - limit} more in {REPORT_FILE}")
        return "\n".join(lines)


def _people(count: int) -> str:
    return f"{count} identity" if count == 1 else f"{count} identities"
