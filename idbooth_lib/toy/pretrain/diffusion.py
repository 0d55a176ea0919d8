"""Recipe: the toy foundation model's UNet, trained on toy-face latents under a frozen text encoder.

The result is a standard diffusers ``StableDiffusionPipeline`` folder built from Stable Diffusion's
own classes (``CLIPTokenizer``, ``CLIPTextModel``, ``UNet2DConditionModel``, ``AutoencoderKL``,
``DDPMScheduler`` with SD's ``scaled_linear`` betas), so ``StableDiffusionPipeline.from_pretrained``
loads it exactly as it loads SD 2.1.

As in Stable Diffusion, the text encoder is trained first and kept frozen here: the text recipe
(:mod:`idbooth_lib.toy.pretrain.text`) taught it, contrastively, to tell people apart by name.
The captions then teach the UNet:

- the background and the pose, in the paper's prompt words, so prompts steer the scene;
- people *by name*: most identities' captions name them with a made-up token
  (``face portrait photo of male dokavi person, forest background``), the way Stable Diffusion
  learned famous faces — DreamBooth relies on that ability to bind a new face to ``sks``;
- the two prompts of prior preservation (``photo of a person``, ``photo of NAME person``);
- nothing at all for one caption in ten, so classifier-free guidance has an unconditional model.
"""

from __future__ import annotations

import copy
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from idbooth_lib.checkpoints import Checkpointer
from idbooth_lib.logs import package_logger
from idbooth_lib.ranges import pixels_to_signed
from idbooth_lib.toy.pretrain.common import (
    cosine_learning_rate,
    load_in_float32_by_default,
    pretraining_faces,
    write_recipe_record,
)
from idbooth_lib.toy.tokenizer import identity_names
from idbooth_lib.toy_world.faces import describe
from idbooth_lib.toy_world.render import RenderedFaces

LOG = package_logger(__name__)


@dataclass(frozen=True)
class DiffusionRecipe:
    """Architecture, data and optimisation of the toy UNet (the text encoder has its own recipe)."""

    unet_channels: tuple[int, ...] = (32, 64, 128)
    layers_per_block: int = 1
    attention_head_dim: int = 32
    seed: int = 0
    identities: int = 1500
    wild_per_identity: int = 16
    constrained_per_identity: int = 4
    steps: int = 4500
    batch_size: int = 64
    learning_rate: float = 1e-3
    ema_decay: float = 0.995
    snr_gamma: float = 5.0
    unconditional_share: float = 0.1
    short_prompt_share: float = 0.1
    named_share: float = 0.5
    #: A pipeline folder whose UNet this run starts from instead of random weights, so that a
    #: foundation can be trained longer without repeating the run that made it (None: from scratch).
    continue_from: str | None = None


DIFFUSION_RECIPE = DiffusionRecipe()


