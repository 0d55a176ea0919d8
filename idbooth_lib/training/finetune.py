"""Fine-tune one identity into a UNet LoRA: DreamBooth, PortraitBooth or ID-Booth.

One loop serves the three methods; they differ only in :func:`~idbooth_lib.training.losses.identity_term`.
Every batch holds ``batch_size`` instance images and as many class (prior-preservation) images, and
instance ``i`` is paired with class image ``i`` of the same batch: that class image's embedding is
instance ``i``'s negative in the triplet — also when the batch holds more than one pair.

The clean-latent estimate x̂0 is decoded *with gradients* and cut out for the recogniser by a
:mod:`~idbooth_lib.training.crops` method: by default warped with the training image's saved
landmarks, so no face detector runs inside the loop.

What the loop does besides the loss, as diffusers' DreamBooth-LoRA script does: an ``accelerate``
``Accelerator`` for the device and fp16/bf16 mixed precision (LoRA weights stay fp32), optional
gradient checkpointing and 8-bit Adam, a cosine schedule, gradient clipping, checkpoints every
``checkpointing_steps`` (the newest ``checkpoints_total_limit`` kept) from which a new run resumes
exactly, the LoRA saved in diffusers' format, and a per-term loss log.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import trange

from idbooth_lib.checkpoints import Checkpointer
from idbooth_lib.config import TrainConfig
from idbooth_lib.diffusion.basics import (
    decode_latents,
    encode_images,
    encode_prompts,
    predict_clean_latents,
)
from idbooth_lib.io import atomic_path
from idbooth_lib.training.crops import FaceCrop, LandmarkCrop
from idbooth_lib.training.losses import identity_term, timestep_weight

LORA_FILE = "pytorch_lora_weights.safetensors"
LOSS_LOG_FILE = "loss_log.csv"
ADAPTER_NAME = "identity"


@dataclass
class IdentityData:
    """What fine-tuning one identity needs, as tensors (images in [-1, 1])."""

    instance_images: torch.Tensor
    instance_landmarks: torch.Tensor
    class_images: torch.Tensor
    instance_embeddings: torch.Tensor | None = None
    class_embeddings: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if len(self.instance_images) != len(self.instance_landmarks):
            raise ValueError("one set of landmarks per instance image is needed")
        if len(self.instance_images) == 0 or len(self.class_images) == 0:
            raise ValueError("fine-tuning needs at least one instance and one class image")

    @classmethod
    def from_prepared(cls, dataset_root: str | Path, identity: str, class_images) -> IdentityData:
        """One identity of a prepared dataset (``idbooth prepare``) with the class images."""
        from idbooth_lib.data.layout import PreparedFaces

        items = list(PreparedFaces(dataset_root, identity))
        return cls(
            instance_images=torch.stack([item["image"] for item in items]),
            instance_landmarks=torch.stack([item["landmarks"] for item in items]).float(),
            class_images=class_images.images,
            instance_embeddings=torch.stack([item["embedding"] for item in items]).float(),
            class_embeddings=class_images.embeddings,
        )


@dataclass
class LossHistory:
    """Per-step values of each loss term (for the loss plot, the log and checkpoints)."""

    steps: list[int] = field(default_factory=list)
    terms: dict[str, list[float]] = field(default_factory=dict)

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


def add_lora(unet, config: TrainConfig) -> list[torch.nn.Parameter]:
    """Freeze the UNet and attach a peft LoRA adapter (Gaussian init) to its attention layers.

    Target modules missing from this UNet (SD 2.1 has no ``add_k_proj``) are left out, so one
    config fits UNets with and without added key/value projections.
    """
    from diffusers.training_utils import cast_training_params
    from peft import LoraConfig

    unet.requires_grad_(False)
    present = {name.rsplit(".", 1)[-1] for name, _ in unet.named_modules()}
    targets = [module for module in config.lora_target_modules if module.split(".")[0] in present]
    unet.add_adapter(
        LoraConfig(
            r=config.lora_rank,
            lora_alpha=config.lora_alpha,
            init_lora_weights="gaussian",
            target_modules=targets,
        ),
        adapter_name=ADAPTER_NAME,
    )
    # fp32 LoRA weights even when the frozen UNet is fp16: the gradient scaler refuses to unscale
    # fp16 gradients ("Attempting to unscale FP16 gradients", see the troubleshooting page).
    cast_training_params(unet, dtype=torch.float32)
    return [parameter for parameter in unet.parameters() if parameter.requires_grad]


def remove_lora(unet) -> None:
    """Take the adapter off again, so the same pipeline can fine-tune the next identity."""
    unet.delete_adapters(ADAPTER_NAME)


def save_lora(unet, output: Path) -> Path:
    """Write ``pytorch_lora_weights.safetensors`` in diffusers' format (``load_lora_weights``)."""
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict

    state = get_peft_model_state_dict(unet, adapter_name=ADAPTER_NAME)
    layers = convert_state_dict_to_diffusers(state)
    StableDiffusionPipeline.save_lora_weights(output, unet_lora_layers=layers)
    return Path(output) / LORA_FILE


