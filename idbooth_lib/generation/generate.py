"""``idbooth generate``: the paper's prompts drawn from every trained LoRA, with a manifest.

Reads the run folders ``idbooth train`` wrote (``run.json``: identity, gender, method; the LoRA;
``finished.json``), loads the base pipeline once, and for each run attaches its LoRA, draws the
identity's :func:`~idbooth_lib.generation.prompts.prompt_plan` in batches — one seed per image,
the same for every method — and takes the LoRA off again. It writes::

    GEN/<method>/<identity>/0000.png ...
    GEN/<method>/<identity>/manifest.jsonl   one line per image: file (relative to GEN/<method>),
                                             prompt, negative prompt, seed, pose, background,
                                             method, identity, LoRA hash, base model, sampler

so that ``idbooth evaluate --synthetic GEN/<method>`` can judge prompt adherence. Every image is
written atomically, and the manifest is rewritten atomically after each batch, so an interrupted
run leaves no half-written file; run again, it draws only what is missing or what no longer
matches (a retrained LoRA, other settings). Under ``accelerate launch`` the runs are split across
the processes; each identity has its own manifest, so no two processes write one file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from idbooth_lib.config import ProfileConfig
from idbooth_lib.data.scan import safe_name
from idbooth_lib.diffusion.lora import LORA_FILE, lora_attached
from idbooth_lib.generation.prompts import instance_token, prompt_plan
from idbooth_lib.io import file_sha256, save_image, write_text
from idbooth_lib.logs import package_logger, progress_bar
from idbooth_lib.models import ModelBundle
from idbooth_lib.preflight import check_profile
from idbooth_lib.training.finetune import FINISHED_FILE
from idbooth_lib.training.run import RUN_FILE

LOG = package_logger(__name__)

#: One per identity folder; ``idbooth evaluate`` reads it for prompt adherence.
MANIFEST_FILE = "manifest.jsonl"
IMAGE_NAME = re.compile(r"^\d{4}\.png$")


@dataclass(frozen=True)
class TrainedRun:
    """One finished fine-tuning run: whose LoRA, by which method, and which file."""

    folder: Path
    identity: str
    gender: str
    method: str
    lora_hash: str


def file_hash(path: Path) -> str:
    """A short SHA-256 of a file's bytes (the LoRA's identity in the manifest)."""
    return file_sha256(path)[:16]


def read_run(folder: str | Path) -> TrainedRun:
    """The run in ``folder``; a missing or unfinished run is a ``ValueError`` naming the fix."""
    folder = Path(folder)
    if not (folder / RUN_FILE).is_file() or not (folder / FINISHED_FILE).is_file():
        raise ValueError(
            f"{folder} holds no finished fine-tuning run (no {RUN_FILE} and {FINISHED_FILE}): "
            "train it with `idbooth train --output ...` first, or finish it by running that again"
        )
    run = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
    missing = [key for key in ("identity", "gender", "method") if not run.get(key)]
    if missing:
        raise ValueError(
            f"{folder / RUN_FILE} lacks {', '.join(missing)} (the gender comes from the prepared "
            "dataset's identity.json, or a metadata.json beside the raw photos): prepare the "
            "photos with a gender and train again, or add the field to the file"
        )
    return TrainedRun(
        folder, run["identity"], run["gender"], run["method"], file_hash(folder / LORA_FILE)
    )


def find_runs(paths: list[str | Path]) -> list[TrainedRun]:
    """Every run in ``paths``: each is a run folder, or a folder of run folders."""
    runs = []
    for path in map(Path, paths):
        if (path / RUN_FILE).is_file():
            runs.append(read_run(path))
        elif path.is_dir():
            found = sorted(child for child in path.iterdir() if (child / RUN_FILE).is_file())
            if not found:
                raise ValueError(f"{path} holds no run folders (sub-folders with {RUN_FILE})")
            runs += [read_run(child) for child in found]
        else:
            raise FileNotFoundError(f"{path} does not exist: pass the --output of `idbooth train`")
    return runs


def planned_records(run: TrainedRun, config: ProfileConfig, count: int) -> list[dict]:
    """The manifest records of every image ``run`` should have (file relative to GEN/<method>)."""
    token = instance_token(config.train.instance_prompt)
    plan = prompt_plan(
        run.identity, run.gender, count, config.seed, config.generate.negative_prompt, token
    )
    folder = safe_name(run.identity)
    shared = {
        "method": run.method,
        "identity": run.identity,
        "lora_hash": run.lora_hash,
        "base_model": config.models.base_model,
        "scheduler": config.generate.scheduler,
        "steps": config.generate.num_inference_steps,
        "guidance_scale": config.generate.guidance_scale,
        "resolution": config.data.resolution,
    }
    return [
        {"file": f"{folder}/{image.index:04d}.png", **image.to_dict(), **shared} for image in plan
    ]


def read_identity_manifest(path: Path) -> dict[str, dict]:
    """``{file: record}`` of an identity's manifest (empty when missing or unreadable: then every
    image is drawn again, which is safe)."""
    if not path.is_file():
        return {}
    records = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
            records[record["file"]] = record
        except (ValueError, KeyError, TypeError):
            continue
    return records


def write_identity_manifest(path: Path, records: list[dict]) -> None:
    """Write the manifest atomically; an unchanged one is left alone, so that a rerun with nothing
    to draw changes no file (what the trade-off study relies on to keep its evaluations)."""
    write_text(path, "".join(json.dumps(r) + "\n" for r in records), keep_unchanged=True)


def generate_run(
    pipeline, run: TrainedRun, config: ProfileConfig, output: Path, count: int, bar=None
) -> int:
    """Draw what ``run`` still lacks into ``output/<method>``; returns how many were drawn."""
    method_folder = Path(output) / run.method
    wanted = planned_records(run, config, count)
    folder = method_folder / wanted[0]["file"].split("/")[0]
    manifest = folder / MANIFEST_FILE
    stored = read_identity_manifest(manifest)
    done = [
        r for r in wanted if stored.get(r["file"]) == r and (method_folder / r["file"]).is_file()
    ]
    todo = [r for r in wanted if r not in done]
    _remove_unplanned(folder, {Path(r["file"]).name for r in wanted})
    if bar is not None:
        bar.update(len(done))
    if not todo:
        write_identity_manifest(manifest, done)
        return 0
    with lora_attached(pipeline, run.folder):
        for start in range(0, len(todo), max(1, config.generate.batch_size)):
            batch = todo[start : start + config.generate.batch_size]
            for record, image in zip(batch, draw(pipeline, batch, config), strict=True):
                save_image(method_folder / record["file"], image)
            done += batch
            write_identity_manifest(manifest, sorted(done, key=lambda r: r["index"]))
            if bar is not None:
                bar.update(len(batch))
    return len(todo)


def draw(pipeline, records: list[dict], config: ProfileConfig) -> list:
    """One pipeline call for a batch of planned images, each with its own seeded generator."""
    return pipeline(
        [record["prompt"] for record in records],
        negative_prompt=[record["negative_prompt"] for record in records],
        height=config.data.resolution,
        width=config.data.resolution,
        num_inference_steps=config.generate.num_inference_steps,
        guidance_scale=config.generate.guidance_scale,
        generator=[torch.Generator().manual_seed(record["seed"]) for record in records],
    ).images


def _remove_unplanned(folder: Path, planned: set[str]) -> None:
    """Drop images of ours (``NNNN.png``) that the plan no longer has (a smaller count)."""
    if folder.is_dir():
        for path in folder.iterdir():
            if IMAGE_NAME.match(path.name) and path.name not in planned:
                path.unlink()


def generate_images(
    run_paths: list[str | Path],
    output: str | Path,
    config: ProfileConfig,
    images_per_identity: int | None = None,
    pipeline=None,
) -> dict[str, int]:
    """Draw every run's images into ``output``; returns ``{"<method>/<identity>": drawn}``.

    The pipeline is loaded once (``pipeline`` may be passed in instead); under ``accelerate
    launch`` each process takes its share of the runs. The preflight comes first, and leaves a
    pipeline passed in alone.
    """
    from idbooth_lib.env import process_device, process_state

    passed_in = () if pipeline is None else ("base_model",)
    check_profile(config, "generate", given=passed_in).raise_for_failures()
    runs = find_runs(run_paths)
    count = images_per_identity or config.generate.images_per_identity
    state = process_state(config)
    if pipeline is None:
        pipeline = ModelBundle(config, device=str(process_device(config))).pipeline
    drawn = {}
    with (
        state.split_between_processes(runs) as mine,
        progress_bar(total=len(mine) * count, desc="generating", unit="image") as bar,
    ):
        for run in mine:
            drawn[f"{run.method}/{run.identity}"] = generate_run(
                pipeline, run, config, Path(output), count, bar
            )
    runs_drawn = f"{len(drawn)} run" + ("" if len(drawn) == 1 else "s")
    LOG.info(f"drew {sum(drawn.values())} images for {runs_drawn} into {output}")
    return drawn
