"""The identity–prompt trade-off: where each method stands between identity gained and prompt kept.

The paper compares DreamBooth, PortraitBooth and ID-Booth by one point each, after a fixed
training length. A fine-tuned model gains the person and loses the prompt as training goes on,
so one point says little: this study follows each method *along* training. For a folder of
several people's photos (the CLI writes toy studio photos when none is given) it

1. prepares the photos (chapter 01);
2. fine-tunes each method on each identity with ``train.lora_snapshot_steps``, so that the LoRA
   is saved at every step of the plan (step 0 is the untrained LoRA: the base model);
3. draws the paper's prompt plan (:func:`~idbooth_lib.generation.prompts.prompt_plan`) from
   every snapshot with the *same* seeds;
4. evaluates every (step, method) folder with ``idbooth evaluate`` against the identities' real
   photos, and collects, per method, person and step, the identity similarity by both
   recognisers, background and pose adherence, and diversity.

Everything is written below one study folder and every stage resumes: the runs from their
checkpoints, the samples from their manifests, the evaluations from their results files (made
again when their samples are newer, when they were made against other photos or
recognisers, or when the embeddings beside them are missing, as in a study made before the
set-level intervals: resuming such a study re-evaluates it, and trains and draws nothing). The results file holds the date and the commit of the code that wrote it (with
``-dirty`` for uncommitted changes; a study resumed across commits ran its earlier stages under
older code), and is left as it is by a rerun that changes no number::

    STUDY/data                            the photos, prepared (the toy photos: STUDY/raw)
    STUDY/runs/<method>/<identity>/       idbooth train's run folders, with snapshots/step-NNNNN
    STUDY/samples/step-NNNNN/<method>/    idbooth generate's output for that snapshot
    STUDY/samples/step-NNNNN/<method>/evaluation.json
    STUDY/samples/step-NNNNN/<method>/evaluation.embeddings.safetensors  both recognisers'
                                          embeddings, for the set-level intervals
    STUDY/tradeoff.json                   rows per (method, identity, step), the method
                                          comparisons with intervals per step, and the plan

The step-0 samples are drawn once, under the name ``base``: before training, every method's
LoRA is zero, so every method draws the same images.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from idbooth_lib.config import ProfileConfig
from idbooth_lib.diffusion.lora import LORA_FILE
from idbooth_lib.evaluation.intervals import paired_difference
from idbooth_lib.experiments.skeleton import (
    IDENTITY_ROLES,
    ExperimentModels,
    embeddings_path,
    evaluate_unless_current,
    method_config,
    stamped,
    train_methods,
    write_unless_unchanged,
)
from idbooth_lib.generation.generate import TrainedRun, file_hash, generate_run
from idbooth_lib.generation.generate import read_run as read_trained_run
from idbooth_lib.io import read_results
from idbooth_lib.logs import package_logger, progress_bar
from idbooth_lib.methods import PAPER_METHODS, check_methods, method_names
from idbooth_lib.training.finetune import snapshot_folder

LOG = package_logger(__name__)

#: The name of the step-0 samples: the untrained LoRA, the same for every method.
BASE = "base"
RESULTS_FILE = "tradeoff.json"
EVALUATION_FILE = "evaluation.json"


@dataclass(frozen=True)
class StudyPlan:
    """Which steps, which methods, how many images per identity: the study's own settings."""

    snapshot_steps: tuple[int, ...] = (25, 50, 100, 200, 300)
    methods: tuple[str, ...] = PAPER_METHODS
    images_per_identity: int = 21

    def __post_init__(self) -> None:
        if not self.snapshot_steps or min(self.snapshot_steps) < 1:
            raise ValueError(f"snapshot steps must be positive, got {self.snapshot_steps}")
        check_methods(self.methods)

    @property
    def steps(self) -> tuple[int, ...]:
        """Every sampled step, 0 (the base model) first."""
        return (0, *sorted(set(self.snapshot_steps)))

    @property
    def max_steps(self) -> int:
        return max(self.snapshot_steps)


def study_config(config: ProfileConfig, method: str, plan: StudyPlan) -> ProfileConfig:
    """``config`` with ``method``, training as long as the last snapshot, saving every snapshot."""
    config = method_config(
        config,
        method,
        max_steps=plan.max_steps,
        lora_snapshot_steps=plan.steps,
        # a checkpoint at the first snapshot: an interruption loses at most that many steps
        checkpointing_steps=min(plan.snapshot_steps),
    )
    generate = dataclasses.replace(config.generate, images_per_identity=plan.images_per_identity)
    return dataclasses.replace(config, generate=generate)


