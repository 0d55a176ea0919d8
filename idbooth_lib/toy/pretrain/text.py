"""Recipe: the toy text encoder, trained contrastively like CLIP before the UNet ever sees it.

Stable Diffusion does not learn its text encoder: it conditions on CLIP, trained beforehand to
match captions with images, and keeps it frozen. CLIP knows famous people by name because
captions on the web name them, and that knowledge is what DreamBooth builds on.

The toy world repeats that order. Captions name pretraining people with made-up words
(``face portrait photo of male dokavi person, forest background``); the text tower must land
near its image. The image tower is the frozen *evaluation* recogniser's embedding of the face
(identity) beside a small CNN trained here (background and pose). The evaluation recogniser is
used, not the loss recogniser, so that the network that later scores DreamBooth and ID-Booth
never shaped the text encoder.

Measured before this recipe existed: a text encoder trained jointly with the UNet, from the
diffusion loss alone, never learned names. Fifty names gave outputs with mean pairwise cosine
0.97, and the name tokens' embeddings had barely left their initial values.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from idbooth_lib.checkpoints import Checkpointer
from idbooth_lib.identity.toy_recogniser import ToyRecogniser
from idbooth_lib.logs import package_logger
from idbooth_lib.ranges import pixels_to_signed
from idbooth_lib.toy.pretrain.common import (
    cosine_learning_rate,
    embed_faces,
    load_in_float32_by_default,
    pretraining_faces,
    write_recipe_record,
)
from idbooth_lib.toy.tokenizer import build_tokenizer, identity_names

LOG = package_logger(__name__)


@dataclass(frozen=True)
class TextRecipe:
    """Architecture, data and optimisation of the toy text encoder (the CLIP of the toy world)."""

    text_width: int = 96
    text_layers: int = 3
    text_heads: int = 4
    embedding_dim: int = 64
    seed: int = 0
    identities: int = 1500
    wild_per_identity: int = 16
    constrained_per_identity: int = 4
    steps: int = 1500
    batch_size: int = 256
    learning_rate: float = 1e-3
    unconditional_share: float = 0.0
    short_prompt_share: float = 0.1
    named_share: float = 0.8


TEXT_RECIPE = TextRecipe()


def build_text_encoder(recipe: TextRecipe, tokenizer):
    """A small ``CLIPTextModel`` whose special-token ids match the toy tokenizer."""
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=recipe.text_width,
        intermediate_size=4 * recipe.text_width,
        num_hidden_layers=recipe.text_layers,
        num_attention_heads=recipe.text_heads,
        max_position_embeddings=tokenizer.model_max_length,
        projection_dim=recipe.text_width,
        hidden_act="gelu",
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return CLIPTextModel(config)


class SceneTower(nn.Module):
    """A small CNN for what the recogniser ignores: the background and the head's pose."""

    def __init__(self, width: int = 48, output: int = 64) -> None:
        super().__init__()
        layers, channels = [], 3
        for _ in range(4):  # 64 → 4 px
            layers += [nn.Conv2d(channels, width, 3, stride=2, padding=1), nn.GELU()]
            channels = width
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(2), nn.Flatten())
        self.head = nn.Linear(4 * width, output)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(images))


