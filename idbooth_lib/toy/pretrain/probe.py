"""Recipe: the toy scene probe that judges prompt adherence (background and pose) in chapter 06.

It learns both heads on *real* wild toy faces of the pretraining world, whose background and pose
are known exactly, and reports its accuracy on held-out real faces into ``accuracy.json``: what
it says about generated images can be no better than that.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from idbooth_lib.checkpoints import Checkpointer
from idbooth_lib.evaluation.adherence import ProbeConfig, SceneProbe
from idbooth_lib.io import write_json
from idbooth_lib.logs import package_logger
from idbooth_lib.ranges import pixels_to_signed
from idbooth_lib.toy.pretrain.common import PRETRAIN_WORLD_SEED, write_recipe_record
from idbooth_lib.toy_world.render import render_faces
from idbooth_lib.vocabulary import BACKGROUNDS, POSES

LOG = package_logger(__name__)


@dataclass(frozen=True)
class ProbeRecipe:
    """The probe's data and optimisation."""

    seed: int = 0
    identities: int = 500
    wild_per_identity: int = 8
    held_out_identities: int = 50
    steps: int = 2000
    batch_size: int = 64
    learning_rate: float = 2e-3


PROBE_RECIPE = ProbeRecipe()


def probe_data(recipe: ProbeRecipe):
    """Images in [-1, 1] with background and pose labels; the last identities are held out."""
    faces = render_faces(
        PRETRAIN_WORLD_SEED, range(recipe.identities), recipe.wild_per_identity, "wild",
        workers=os.cpu_count() or 1,
    )  # fmt: skip
    images = pixels_to_signed(faces.images)
    backgrounds = torch.tensor([BACKGROUNDS.index(b) for b in faces.backgrounds])
    poses = torch.tensor([POSES.index(p) for p in faces.poses])
    train = torch.as_tensor(faces.identities) < recipe.identities - recipe.held_out_identities
    return images, backgrounds, poses, train


def train_probe(
    recipe: ProbeRecipe,
    output: Path,
    steps: int | None = None,
    checkpoint_every: int = 500,
) -> SceneProbe:
    """Train the probe, save it to ``output`` with its held-out accuracy; resumable."""
    steps = recipe.steps if steps is None else steps
    torch.manual_seed(recipe.seed)
    images, backgrounds, poses, train = probe_data(recipe)
    rows = torch.nonzero(train).squeeze(1)
    probe, generator = SceneProbe(ProbeConfig()), torch.Generator().manual_seed(recipe.seed)
    optimiser = torch.optim.AdamW(probe.parameters(), lr=recipe.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps)
    checkpointer = Checkpointer.in_cache(output)
    parts = {"probe": probe, "optimiser": optimiser, "schedule": schedule, "generator": generator}
    start, began = checkpointer.restore(**parts), time.time()
    probe.train()
    for step in range(start, steps):
        batch = rows[torch.randint(0, len(rows), (recipe.batch_size,), generator=generator)]
        logits_b, logits_p = probe(images[batch])
        loss = F.cross_entropy(logits_b, backgrounds[batch]) + F.cross_entropy(
            logits_p, poses[batch]
        )
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if (step + 1) % checkpoint_every == 0 and step + 1 < steps:
            checkpointer.store(step + 1, **parts)
            LOG.info(f"step {step + 1}/{steps}  loss {loss.item():.3f}")
    probe.eval()
    with torch.no_grad():
        logits_b, logits_p = probe(images[~train])
    accuracy = {
        "background": round(float((logits_b.argmax(1) == backgrounds[~train]).float().mean()), 4),
        "pose": round(float((logits_p.argmax(1) == poses[~train]).float().mean()), 4),
        "held_out_images": int((~train).sum()),
    }
    probe.save(output)
    write_json(Path(output) / "accuracy.json", accuracy)
    write_recipe_record(Path(output), recipe, steps, (time.time() - began) / 60)
    LOG.info(f"saved {output}: held-out accuracy {accuracy}")
    return probe
