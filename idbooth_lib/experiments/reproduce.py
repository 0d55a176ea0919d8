"""``make reproduce``: the paper's whole experiment on the toy world, at a larger scale than the book.

The book executes each stage on two to eight people; the paper's end claim — a small real dataset
augmented with synthetic images of its people trains a better recogniser — needs more people than
that for recognition training to mean anything. This command runs every stage, with the library's
own functions and the toy profile's settings, on :attr:`ReproducePlan.identities` toy people:

1. their constrained studio photos (a few per person, as Tufts has), prepared (chapter 01), and
   a few posed ones (the same backdrop, the head turned and the light moved) that only the
   recognisers of step 5 see;
2. one LoRA per person and method (chapter 04);
3. synthetic images of every person with every method, the same prompts and seeds (chapter 05),
   prepared like any photos;
4. the paper's evaluation of each method's images against the real photos (chapter 06);
5. toy recognisers trained on the real photos alone and on real + each method's images, selected on
   people held out of the training data, tested on the toy verification benchmark — unseen people
   in the wild (chapter 07), with several seeds.

Every stage resumes (runs from their checkpoints, images from their manifests, prepared sets from
their records, recognisers from their epoch checkpoints), so an interrupted ``make reproduce`` is
simply started again. The results file holds the date, the commit and the command::

    REPRO/raw, REPRO/data                  the studio photos and their prepared set
    REPRO/raw-posed, REPRO/posed           the posed photos (recognition only), prepared
    REPRO/runs/<method>/<identity>/        idbooth train's run folders
    REPRO/generated/<method>/<identity>/   idbooth generate's images and manifests
    REPRO/synthetic/<method>/              the generated images, prepared
    REPRO/evaluation/<method>.json         idbooth evaluate (and <method>.embeddings.safetensors)
    REPRO/benchmark/<people>x<pairs>/toy.bin  idbooth toy-bin, at the plan's size
    REPRO/recognition/<setting>-seed<k>/   idbooth fr-train, with fr-eval's benchmarks.json
    REPRO/reproduce.json                   the results the book's chapter 07 and report read

``python -m idbooth_lib.experiments.reproduce REPRO --ship`` copies ``reproduce.json`` into the package,
where the book finds it.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from idbooth_lib.config import ProfileConfig
from idbooth_lib.experiments.skeleton import (
    IDENTITY_ROLES,
    ExperimentModels,
    embeddings_path,
    evaluate_unless_current,
    stamped,
    train_methods,
    write_unless_unchanged,
)
from idbooth_lib.experiments.study import SHIPPED, write_study_photos
from idbooth_lib.experiments.tradeoff import identity_rows, method_comparisons
from idbooth_lib.io import read_results
from idbooth_lib.logs import package_logger
from idbooth_lib.methods import PAPER_METHODS, check_methods

LOG = package_logger(__name__)

RESULTS_FILE = "reproduce.json"
BENCHMARK_FILE = "benchmarks.json"
#: The toy benchmark's threshold search. The shipped reproduce.json, the book's prose and the tests
#: that pin its numbers were made with the midpoint search (fr-eval's default is now insightface's
#: grid); a rerun keeps it so that it reproduces them. Change it only together with a rerun.
BENCHMARK_PROTOCOL = "midpoint"
#: The real photos' prepared set; fr-train names a dataset by its folder, so this is "data".
REAL = "data"
#: The posed photos' prepared set (recognition only).
SESSION = "posed"


@dataclass(frozen=True)
class ReproducePlan:
    """The experiment's scale. The defaults fit ``make reproduce`` in about half an hour on a 2-core CPU."""

    identities: int = 24
    photos_per_identity: int = 5
    images_per_identity: int = 40
    methods: tuple[str, ...] = PAPER_METHODS
    #: Posed photos of each person (the studio backdrop, the head turned, the light moved) that
    #: join the recognisers' real set, never fine-tuning. Trained on the frontal studio shots
    #: alone, the toy recogniser verifies unseen people in the wild barely better than an
    #: untrained one (``benchmarks/recognition_training.py``), so training, and with it the
    #: utility claim, would not be measured. 0: the studio shots alone.
    session_photos_per_identity: int = 5
    recogniser_seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    recogniser_epochs: int = 30
    validation_share: float = 0.2
    benchmark_people_per_fold: int = 10
    benchmark_pairs_per_fold: int = 60

    def __post_init__(self) -> None:
        check_methods(self.methods)
        if self.identities < 6:
            raise ValueError(
                f"{self.identities} people: recognition training holds whole people out for "
                "validation and needs several classes left; use six or more"
            )

    @property
    def real_sets(self) -> tuple[str, ...]:
        """The prepared real datasets a recogniser trains on (folder names, also their origin)."""
        return (REAL, SESSION) if self.session_photos_per_identity else (REAL,)

    @property
    def settings(self) -> tuple[str, ...]:
        """The recognisers' training sets: the real photos alone, then real + each method's."""
        return ("real", *(f"real+{method}" for method in self.methods))