def build_scheduler():
    """SD 2.1-base's noise schedule (``scaled_linear`` betas, 1000 steps, epsilon prediction)."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        prediction_type="epsilon",
        clip_sample=False,
        steps_offset=1,
    )


def build_unet(
    recipe: DiffusionRecipe, text_width: int, latent_size: int = 16, latent_channels: int = 4
):
    """A small ``UNet2DConditionModel`` built like SD 2.1's (transformer blocks with linear
    projections, cross-attention to the text). Unlike SD, the full-resolution level has no
    attention: on a CPU, attention over all 16×16 positions cost a third of each step, and the
    8×8 and 4×4 levels already see the whole face and background."""
    from diffusers import UNet2DConditionModel

    levels = len(recipe.unet_channels)
    return UNet2DConditionModel(
        sample_size=latent_size,
        in_channels=latent_channels,
        out_channels=latent_channels,
        layers_per_block=recipe.layers_per_block,
        block_out_channels=recipe.unet_channels,
        down_block_types=("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (levels - 1),
        up_block_types=("CrossAttnUpBlock2D",) * (levels - 1) + ("UpBlock2D",),
        cross_attention_dim=text_width,
        attention_head_dim=recipe.attention_head_dim,
        use_linear_projection=True,
        norm_num_groups=32,
    )


@torch.no_grad()
def encode_latents(vae, faces: RenderedFaces, batch_size: int = 256) -> tuple[torch.Tensor, ...]:
    """Mean and standard deviation of every face's latent distribution (scaled), in float16.

    Encoding once and sampling ``mean + std * noise`` at each step is what SD's own training does
    with pre-computed latents, and it spares the VAE encoder at every step.
    """
    means, stds = [], []
    for start in range(0, len(faces), batch_size):
        images = pixels_to_signed(faces.images[start : start + batch_size]).to(vae.device)
        posterior = vae.encode(images).latent_dist
        means.append(posterior.mean.half())
        stds.append(posterior.std.half())
    scaling = vae.config.scaling_factor
    return torch.cat(means) * scaling, torch.cat(stds) * scaling


def sample_captions(
    faces: RenderedFaces, indices: np.ndarray, names: list[str], recipe: DiffusionRecipe, rng
) -> list[str]:
    """One caption per face, drawn from the mixture described in the module docstring."""
    captions = []
    for index in indices:
        draw = rng.random()
        named = rng.random() < recipe.named_share
        name = names[faces.identities[index]] if named else None
        if draw < recipe.unconditional_share:
            captions.append("")
        elif draw < recipe.unconditional_share + recipe.short_prompt_share:
            captions.append(f"photo of {name} person" if name else "photo of a person")
        else:
            background = None if faces.backgrounds[index] == "studio" else faces.backgrounds[index]
            captions.append(describe(faces.genders[index], faces.poses[index], background, name))
    return captions


def tokenize(tokenizer, captions: list[str]) -> torch.Tensor:
    """Token ids padded to the tokenizer's 77 positions, as SD's training scripts do."""
    return tokenizer(
        captions,
        padding="max_length",
        max_length=tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    ).input_ids


def min_snr_weights(scheduler, timesteps: torch.Tensor, gamma: float) -> torch.Tensor:
    """Min-SNR-γ loss weights for epsilon prediction (Hang et al., 2023): min(SNR, γ) / SNR.

    Without it, the many nearly-clean timesteps dominate and a small model converges slowly.
    """
    from diffusers.training_utils import compute_snr

    snr = compute_snr(scheduler, timesteps)
    return torch.minimum(snr, torch.full_like(snr, gamma)) / snr


def train_diffusion(
    recipe: DiffusionRecipe,
    output: Path,
    vae_folder: Path,
    steps: int | None = None,
    checkpoint_every: int = 250,
    device: str = "cpu",
):
    """Train the UNet on VAE latents; write the whole pipeline folder to ``output``.

    ``output`` must already hold the text recipe's ``tokenizer`` and ``text_encoder``. ``device``
    only moves the work: the same seed draws the same batches and captions (NumPy, on the CPU), so
    a GPU run trains the same recipe many times faster.
    """
    from diffusers import AutoencoderKL

    steps = recipe.steps if steps is None else steps
    torch.manual_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    tokenizer, text_encoder = load_frozen_text_encoder(output, device)
    faces = pretraining_faces(recipe)
    names = identity_names(recipe.identities)
    checkpointer = Checkpointer.in_cache(Path(output) / "unet")
    vae = AutoencoderKL.from_pretrained(vae_folder, torch_dtype=torch.float32)
    vae = vae.eval().requires_grad_(False).to(device)
    LOG.info("encoding latents")
    latent_mean, latent_std = encode_latents(vae, faces)
    vae.to("cpu")
    scheduler = build_scheduler()
    unet = build_unet(recipe, text_encoder.config.hidden_size, 16, vae.config.latent_channels)
    if recipe.continue_from:
        start_from_trained_unet(unet, Path(recipe.continue_from).expanduser())
    unet = unet.to(device)
    average = copy.deepcopy(unet).requires_grad_(False)
    optimiser = torch.optim.AdamW(unet.parameters(), lr=recipe.learning_rate, weight_decay=1e-2)
    start = checkpointer.restore(unet=unet, average=average, optimiser=optimiser)
    if start:  # fresh random streams after a resume, derived from the step
        rng = np.random.default_rng(start + recipe.seed * 1_000_003)
        torch.manual_seed(start)
    unet.train()
    began, running = time.time(), 0.0
    for step in range(start, steps):
        for group in optimiser.param_groups:
            group["lr"] = cosine_learning_rate(step, steps, recipe.learning_rate, warmup=200)
        indices = rng.integers(0, len(faces), size=recipe.batch_size)
        captions = sample_captions(faces, indices, names, recipe, rng)
        with torch.no_grad():
            hidden = text_encoder(tokenize(tokenizer, captions).to(device))[0]
        loss = denoising_loss(
            unet, scheduler, hidden, latent_mean, latent_std, indices, recipe.snr_gamma
        )
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        optimiser.step()
        update_average(average, unet, recipe.ema_decay if step >= steps // 3 else 0.0)
        running += loss.detach() / 100  # no .item() here: it would wait for the GPU
        if (step + 1) % 100 == 0:
            rate = (time.time() - began) / (step + 1 - start)
            LOG.info(f"step {step + 1}/{steps}  loss {running.item():.4f}  {rate:.3f} s/step")
            running = 0.0
        if (step + 1) % checkpoint_every == 0 or step + 1 == steps:
            checkpointer.store(step + 1, unet=unet, average=average, optimiser=optimiser)
    save_pipeline(
        output,
        vae,
        text_encoder.to("cpu"),
        tokenizer,
        average.to("cpu"),
        scheduler,
        Path(output) / "tokenizer",
    )
    write_recipe_record(output, recipe, steps, (time.time() - began) / 60)
    if (vae_folder / "recipe.json").resolve() != (output / "vae" / "recipe.json").resolve():
        shutil.copy(vae_folder / "recipe.json", output / "vae" / "recipe.json")
    LOG.info(f"saved {output} ({(time.time() - began) / 60:.1f} min this run)")


def start_from_trained_unet(unet, folder: Path) -> None:
    """Copy the weights of ``folder``'s UNet into ``unet``, which must have its architecture."""
    from diffusers import UNet2DConditionModel

    if not (folder / "unet" / "config.json").is_file():
        raise FileNotFoundError(
            f"continue_from={folder} holds no unet/config.json: name a pipeline folder that the "
            "diffusion recipe wrote, such as idbooth_lib/toy/weights/foundation."
        )
    trained = UNet2DConditionModel.from_pretrained(folder / "unet", torch_dtype=torch.float32)
    try:
        unet.load_state_dict(trained.state_dict())  # strict: every name and shape must match
    except RuntimeError as error:
        raise ValueError(
            f"the UNet in {folder / 'unet'} has another architecture than this recipe builds: "
            "continue with the unet_channels, layers_per_block and attention_head_dim it was "
            "trained with (its recipe.json names them)."
        ) from error


