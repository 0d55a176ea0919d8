"""Recipe: the toy VAE, a diffusers ``AutoencoderKL`` that maps 64×64 faces to 16×16×4 latents.

Stable Diffusion's VAE was trained with a pixel loss, a perceptual loss (LPIPS) and an adversarial
loss. LPIPS needs ImageNet weights we cannot download; the toy VAE uses the frozen toy recogniser
instead, twice: its feature maps of the aligned face act as the perceptual loss, and its embedding as
an identity loss. Without them, a small VAE blurs exactly what tells toy people apart (brows, mouths,
moles) — measured: the recogniser lost a tenth of its rank-1 accuracy on such reconstructions.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from idbooth_lib.checkpoints import Checkpointer
from idbooth_lib.identity.align import warp_to_template
from idbooth_lib.identity.toy_recogniser import ToyRecogniser
from idbooth_lib.logs import package_logger
from idbooth_lib.ranges import pixels_to_signed
from idbooth_lib.toy.pretrain.common import (
    cosine_learning_rate,
    pretraining_faces,
    write_recipe_record,
)

LOG = package_logger(__name__)


@dataclass(frozen=True)
class VaeRecipe:
    """Architecture, data and optimisation of the toy VAE.

    The widths are small on purpose: at 64×64 every channel of the full-resolution level costs a
    lot on a CPU (a (16, 64, 128) VAE took 8.7 s a step here with the recogniser's losses; this
    one takes about 1.2 s), and flat-shaded toy faces need little capacity when the perceptual and
    identity losses say which details matter. It keeps 8 latent channels where SD keeps 4: with
    4, a first run reached only 20.3 dB and blurred the backgrounds; SD's far larger VAE makes up
    for its stronger compression with capacity and training this machine does not have."""

    block_out_channels: tuple[int, ...] = (16, 32, 64)
    layers_per_block: int = 1
    latent_channels: int = 8
    norm_num_groups: int = 16
    seed: int = 0
    identities: int = 1500
    wild_per_identity: int = 16
    constrained_per_identity: int = 4
    steps: int = 1500
    batch_size: int = 24
    learning_rate: float = 1e-3
    kl_weight: float = 1e-6
    perceptual_weight: float = 0.5
    identity_weight: float = 0.5


VAE_RECIPE = VaeRecipe()


def build_vae(recipe: VaeRecipe, size: int = 64):
    """A diffusers ``AutoencoderKL`` of the recipe's shape (two down-samplings: 64 px → 16)."""
    from diffusers import AutoencoderKL

    blocks = len(recipe.block_out_channels)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * blocks,
        up_block_types=("UpDecoderBlock2D",) * blocks,
        block_out_channels=recipe.block_out_channels,
        layers_per_block=recipe.layers_per_block,
        latent_channels=recipe.latent_channels,
        norm_num_groups=recipe.norm_num_groups,
        sample_size=size,
    )


def recogniser_feature_maps(recogniser: ToyRecogniser, aligned: torch.Tensor) -> list[torch.Tensor]:
    """The recogniser's stem and stage outputs, each normalised over channels (as LPIPS does)."""
    maps, x = [], recogniser.stem(aligned)
    maps.append(x)
    for stage in recogniser.stages:
        x = stage(x)
        maps.append(x)
    return [F.normalize(feature, dim=1) for feature in maps]