def build_optimiser(parameters: list[torch.nn.Parameter], config: TrainConfig):
    """AdamW with the paper's settings; bitsandbytes' 8-bit AdamW when ``use_8bit_adam`` is on."""
    if config.use_8bit_adam:
        try:
            import bitsandbytes
        except ImportError as error:
            raise ImportError(
                "train.use_8bit_adam needs bitsandbytes (pip install bitsandbytes, on a CUDA "
                "machine); or switch it off with --set train.use_8bit_adam=false"
            ) from error
        optimiser_class = bitsandbytes.optim.AdamW8bit
    else:
        optimiser_class = torch.optim.AdamW
    return optimiser_class(
        parameters,
        lr=config.learning_rate,
        betas=config.adam_betas,
        weight_decay=config.adam_weight_decay,
        eps=config.adam_epsilon,
    )


def training_step(
    pipeline,
    scheduler,
    encoder,
    data: IdentityData,
    config: TrainConfig,
    prompts: torch.Tensor,
    generator: torch.Generator,
    crop: FaceCrop | None = None,
) -> dict[str, torch.Tensor]:
    """Loss terms for one batch of ``config.batch_size`` instance/class pairs.

    ``scheduler`` is the *training* noise scheduler (DDPM), kept apart from the pipeline's own
    sampling scheduler, which a user may have swapped for a faster one. Every random draw comes
    from ``generator`` (on the CPU), so a resumed run continues exactly where it stopped.
    """
    unet, device, pairs = pipeline.unet, pipeline.device, config.batch_size
    instance = torch.randint(0, len(data.instance_images), (pairs,), generator=generator)
    prior = torch.randint(0, len(data.class_images), (pairs,), generator=generator)
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
    if config.method != "dreambooth":
        terms["identity"] = _identity(
            pipeline, scheduler, encoder, data, config, noisy, prediction, timesteps,
            instance, prior, crop or LandmarkCrop(),
        )  # fmt: skip
    return terms