def prepare_real(folder: Path, config: ProfileConfig, plan: ReproducePlan) -> Path:
    """The toy studio photos of the plan's people, prepared into ``folder/data``, and their
    posed photos (if the plan has any) into ``folder/posed``; returns the studio photos' folder."""
    from idbooth_lib.data.prepare import prepare_dataset
    from idbooth_lib.toy_world.dataset import write_toy_dataset

    raw = write_study_photos(folder, config, plan.identities, plan.photos_per_identity)
    prepare_dataset(raw, folder / REAL, config)
    if plan.session_photos_per_identity:
        posed = write_toy_dataset(folder / "raw-posed", plan.identities,
                                  plan.session_photos_per_identity, mode="posed", seed=config.seed,
                                  size=config.data.resolution)  # fmt: skip
        prepare_dataset(posed, folder / SESSION, config)
    return raw


def train_and_generate(
    folder: Path,
    config: ProfileConfig,
    plan: ReproducePlan,
    models: ExperimentModels,
) -> None:
    """One LoRA per person and method, then the paper's prompts from each, prepared as data."""
    from idbooth_lib.data.prepare import prepare_dataset
    from idbooth_lib.generation.generate import generate_images

    train_methods(config, folder / REAL, folder / "runs", plan.methods, models)
    pipeline = models.sampling.pipeline
    for method in plan.methods:
        generate_images([folder / "runs" / method], folder / "generated", config,
                        plan.images_per_identity, pipeline)  # fmt: skip
        prepare_dataset(folder / "generated" / method, folder / "synthetic" / method, config)  # fmt: skip


def evaluate_methods(
    folder: Path, config: ProfileConfig, plan: ReproducePlan, raw: Path, models: ExperimentModels
) -> dict:
    """``idbooth evaluate`` of each method's images against the real photos (made again only
    when images were drawn after it)."""
    found = {}
    for method in plan.methods:
        found[method] = evaluate_unless_current(
            folder / "evaluation" / f"{method}.json", folder / "generated" / method, raw, config,
            models.sampling,
        )  # fmt: skip
    return found