def prepare_study_data(
    folder: Path, config: ProfileConfig, photos: Path
) -> Path:
    """Prepare the study's photos (one sub-folder per identity) into ``folder/data``."""
    from idbooth_lib.data.prepare import prepare_dataset

    prepare_dataset(photos, folder / "data", config)
    return folder / "data"


def train_study_runs(
    folder: Path,
    config: ProfileConfig,
    plan: StudyPlan,
    models: ExperimentModels,
) -> None:
    """Fine-tune every method on every identity, saving the snapshots (resumes; a finished run
    with its snapshots is not trained again)."""
    configure = lambda config, method: study_config(config, method, plan)  # noqa: E731
    train_methods(config, folder / "data", folder / "runs", plan.methods, models, configure)
    for method in plan.methods:
        for run in sorted(p for p in (folder / "runs" / method).iterdir() if p.is_dir()):
            missing = [s for s in plan.steps if not (snapshot_folder(run, s) / LORA_FILE).is_file()]
            if missing:
                raise ValueError(  # the CLI prints it as one line, no traceback
                    f"{run} finished without the LoRA snapshots of steps {missing} (it was trained "
                    "before they were asked for): delete the folder and run the study again"
                )


def study_runs(folder: Path, plan: StudyPlan) -> dict[str, list[Path]]:
    """The run folders of each method, sorted by identity."""
    return {
        method: sorted(p for p in (folder / "runs" / method).iterdir() if p.is_dir())
        for method in plan.methods
    }


def samples_folder(folder: Path, step: int, method: str) -> Path:
    """Where the images of ``method`` at ``step`` are drawn (``base`` at step 0)."""
    return folder / "samples" / f"step-{step:05d}" / (BASE if step == 0 else method)


def snapshot_run(run_folder: Path, step: int, name: str) -> TrainedRun:
    """The snapshot of ``run_folder`` at ``step`` as a run that ``generate_run`` can draw from."""
    run = read_trained_run(run_folder)
    snapshot = snapshot_folder(run_folder, step)
    return TrainedRun(snapshot, run.identity, run.gender, name, file_hash(snapshot / LORA_FILE))


def draw_study_samples(
    folder: Path, config: ProfileConfig, plan: StudyPlan, models: ExperimentModels,
) -> None:
    """Draw the prompt plan from every snapshot (what is already drawn is kept)."""
    config = study_config(config, plan.methods[0], plan)
    pipeline = models.sampling.pipeline
    runs = study_runs(folder, plan)
    jobs = [(0, plan.methods[0])] + [(s, m) for s in plan.steps[1:] for m in plan.methods]
    total = len(jobs) * len(runs[plan.methods[0]]) * plan.images_per_identity
    with progress_bar(total=total, desc="drawing", unit="image") as bar:
        for step, method in jobs:
            output = samples_folder(folder, step, method)
            for run_folder in runs[method]:
                run = snapshot_run(run_folder, step, output.name)
                generate_run(pipeline, run, config, output.parent, plan.images_per_identity, bar)


def method_comparisons(
    embeddings_files: dict[str, Path], rows: list[dict], methods: tuple[str, ...]
) -> list[dict]:
    """The paired intervals of the paper's method pairs among ``methods``, at one training
    length: per person from ``rows`` (identity gained by both recognisers, background, pose,
    Vendi) and per set from each method's embeddings (EER, FMR100, FDR by both recognisers)."""
    from idbooth_lib.evaluation.comparisons import (
        PAPER_PAIRS,
        load_people_scores,
        per_person_comparisons,
        set_level_comparisons,
    )

    pairs = [pair for pair in PAPER_PAIRS if set(pair) <= set(methods)]
    if not pairs:
        return []
    people = sorted({row["identity"] for row in rows})
    found = per_person_comparisons(rows, COMPARED_PER_PERSON, pairs)
    for role in IDENTITY_ROLES.values():
        scores = {m: load_people_scores(embeddings_files[m], role, people) for m in methods}
        found += [record | {"role": role} for record in set_level_comparisons(scores, pairs)]
    return found