def _identity(
    pipeline, scheduler, encoder, data, config, noisy, prediction, timesteps, instance, prior, crop
) -> torch.Tensor:
    """The weighted identity term on the instance half: x̂0 → decode → crop → recogniser.

    Only instances with ``t < config.identity_max_timestep`` are decoded; the others add zero, and
    the sum is still divided by the number of pairs, so the limit only drops terms.
    """
    pairs = len(instance)
    kept = timesteps[:pairs] < config.identity_max_timestep
    if not bool(kept.any()):
        return prediction.new_zeros((), dtype=torch.float32)
    # the instance half (the first ``pairs`` rows), only the kept instances
    kept_timesteps, kept_noisy, kept_prediction = (
        tensor[:pairs][kept] for tensor in (timesteps, noisy, prediction)
    )
    clean = predict_clean_latents(scheduler, kept_noisy, kept_prediction, kept_timesteps)
    decoded = decode_latents(pipeline.vae, clean).float()
    instance, prior = instance[kept.cpu()], prior[kept.cpu()]
    crops, found = crop(decoded, data.instance_landmarks[instance])
    embeddings = encoder(crops)
    weights = (
        timestep_weight(kept_timesteps, scheduler.config.num_train_timesteps)
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


def make_accelerator(config: TrainConfig, device: torch.device):
    """An ``Accelerator`` for ``device`` with the config's mixed precision."""
    from accelerate import Accelerator

    return Accelerator(mixed_precision=config.mixed_precision, cpu=device.type == "cpu")


def finetune(
    pipeline,
    encoder,
    data: IdentityData,
    config: TrainConfig,
    output: str | Path,
    seed: int = 0,
    log: Callable[[str], None] = print,
    crop: FaceCrop | None = None,
    resume: bool = True,
    accelerator=None,
    progress: bool = False,
) -> LossHistory:
    """Train a LoRA on ``pipeline.unet`` for ``config.max_steps`` steps and save it to ``output``.

    With ``resume`` (the default), a run continues from the newest checkpoint in
    ``output/checkpoints`` and ends with the same LoRA as an uninterrupted run; without it, those
    checkpoints are deleted and training starts over.
    """
    if config.method != "dreambooth" and data.instance_embeddings is None:
        raise ValueError(f"{config.method} needs the embeddings of the instance images")
    from diffusers import DDPMScheduler
    from diffusers.optimization import get_scheduler

    output = Path(output)
    accelerator = accelerator or make_accelerator(config, pipeline.device)
    torch.manual_seed(seed)  # the LoRA's initial weights
    generator = torch.Generator().manual_seed(seed)
    noise_scheduler = DDPMScheduler.from_config(pipeline.scheduler.config)
    pipeline.vae.requires_grad_(False)
    pipeline.text_encoder.requires_grad_(False)
    parameters = add_lora(pipeline.unet, config)
    if config.gradient_checkpointing:
        pipeline.unet.enable_gradient_checkpointing()
        pipeline.vae.enable_gradient_checkpointing()  # x̂0 is decoded with gradients
    # Only the optimiser is prepared: preparing the UNet would wrap it for data parallelism,
    # but several processes here train *different* identities (see train_identities).
    optimiser = accelerator.prepare(build_optimiser(parameters, config))
    schedule = get_scheduler(
        config.lr_scheduler,
        optimiser.optimizer,
        num_warmup_steps=0,
        num_training_steps=config.max_steps,
    )
    history = LossHistory()
    parts = {"lora": TrainableState(pipeline.unet), "optimiser": optimiser, "schedule": schedule}
    parts |= {"generator": generator, "history": history}
    if accelerator.scaler is not None:
        parts["scaler"] = accelerator.scaler
    checkpoints = Checkpointer(output / "checkpoints", keep=config.checkpoints_total_limit)
    if not resume:
        checkpoints.clear()
    start = checkpoints.restore(log, **parts)
    with torch.no_grad():
        prompts = encode_prompts(pipeline, [config.instance_prompt, config.class_prompt])
    began = time.time()
    pipeline.unet.train()
    bar = trange(
        start, config.max_steps, initial=start, total=config.max_steps, disable=not progress
    )
    for step in bar:
        with accelerator.autocast():
            terms = training_step(
                pipeline, noise_scheduler, encoder, data, config, prompts, generator, crop
            )
            loss = terms["instance"] + config.prior_loss_weight * terms["prior"]
            loss = loss + terms.get("identity", 0.0)
        optimiser.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        accelerator.clip_grad_norm_(parameters, config.max_grad_norm)
        optimiser.step()
        if not optimiser.step_was_skipped:  # fp16: a step with inf gradients is skipped
            schedule.step()
        values = {name: value.item() for name, value in terms.items()}
        history.append(step + 1, values)
        bar.set_postfix({name: f"{value:.4f}" for name, value in values.items()}, refresh=False)
        done = step + 1
        if done % 50 == 0 or done == config.max_steps:
            text = "  ".join(f"{name} {value:.4f}" for name, value in values.items())
            log(f"step {done}/{config.max_steps}  {text}  {time.time() - began:.0f} s")
        if done % config.checkpointing_steps == 0 and done < config.max_steps:
            checkpoints.store(done, **parts)
    pipeline.unet.eval()
    save_lora(pipeline.unet, output)
    history.write_csv(output / LOSS_LOG_FILE)
    return history