def train_recognisers(
    folder: Path, plan: ReproducePlan, benchmark: Path
) -> list[dict]:
    """A toy recogniser per training set and seed, tested on ``benchmark``; one row each."""
    from idbooth_lib.evaluation.run import write_results
    from idbooth_lib.recognition.benchmarks import evaluate_benchmarks
    from idbooth_lib.recognition.train import (
        TRAINING_FILE,
        RecognitionConfig,
        train_on_real_and_synthetic,
    )

    rows = []
    for setting in plan.settings:
        real = [folder / name for name in plan.real_sets]
        synthetic = [folder / "synthetic" / m for m in setting.split("+")[1:]]
        for seed in plan.recogniser_seeds:
            output = folder / "recognition" / f"{setting}-seed{seed}"
            config = RecognitionConfig(epochs=plan.recogniser_epochs, seed=seed)
            began = time.perf_counter()
            record = train_on_real_and_synthetic(real, synthetic, config, output,
                                                 plan.validation_share)  # fmt: skip
            tested = output / BENCHMARK_FILE
            if not _reusable_scores(tested, output / TRAINING_FILE, benchmark):
                scored = evaluate_benchmarks(output, [benchmark], protocol=BENCHMARK_PROTOCOL)
                write_results(tested, scored)
            benchmarks = json.loads(tested.read_text(encoding="utf-8"))["benchmarks"]
            rows.append(recogniser_row(setting, seed, record, benchmarks))
            LOG.info(f"{setting} seed {seed}: {time.perf_counter() - began:.0f} s, toy benchmark "
                f"{rows[-1]['accuracy_mean']:.4f}")  # fmt: skip
    return rows


def _newer_than(path: Path, *sources: Path) -> bool:
    """Whether ``path`` exists and was written after every one of ``sources``."""
    return path.is_file() and all(
        path.stat().st_mtime_ns >= source.stat().st_mtime_ns for source in sources
    )


def _reusable_scores(tested: Path, *sources: Path) -> bool:
    """Whether a recogniser's benchmarks file can stand: written after ``sources`` and scored
    with :data:`BENCHMARK_PROTOCOL` (files without a protocol predate the choice: midpoint)."""
    if not _newer_than(tested, *sources):
        return False
    scored = json.loads(tested.read_text(encoding="utf-8"))["benchmarks"]
    return all(row.get("protocol", "midpoint") == BENCHMARK_PROTOCOL for row in scored.values())


def recogniser_row(setting: str, seed: int, record: dict, benchmarks: dict) -> dict[str, Any]:
    """One recogniser's training summary and its toy-benchmark result."""
    (name, found), = benchmarks.items()  # fmt: skip
    return {
        "setting": setting,
        "seed": seed,
        "benchmark": name,
        "accuracy_mean": found["accuracy_mean"],
        "accuracy_std": found["accuracy_std"],
        "tar_at_far_1e-3": found["tar_at_far_1e-3"],
        "pairs": found["pairs"],
        "validation_accuracy": record["validation_accuracy"],
        "validation_separation": record["validation_separation"],
        "validation_people": record["validation_people"],
        "selected_epoch": record["selected_epoch"],
        "train": record["train"],
        "validation": record["validation"],
    }


#: The reference rows' name for a toy backbone that was never trained (seed 0).
UNTRAINED = "untrained toy backbone"
RESULT_KEYS = ("accuracy_mean", "accuracy_std", "tar_at_far_1e-3", "pairs")


def reference_rows(benchmark: Path) -> list[dict[str, Any]]:
    """The same benchmark scored by an untrained toy backbone (what random convolutions alone
    pick up) and by the shipped toy recognisers (what thousands of pretraining images give), to
    place what a few photos per person give between them."""
    import torch

    from idbooth_lib.identity.encoders import load_identity_encoder
    from idbooth_lib.recognition.benchmarks import score_benchmark
    from idbooth_lib.recognition.bins import read_bin
    from idbooth_lib.recognition.train import build_backbone

    pairs = read_bin(benchmark)
    torch.manual_seed(0)
    encoders = {UNTRAINED: build_backbone("toy", 128).eval()}
    for source in ("idbooth:toy/recogniser", "idbooth:toy/recogniser_b"):
        encoders[source] = load_identity_encoder(source)
    rows = []
    for model, encoder in encoders.items():
        found = score_benchmark(encoder, pairs, BENCHMARK_PROTOCOL)
        rows.append({"model": model, "benchmark": pairs.name} | {k: found[k] for k in RESULT_KEYS})
    return rows


