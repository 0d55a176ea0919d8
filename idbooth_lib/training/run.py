"""Fine-tune identities of a prepared dataset, one LoRA each: what ``idbooth train`` and chapter 04 call.

The pipeline, the recogniser and the detector are loaded once per process and reused for every
identity (the adapter is taken off between identities); the class images are generated once and
shared. Each run gets its own optimiser, schedule and gradient scaler
(:mod:`~idbooth_lib.training.precision`), so an identity's LoRA does not depend on which identities
the process trained before it. Under ``accelerate launch --num_processes N`` the identities are
split across the N processes — each trains its own LoRAs on its own GPU (the detector too);
nothing is averaged between them.
"""

from __future__ import annotations

from pathlib import Path

import idbooth_lib.identity.encoders  # noqa: F401 (registers the recognisers' ModelBundle loader)
from idbooth_lib.config import ProfileConfig
from idbooth_lib.data.layout import (
    IDENTITY_FILE,
    PASSED_IN_CODE,
    dataset_encoder,
    dataset_identities,
    read_json,
)
from idbooth_lib.diffusion.lora import LORA_FILE, remove_lora
from idbooth_lib.env import process_device, process_state
from idbooth_lib.io import write_json
from idbooth_lib.logs import package_logger
from idbooth_lib.methods import get_method
from idbooth_lib.models import ModelBundle
from idbooth_lib.preflight import check_profile
from idbooth_lib.training.class_images import ClassImages, ensure_class_images
from idbooth_lib.training.crops import make_face_crop
from idbooth_lib.training.finetune import LossHistory, check_run_folder, finetune, run_fingerprint
from idbooth_lib.training.pairs import IdentityData

LOG = package_logger(__name__)

#: The weights each mixed-precision setting keeps the frozen models in (LoRA weights stay fp32).
WEIGHT_DTYPES = {"no": "float32", "fp16": "float16", "bf16": "bfloat16"}
RUN_FILE = "run.json"


def training_models(config: ProfileConfig) -> ModelBundle:
    """The models fine-tuning uses, on this process's device, each loaded on first use: the base
    pipeline (its frozen weights in the dtype of ``train.mixed_precision``), the recogniser of
    the loss (``models.identity_encoder``) and the face detector."""
    return ModelBundle(
        config,
        device=str(process_device(config)),
        pipeline_dtype=WEIGHT_DTYPES[config.train.mixed_precision],
    )


def _same_models(config: ProfileConfig, models: ModelBundle | None) -> ModelBundle:
    """``models``, checked to be the profile's (a new bundle when None)."""
    if models is None:
        return training_models(config)
    if models.config.models != config.models or models.pipeline_dtype != WEIGHT_DTYPES[config.train.mixed_precision]:
        raise ValueError(
            "the models passed to train_identities were made for another profile's models or "
            "mixed precision: make them with training_models(config) for this profile"
        )
    return models


def check_dataset_encoder(config: ProfileConfig, dataset_root: str | Path) -> None:
    """Refuse to train when the loss's recogniser is not the one the dataset's embeddings came
    from: the identity term would compare embeddings of two different networks. A dataset that
    does not name a source (prepared with a module passed in code, or before this was recorded)
    cannot be checked: that is said, and training goes on."""
    prepared_with = dataset_encoder(Path(dataset_root))
    if not get_method(config.train.method).has_identity_term or prepared_with == config.models.identity_encoder:
        return
    if prepared_with is None or prepared_with.endswith(PASSED_IN_CODE):
        LOG.warning(
            f"note: {Path(dataset_root) / 'dataset.json'} does not name the recogniser of its "
            f"embeddings ({prepared_with}); make sure it is {config.models.identity_encoder!r}"
        )
        return
    raise ValueError(
        f"{Path(dataset_root) / 'dataset.json'} was prepared with the recogniser "
        f"{prepared_with!r}, but {config.train.method} would compare its embeddings with "
        f"{config.models.identity_encoder!r} (models.identity_encoder). Fix: train with "
        f"--set models.identity_encoder={prepared_with}, or prepare the photos again with "
        f"--set models.identity_encoder={config.models.identity_encoder} into a new folder"
    )


