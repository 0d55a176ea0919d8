"""What every experiment of the book does the same way, written once.

The trade-off study (:mod:`~idbooth_lib.experiments.tradeoff`) and the reproduction
(:mod:`~idbooth_lib.experiments.reproduce`) are one experiment at two scales: for each method of a
plan they fine-tune every person, draw the paper's prompts and evaluate the images against the
real photos; the study keeps snapshots along training, the reproduction trains recognisers after.
Their shared steps live here:

- :func:`method_config` — the profile with one method's settings (the plans check their method
  names against the registry, :func:`~idbooth_lib.methods.check_methods`, when they are made);
- :class:`ExperimentModels` — the models of a whole run, each loaded once for every method;
- :func:`train_methods` — every method on every person, resuming what is done;
- :func:`evaluate_unless_current` — ``idbooth evaluate``, skipped when its results still hold;
- :func:`stamped` and :func:`write_unless_unchanged` — results that say when, by which command and
  from which commit they were made, and a rerun that changes no number changes no file.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from idbooth_lib.config import ProfileConfig
from idbooth_lib.env import source_commit
from idbooth_lib.evaluation.run import evaluate_folders, finite, write_results
from idbooth_lib.logs import package_logger
from idbooth_lib.models import ModelBundle

LOG = package_logger(__name__)

#: The measures of one evaluation's identities, and the recogniser each identity value uses.
IDENTITY_ROLES = {"identity_independent": "evaluation_encoder", "identity_loss": "identity_encoder"}
#: What a results file holds about its making, apart from its numbers.
STAMP = ("date", "commit")


def method_config(config: ProfileConfig, method: str, **train: Any) -> ProfileConfig:
    """``config`` training ``method``, with any other ``train`` settings the experiment fixes."""
    return dataclasses.replace(config, train=dataclasses.replace(config.train, method=method, **train))


class ExperimentModels:
    """The models of one experiment run, each loaded at most once for all its methods.

    ``training`` holds what fine-tuning uses (on this process's device, the base pipeline in
    training's precision). ``sampling``, first asked for once training is over, holds the
    pipeline that draws the images and the evaluation's models; it takes over the detector and
    the recogniser training loaded, and the training pipeline is let go, so that two pipelines
    are never held at once. Nothing loads before a stage needs it.
    """

    def __init__(self, config: ProfileConfig) -> None:
        from idbooth_lib.training.run import training_models

        self.config = config
        self.training: ModelBundle | None = training_models(config)
        self._sampling: ModelBundle | None = None

    @property
    def sampling(self) -> ModelBundle:
        if self._sampling is None:
            trained = self.training
            shared = {name: getattr(trained, name) for name in ("detector", "identity_encoder")
                      if trained is not None and trained.is_loaded(name)}  # fmt: skip
            self._sampling, self.training = ModelBundle(self.config, **shared), None
        return self._sampling


def train_methods(
    config: ProfileConfig,
    data: Path,
    runs: Path,
    methods: Iterable[str],
    models: ExperimentModels,
    configure: Callable[[ProfileConfig, str], ProfileConfig] = method_config,
) -> None:
    """Fine-tune every person of the prepared ``data`` with each method into
    ``runs/<method>/<identity>`` (resumes; a finished run is not trained again). ``configure``
    gives a method's profile (default :func:`method_config`)."""
    from idbooth_lib.training.run import train_identities

    for method in methods:
        train_identities(configure(config, method), data, None, runs / method,
                         models=models.training)  # fmt: skip


# ----------------------------------------------------------------------------------------------
# Evaluations that are made again only when their images changed
# ----------------------------------------------------------------------------------------------


def embeddings_path(results: Path) -> Path:
    """Where the recognisers' embeddings of the evaluation in ``results`` are kept."""
    return results.with_name(f"{results.stem}.embeddings.safetensors")


def current_evaluation(
    results: Path, samples: Path, photos: Path, config: ProfileConfig
) -> dict | None:
    """The results in ``results`` if they were made against these ``photos`` with these
    recognisers after every image and manifest of ``samples`` was written, and their embeddings
    are kept beside them (the set-level intervals need them), else None (an image
    drawn again, after an interruption, is not bit-identical: batches of another size round
    differently)."""
    if not results.is_file() or not embeddings_path(results).is_file():
        return None
    try:
        made = json.loads(results.read_text(encoding="utf-8"))
        sources = {role: found["source"] for role, found in made["encoders"].items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    wanted = {role: getattr(config.models, role) for role in IDENTITY_ROLES.values()}
    if made.get("real") != str(photos) or sources != wanted:
        return None
    drawn = [path for path in samples.glob("*/*") if path.is_file()]
    written = results.stat().st_mtime_ns
    current = bool(drawn) and all(path.stat().st_mtime_ns <= written for path in drawn)
    return made if current else None


def evaluate_unless_current(
    results: Path,
    samples: Path,
    photos: Path,
    config: ProfileConfig,
    models: ModelBundle,
) -> dict:
    """``idbooth evaluate`` of ``samples`` against ``photos``, written to ``results``; the file's
    results as they are when still current. Pass one bundle for every evaluation of a run: its
    models load once, and only if something is evaluated."""
    made = current_evaluation(results, samples, photos, config)
    if made is None:
        found = evaluate_folders(samples, photos, config, models, embeddings_path(results))
        write_results(results, found)
        made = json.loads(results.read_text(encoding="utf-8"))  # as stored: NaN written as null
    return made


# ----------------------------------------------------------------------------------------------
# Results that say how they were made
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Made:
    """When, from which commit and by which command a results file was made: what a chapter
    prints above the numbers it reads from one."""

    date: str
    commit: str
    command: str

    @classmethod
    def of(cls, results: dict) -> Made:
        return cls(results.get("date") or "?", results.get("commit") or "?", results.get("command") or "")

    def told(self) -> str:
        """``made DATE at commit COMMIT by`` and the command, wrapped for a page (the command as
        that commit named it: checked out there, it repeats the run)."""
        from idbooth_lib.reporting import wrapped_command

        return f"made {self.date} at commit {self.commit} by\n{wrapped_command(self.command)}"


def stamped(command: str, **results: Any) -> dict:
    """``results`` after the day, the commit of the code (``-dirty`` for uncommitted changes)
    and the command that made them."""
    return {"date": datetime.date.today().isoformat(), "commit": source_commit(),
            "command": command, **results}  # fmt: skip


def write_unless_unchanged(path: Path, results: dict) -> dict:
    """Write ``results`` to ``path``, unless ``path`` holds the same results but for their
    stamp: then the file is kept as it is (it names the day and the code that made those
    numbers). Returns the results as stored; the file is read once."""
    fresh = json.loads(json.dumps(finite(results)))  # as it is stored: NaN as null
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        stored = None
    if stored is not None and _without_stamp(stored) == _without_stamp(fresh):
        LOG.info(f"{path} already holds these results (made {stored.get('date')})")
        return stored
    write_results(path, results)
    LOG.info(f"wrote {path}")
    return fresh


def _without_stamp(results: dict) -> dict:
    return {key: value for key, value in results.items() if key not in STAMP}


__all__ = [
    "IDENTITY_ROLES",
    "ExperimentModels",
    "Made",
    "current_evaluation",
    "embeddings_path",
    "evaluate_unless_current",
    "method_config",
    "stamped",
    "train_methods",
    "write_unless_unchanged",
]
