"""Training a face recogniser on real, synthetic or mixed data: ``idbooth fr-train`` (chapter 07).

The paper's last claim is utility: a recogniser trained on a small real dataset plus ID-Booth images
recognises faces better than one trained on the real photos alone. Training here is the standard
recipe, in small: a backbone (iResNet-18/50 in arcface_torch's layout, or a toy CNN for the toy
world) that maps aligned 112×112 crops to embeddings, a margin head (ArcFace's additive angular
margin or CosFace's additive cosine margin, both from pytorch-metric-learning, which keeps their
class weights and the margin arithmetic), SGD with momentum and weight decay on a cosine or step
schedule, mirrored images as augmentation, optional mixed precision, and a checkpoint every epoch
from which a run resumes exactly.

The model is *selected* on a validation set of people held out of the training data
(:mod:`~idbooth_lib.recognition.data`), never on a test benchmark — the authors' scripts kept the
model with the best LFW accuracy, which reports a test set's maximum as its result. The output
folder holds the chosen backbone in a form :func:`~idbooth_lib.identity.encoders.load_identity_encoder`
reads (a toy recogniser folder, or an arcface_torch ``.safetensors`` state dict), the learning
curves and ``training.json`` (settings, data, curves, the chosen epoch).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from idbooth_lib.checkpoints import Checkpointer
from idbooth_lib.io import atomic_path, write_json, write_text
from idbooth_lib.logs import package_logger, progress_bar
from idbooth_lib.ranges import pixels_to_signed
from idbooth_lib.recognition.data import (
    FaceClasses,
    hold_out_identities,
    read_aligned,
    validation_pairs,
)
from idbooth_lib.recognition.verification import (
    flip_sum_embeddings,
    pair_scores,
    ten_fold_accuracy,
)

LOG = package_logger(__name__)

BACKBONES = ("toy", "iresnet18", "iresnet50")
HEADS = ("arcface", "cosface")
SCHEDULES = ("cosine", "step")
TRAINING_FILE = "training.json"
CURVES_FILE = "curves.csv"
TOY_BACKBONE = "backbone"
IRESNET_BACKBONE = "backbone.safetensors"


@dataclass(frozen=True)
class RecognitionConfig:
    """How a recogniser is trained (``--set`` names of ``idbooth fr-train``)."""

    backbone: str = "toy"
    head: str = "arcface"
    embedding_dim: int = 128
    epochs: int = 20
    batch_size: int = 64
    learning_rate: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    #: ArcFace: the angle added to the true class, in degrees (pml's unit; 28.6° = 0.5 rad, the
    #: ArcFace paper's); CosFace: subtracted from its cosine. None: the head's usual value.
    margin: float | None = None
    scale: float = 64.0
    mixed_precision: str = "no"
    flip: bool = True
    #: Photometric augmentation: brightness, contrast and saturation each multiplied by a factor
    #: drawn in [1 - j, 1 + j] per image (0: off), so that photos which all share one light do
    #: not leave the recogniser to meet other light first at test. On the toy world it does not
    #: make up for studio photos' missing poses (``benchmarks/recognition_training.py``).
    colour_jitter: float = 0.0
    #: Geometric augmentation: a shift of up to this share of the crop's width and height, and a
    #: rotation of up to 30 degrees times it, per image (0: off), for a crop aligned less exactly.
    shift: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("backbone", self.backbone, BACKBONES),
            ("head", self.head, HEADS),
            ("schedule", self.schedule, SCHEDULES),
        ):
            if value not in allowed:
                raise ValueError(f"unknown {name} {value!r}: choose one of {', '.join(allowed)}")


def build_backbone(name: str, embedding_dim: int) -> torch.nn.Module:
    """An untrained backbone: aligned crops in [-1, 1] → unit embeddings."""
    if name == "toy":
        from idbooth_lib.identity.toy_recogniser import RecogniserConfig, ToyRecogniser

        return ToyRecogniser(RecogniserConfig((32, 64, 128), 1, embedding_dim))
    from idbooth_lib.identity.arcface_torch import iresnet

    return iresnet("r" + name.removeprefix("iresnet"), num_features=embedding_dim)


def build_head(config: RecognitionConfig, classes: int) -> torch.nn.Module:
    """The margin loss with its class weights (pytorch-metric-learning)."""
    from pytorch_metric_learning import losses

    margin = {} if config.margin is None else {"margin": config.margin}
    if config.head == "arcface":
        return losses.ArcFaceLoss(classes, config.embedding_dim, scale=config.scale, **margin)
    return losses.CosFaceLoss(classes, config.embedding_dim, scale=config.scale, **margin)


def learning_rate_factor(config: RecognitionConfig, step: int, total: int) -> float:
    """The schedule's multiplier at ``step`` of ``total``: half a cosine down to 0, or ×0.1 at 60 %
    and again at 80 % of training (the usual step schedule)."""
    progress = step / max(total, 1)
    if config.schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * progress))
    return 0.1 ** sum(progress >= edge for edge in (0.6, 0.8))


def augment(images: torch.Tensor, config: RecognitionConfig, generator: torch.Generator):
    """Each signed image jittered in colour and moved a little, with parameters drawn from
    ``generator`` (so a resumed run draws the same ones); unchanged when both are off.

    torchvision's functional transforms do the pixel work; the parameters are drawn here, per
    image, because its random transforms draw one set per call from the global generator.
    """
    from torchvision.transforms.v2 import functional as tv

    if not config.colour_jitter and not config.shift:
        return images
    moved = []
    for image in (images + 1) / 2:  # torchvision's colour functions expect [0, 1]
        factors = 1 + config.colour_jitter * (2 * torch.rand(3, generator=generator) - 1)
        image = tv.adjust_brightness(image, float(factors[0]))
        image = tv.adjust_contrast(image, float(factors[1]))
        image = tv.adjust_saturation(image, float(factors[2]))
        if config.shift:
            offsets = config.shift * (2 * torch.rand(3, generator=generator) - 1)
            width = image.shape[-1]
            image = tv.affine(image, angle=float(30 * offsets[2]), scale=1.0, shear=[0.0, 0.0],
                              translate=[int(offsets[0] * width), int(offsets[1] * width)])  # fmt: skip
        moved.append(image)
    return torch.stack(moved) * 2 - 1


def epoch_batches(order: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    """``order`` cut into batches of ``batch_size``; a lone last image joins the batch before it,
    because batch normalisation cannot normalise one image (training would stop with an error
    whenever the training set holds one image more than a multiple of the batch size)."""
    batches = list(order.split(batch_size))
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2:] = [torch.cat(batches[-2:])]
    return batches


def embed_images(model: torch.nn.Module, images: np.ndarray) -> np.ndarray:
    """Flip-summed unit embeddings of uint8 crops (the benchmarks' test-time embedding), each
    half embedded as data preparation embeds (:func:`~idbooth_lib.data.prepare.embed_aligned`)."""
    from idbooth_lib.data.prepare import embed_aligned

    model.eval()
    with torch.no_grad():  # a model in training keeps its gradients on; none are needed here
        return flip_sum_embeddings(lambda batch: embed_aligned(model, list(batch)), images, 128)


def validation_scores(model, validation: FaceClasses, seed: int) -> dict[str, float]:
    """On every genuine pair of the held-out people and as many impostors: the 10-fold accuracy,
    and the separation of genuine from impostor scores (the evaluation's d′).

    A few held-out people are told apart perfectly long before training ends, so accuracy alone
    ties across many epochs; the separation keeps growing while the two score distributions move
    apart, and breaks those ties."""
    from idbooth_lib.evaluation.separability import d_prime

    pairs, same = validation_pairs(validation, seed)
    scores = pair_scores(embed_images(model, validation.images), pairs)
    # Ten folds need ten pairs; two held-out people with two photos each give four (a small set
    # of one's own photos, chapter 08), and then fewer folds of at least two pairs are used.
    folds = max(2, min(10, len(same) // 2))
    return {
        "validation_accuracy": ten_fold_accuracy(scores, same, folds).accuracy_mean,
        "validation_separation": d_prime(scores[same], scores[~same]) or 0.0,
    }


def _selection_key(row: dict[str, float]) -> tuple[float, float, int]:
    """Best validation accuracy; among equals, the larger separation; then the earlier epoch."""
    return (row["validation_accuracy"], row.get("validation_separation", 0.0), -row["epoch"])


def data_digest(data: FaceClasses) -> str:
    """A hash of the images and their labels: a resumed run must train on the very same data."""
    digest = hashlib.sha256(np.ascontiguousarray(data.images).tobytes())
    digest.update(np.asarray(data.labels, np.int64).tobytes())
    digest.update("\n".join(data.classes).encode("utf-8"))
    return digest.hexdigest()


@dataclass
class Curves:
    """One row per epoch: training loss, validation accuracy, learning rate."""

    rows: list[dict[str, float]] = dataclasses.field(default_factory=list)

    def state_dict(self) -> dict:
        return {"rows": [dict(row) for row in self.rows]}

    def load_state_dict(self, state: dict) -> None:
        self.rows = [dict(row) for row in state["rows"]]

    def best(self) -> dict[str, float]:
        """The epoch chosen on the held-out people: the best validation accuracy; among equals,
        the larger validation separation; then the earlier epoch."""
        return max(self.rows, key=_selection_key)

    def write_csv(self, path: Path) -> None:
        """The curves as CSV (a finished run's rerun leaves an unchanged file alone)."""
        text = io.StringIO(newline="")
        writer = csv.DictWriter(
            text,
            ["epoch", "loss", "validation_accuracy", "validation_separation", "lr"],
            lineterminator="\n",
        )
        writer.writeheader()
        writer.writerows(self.rows)
        write_text(path, text.getvalue(), keep_unchanged=True)


def save_backbone(model: torch.nn.Module, config: RecognitionConfig, output: Path) -> Path:
    """The backbone in a form ``load_identity_encoder`` reads: a toy recogniser folder, or an
    iResNet state dict in arcface_torch's key names as ``.safetensors``."""
    if config.backbone == "toy":
        model.save(output / TOY_BACKBONE)
        return output / TOY_BACKBONE
    from safetensors.torch import save_file

    state = {
        name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()
    }
    with atomic_path(output / IRESNET_BACKBONE) as temporary:
        save_file(state, str(temporary))
    return output / IRESNET_BACKBONE


def train_recognition(
    train: FaceClasses,
    validation: FaceClasses,
    config: RecognitionConfig,
    output: str | Path,
    device: str = "cpu",
    about: dict[str, Any] | None = None,
) -> dict:
    """Train, keep the epoch with the best validation accuracy, write ``output``; resumes from
    the newest epoch checkpoint in ``output/checkpoints``. Returns ``training.json``'s content."""
    output = Path(output)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    model = build_backbone(config.backbone, config.embedding_dim).to(device)
    head = build_head(config, len(train.classes)).to(device)
    parameters = [*model.parameters(), *head.parameters()]
    optimiser = torch.optim.SGD(parameters, lr=config.learning_rate, momentum=config.momentum,
                                weight_decay=config.weight_decay)  # fmt: skip
    steps_per_epoch = len(epoch_batches(torch.arange(len(train)), config.batch_size))
    total = steps_per_epoch * config.epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: learning_rate_factor(config, step, total)
    )
    from idbooth_lib.training.precision import MixedPrecision

    precision = MixedPrecision(config.mixed_precision, torch.device(device))
    curves = Curves()
    checkpoints = Checkpointer(output / "checkpoints", keep=2)
    parts = {"model": model, "head": head, "optimiser": optimiser, "schedule": schedule}
    parts |= {"generator": generator, "curves": curves, "scaler": precision.scaler}
    metadata = {"config": dataclasses.asdict(config), "classes": train.classes,
                "train_data": data_digest(train), "validation_data": data_digest(validation)}  # fmt: skip
    _check_resumable(checkpoints, metadata)
    start = checkpoints.restore(**parts)
    best = _selection_key(curves.best()) if curves.rows else None
    labels = torch.as_tensor(train.labels)
    for epoch in progress_bar(range(start, config.epochs), desc="epochs"):
        model.train()
        order = torch.randperm(len(train), generator=generator)
        losses, skipped = [], 0
        for rows in epoch_batches(order, config.batch_size):
            images = pixels_to_signed(train.images[rows.numpy()].copy()).to(device)
            if config.flip:  # mirror half of the batch
                mirrored = torch.rand(len(rows), generator=generator) < 0.5
                images[mirrored.to(device)] = images[mirrored.to(device)].flip(-1)
            images = augment(images, config, generator)
            with precision.autocast():
                loss = head(model(images).float(), labels[rows].to(device))
            # a non-finite loss (or an fp16 overflow) changes no weight; counted, and said below
            skipped += not precision.step(loss, optimiser, parameters, max_grad_norm=5.0)
            schedule.step()
            losses.append(loss.item())
        if skipped:
            LOG.warning(f"epoch {epoch + 1}: {skipped} of {len(losses)} steps skipped "
                        "(a loss that was not finite, or fp16 gradients that overflowed)")  # fmt: skip
        row = {"epoch": epoch + 1, "loss": float(np.mean(losses)),
               **validation_scores(model, validation, config.seed),
               "lr": schedule.get_last_lr()[0]}  # fmt: skip
        curves.rows.append(row)
        LOG.info(f"epoch {epoch + 1}/{config.epochs}  loss {row['loss']:.3f}  validation accuracy "
                 f"{row['validation_accuracy']:.4f}, separation {row['validation_separation']:.2f}")  # fmt: skip
        if best is None or _selection_key(row) > best:  # the model this run returns
            best = _selection_key(row)
            save_backbone(model, config, output)
        checkpoints.store(epoch + 1, metadata=metadata, **parts)
    curves.write_csv(output / CURVES_FILE)
    chosen = curves.best()
    record = {
        "config": dataclasses.asdict(config),
        "backbone": str(_backbone_path(config, output).relative_to(output)),
        "selected_epoch": chosen["epoch"],
        "selected_on": "validation: people held out of the training data (never a test benchmark)",
        "validation_accuracy": chosen["validation_accuracy"],
        "validation_separation": chosen["validation_separation"],
        "train": train.summary(),
        "validation": validation.summary(),
        "validation_people": validation.classes,
        "curves": curves.rows,
        **(about or {}),
    }
    write_json(output / TRAINING_FILE, record, keep_unchanged=True)
    return record


def _backbone_path(config: RecognitionConfig, output: Path) -> Path:
    return output / (TOY_BACKBONE if config.backbone == "toy" else IRESNET_BACKBONE)


def _check_resumable(checkpoints: Checkpointer, metadata: dict) -> None:
    """Refuse to resume a run of other settings or classes (it would mix two trainings)."""
    stored = checkpoints.latest_metadata()
    if stored is not None and stored != metadata:
        raise ValueError(
            f"{checkpoints.folder} holds checkpoints of another recognition run (other settings, "
            "people or images): choose another --output, or delete that folder to start over"
        )


def trained_backbone_source(output: str | Path) -> str:
    """What ``load_identity_encoder`` should load for an ``fr-train`` output folder."""
    output = Path(output)
    record = output / TRAINING_FILE
    unfinished = (f"{output} is not a finished fr-train output: run the same `idbooth fr-train "
                  f"... --output {output}` again (it resumes from its checkpoints), or pass the "
                  "backbone file itself")  # fmt: skip
    if not record.is_file():
        raise FileNotFoundError(f"{record} is missing: {unfinished}")
    import json

    try:
        backbone = output / json.loads(record.read_text(encoding="utf-8"))["backbone"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{record} names no backbone: {unfinished}") from error
    if not backbone.exists():
        raise FileNotFoundError(f"{backbone}, named by {record}, is missing: {unfinished}")
    return str(backbone)


__all__ = [
    "BACKBONES",
    "HEADS",
    "RecognitionConfig",
    "build_backbone",
    "build_head",
    "embed_images",
    "learning_rate_factor",
    "save_backbone",
    "train_on_real_and_synthetic",
    "train_recognition",
    "trained_backbone_source",
    "data_digest",
    "validation_scores",
]


def train_on_real_and_synthetic(
    real: Sequence[str | Path],
    synthetic: Sequence[str | Path],
    config: RecognitionConfig,
    output: str | Path,
    validation_share: float = 0.1,
    device: str = "cpu",
) -> dict:
    """The paper's last experiment in one call: a recogniser trained on prepared ``real`` photos
    plus prepared ``synthetic`` sets of the same people, its epoch chosen on a ``validation_share``
    of the people set aside whole and judged on their *real* photos only, so that a method is not
    chosen by its own images. What ``idbooth fr-train``, ``make reproduce`` and chapter 07 run.
    Returns ``training.json``'s content."""
    roots = [Path(root) for root in (*real, *synthetic)]
    train, validation = hold_out_identities(read_aligned(roots), validation_share, config.seed,
                                            origin=tuple(Path(root).name for root in real))  # fmt: skip
    about = {"real": [str(root) for root in real], "synthetic": [str(root) for root in synthetic]}
    return train_recognition(train, validation, config, output, device, about)