def recognition_summary(rows: list[dict]) -> list[dict[str, Any]]:
    """Per training set: the mean over seeds of the benchmark accuracy and TAR, and the seeds'
    spread (the sample standard deviation; 0 for a single seed)."""
    summary = []
    for setting in dict.fromkeys(row["setting"] for row in rows):
        mine = [row for row in rows if row["setting"] == setting]
        accuracy = np.array([row["accuracy_mean"] for row in mine])
        tar = np.array([row["tar_at_far_1e-3"] for row in mine])
        summary.append({
            "setting": setting,
            "seeds": len(mine),
            "accuracy_mean": float(accuracy.mean()),
            "accuracy_seed_std": float(accuracy.std(ddof=1)) if len(mine) > 1 else 0.0,
            "tar_at_far_1e-3_mean": float(tar.mean()),
            "train_images": int(np.mean([row["train"]["images"] for row in mine])),
        })  # fmt: skip
    return summary


def method_rows(evaluations: dict[str, dict], step: int) -> list[dict[str, Any]]:
    """Per method and person: identity by both recognisers, adherence and Vendi (the trade-off
    study's rows at one training length), what the per-person intervals are computed from. The
    gains are over nothing here (the reproduction draws no base model), so they equal the
    similarities."""
    rows = []
    for method, evaluation in evaluations.items():
        for row in identity_rows(evaluation, step, method):
            rows.append(row | {f"{m}_gained": row[m] for m in IDENTITY_ROLES})
    return rows


def recognition_comparisons(rows: list[dict]) -> list[dict[str, Any]]:
    """Benchmark accuracy of real + each method's images minus real alone, and ID-Booth's
    against the other methods', paired by seed (every setting trains with the same seeds, so a
    seed's recognisers share their initialisation and data order): one record per comparison."""
    from idbooth_lib.evaluation.intervals import paired_difference

    accuracy = {(row["setting"], row["seed"]): row["accuracy_mean"] for row in rows}
    settings = list(dict.fromkeys(row["setting"] for row in rows))
    seeds = sorted({row["seed"] for row in rows})
    wanted = [(s, "real") for s in settings if s != "real"]
    wanted += [("real+idbooth", s) for s in settings if s not in ("real", "real+idbooth")]
    records = []
    for first, second in wanted:
        if first not in settings or second not in settings or len(seeds) < 2:
            continue
        interval = paired_difference([accuracy.get((first, k), np.nan) for k in seeds],
                                     [accuracy.get((second, k), np.nan) for k in seeds])  # fmt: skip
        records.append({"first": first, "second": second, "measure": "accuracy_mean"}
                       | interval.to_dict())  # fmt: skip
    return records


def method_summary(evaluation: dict) -> dict[str, Any]:
    """The paper's table entries of one method's evaluation (both recognisers), slimmed."""
    keep = ("eer", "fnmr_at_fmr_1e-2", "genuine_mean", "genuine_std", "impostor_mean", "fdr")
    summary: dict[str, Any] = {"faces_found": evaluation.get("faces_found")}
    for role, measures in evaluation.get("encoders", {}).items():
        summary[role] = {
            protocol: {key: measures[protocol].get(key) for key in keep}
            for protocol in ("synthetic_vs_synthetic", "synthetic_vs_real", "real_vs_real")
        }
        similarity = measures.get("similarity_to_real") or {}
        summary[role]["similarity_to_real_mean"] = (
            float(np.mean(list(similarity.values()))) if similarity else None
        )
    summary["vendi_mean"] = (evaluation.get("diversity") or {}).get("vendi_mean")
    adherence = evaluation.get("adherence") or {}
    summary["background"] = adherence.get("background")
    summary["pose"] = adherence.get("pose")
    summary["near_copies"] = (evaluation.get("memorisation") or {}).get("near_copies")
    return summary


