"""Fine-tune identities of a prepared dataset, one LoRA each: what ``idbooth train`` and chapter 04 call.

The pipeline, the recogniser and the detector are loaded once per process and reused for every
identity (the adapter is taken off between identities); the class images are generated once and
shared. Under ``accelerate launch --num_processes N`` the identities are split across the N
processes — each trains its own LoRAs on its own GPU; nothing is averaged between them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from idbooth_lib.config import ProfileConfig
from idbooth_lib.data.layout import dataset_identities
from idbooth_lib.io import write_json
from idbooth_lib.training.class_images import ClassImages, ensure_class_images
from idbooth_lib.training.crops import make_face_crop
from idbooth_lib.training.finetune import (
    LORA_FILE,
    IdentityData,
    LossHistory,
    finetune,
    make_accelerator,
    remove_lora,
)

#: The weights each mixed-precision setting keeps the frozen models in (LoRA weights stay fp32).
WEIGHT_DTYPES = {"no": "float32", "fp16": "float16", "bf16": "bfloat16"}
RUN_FILE = "run.json"


@dataclass
class TrainingModels:
    """Everything fine-tuning loads once: the base pipeline, the recogniser, the detector."""

    pipeline: object
    encoder: torch.nn.Module
    detector: object
    accelerator: object


def load_training_models(config: ProfileConfig) -> TrainingModels:
    """Load the profile's models onto this process's device (``accelerate`` picks the GPU)."""
    from idbooth_lib.data.detect import load_face_detector
    from idbooth_lib.diffusion.pipeline import load_base_pipeline
    from idbooth_lib.identity.encoders import load_identity_encoder

    accelerator = make_accelerator(config.train, torch.device(config.device))
    dtype = WEIGHT_DTYPES[config.train.mixed_precision]
    pipeline = load_base_pipeline(config, device=str(accelerator.device), dtype=dtype)
    encoder = load_identity_encoder(
        config.models.identity_encoder,
        device=str(accelerator.device),
        face_model_root=config.models.face_model_root,
    )
    return TrainingModels(pipeline, encoder, load_face_detector(config), accelerator)


def run_folder(output_root: Path, identity: str, identities: list[str]) -> Path:
    """``OUT`` itself for a single identity, ``OUT/<identity>`` for several."""
    return Path(output_root) if len(identities) == 1 else Path(output_root) / identity


def train_identity(
    config: ProfileConfig,
    dataset_root: str | Path,
    identity: str,
    output: str | Path,
    models: TrainingModels,
    class_images: ClassImages,
    resume: bool = True,
    log: Callable[[str], None] = print,
    progress: bool = True,
) -> LossHistory:
    """Fine-tune one identity with ``config.train.method``; write its LoRA and loss log."""
    output = Path(output)
    data = IdentityData.from_prepared(dataset_root, identity, class_images)
    crop = make_face_crop(config.train.identity_crop, models.detector, config.data.aligned_size)
    write_json(
        output / RUN_FILE,
        {"identity": identity, "dataset": str(dataset_root), "config": config.to_dict()},
    )
    log(f"{identity}: {config.train.method}, {config.train.max_steps} steps -> {output}")
    try:
        return finetune(
            models.pipeline,
            models.encoder,
            data,
            config.train,
            output,
            seed=config.seed,
            log=log,
            crop=crop,
            resume=resume,
            accelerator=models.accelerator,
            progress=progress,
        )
    finally:
        remove_lora(models.pipeline.unet)


def train_identities(
    config: ProfileConfig,
    dataset_root: str | Path,
    identities: list[str] | None,
    output_root: str | Path,
    resume: bool = True,
    log: Callable[[str], None] = print,
    progress: bool = True,
) -> dict[str, Path]:
    """Fine-tune each identity (all of the dataset's when ``None``); return LoRA files by identity.

    Run with ``accelerate launch`` to split the identities across processes.
    """
    from accelerate import PartialState

    identities = identities or dataset_identities(Path(dataset_root))
    models = load_training_models(config)
    state = PartialState()
    with state.main_process_first():  # the main process generates the shared class images
        class_images = ensure_class_images(
            models.pipeline, config, models.detector, models.encoder, log=log
        )
    written = {}
    with state.split_between_processes(identities) as mine:
        for identity in mine:
            folder = run_folder(Path(output_root), identity, identities)
            train_identity(
                config, dataset_root, identity, folder, models, class_images, resume, log, progress
            )
            written[identity] = folder / LORA_FILE
    return written
