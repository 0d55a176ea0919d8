"""Load a profile's base Stable Diffusion pipeline, wherever its weights live.

The toy foundation model and SD 2.1-base are the same kind of folder (``model_index.json`` and one
sub-folder per component), so one call loads either: only the source in the profile differs.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from idbooth_lib.config import ProfileConfig, resolve_source

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def load_base_pipeline(config: ProfileConfig, device: str | None = None, dtype: str | None = None):
    """``StableDiffusionPipeline.from_pretrained`` on the profile's base model, with no safety
    checker (the toy model has none, and research on faces needs the raw outputs)."""
    from diffusers import StableDiffusionPipeline

    torch_dtype = DTYPES[dtype or config.generate.dtype]
    source = resolve_source(config.models.base_model)
    if Path(source).is_dir() and not (Path(source) / "model_index.json").is_file():
        raise FileNotFoundError(
            f"{Path(source) / 'model_index.json'} is missing: {source} is not a diffusers pipeline "
            "folder. Point IDBOOTH_BASE_MODEL at one (or at a hub id); for the toy profile, train "
            "the foundation model with `python -m idbooth_lib.toy.pretrain diffusion --help`"
        )
    with quiet_loading():
        pipeline = StableDiffusionPipeline.from_pretrained(
            source,
            revision=config.models.base_model_revision,
            torch_dtype=torch_dtype,
            safety_checker=None,
            requires_safety_checker=False,
        )
    pipeline.set_progress_bar_config(disable=True)
    return pipeline.to(device or config.device)


def load_lora(pipeline, folder: str | Path) -> None:
    """Load a LoRA written by :func:`idbooth_lib.training.finetune.save_lora` (diffusers' format).

    This is diffusers' own ``load_lora_weights``; our LoRAs adapt the UNet only, so its notice
    that the text encoder got no LoRA weights is expected and silenced.
    """
    from idbooth_lib.training.finetune import LORA_FILE

    with quiet_loading():
        pipeline.load_lora_weights(folder, weight_name=LORA_FILE)


@contextmanager
def quiet_loading() -> Iterator[None]:
    """diffusers' and transformers' loading progress bars and notices off, for clean notebooks.

    Also hides diffusers' notice that ``torch_dtype`` is renamed: the older releases this book
    supports (``diffusers>=0.32``) know only that name.
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
