"""Fine-tune one identity into a UNet LoRA: DreamBooth, PortraitBooth or ID-Booth.

One loop serves the three methods; they differ only in :func:`~idbooth_lib.training.losses.identity_term`.
Every batch holds ``batch_size`` instance images and as many class (prior-preservation) images, and
instance ``i`` is paired with class image ``i`` of the same batch: that class image's embedding is
instance ``i``'s negative in the triplet — also when the batch holds more than one pair.

The clean-latent estimate x̂0 is decoded *with gradients* and warped into the 112×112 ArcFace crop
with the training image's saved landmarks, so no face detector runs inside the loop.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from idbooth_lib.config import TrainConfig
from idbooth_lib.diffusion.basics import decode_latents, encode_images, predict_clean_latents
from idbooth_lib.identity.align import warp_to_template
from idbooth_lib.training.losses import identity_term, timestep_weight


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


@dataclass
class LossHistory:
    """Per-step values of each loss term (for the loss plot and the run's log)."""

    steps: list[int] = field(default_factory=list)
    terms: dict[str, list[float]] = field(default_factory=dict)

    def append(self, step: int, values: dict[str, float]) -> None:
        self.steps.append(step)
        for name, value in values.items():
            self.terms.setdefault(name, []).append(value)


def add_lora(unet, config: TrainConfig) -> list[torch.nn.Parameter]:
    """Freeze the UNet and attach a peft LoRA adapter (Gaussian init) to its attention layers."""
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
        )
    )
    trainable = [parameter for parameter in unet.parameters() if parameter.requires_grad]
    for parameter in trainable:  # fp32 LoRA weights, even when the rest runs in fp16
        parameter.data = parameter.data.float()
    return trainable


def save_lora(unet, output: Path) -> Path:
    """Write ``pytorch_lora_weights.safetensors`` in diffusers' format (``load_lora_weights``)."""
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict

    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    StableDiffusionPipeline.save_lora_weights(output, unet_lora_layers=layers)
    return Path(output) / "pytorch_lora_weights.safetensors"


def cosine_schedule(step: int, total: int) -> float:
    """The learning-rate factor of a cosine schedule without warm-up (the paper's)."""
    return 0.5 * (1 + math.cos(math.pi * step / max(1, total)))


def training_step(
    pipeline, scheduler, encoder, data: IdentityData, config: TrainConfig, prompts, generator
):
    """Loss terms for one batch of ``config.batch_size`` instance/class pairs.

    ``scheduler`` is the *training* noise scheduler (DDPM), kept apart from the pipeline's own
    sampling scheduler, which a user may have swapped for a faster one.
    """
    unet = pipeline.unet
    pairs = config.batch_size
    instance = torch.randint(0, len(data.instance_images), (pairs,), generator=generator)
    prior = torch.randint(0, len(data.class_images), (pairs,), generator=generator)
    images = torch.cat([data.instance_images[instance], data.class_images[prior]])
    with torch.no_grad():
        latents = encode_images(pipeline.vae, images.to(pipeline.device), sample=True)
    noise = torch.randn(latents.shape, generator=generator).to(latents)
    timesteps = torch.randint(
        0, scheduler.config.num_train_timesteps, (2 * pairs,), generator=generator
    ).to(latents.device)
    noisy = scheduler.add_noise(latents, noise, timesteps)
    hidden = prompts.repeat_interleave(pairs, dim=0)
    prediction = unet(noisy, timesteps, hidden).sample
    target = (
        noise
        if scheduler.config.prediction_type == "epsilon"
        else (scheduler.get_velocity(latents, noise, timesteps))
    )
    terms = {
        "instance": F.mse_loss(prediction[:pairs].float(), target[:pairs].float()),
        "prior": F.mse_loss(prediction[pairs:].float(), target[pairs:].float()),
    }
    if config.method != "dreambooth":
        clean = predict_clean_latents(
            scheduler, noisy[:pairs], prediction[:pairs], timesteps[:pairs]
        )
        decoded = decode_latents(pipeline.vae, clean).float()
        landmarks = data.instance_landmarks[instance].to(decoded.device)
        embeddings = encoder(warp_to_template(decoded, landmarks))
        weights = (
            timestep_weight(timesteps[:pairs], scheduler.config.num_train_timesteps)
            if config.timestep_weighting
            else torch.ones(pairs, device=decoded.device)
        )
        negatives = None if data.class_embeddings is None else data.class_embeddings[prior]
        terms["identity"] = identity_term(
            config.method,
            embeddings,
            data.instance_embeddings[instance].to(embeddings),
            None if negatives is None else negatives.to(embeddings),
            weights,
            config.triplet_margin,
        )
    return terms


def finetune(
    pipeline,
    encoder,
    data: IdentityData,
    config: TrainConfig,
    output: Path,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> LossHistory:
    """Train a LoRA on ``pipeline.unet`` for ``config.max_steps`` steps and save it to ``output``."""
    if config.method != "dreambooth" and data.instance_embeddings is None:
        raise ValueError(f"{config.method} needs the embeddings of the instance images")
    from diffusers import DDPMScheduler

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    noise_scheduler = DDPMScheduler.from_config(pipeline.scheduler.config)
    pipeline.vae.requires_grad_(False)
    pipeline.text_encoder.requires_grad_(False)
    parameters = add_lora(pipeline.unet, config)
    optimiser = torch.optim.AdamW(
        parameters,
        lr=config.learning_rate,
        betas=config.adam_betas,
        weight_decay=config.adam_weight_decay,
        eps=config.adam_epsilon,
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: cosine_schedule(step, config.max_steps)
    )
    from idbooth_lib.diffusion.basics import encode_prompts

    with torch.no_grad():
        prompts = encode_prompts(pipeline, [config.instance_prompt, config.class_prompt])
    history, began = LossHistory(), time.time()
    pipeline.unet.train()
    for step in range(config.max_steps):
        terms = training_step(pipeline, noise_scheduler, encoder, data, config, prompts, generator)
        loss = (
            terms["instance"]
            + config.prior_loss_weight * terms["prior"]
            + terms.get("identity", 0.0)
        )
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, config.max_grad_norm)
        optimiser.step()
        schedule.step()
        history.append(step + 1, {name: value.item() for name, value in terms.items()})
        if (step + 1) % 50 == 0 or step + 1 == config.max_steps:
            text = "  ".join(f"{name} {values[-1]:.4f}" for name, values in history.terms.items())
            log(f"step {step + 1}/{config.max_steps}  {text}  {time.time() - began:.0f} s")
    pipeline.unet.eval()
    save_lora(pipeline.unet, output)
    return history