def load_frozen_text_encoder(folder: Path, device: str):
    """The text recipe's tokenizer and text encoder from ``folder``, frozen, in float32."""
    from transformers import CLIPTextModel, CLIPTokenizer

    folder = Path(folder)
    if not (folder / "text_encoder" / "config.json").is_file():
        raise FileNotFoundError(
            f"{folder / 'text_encoder'} holds no text encoder: the UNet is trained under a frozen "
            f"one. Run `python -m idbooth_lib.toy.pretrain text --output {folder}` first."
        )
    tokenizer = CLIPTokenizer.from_pretrained(folder / "tokenizer")
    text_encoder = CLIPTextModel.from_pretrained(folder / "text_encoder", torch_dtype=torch.float32)
    return tokenizer, text_encoder.eval().requires_grad_(False).to(device)


def denoising_loss(
    unet, scheduler, hidden, latent_mean, latent_std, indices, snr_gamma: float
) -> torch.Tensor:
    """The epsilon-prediction loss of latent diffusion on one batch, min-SNR weighted.

    ``hidden`` is the text encoder's output for the batch's captions.
    """
    index = torch.as_tensor(indices, device=latent_mean.device)
    latents = latent_mean[index].float()
    latents = latents + latent_std[index].float() * torch.randn_like(latents)
    noise = torch.randn_like(latents)
    timesteps = torch.randint(
        0, scheduler.config.num_train_timesteps, (len(indices),), device=latents.device
    )
    noisy = scheduler.add_noise(latents, noise, timesteps)
    prediction = unet(noisy, timesteps, hidden).sample
    per_sample = F.mse_loss(prediction, noise, reduction="none").mean(dim=(1, 2, 3))
    return (per_sample * min_snr_weights(scheduler, timesteps, snr_gamma)).mean()


@torch.no_grad()
def update_average(average: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """Exponential moving average of the weights: sampling from it gives cleaner images."""
    # One fused call over all tensors: on a GPU a loop would launch two kernels per parameter.
    torch._foreach_lerp_(list(average.parameters()), list(model.parameters()), 1.0 - decay)
    for averaged, current in zip(average.buffers(), model.buffers(), strict=True):
        averaged.copy_(current)


def assemble_pipeline(vae, text_encoder, tokenizer, unet, scheduler):
    """A ``StableDiffusionPipeline`` from its parts, without SD's safety checker (the toy world has
    none, and face research needs the raw outputs)."""
    from diffusers import StableDiffusionPipeline

    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def save_pipeline(
    output: Path, vae, text_encoder, tokenizer, unet, scheduler, vocabulary: Path
) -> None:
    """Save the pipeline folder with fp16 weights (half the size); a default load gives float32.

    ``vocab.json`` and ``merges.txt`` are copied from the ``vocabulary`` folder (read before
    saving, as it may be ``output/tokenizer`` itself): transformers 5 writes only
    ``tokenizer.json``, but the slow ``CLIPTokenizer`` of transformers 4 needs them.
    """
    files = ("vocab.json", "merges.txt")
    vocabulary = [(Path(vocabulary) / name).read_bytes() for name in files]
    parts = [copy.deepcopy(module).half() for module in (vae, text_encoder, unet)]
    pipeline = assemble_pipeline(parts[0], parts[1], tokenizer, parts[2], scheduler)
    pipeline.save_pretrained(output)
    load_in_float32_by_default(Path(output) / "text_encoder")
    for name, content in zip(files, vocabulary, strict=True):
        (Path(output) / "tokenizer" / name).write_bytes(content)
