"""Fine-tune one identity into a UNet LoRA: DreamBooth, PortraitBooth or ID-Booth (chapter 04).

One loop serves the three methods; they differ only in :func:`~idbooth_lib.training.losses.identity_term`.
The pairs of each batch come from :mod:`~idbooth_lib.training.pairs`. The clean-latent estimate
x̂0 is decoded *with gradients* and cut out for the recogniser by a
:mod:`~idbooth_lib.training.crops` method: by default warped with the training image's saved
landmarks, so no face detector runs inside the loop.

What the loop does besides the loss, as diffusers' DreamBooth-LoRA script does: fp16/bf16 mixed
precision with fp32 LoRA weights (:mod:`~idbooth_lib.training.precision`, its own per run),
optional gradient checkpointing and 8-bit Adam, a cosine schedule, gradient clipping, checkpoints
every ``checkpointing_steps`` (the newest ``checkpoints_total_limit`` kept) from which a new run
resumes exactly, the LoRA saved in diffusers' format, and a per-term loss log. Each checkpoint
carries the run's settings (:mod:`~idbooth_lib.training.fingerprint`): a rerun with other settings
stops and says what changed, and a finished run rerun with the same settings is not retrained.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from idbooth_lib.checkpoints import Checkpointer
from idbooth_lib.config import TrainConfig
from idbooth_lib.diffusion.basics import (
    decode_latents,
    encode_images,
    encode_prompts,
    predict_clean_latents,
)
from idbooth_lib.diffusion.lora import ADAPTER_NAME, LORA_FILE, add_lora, load_lora, save_lora
from idbooth_lib.diffusion.pipeline import quiet_loading
from idbooth_lib.io import atomic_path, write_json
from idbooth_lib.logs import package_logger, progress_bar
from idbooth_lib.methods import get_method
from idbooth_lib.training.crops import FaceCrop, make_face_crop
from idbooth_lib.training.fingerprint import (
    mismatch_error,
    run_settings,
    tensor_digest,
    with_later_defaults,
)
from idbooth_lib.training.losses import identity_term, timestep_weight, total_loss
from idbooth_lib.training.pairs import IdentityData, draw_pairs
from idbooth_lib.training.precision import MixedPrecision, RunHealth, build_optimiser

LOG = package_logger(__name__)

LOSS_LOG_FILE = "loss_log.csv"
#: Sub-folder of LoRA snapshots along training (``train.lora_snapshot_steps``).
SNAPSHOT_FOLDER = "snapshots"
#: Sub-folder of the images drawn along training (``train.validation_every``).
VALIDATION_FOLDER = "validation"
#: Written last, when the LoRA and the loss log are complete: the settings of the finished run.
FINISHED_FILE = "finished.json"

__all__ = [
    "FINISHED_FILE",
    "LOSS_LOG_FILE",
    "IdentityBranch",
    "IdentityData",
    "LossHistory",
    "NoisedBatch",
    "RunPlan",
    "SNAPSHOT_FOLDER",
    "TrainableState",
    "check_run_folder",
    "finetune",
    "run_fingerprint",
    "snapshot_folder",
    "stored_settings",
    "training_step",
]


@dataclass
class LossHistory:
    """Per-step values of each loss term (for the loss plot, the log and checkpoints)."""

    steps: list[int] = field(default_factory=list)
    terms: dict[str, list[float]] = field(default_factory=dict)
    #: What the run skipped (:class:`~idbooth_lib.training.precision.RunHealth`'s summary), once
    #: it has finished; empty for a finished run read back from its files before it was kept.
    health: dict[str, int] = field(default_factory=dict)

    def append(self, step: int, values: dict[str, float]) -> None:
        self.steps.append(step)
        for name, value in values.items():
            self.terms.setdefault(name, []).append(value)

    def state_dict(self) -> dict:
        return {"steps": list(self.steps), "terms": {k: list(v) for k, v in self.terms.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.steps, self.terms = (
            list(state["steps"]),
            {k: list(v) for k, v in state["terms"].items()},
        )

    def write_csv(self, path: Path) -> None:
        """``step`` and one column per term, for a spreadsheet or pandas."""
        with atomic_path(path) as temporary, open(temporary, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["step", *self.terms])
            for row, step in enumerate(self.steps):
                writer.writerow([step, *(values[row] for values in self.terms.values())])

    @classmethod
    def read_csv(cls, path: Path) -> LossHistory:
        """The history :meth:`write_csv` wrote (a finished run's, read back instead of retrained)."""
        history = cls()
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                step = int(row.pop("step"))
                history.append(step, {name: float(value) for name, value in row.items()})
        return history


class TrainableState:
    """The trainable (LoRA) parameters of a module, as a checkpointable part."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.parameters = {n: p for n, p in module.named_parameters() if p.requires_grad}

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {name: p.detach().cpu().clone() for name, p in self.parameters.items()}

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for name, parameter in self.parameters.items():
            parameter.copy_(state[name])


@dataclass
class NoisedBatch:
    """One step's noised latents and the UNet's prediction: the instance rows first, then the
    class rows; ``instance`` and ``prior`` are the indices each pair was drawn with."""

    noisy: torch.Tensor
    prediction: torch.Tensor
    timesteps: torch.Tensor
    instance: torch.Tensor
    prior: torch.Tensor

    @property
    def pairs(self) -> int:
        return len(self.instance)


@dataclass
class IdentityBranch:
    """The identity term's path: x̂0 → VAE decode (with gradients) → face crop → recogniser."""

    vae: torch.nn.Module
    scheduler: Any
    encoder: torch.nn.Module
    crop: FaceCrop

    def __call__(self, data: IdentityData, config: TrainConfig, batch: NoisedBatch) -> torch.Tensor:
        """The weighted identity term on the instance half, averaged over the pairs.

        Only instances with ``t < config.identity_max_timestep`` are decoded; the others add zero,
        and the sum is still divided by the number of pairs, so the limit only drops terms.
        """
        pairs = batch.pairs
        kept = batch.timesteps[:pairs] < config.identity_max_timestep
        if not bool(kept.any()):
            return batch.prediction.new_zeros((), dtype=torch.float32)
        timesteps, noisy, prediction = (
            tensor[:pairs][kept] for tensor in (batch.timesteps, batch.noisy, batch.prediction)
        )
        clean = predict_clean_latents(self.scheduler, noisy, prediction, timesteps)
        if config.decode_fp32:  # x̂0 scales the noise by up to 14.6 at large t: fp16 may overflow
            with torch.autocast(clean.device.type, enabled=False):
                decoded = decode_latents(self.vae, clean.float()).float()
        else:
            decoded = decode_latents(self.vae, clean).float()
        instance, prior = batch.instance[kept.cpu()], batch.prior[kept.cpu()]
        crops, found = self.crop(decoded, data.instance_landmarks[instance])
        embeddings = self.encoder(crops)
        weights = (
            timestep_weight(timesteps, self.scheduler.config.num_train_timesteps)
            if config.timestep_weighting
            else torch.ones(len(instance), device=decoded.device)
        )
        weights = weights * found  # the paper skips the term when no face is detected in x̂0
        negatives = None if data.class_embeddings is None else data.class_embeddings[prior]
        mean_over_kept = identity_term(
            config.method,
            embeddings.float(),
            data.instance_embeddings[instance].to(embeddings.device).float(),
            None if negatives is None else negatives.to(embeddings.device).float(),
            weights,
            config.triplet_margin,
        )
        return mean_over_kept * len(instance) / pairs


def training_step(
    pipeline,
    scheduler,
    encoder,
    data: IdentityData,
    config: TrainConfig,
    prompts: torch.Tensor,
    generator: torch.Generator,
    crop: FaceCrop | None = None,
    step: int = 0,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Loss terms for one batch of ``config.batch_size`` instance/class pairs at step ``step``.

    ``scheduler`` is the *training* noise scheduler (DDPM), kept apart from the pipeline's own
    sampling scheduler, which a user may have swapped for a faster one. Every random draw comes
    from ``generator`` (on the CPU), so a resumed run continues exactly where it stopped.
    """
    unet, device, pairs = pipeline.unet, pipeline.device, config.batch_size
    counts = (len(data.instance_images), len(data.class_images))
    instance, prior = draw_pairs(step, pairs, counts, config.pair_sampling, generator, seed)
    images = torch.cat([data.instance_images[instance], data.class_images[prior]]).to(device)
    with torch.no_grad():
        latents = encode_images(pipeline.vae, images, sample=True, generator=generator)
    noise = torch.randn(latents.shape, generator=generator).to(latents)
    total = scheduler.config.num_train_timesteps
    timesteps = torch.randint(0, total, (2 * pairs,), generator=generator).to(device)
    noisy = scheduler.add_noise(latents, noise, timesteps)
    hidden = prompts.repeat_interleave(pairs, dim=0)
    prediction = unet(noisy, timesteps, hidden).sample
    target = (
        noise
        if scheduler.config.prediction_type == "epsilon"
        else scheduler.get_velocity(latents, noise, timesteps)
    )
    terms = {
        "instance": F.mse_loss(prediction[:pairs].float(), target[:pairs].float()),
        "prior": F.mse_loss(prediction[pairs:].float(), target[pairs:].float()),
    }
    if get_method(config.method).has_identity_term:
        branch = IdentityBranch(
            pipeline.vae, scheduler, encoder, crop or make_face_crop("landmarks")
        )
        batch = NoisedBatch(noisy, prediction, timesteps, instance, prior)
        terms["identity"] = branch(data, config, batch)
    return terms


def stored_settings(output: str | Path) -> dict | None:
    """The settings of the run ``output`` holds — finished, or its newest checkpoint's — or None
    when it holds none (an unknown ``{}`` for checkpoints written before settings were kept)."""
    marker = Path(output) / FINISHED_FILE
    if marker.is_file():
        return json.loads(marker.read_text(encoding="utf-8")).get("settings", {})
    stored = Checkpointer(Path(output) / "checkpoints").latest_metadata()
    return None if stored is None else stored.get("settings", {})


def check_run_folder(output: str | Path, wanted: dict, ignore: tuple[str, ...] = ()) -> None:
    """Raise :class:`~idbooth_lib.training.fingerprint.RunMismatchError` when ``output`` holds a
    run whose settings differ from ``wanted`` (leaving out the keys in ``ignore``)."""
    stored = stored_settings(output)
    if stored is None:
        return
    stored = with_later_defaults(stored) if "seed" in stored else stored
    compared = {key: value for key, value in stored.items() if key not in ignore}
    expected = {key: value for key, value in wanted.items() if key not in ignore}
    if compared != expected:  # the message names only what was compared
        raise mismatch_error(output, compared, expected)


def _finished_history(pipeline, output: Path) -> LossHistory | None:
    """A finished run's loss history when ``output`` holds this very run, finished, with its LoRA
    attached to ``pipeline`` as training would have left it; None when there is none to reuse."""
    marker = output / FINISHED_FILE
    if not marker.is_file():
        return None
    if not (output / LORA_FILE).is_file() or not (output / LOSS_LOG_FILE).is_file():
        marker.unlink()  # the marker outlived its files: train again (from a checkpoint, if any)
        return None
    load_lora(pipeline, output, adapter_name=ADAPTER_NAME)
    history = LossHistory.read_csv(output / LOSS_LOG_FILE)
    record = json.loads(marker.read_text(encoding="utf-8"))
    history.health = {name: record[name] for name in RunHealth().summary() if name in record}
    return history


def _start_over(output: Path, checkpoints: Checkpointer) -> None:
    """Forget everything a folder holds of an earlier run: ``--no-resume``."""
    checkpoints.clear()
    (output / FINISHED_FILE).unlink(missing_ok=True)


def run_fingerprint(
    config: TrainConfig, seed: int, data_digest: str, crop, context, pipeline=None, encoder=None
) -> dict[str, Any]:
    """The settings of a run, the one place they are assembled: :func:`finetune` stores them,
    and :func:`~idbooth_lib.training.run.train_identities` compares them with a folder's before
    loading anything (with the data's digest left out). ``context`` names the base model and
    recogniser by their sources; without it, the pipeline's folder and the recogniser's class
    stand in."""
    seen = {
        "models.base_model": getattr(pipeline, "name_or_path", None) or "",
        "models.identity_encoder": type(encoder).__name__,
        "identity_crop": type(crop).__name__,
    }
    return run_settings(config, seed, data_digest, seen | (context or {}))


def finetune(
    pipeline,
    encoder,
    data: IdentityData,
    config: TrainConfig,
    output: str | Path,
    seed: int = 0,
    crop: FaceCrop | None = None,
    resume: bool = True,
    context: dict[str, Any] | None = None,
) -> LossHistory:
    """Train a LoRA on ``pipeline.unet`` for ``config.max_steps`` steps and save it to ``output``.

    With ``resume`` (the default), a run continues from the newest checkpoint in
    ``output/checkpoints`` and ends with the same LoRA as an uninterrupted run, and a run that
    already finished with the same settings is not trained again (its history is returned)
    and its LoRA is attached to the pipeline as if it had just been trained; checkpoints or a
    finished LoRA of *other* settings raise
    :class:`~idbooth_lib.training.fingerprint.RunMismatchError` before anything is written.
    Without ``resume``, whatever the folder holds is discarded and training starts over.
    ``context`` adds settings that the engine cannot see to the run's fingerprint (the sources of
    the base model and recogniser, the identity); ``crop`` defaults to ``config.identity_crop``'s.
    """
    if get_method(config.method).has_identity_term and data.instance_embeddings is None:
        raise ValueError(f"{config.method} needs the embeddings of the instance images")
    output = Path(output)
    crop = crop or make_face_crop(config.identity_crop)
    digest = tensor_digest(data.tensors())
    settings = run_fingerprint(config, seed, digest, crop, context, pipeline, encoder)
    checkpoints = Checkpointer(output / "checkpoints", keep=config.checkpoints_total_limit)
    if not resume:
        _start_over(output, checkpoints)
    check_run_folder(output, settings)  # before anything is written or loaded
    finished = _finished_history(pipeline, output)
    if finished is not None:
        LOG.info(
            f"{output} already holds this run, finished at step {finished.steps[-1]}: not retrained"
        )
        return finished
    if config.tensorboard:
        _tensorboard_writer_class()  # missing tensorboard: said now, not after the models load
    plan = RunPlan(data, config, seed, crop, checkpoints, settings, output)
    vae_dtype = pipeline.vae.dtype
    try:
        history = _train(pipeline, encoder, plan)
    finally:
        _set_vae_dtype(pipeline, vae_dtype)  # train.decode_fp32 held it in float32 for the run
    save_lora(pipeline.unet, output)
    history.write_csv(output / LOSS_LOG_FILE)
    write_json(output / FINISHED_FILE,
               {"steps": config.max_steps, "settings": settings, **history.health})  # fmt: skip
    return history


def _set_vae_dtype(pipeline, dtype: torch.dtype) -> None:
    """Move the VAE to ``dtype`` when it is not there yet, without diffusers' notice that casting
    with ``to()`` is not loading in that dtype (a no-op cast would print it on every run)."""
    if pipeline.vae.dtype != dtype:
        with quiet_loading():
            pipeline.vae.to(dtype)


@dataclass
class RunPlan:
    """What one run trains on and where it writes, besides the models (see :func:`finetune`)."""

    data: IdentityData
    config: TrainConfig
    seed: int
    crop: FaceCrop | None
    checkpoints: Checkpointer
    settings: dict[str, Any]
    output: Path


def snapshot_folder(run: str | Path, step: int) -> Path:
    """Where the LoRA of ``run`` at ``step`` is saved when ``step`` is a ``lora_snapshot_steps``."""
    return Path(run) / SNAPSHOT_FOLDER / f"step-{step:05d}"


def _save_snapshot(unet, run: Path, step: int) -> None:
    """Save the LoRA at ``step``, whole or not at all: written beside, then moved into place."""
    import shutil

    final = snapshot_folder(run, step)
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    save_lora(unet, partial)
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)


def _train(pipeline, encoder, plan: RunPlan) -> LossHistory:
    """The loop of :func:`finetune`: attach the LoRA, restore a checkpoint, train, checkpoint."""
    from diffusers import DDPMScheduler
    from diffusers.optimization import get_scheduler

    config, seed = plan.config, plan.seed

    torch.manual_seed(seed)  # the LoRA's initial weights
    generator = torch.Generator().manual_seed(seed)
    noise_scheduler = DDPMScheduler.from_config(pipeline.scheduler.config)
    pipeline.vae.requires_grad_(False)
    pipeline.text_encoder.requires_grad_(False)
    if config.decode_fp32:  # finetune gives the VAE its dtype back (see train.decode_fp32)
        _set_vae_dtype(pipeline, torch.float32)
    parameters = add_lora(pipeline.unet, config)
    if config.gradient_checkpointing:
        pipeline.unet.enable_gradient_checkpointing()
        pipeline.vae.enable_gradient_checkpointing()  # x̂0 is decoded with gradients
    precision = MixedPrecision(config.mixed_precision, pipeline.device)
    optimiser = build_optimiser(parameters, config)
    # diffusers' "constant" ignores num_warmup_steps; its warm-up twin is a schedule of its own
    warmed = config.lr_warmup_steps and config.lr_scheduler == "constant"
    schedule = get_scheduler(
        "constant_with_warmup" if warmed else config.lr_scheduler,
        optimiser,
        num_warmup_steps=config.lr_warmup_steps,
        num_training_steps=config.max_steps,
    )
    history, health = LossHistory(), RunHealth()
    parts = {"lora": TrainableState(pipeline.unet), "optimiser": optimiser, "schedule": schedule}
    parts |= {"generator": generator, "history": history, "scaler": precision.scaler}
    parts |= {"health": health}
    start = plan.checkpoints.restore(optional=("health",), **parts)
    with torch.no_grad():
        prompts = encode_prompts(pipeline, [config.instance_prompt, config.class_prompt])
    began = time.time()
    if start == 0 and 0 in config.lora_snapshot_steps:
        _save_snapshot(pipeline.unet, plan.output, 0)  # the untrained LoRA: the base model
    pipeline.unet.train()
    writer = _tensorboard_writer(plan.output) if config.tensorboard else None
    try:
        bar = progress_bar(range(start, config.max_steps), initial=start, total=config.max_steps)
        for step in bar:
            optimiser.zero_grad(set_to_none=True)
            values, finite = _accumulate_gradients(
                pipeline, noise_scheduler, encoder, plan, precision, prompts, generator, step
            )
            if finite:
                stepped = precision.apply(optimiser, parameters, config.max_grad_norm)
            else:
                stepped = False
                optimiser.zero_grad(set_to_none=True)  # what did reach .grad goes unused
            if stepped:
                schedule.step()  # a skipped step (fp16 overflow, non-finite loss): no lr step
            done = step + 1
            history.append(done, values)
            health.record(done, finite, stepped)
            if writer is not None:
                _log_scalars(writer, done, values, schedule.get_last_lr()[0])
            bar.set_postfix(_shown_values(values, health), refresh=False)
            if done % 50 == 0 or done == config.max_steps or health.streak == 1:
                shown = _shown_values(values, health).items()
                text = "  ".join(f"{name} {value}" for name, value in shown)
                LOG.info(f"step {done}/{config.max_steps}  {text}  {time.time() - began:.0f} s")
            if health.streak >= config.stop_after_non_finite:
                health.stop(checkpointed=plan.checkpoints.latest() is not None)
            if done in config.lora_snapshot_steps:  # before the checkpoint: a resume rewrites it
                _save_snapshot(pipeline.unet, plan.output, done)
            if config.validation_every and done % config.validation_every == 0:
                with precision.autocast():  # fp32 LoRA on an fp16 UNet, as in training
                    draw_validation_images(pipeline, config, plan.output, done, seed)
            # no checkpoint while the loss is not finite: the last one kept is from before
            due = done % config.checkpointing_steps == 0 and done < config.max_steps
            if due and not health.streak:
                plan.checkpoints.store(done, metadata={"settings": plan.settings}, **parts)
    finally:
        if writer is not None:
            writer.close()
    pipeline.unet.eval()
    history.health = health.summary()
    LOG.info(f"finished: {history.health['non_finite_losses']} steps with a non-finite loss, "
             f"{history.health['skipped_steps']} skipped by the fp16 gradient scaler")  # fmt: skip
    return history


def _accumulate_gradients(
    pipeline, noise_scheduler, encoder, plan: RunPlan, precision, prompts, generator, step: int
) -> tuple[dict[str, float], bool]:
    """The gradients of ``gradient_accumulation_steps`` batches added up in ``.grad``, each
    batch's loss divided by their number (so the step is that of their mean), each backpropagated
    at once so that only one batch's activations are held. Returns the terms' means and whether
    every loss was finite (a non-finite one stops the adding: its step will be skipped)."""
    config, parts = plan.config, plan.config.gradient_accumulation_steps
    sums: dict[str, float] = {}
    for part in range(parts):
        with precision.autocast():
            terms = training_step(
                pipeline, noise_scheduler, encoder, plan.data, config, prompts, generator,
                plan.crop, step * parts + part, plan.seed,
            )  # fmt: skip
            loss = total_loss(terms, config.prior_loss_weight)
        for name, value in terms.items():
            sums[name] = sums.get(name, 0.0) + value.item()
        if not precision.backward(loss / parts):
            return {name: float("nan") for name in terms}, False
    return {name: total / parts for name, total in sums.items()}, True


def _tensorboard_writer_class():
    """torch's TensorBoard writer; a clear error when tensorboard is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as error:
        raise ImportError(
            "train.tensorboard needs the tensorboard package: pip install tensorboard, or "
            "--set train.tensorboard=false"
        ) from error
    return SummaryWriter


def _tensorboard_writer(output: Path):
    """A TensorBoard writer into ``output/logs``."""
    return _tensorboard_writer_class()(log_dir=str(Path(output) / "logs"))


def _log_scalars(writer, step: int, values: dict[str, float], learning_rate: float) -> None:
    for name, value in values.items():
        writer.add_scalar(f"loss/{name}", value, step)
    writer.add_scalar("learning_rate", learning_rate, step)


#: Sampling steps and guidance of the validation images: the paper's generation settings.
VALIDATION_SAMPLING = (30, 5.0)
#: The fixed seeds of the validation images: the same noise at every check, so that images of
#: one run differ only by what the LoRA learnt between them.
VALIDATION_SEEDS = (0, 1)


@torch.no_grad()
def draw_validation_images(pipeline, config: TrainConfig, output: Path, step: int, seed: int):
    """Draw ``validation_prompt`` (the instance prompt when empty) with the LoRA as it is now into
    ``output/validation/step-NNNNN-K.png``. The images' noise comes from generators of their own,
    so a run with validation images trains exactly as one without."""
    from idbooth_lib.io import save_image

    prompt = config.validation_prompt or config.instance_prompt
    pipeline.unet.eval()
    folder = Path(output) / VALIDATION_FOLDER
    for index, offset in enumerate(VALIDATION_SEEDS):
        generator = torch.Generator().manual_seed(seed * 1_000 + offset)
        image = pipeline(prompt, num_inference_steps=VALIDATION_SAMPLING[0],
                         guidance_scale=VALIDATION_SAMPLING[1], generator=generator).images[0]  # fmt: skip
        save_image(folder / f"step-{step:05d}-{index}.png", image)
    pipeline.unet.train()


def _shown_values(values: dict[str, float], health: RunHealth) -> dict[str, str]:
    """The loss terms for the progress bar and the log, and what was skipped once anything was."""
    shown = {name: f"{value:.4f}" for name, value in values.items()}
    counts = health.summary()
    return shown | {name.replace("_", " "): str(count) for name, count in counts.items() if count}