#: The per-person measures whose method differences a study reports with intervals.
COMPARED_PER_PERSON = (
    "identity_independent_gained",
    "identity_loss_gained",
    "background",
    "pose",
    "vendi",
)


def study_comparisons(folder: Path, plan: StudyPlan, rows: list[dict]) -> dict[str, list[dict]]:
    """:func:`method_comparisons` at every trained step of the study, by step."""
    return {
        str(step): method_comparisons(
            {m: embeddings_path(samples_folder(folder, step, m) / EVALUATION_FILE)
             for m in plan.methods},  # fmt: skip
            [row for row in rows if row["step"] == step],
            plan.methods,
        )
        for step in plan.steps
        if step > 0
    }


def evaluate_study(
    folder: Path, config: ProfileConfig, plan: StudyPlan, photos: Path, models: ExperimentModels,
) -> dict[tuple[int, str], dict]:
    """``idbooth evaluate`` on every (step, method) folder against the real ``photos``."""
    evaluations = {}
    for step in plan.steps:
        for method in (BASE,) if step == 0 else plan.methods:
            samples = samples_folder(folder, step, method)
            evaluations[(step, method)] = evaluate_unless_current(
                samples / EVALUATION_FILE, samples, photos, config, models.sampling
            )
    return evaluations


def identity_rows(evaluation: dict, step: int, method: str) -> list[dict[str, Any]]:
    """One row per identity of an evaluation: identity by both recognisers, adherence,
    diversity."""
    encoders = evaluation["encoders"]
    adherence = evaluation["adherence"]["per_identity"]
    diversity = evaluation["diversity"]
    rows = []
    for identity in evaluation["identities"]["matched"]:
        row: dict[str, Any] = {"method": method, "identity": identity, "step": step}
        for measure, role in IDENTITY_ROLES.items():
            row[measure] = encoders[role]["similarity_to_real"].get(identity)
        row["background"] = adherence.get(identity, {}).get("background")
        row["pose"] = adherence.get(identity, {}).get("pose")
        row["vendi"] = diversity["vendi"].get(identity)
        row["yaw_spread"] = (
            diversity["pose_spread_per_identity"].get(identity, {}).get("yaw_proxy_std")
        )
        rows.append(row)
    return rows


def study_rows(evaluations: dict[tuple[int, str], dict], plan: StudyPlan) -> list[dict]:
    """Rows per (method, identity, step), the base model's rows repeated for every method at step
    0, and each identity value's gain over the base model."""
    rows = []
    for (step, method), evaluation in sorted(evaluations.items()):
        names = plan.methods if method == BASE else (method,)
        for name in names:
            rows += identity_rows(evaluation, step, name)
    base = {(r["method"], r["identity"]): r for r in rows if r["step"] == 0}
    for row in rows:
        start = base.get((row["method"], row["identity"]), {})  # no base face found: no gain
        for measure in IDENTITY_ROLES:
            row[f"{measure}_gained"] = _difference(row[measure], start.get(measure))
    return rows


def _difference(value: float | None, start: float | None) -> float | None:
    return None if value is None or start is None else value - start


MEASURES = (
    "identity_independent_gained",
    "identity_loss_gained",
    "identity_independent",
    "background",
    "pose",
    "vendi",
)


def summarise(rows: list[dict]) -> list[dict]:
    """Mean and standard deviation over identities, per (method, step), of every measure (the
    three methods in their usual order, other names after them)."""
    summary = []
    order = {method: index for index, method in enumerate(method_names())}
    for method in sorted({r["method"] for r in rows}, key=lambda m: (order.get(m, len(order)), m)):
        for step in sorted({r["step"] for r in rows if r["method"] == method}):
            mine = [r for r in rows if r["method"] == method and r["step"] == step]
            entry: dict[str, Any] = {"method": method, "step": step, "identities": len(mine)}
            for measure in MEASURES:
                values = [r[measure] for r in mine if r[measure] is not None]
                entry[measure] = float(np.mean(values)) if values else None
                entry[f"{measure}_std"] = float(np.std(values)) if values else None
            summary.append(entry)
    return summary


