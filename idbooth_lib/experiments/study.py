"""The book's trade-off study on the toy world: its photos, and what the book ships from it.

``idbooth tradeoff`` (:mod:`~idbooth_lib.experiments.tradeoff`) runs on any folder of photos;
without one it studies the toy people written here — constrained studio photos, as the paper
fine-tunes on. Chapters 05 and 06 read the study's committed results and draw from the LoRAs of
the book's toy setting for two of its eight people, shipped in ``results`` by
:func:`ship_study` (made by the command in its ``tradeoff.json``), so that the book need not
fine-tune each time it is built. Paths inside the shipped files name the study's folder
``STUDY``, as its command does.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from idbooth_lib.config import ProfileConfig
from idbooth_lib.diffusion.lora import LORA_FILE
from idbooth_lib.io import write_json
from idbooth_lib.logs import package_logger
from idbooth_lib.toy_world.dataset import write_toy_dataset

LOG = package_logger(__name__)

#: The study's people and their photos per person: the book's toy world (seed 0).
STUDY_IDENTITIES = 8
STUDY_PHOTOS = 5
SHIPPED = Path(__file__).parent / "results"
RESULTS_FILE = "tradeoff.json"


def write_study_photos(
    folder: str | Path,
    config: ProfileConfig,
    identities: int = STUDY_IDENTITIES,
    photos: int = STUDY_PHOTOS,
) -> Path:
    """The toy studio photos of the study, in ``folder/raw`` (rewritten identically on a rerun)."""
    return write_toy_dataset(
        Path(folder) / "raw",
        identities=identities,
        images_per_identity=photos,
        mode=config.data.toy_mode,
        seed=config.seed,
        size=config.data.resolution,
    )


def shipped_results() -> Path | None:
    """The committed results of the book's study, or None when they are not shipped."""
    path = SHIPPED / RESULTS_FILE
    return path if path.is_file() else None


def shipped_variant(name: str) -> Path | None:
    """A shipped study of another setting (rows and summary only), or None."""
    path = SHIPPED / name
    return path if path.is_file() else None


def shipped_runs(method: str) -> Path:
    """The folder of the shipped run folders of ``method`` (one per identity), for
    ``idbooth generate --runs``."""
    return SHIPPED / "runs" / method


def ship_study(
    study: str | Path, step: int, identities: list[str], destination: Path = SHIPPED
) -> None:
    """Copy the study's results and, for ``identities``, each method's LoRA at ``step`` into
    ``destination`` as finished run folders (``run.json`` saying which step they are)."""
    from idbooth_lib.training.finetune import FINISHED_FILE, snapshot_folder
    from idbooth_lib.training.run import RUN_FILE

    study = Path(study)
    results = json.loads((study / RESULTS_FILE).read_text(encoding="utf-8"))
    shutil.rmtree(destination / "runs", ignore_errors=True)
    for method in results["plan"]["methods"]:
        for identity in identities:
            run = study / "runs" / method / identity
            target = destination / "runs" / method / identity
            target.mkdir(parents=True)
            shutil.copyfile(snapshot_folder(run, step) / LORA_FILE, target / LORA_FILE)
            about = json.loads((run / RUN_FILE).read_text(encoding="utf-8"))
            about["config"]["train"]["max_steps"] = step
            about["config"]["train"]["lora_snapshot_steps"] = []
            about |= {"dataset": "the toy world, seed 0 (idbooth tradeoff)", "snapshot_step": step}
            write_json(target / RUN_FILE, about)
            write_json(target / FINISHED_FILE, {"steps": step, "snapshot_of": str(run.name)})
    slimmed = dict(results)
    slimmed["evaluations"] = {
        name: found if name.startswith(f"{step}/") else slim_evaluation(found)
        for name, found in results["evaluations"].items()
    }
    write_json(destination / RESULTS_FILE, _without_local_paths(slimmed, study))


#: Per-file lists of an evaluation, kept only at the shipped step (chapter 06's audit reads them).
PER_FILE = ("nearest_real_distance", "synthetic_files", "nearest_real_file")


def slim_evaluation(found: dict) -> dict:
    """``found`` without its per-file lists (every summary number stays): the memorisation audit's
    distances and file names, and the unusable files (their count stays)."""
    slim = dict(found)
    slim["memorisation"] = {k: v for k, v in found["memorisation"].items() if k not in PER_FILE}
    slim["unusable"] = {kind: len(files) for kind, files in found["unusable"].items()}
    return slim


def _without_local_paths(results: dict, study: Path) -> dict:
    """``results`` with the study's folder written ``STUDY`` (no path of the machine that ran it)."""
    text = json.dumps(results).replace(str(study.resolve()), "STUDY").replace(str(study), "STUDY")
    return json.loads(text)


def ship_variant(study: str | Path, name: str, destination: Path = SHIPPED) -> Path:
    """Ship another study's rows and summary only (no LoRAs, no evaluations), as ``name``."""
    results = json.loads((Path(study) / RESULTS_FILE).read_text(encoding="utf-8"))
    results.pop("evaluations", None)
    write_json(destination / name, _without_local_paths(results, Path(study)))
    return destination / name


def book_runs(
    work: str | Path,
    config: ProfileConfig,
    methods: tuple[str, ...],
    identities: list[str],
) -> dict[str, Path]:
    """Each method's folder of run folders for ``identities`` at the book's toy setting: the
    shipped ones when every one is there, or else trained now, with ``config``, on the study's
    photos in ``work`` (under a minute per run on a 2-core CPU)."""
    if all((shipped_runs(m) / i / LORA_FILE).is_file() for m in methods for i in identities):
        return {method: shipped_runs(method) for method in methods}
    from idbooth_lib.data.prepare import prepare_dataset
    from idbooth_lib.training.run import train_identities

    LOG.info("the shipped LoRAs are missing: training them now with the book's toy setting")
    work = Path(work)
    prepare_dataset(write_study_photos(work, config), work / "data", config)
    for method in methods:
        trained = dataclasses.replace(
            config, train=dataclasses.replace(config.train, method=method)
        )
        for identity in identities:
            folder = work / "runs" / method / identity
            train_identities(trained, work / "data", [identity], folder)
    return {method: work / "runs" / method for method in methods}


def main(argv: list[str] | None = None) -> int:
    """``python -m idbooth_lib.experiments.study STUDY``: ship a finished study's results and the LoRAs
    of the book's setting (``train.max_steps`` of the toy profile) for the shown people."""
    import argparse

    from idbooth_lib.config import load_profile

    parser = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    parser.add_argument("study", type=Path, help="the --output of `idbooth tradeoff`")
    parser.add_argument("--identities", default="id_0000,id_0001")
    parser.add_argument(
        "--variant", default=None, metavar="NAME.json",
        help="ship only the rows and summary of STUDY under this name (a study of another setting)",
    )  # fmt: skip
    arguments = parser.parse_args(argv)
    if arguments.variant:
        print(f"shipped {ship_variant(arguments.study, arguments.variant)}")
        return 0
    step = load_profile("toy").train.max_steps
    ship_study(arguments.study, step, arguments.identities.split(","))
    print(f"shipped {arguments.study / RESULTS_FILE} and the step-{step} LoRAs into {SHIPPED}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