def check_settings_before_training(
    config: ProfileConfig, dataset_root, identity: str, output_root, identities: list[str]
) -> None:
    """Compare a run folder's stored settings with this run's, all but the data's digest (known
    only once the class images exist, which takes the models)."""
    crop = make_face_crop(config.train.identity_crop, object())
    context = run_context(config, dataset_root, identity)
    wanted = run_fingerprint(config.train, config.seed, "", crop, context)
    check_run_folder(run_folder(Path(output_root), identity, identities), wanted, ("data",))


def run_folder(output_root: Path, identity: str, identities: list[str]) -> Path:
    """``OUT`` itself for a single identity, ``OUT/<identity>`` for several."""
    return Path(output_root) if len(identities) == 1 else Path(output_root) / identity


def run_context(config: ProfileConfig, dataset_root: str | Path, identity: str) -> dict:
    """Settings outside ``config.train`` that shape a run: part of its fingerprint."""
    return {
        "identity": identity,
        "models.base_model": config.models.base_model,
        "models.base_model_revision": config.models.base_model_revision,
        "models.identity_encoder": config.models.identity_encoder,
        "models.face_analysis": config.models.face_analysis,
        "data.resolution": config.data.resolution,
        "data.aligned_size": config.data.aligned_size,
    }


def train_identity(
    config: ProfileConfig,
    dataset_root: str | Path,
    identity: str,
    output: str | Path,
    models: ModelBundle,
    class_images: ClassImages,
    resume: bool = True,
    crop=None,
) -> LossHistory:
    """Fine-tune one identity with ``config.train.method``; write its LoRA and loss log.
    ``models`` is a bundle such as :func:`training_models` gives (chapter 04 keeps one for
    every run); ``crop`` replaces the crop ``train.identity_crop`` names (an exercise counts
    what the detector crop finds with one of its own)."""
    check_dataset_encoder(config, dataset_root)
    return _train_checked(config, dataset_root, identity, Path(output), models, class_images, resume, crop)


def _train_checked(
    config, dataset_root, identity, output: Path, models, class_images, resume, crop=None
) -> LossHistory:
    """:func:`train_identity` once the dataset's recogniser is known to be the loss's."""
    data = IdentityData.from_prepared(dataset_root, identity, class_images)
    crop = crop or make_face_crop(config.train.identity_crop, models.detector, config.data.aligned_size)
    LOG.info(f"{identity}: {config.train.method}, {config.train.max_steps} steps -> {output}")
    try:
        history = finetune(
            models.pipeline,
            models.identity_encoder,
            data,
            config.train,
            output,
            seed=config.seed,
            crop=crop,
            resume=resume,
            context=run_context(config, dataset_root, identity),
        )
    finally:
        remove_lora(models.pipeline.unet)
    gender = read_json(Path(dataset_root) / identity / IDENTITY_FILE).get("gender")
    write_json(
        output / RUN_FILE,
        {
            "identity": identity,
            "gender": gender,
            "method": config.train.method,
            "dataset": str(dataset_root),
            "config": config.to_dict(),
        },
        keep_unchanged=True,  # a finished run, rerun, changes no file
    )
    return history


def train_identities(
    config: ProfileConfig,
    dataset_root: str | Path,
    identities: list[str] | None,
    output_root: str | Path,
    resume: bool = True,
    models: ModelBundle | None = None,
) -> dict[str, Path]:
    """Fine-tune each identity (all of the dataset's when ``None``); return LoRA files by identity.

    Run with ``accelerate launch`` to split the identities across processes. The preflight comes
    first: a model that cannot be had, or a GPU too small, stops the run before anything loads.
    ``models``, a bundle of :func:`training_models` for a profile with the same models, lets an
    experiment train several methods with the models loaded once.
    """
    check_profile(config, "train").raise_for_failures()
    identities = identities or dataset_identities(Path(dataset_root))
    check_dataset_encoder(config, dataset_root)
    if resume:  # every folder's settings, before any model is loaded or identity trained
        for identity in identities:
            check_settings_before_training(config, dataset_root, identity, output_root, identities)
    state = process_state(config)
    models = _same_models(config, models).load("pipeline", "identity_encoder", "detector")
    with state.main_process_first():  # the main process generates the shared class images
        class_images = ensure_class_images(
            models.pipeline, config, models.detector, models.identity_encoder
        )
    written = {}
    with state.split_between_processes(identities) as mine:
        for identity in mine:
            folder = run_folder(Path(output_root), identity, identities)
            _train_checked(config, dataset_root, identity, folder, models, class_images, resume)
            written[identity] = folder / LORA_FILE
    return written