def balanced_step(summary: list[dict]) -> int:
    """The book's rule for choosing a training length from the curves: at each trained step and
    for each method, take the *worse* of two shares — of the method's largest identity gain
    (independent recogniser) reached, and of the base model's background adherence kept — and
    choose the step where their mean over the methods is largest. A step that buys identity by
    giving up the prompt, or keeps the prompt without learning the person, scores low. It reads
    means over people; the table beside the curves shows how far people spread around them."""
    usable = [
        s for s in summary
        if s["background"] is not None and s["identity_independent_gained"] is not None
    ]  # fmt: skip
    base = np.mean([s["background"] for s in usable if s["step"] == 0])
    trained = [s for s in usable if s["step"] > 0]
    if not trained or not base:
        raise ValueError("the summary holds no trained step with both measures, or no base model")
    largest: dict[str, float] = {}
    for s in trained:
        largest[s["method"]] = max(largest.get(s["method"], 0.0), s["identity_independent_gained"])

    def balance(s: dict) -> float:
        top = largest[s["method"]]
        reached = s["identity_independent_gained"] / top if top > 0 else 0.0
        return min(reached, s["background"] / base)

    steps = sorted({s["step"] for s in trained})
    scores = {step: np.mean([balance(s) for s in trained if s["step"] == step]) for step in steps}
    return max(steps, key=lambda step: (scores[step], -step))


def people_with_both(rows: list[dict], method: str, share: float = 0.5) -> list[str]:
    """The people for whom some trained step of ``method`` keeps ``share`` of the base model's
    background adherence *and* reaches ``share`` of that person's largest identity gain — the
    people for whom a training length gives both the prompt and the person."""
    found = []
    for person in sorted({r["identity"] for r in rows if r["method"] == method}):
        mine = [r for r in rows if r["method"] == method and r["identity"] == person]
        base = next((r["background"] for r in mine if r["step"] == 0), None)
        gains = [r["identity_independent_gained"] for r in mine if r["step"] > 0]
        gains = [g for g in gains if g is not None]
        if base is None or not gains or max(gains) <= 0:
            continue
        top = max(gains)
        if any(
            r["step"] > 0
            and r["background"] is not None
            and r["identity_independent_gained"] is not None
            and r["background"] >= share * base
            and r["identity_independent_gained"] >= share * top
            for r in mine
        ):
            found.append(person)
    return found


def curve_reading(rows: list[dict], method: str, steps: tuple[int, ...] = (50, 200)) -> dict:
    """What chapter 06 reads off one method's curve, to compare two settings of one method:
    the identity gained where the curve keeps 0.5 and 0.3 of the backgrounds (interpolated
    between its steps), (gain, background) at each of ``steps``, and how many people get both."""
    summary = [s for s in summarise(rows) if s["method"] == method]
    backgrounds, gains = zip(
        *sorted((s["background"], s["identity_independent_gained"]) for s in summary), strict=True
    )
    at_step = {s["step"]: s for s in summary}
    return {
        "gained at background 0.5": float(np.interp(0.5, backgrounds, gains)),
        "gained at background 0.3": float(np.interp(0.3, backgrounds, gains)),
        **{
            f"step {step}": (
                at_step[step]["identity_independent_gained"],
                at_step[step]["background"],
            )
            for step in steps
        },
        "people with both": len(people_with_both(rows, method)),
        "people": len({r["identity"] for r in rows if r["method"] == method}),
    }


def gain_on_path(path: list[tuple[float, float]], background: float) -> float | None:
    """The identity gained where a path of ``(background, gain)`` points, in training order,
    first comes down to ``background``, linearly interpolated between the two steps around it;
    None when the path never reaches that share."""
    for (upper, gain_upper), (lower, gain_lower) in itertools.pairwise(path):
        if lower <= background <= upper and upper > lower:
            share = (upper - background) / (upper - lower)
            return gain_upper + share * (gain_lower - gain_upper)
    return None


def person_paths(rows: list[dict], method: str) -> dict[str, list[tuple[int, float, float]]]:
    """Each person's path of ``(step, background kept, identity gained)`` for ``method``, in
    training order, the steps with both measures only."""
    paths: dict[str, list[tuple[int, float, float]]] = {}
    for row in rows:
        if row["method"] == method and row["background"] is not None and row["identity_independent_gained"] is not None:
            paths.setdefault(row["identity"], []).append((row["step"], row["background"],
                                                          row["identity_independent_gained"]))  # fmt: skip
    return {person: sorted(points) for person, points in paths.items()}