def run_reproduce(
    folder: str | Path,
    config: ProfileConfig,
    plan: ReproducePlan = ReproducePlan(),
    command: str = "",
) -> dict:
    """Run (or resume) the whole toy experiment in ``folder``; write and return its results."""
    from idbooth_lib.toy.benchmark import write_toy_benchmark

    folder = Path(folder)
    LOG.info(f"reproducing on {plan.identities} toy people in {folder}")
    raw = prepare_real(folder, config, plan)
    models = ExperimentModels(config)
    train_and_generate(folder, config, plan, models)
    evaluations = evaluate_methods(folder, config, plan, raw, models)
    sizes = f"{plan.benchmark_people_per_fold}x{plan.benchmark_pairs_per_fold}"
    benchmark = folder / "benchmark" / sizes / "toy.bin"  # another size, another file
    if not benchmark.is_file():
        write_toy_benchmark(benchmark, people_per_fold=plan.benchmark_people_per_fold,
                            pairs_per_fold=plan.benchmark_pairs_per_fold)  # fmt: skip
    rows = train_recognisers(folder, plan, benchmark)
    people_rows = method_rows(evaluations, config.train.max_steps)
    results = stamped(
        command,
        profile=config.name,
        plan=dataclasses.asdict(plan),
        train=dataclasses.asdict(config.train) | {"method": None},
        methods={method: method_summary(found) for method, found in evaluations.items()},
        rows=people_rows,
        # method minus method with paired bootstrap 95 % intervals over the people
        comparisons=method_comparisons(
            {m: embeddings_path(folder / "evaluation" / f"{m}.json") for m in plan.methods},
            people_rows, plan.methods,
        ),  # fmt: skip
        recognition=rows,
        recognition_summary=recognition_summary(rows),
        reference_recognisers=reference_rows(benchmark),
    )
    return write_unless_unchanged(folder / RESULTS_FILE, results)


def shipped_reproduction() -> Path | None:
    """The committed results of ``make reproduce``, or None when they are not shipped."""
    path = SHIPPED / RESULTS_FILE
    return path if path.is_file() else None


def read_reproduction(path: str | Path) -> dict:
    """A results file of :func:`run_reproduce`, checked for the fields the book reads."""
    return read_results(path, ("plan", "methods", "recognition_summary"), "make reproduce")


def main(argv: list[str] | None = None) -> int:
    """``python -m idbooth_lib.experiments.reproduce REPRO [--ship]``: run the toy experiment in REPRO."""
    import argparse
    import shlex
    import sys

    from idbooth_lib.config import load_profile
    from idbooth_lib.logs import set_verbosity

    set_verbosity("info")  # each stage's lines; no bars in a half-hour log
    parser = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--identities", type=int, default=ReproducePlan.identities)
    parser.add_argument("--images-per-identity", type=int,
                        default=ReproducePlan.images_per_identity)  # fmt: skip
    parser.add_argument("--epochs", type=int, default=ReproducePlan.recogniser_epochs)
    parser.add_argument("--session-photos", type=int,
                        default=ReproducePlan.session_photos_per_identity,
                        help="posed photos per person in the recognisers' real set")  # fmt: skip
    parser.add_argument("--ship", action="store_true",
                        help=f"copy REPRO/{RESULTS_FILE} into the package for the book")  # fmt: skip
    arguments = parser.parse_args(argv)
    plan = ReproducePlan(identities=arguments.identities,
                         images_per_identity=arguments.images_per_identity,
                         recogniser_epochs=arguments.epochs,
                         session_photos_per_identity=arguments.session_photos)  # fmt: skip
    try:
        config = load_profile("toy", {"paths.root": str(arguments.folder / "cache")})
        command = "python -m idbooth_lib.experiments.reproduce " + shlex.join(sys.argv[1:] if argv is None
                                                                      else argv)  # fmt: skip
        run_reproduce(arguments.folder, config, plan, command=command)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if arguments.ship:
        shutil.copyfile(arguments.folder / RESULTS_FILE, SHIPPED / RESULTS_FILE)
        print(f"shipped {SHIPPED / RESULTS_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