def reconstruction_losses(
    vae, recogniser: ToyRecogniser, images: torch.Tensor, landmarks: torch.Tensor, recipe: VaeRecipe
) -> dict[str, torch.Tensor]:
    """Pixel (L1), perceptual, identity and KL terms for one batch in [-1, 1]."""
    posterior = vae.encode(images).latent_dist
    reconstruction = vae.decode(posterior.sample()).sample
    aligned_real = warp_to_template(images, landmarks)
    aligned_fake = warp_to_template(reconstruction, landmarks)
    with torch.no_grad():
        real_maps = recogniser_feature_maps(recogniser, aligned_real)
        real_embedding = recogniser(aligned_real)
    fake_maps = recogniser_feature_maps(recogniser, aligned_fake)
    perceptual = sum(
        (real - fake).pow(2).sum(1).mean() for real, fake in zip(real_maps, fake_maps, strict=True)
    )
    identity = 1 - (recogniser(aligned_fake) * real_embedding).sum(-1).mean()
    return {
        "pixel": (reconstruction - images).abs().mean(),
        "perceptual": perceptual,
        "identity": identity,
        "kl": posterior.kl().mean(),
    }


def train_vae(
    recipe: VaeRecipe,
    output: Path,
    recogniser_folder: Path,
    steps: int | None = None,
    checkpoint_every: int = 500,
):
    """Train the toy VAE; save it (diffusers format) with its latent ``scaling_factor`` set."""
    steps = recipe.steps if steps is None else steps
    torch.manual_seed(recipe.seed)
    generator = torch.Generator().manual_seed(recipe.seed)
    faces = pretraining_faces(recipe)
    recogniser = ToyRecogniser.load(recogniser_folder).requires_grad_(False)
    vae = build_vae(recipe)
    optimiser = torch.optim.AdamW(vae.parameters(), lr=recipe.learning_rate, weight_decay=0.0)
    checkpointer = Checkpointer.in_cache(output)
    start = checkpointer.restore(model=vae, optimiser=optimiser, generator=generator)
    weights = {
        "pixel": 1.0,
        "perceptual": recipe.perceptual_weight,
        "identity": recipe.identity_weight,
        "kl": recipe.kl_weight,
    }
    began, running = time.time(), dict.fromkeys(weights, 0.0)
    vae.train()
    for step in range(start, steps):
        for group in optimiser.param_groups:
            group["lr"] = cosine_learning_rate(step, steps, recipe.learning_rate)
        indices = torch.randint(0, len(faces), (recipe.batch_size,), generator=generator).numpy()
        images = pixels_to_signed(faces.images[indices])
        landmarks = torch.as_tensor(faces.landmarks[indices])
        terms = reconstruction_losses(vae, recogniser, images, landmarks, recipe)
        loss = sum(weights[name] * value for name, value in terms.items())
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        optimiser.step()
        for name, value in terms.items():
            running[name] += value.item() / 100
        if (step + 1) % 100 == 0:
            rate = (time.time() - began) / (step + 1 - start)
            text = "  ".join(f"{name} {value:.4f}" for name, value in running.items())
            LOG.info(f"step {step + 1}/{steps}  {text}  {rate:.2f} s/step")
            running = dict.fromkeys(weights, 0.0)
        if (step + 1) % checkpoint_every == 0 or step + 1 == steps:
            checkpointer.store(step + 1, model=vae, optimiser=optimiser, generator=generator)
    vae.eval()
    scaling = latent_scaling_factor(vae, faces)
    vae.register_to_config(scaling_factor=scaling)
    # Shipped in half precision, as the foundation pipeline stores all its parts.
    copy.deepcopy(vae).half().save_pretrained(output)
    write_recipe_record(output, recipe, steps, (time.time() - began) / 60)
    LOG.info(f"saved {output}: scaling factor {scaling:.4f}, {(time.time() - began) / 60:.1f} min")
    return vae


@torch.no_grad()
def latent_scaling_factor(vae, faces, count: int = 2048) -> float:
    """1 / standard deviation of the latents, as Stable Diffusion chose its 0.18215: the diffusion
    model then sees latents of unit variance, which its noise schedule assumes."""
    rng = np.random.default_rng(0)
    indices = rng.choice(len(faces), size=min(count, len(faces)), replace=False)
    latents = vae.encode(pixels_to_signed(faces.images[np.sort(indices)])).latent_dist.sample()
    return float(1.0 / latents.std())