def gap_to_path(rows: list[dict], method: str, reference: str, step: int) -> dict[str, Any]:
    """How far ``method`` at ``step`` lies above (+) or below (−) ``reference``'s trade-off path,
    person by person: ``method``'s identity gained minus what ``reference`` had gained when it
    kept the same share of backgrounds (its path interpolated between its steps). Near zero:
    the two trade identity for prompt alike, and differ only in how far along the path a step
    takes them. The mean comes with a bootstrap interval over the people for whom the
    reference's path reaches ``method``'s background share."""
    ours, theirs = person_paths(rows, method), person_paths(rows, reference)
    gaps = []
    for person, points in sorted(ours.items()):
        at = next(((background, gain) for t, background, gain in points if t == step), None)
        if at is None or person not in theirs:
            continue
        reached = gain_on_path([(b, g) for _, b, g in theirs[person]], at[0])
        if reached is not None:
            gaps.append(at[1] - reached)
    people = len({r["identity"] for r in rows if r["method"] == method})
    if len(gaps) < 2:
        return {"people": people, "compared": len(gaps), "interval": None}
    return {"people": people, "compared": len(gaps),
            "interval": paired_difference(gaps, [0.0] * len(gaps))}  # fmt: skip


def run_tradeoff(
    folder: str | Path,
    config: ProfileConfig,
    photos: str | Path,
    plan: StudyPlan = StudyPlan(),
    command: str = "",
) -> dict:
    """Run (or resume) the whole study in ``folder`` on ``photos`` (a folder of identity
    folders, as ``idbooth prepare`` reads); write and return ``tradeoff.json``."""
    folder, photos = Path(folder), Path(photos)
    LOG.info(f"trade-off study in {folder} on {photos}: steps {plan.steps}")
    data = prepare_study_data(folder, config, photos)
    from idbooth_lib.data.layout import dataset_identities

    if len(dataset_identities(data)) < 2:
        raise ValueError(
            f"{photos} gives {len(dataset_identities(data))} usable identity: the study compares "
            "people (separability needs impostors), so give it two or more (the book uses eight)"
        )
    models = ExperimentModels(config)
    train_study_runs(folder, config, plan, models)
    draw_study_samples(folder, config, plan, models)
    evaluations = evaluate_study(folder, config, plan, photos, models)
    rows = study_rows(evaluations, plan)
    results = stamped(
        command,
        profile=config.name,
        photos=str(photos),
        plan=dataclasses.asdict(plan),
        train=dataclasses.asdict(study_config(config, plan.methods[0], plan).train) | {"method": None},
        rows=rows,
        summary=summarise(rows),
        # method minus method with paired bootstrap 95 % intervals over people, per step
        comparisons=study_comparisons(folder, plan, rows),
        # every measure of `idbooth evaluate`, per "<step>/<method>" (step 0: "0/base")
        evaluations={f"{step}/{method}": found for (step, method), found in evaluations.items()},
    )
    return write_unless_unchanged(folder / RESULTS_FILE, results)


def evaluation_at(study: dict, step: int, method: str) -> dict:
    """The ``idbooth evaluate`` results of ``method`` at ``step`` in a study (step 0: the base
    model, the same for every method), with a clear error for a pair the study did not draw."""
    key = f"{step}/{BASE if step == 0 else method}"
    try:
        return study["evaluations"][key]
    except KeyError:
        drawn = ", ".join(study.get("evaluations", {}))
        raise KeyError(f"the study holds no evaluation {key!r}; it has {drawn}") from None


def people_in(evaluation: dict) -> list[str]:
    """The people an evaluation measured: those with both synthetic images and real photos."""
    return evaluation["identities"]["matched"]


def read_tradeoff(path: str | Path) -> dict:
    """A results file of :func:`run_tradeoff`, checked for the fields the chapters read."""
    return read_results(path, ("rows", "summary", "plan"), "idbooth tradeoff --output STUDY")


__all__ = [
    "BASE",
    "RESULTS_FILE",
    "StudyPlan",
    "curve_reading",
    "evaluation_at",
    "people_in",
    "draw_study_samples",
    "evaluate_study",
    "method_comparisons",
    "identity_rows",
    "balanced_step",
    "people_with_both",
    "prepare_study_data",
    "read_tradeoff",
    "run_tradeoff",
    "samples_folder",
    "study_config",
    "study_rows",
    "summarise",
    "train_study_runs",
]
