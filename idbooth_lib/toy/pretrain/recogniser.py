"""Recipe: the toy face recognisers (additive-angular-margin loss on aligned toy faces)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from idbooth_lib.checkpoints import Checkpointer
from idbooth_lib.identity.toy_recogniser import (
    AdditiveAngularMargin,
    RecogniserConfig,
    ToyRecogniser,
)
from idbooth_lib.logs import package_logger
from idbooth_lib.toy.pretrain.common import (
    aligned_batch,
    cosine_learning_rate,
    pretraining_faces,
    write_recipe_record,
)

LOG = package_logger(__name__)


@dataclass(frozen=True)
class RecogniserRecipe:
    """Everything that defines a recogniser run (architecture, data, optimisation)."""

    architecture: RecogniserConfig
    seed: int
    identities: int = 1500
    wild_per_identity: int = 16
    constrained_per_identity: int = 4
    steps: int = 2000
    batch_size: int = 128
    learning_rate: float = 3e-3
    weight_decay: float = 5e-4
    landmark_noise_px: float = 0.8


RECOGNISER_RECIPES = {
    "recogniser": RecogniserRecipe(RecogniserConfig((32, 64, 128), 1, 128), seed=0),
    # A second, independent evaluator: another architecture and another seed. The paper scored
    # identity with the loss's own ArcFace, which flatters the identity methods (chapter 04).
    "recogniser_b": RecogniserRecipe(RecogniserConfig((16, 32, 64), 2, 96), seed=1, steps=1500),
}


def train_recogniser(
    recipe: RecogniserRecipe,
    output: Path,
    steps: int | None = None,
    checkpoint_every: int = 500,
) -> ToyRecogniser:
    """Train a toy recogniser with the additive-angular-margin loss and save it to ``output``."""
    steps = recipe.steps if steps is None else steps
    torch.manual_seed(recipe.seed)
    generator = torch.Generator().manual_seed(recipe.seed)
    faces = pretraining_faces(recipe)
    model = ToyRecogniser(recipe.architecture)
    head = AdditiveAngularMargin(recipe.architecture.embedding_dim, recipe.identities)
    parameters = [*model.parameters(), *head.parameters()]
    optimiser = torch.optim.AdamW(
        parameters, lr=recipe.learning_rate, weight_decay=recipe.weight_decay
    )
    checkpointer = Checkpointer.in_cache(output)
    start = checkpointer.restore(
        model=model, head=head, optimiser=optimiser, generator=generator
    )
    model.train()
    began, running = time.time(), 0.0
    for step in range(start, steps):
        for group in optimiser.param_groups:
            group["lr"] = cosine_learning_rate(step, steps, recipe.learning_rate)
        indices = torch.randint(0, len(faces), (recipe.batch_size,), generator=generator).numpy()
        images = aligned_batch(faces, indices, recipe.landmark_noise_px, generator)
        labels = torch.as_tensor(faces.identities[indices])
        loss = head(model.features(images), labels)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        running += loss.item()
        if (step + 1) % 100 == 0:
            rate = (time.time() - began) / (step + 1 - start)
            LOG.info(f"step {step + 1}/{steps}  loss {running / 100:.3f}  {rate:.2f} s/step")
            running = 0.0
        if (step + 1) % checkpoint_every == 0 or step + 1 == steps:
            checkpointer.store(
                step + 1, model=model, head=head, optimiser=optimiser, generator=generator
            )
    model.eval()
    model.save(output)
    write_recipe_record(output, recipe, steps, (time.time() - began) / 60)
    LOG.info(f"saved {output} after {steps} steps ({(time.time() - began) / 60:.1f} min this run)")
    return model