class ContrastiveModel(nn.Module):
    """Both towers and CLIP's learnable temperature; only ``text_encoder`` is shipped."""

    def __init__(self, text_encoder, recipe: TextRecipe, identity_dim: int) -> None:
        super().__init__()
        self.text_encoder = text_encoder
        self.text_projection = nn.Linear(recipe.text_width, recipe.embedding_dim, bias=False)
        self.scene = SceneTower(output=recipe.embedding_dim)
        self.image_projection = nn.Linear(identity_dim + recipe.embedding_dim, recipe.embedding_dim)
        self.logit_scale = nn.Parameter(torch.tensor(np.log(1 / 0.07), dtype=torch.float32))

    def embed_text(self, ids: torch.Tensor) -> torch.Tensor:
        """The end-of-text token's output, projected: CLIP's text embedding."""
        pooled = self.text_encoder(ids).pooler_output
        return F.normalize(self.text_projection(pooled), dim=-1)

    def embed_images(self, identity: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        features = torch.cat([identity, self.scene(images)], dim=-1)
        return F.normalize(self.image_projection(features), dim=-1)

    def loss(self, ids, identity, images) -> torch.Tensor:
        """CLIP's symmetric cross-entropy over the batch's caption-image similarities."""
        logits = self.logit_scale.clamp(max=np.log(100)).exp() * (
            self.embed_text(ids) @ self.embed_images(identity, images).T
        )
        target = torch.arange(len(ids))
        return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def train_text_encoder(
    recipe: TextRecipe,
    output: Path,
    recogniser_folder: Path,
    steps: int | None = None,
    checkpoint_every: int = 500,
) -> None:
    """Train the text encoder contrastively; write ``output/text_encoder`` and ``output/tokenizer``.

    Both are written at the end only; until then they live beside the checkpoints.

    ``output`` is the foundation pipeline folder: the diffusion recipe later reads the text
    encoder from there and keeps it frozen, as Stable Diffusion keeps CLIP.
    """
    from transformers import CLIPTokenizer

    from idbooth_lib.toy.pretrain.diffusion import sample_captions

    steps = recipe.steps if steps is None else steps
    torch.manual_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    faces = pretraining_faces(recipe)
    names = identity_names(recipe.identities)
    checkpointer = Checkpointer.in_cache(Path(output) / "text_encoder")
    # The vocabulary lives beside the checkpoints until the end: a resumed run must keep the
    # token ids its checkpoint was trained with (even if the tokenizer code changed meanwhile),
    # and `output` must not hold a new tokenizer beside an old text encoder.
    tokenizer_folder = checkpointer.folder / "tokenizer"
    if not (tokenizer_folder / "vocab.json").is_file():
        build_tokenizer(tokenizer_folder, names)
    tokenizer = CLIPTokenizer.from_pretrained(tokenizer_folder)
    LOG.info("embedding faces with the evaluation recogniser")
    identity = torch.as_tensor(embed_faces(ToyRecogniser.load(recogniser_folder), faces))
    model = ContrastiveModel(build_text_encoder(recipe, tokenizer), recipe, identity.shape[1])
    optimiser = torch.optim.AdamW(model.parameters(), lr=recipe.learning_rate, weight_decay=1e-2)
    start = checkpointer.restore(model=model, optimiser=optimiser)
    if start:  # fresh random streams after a resume, derived from the step
        rng = np.random.default_rng(start + recipe.seed * 1_000_003)
    photos = photos_by_person(faces.identities)
    model.train()
    began, running = time.time(), 0.0
    for step in range(start, steps):
        for group in optimiser.param_groups:
            group["lr"] = cosine_learning_rate(step, steps, recipe.learning_rate)
        indices = distinct_people(photos, recipe.batch_size, rng)
        captions = sample_captions(faces, indices, names, recipe, rng)
        # Padded to the longest caption, not to 77: with CLIP's causal attention the end-of-text
        # output never sees the padding after it, so this is the same embedding; steps ran in
        # 0.25 s instead of 0.55 s here.
        ids = tokenizer(captions, padding="longest", return_tensors="pt").input_ids
        loss = model.loss(ids, identity[indices], pixels_to_signed(faces.images[indices]))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        running += loss.item() / 100
        if (step + 1) % 100 == 0:
            rate = (time.time() - began) / (step + 1 - start)
            LOG.info(f"step {step + 1}/{steps}  loss {running:.3f}  {rate:.3f} s/step")
            running = 0.0
        if (step + 1) % checkpoint_every == 0 or step + 1 == steps:
            checkpointer.store(step + 1, model=model, optimiser=optimiser)
    model.text_encoder.half().save_pretrained(Path(output) / "text_encoder")
    load_in_float32_by_default(Path(output) / "text_encoder")
    shutil.copytree(tokenizer_folder, Path(output) / "tokenizer", dirs_exist_ok=True)
    write_recipe_record(Path(output) / "text_encoder", recipe, steps, (time.time() - began) / 60)
    LOG.info(f"saved {output}/text_encoder ({(time.time() - began) / 60:.1f} min this run)")


def photos_by_person(identities: np.ndarray) -> list[np.ndarray]:
    """The indices of every person's photos, person by person."""
    return [np.flatnonzero(identities == person) for person in range(identities.max() + 1)]


def distinct_people(photos: list[np.ndarray], batch_size: int, rng) -> np.ndarray:
    """One photo each of ``batch_size`` different people: two photos of one person in a batch
    would be a positive pair that the contrastive loss treats as a negative."""
    people = rng.choice(len(photos), size=batch_size, replace=False)
    return np.array([rng.choice(photos[person]) for person in people])
