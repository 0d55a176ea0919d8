"""The pieces of latent diffusion that chapter 02 takes apart, and that training reuses.

Each function is a few lines over diffusers so that the reader sees the mathematics:

- the VAE maps images in [-1, 1] to latents scaled by ``vae.config.scaling_factor``;
- the forward process mixes a clean latent with noise, ``x_t = sqrt(ᾱ_t) x_0 + sqrt(1 - ᾱ_t) ε``;
- the clean-latent estimate inverts it with the predicted noise — the formula the identity losses
  of ID-Booth apply to the UNet's output (:func:`predict_clean_latents`);
- a sampling loop written with the scheduler is what ``StableDiffusionPipeline.__call__`` does.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from idbooth_lib.ranges import signed_to_unit


def encode_images(
    vae, images: torch.Tensor, sample: bool = False, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Images ``(B, 3, H, W)`` in [-1, 1] → scaled latents (the distribution's mean by default,
    a draw from it with ``sample``, as training does)."""
    posterior = vae.encode(images.to(vae.dtype)).latent_dist
    latents = posterior.sample(generator) if sample else posterior.mean
    return latents * vae.config.scaling_factor


def decode_latents(vae, latents: torch.Tensor) -> torch.Tensor:
    """Scaled latents → images in [-1, 1] (not clamped, so gradients pass unchanged)."""
    return vae.decode(latents.to(vae.dtype) / vae.config.scaling_factor).sample


def alphas_cumprod(scheduler, timesteps: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """ᾱ_t for each timestep, shaped to broadcast against ``like`` (B, C, H, W)."""
    values = scheduler.alphas_cumprod.to(like.device)[timesteps.to(like.device)]
    return values.to(like.dtype).view(-1, *([1] * (like.dim() - 1)))


def predict_clean_latents(
    scheduler, noisy: torch.Tensor, model_output: torch.Tensor, timesteps: torch.Tensor
) -> torch.Tensor:
    """x̂0 from the model's output at timestep t, for epsilon and v-prediction models.

    epsilon:  x̂0 = (x_t − sqrt(1 − ᾱ_t) ε̂) / sqrt(ᾱ_t)
    v:        x̂0 = sqrt(ᾱ_t) x_t − sqrt(1 − ᾱ_t) v̂
    """
    alpha_bar = alphas_cumprod(scheduler, timesteps, noisy)
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        return (noisy - (1 - alpha_bar).sqrt() * model_output) / alpha_bar.sqrt()
    if kind == "v_prediction":
        return alpha_bar.sqrt() * noisy - (1 - alpha_bar).sqrt() * model_output
    raise ValueError(f"prediction type {kind!r} is not supported (epsilon or v_prediction)")


def encode_prompts(pipeline, prompts: list[str]) -> torch.Tensor:
    """Text-encoder hidden states for ``prompts`` (padded to the tokenizer's 77 positions)."""
    ids = pipeline.tokenizer(
        prompts,
        padding="max_length",
        max_length=pipeline.tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    ).input_ids.to(pipeline.device)
    return pipeline.text_encoder(ids)[0]


@torch.no_grad()
def sample(
    pipeline,
    prompts: list[str],
    guidance_scale: float = 5.0,
    steps: int = 30,
    seed: int = 0,
    negative_prompt: str = "",
    on_step: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None,
) -> torch.Tensor:
    """Classifier-free guided sampling written out with the scheduler; returns images in [0, 1].

    ``on_step(t, latents, clean_estimate)`` is called after every step, e.g. to keep pictures of
    the trajectory. ``StableDiffusionPipeline.__call__`` does the same, with more options.
    """
    unet, scheduler = pipeline.unet, pipeline.scheduler
    generator = torch.Generator(device="cpu").manual_seed(seed)
    conditional = encode_prompts(pipeline, prompts)
    unconditional = encode_prompts(pipeline, [negative_prompt] * len(prompts))
    size = unet.config.sample_size
    latents = torch.randn(
        (len(prompts), unet.config.in_channels, size, size), generator=generator
    ).to(pipeline.device, conditional.dtype)
    scheduler.set_timesteps(steps)
    latents = latents * scheduler.init_noise_sigma
    for t in scheduler.timesteps:
        model_input = scheduler.scale_model_input(torch.cat([latents, latents]), t)
        noise_uncond, noise_cond = unet(
            model_input, t, torch.cat([unconditional, conditional])
        ).sample.chunk(2)
        # Guidance: move away from the unconditional prediction, toward the prompt's.
        noise = noise_uncond + guidance_scale * (noise_cond - noise_uncond)
        step = scheduler.step(noise, t, latents, generator=generator)
        if on_step is not None:
            on_step(int(t), step.prev_sample, step.pred_original_sample)
        latents = step.prev_sample
    return signed_to_unit(decode_latents(pipeline.vae, latents))
