"""LoRA adapters on the UNet: attach, save, load, remove — in diffusers' own file format.

One identity, one LoRA (chapter 04). The file a run writes, ``pytorch_lora_weights.safetensors``,
is what diffusers' ``load_lora_weights`` reads, so a researcher can use a trained identity with
plain diffusers. It carries the adapter's settings (rank, alpha, target modules) as metadata:
without them diffusers assumes ``lora_alpha = r``, and an adapter trained with alpha 8 at rank 4
would come back at half its strength. (The file is diffusers' LoRA format, not a peft adapter
folder: load it with ``load_lora_weights``, not ``peft.PeftModel.from_pretrained``.)

Only the settings that change what the adapter computes are written (:data:`ADAPTER_SETTINGS`).
peft's ``LoraConfig.to_dict()`` holds every option of the installed peft, and diffusers rebuilds
the config with ``LoraConfig(**metadata)``: a file written with peft 0.21 (``kasa_config``,
``use_bdlora``, ...) is refused by peft 0.19, the version Colab ships. Reading, :func:`load_lora`
drops what the installed peft does not know, so a LoRA written elsewhere loads too.

With plain diffusers, give the run folder and the file's name: offline, diffusers 0.39 and older
refuse to guess it, even from a path to the file itself::

    pipeline.load_lora_weights("runs/idbooth/alice", weight_name="pytorch_lora_weights.safetensors")
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from idbooth_lib.config import TrainConfig
from idbooth_lib.diffusion.pipeline import quiet_loading

LORA_FILE = "pytorch_lora_weights.safetensors"
ADAPTER_NAME = "identity"
#: The key of the safetensors header under which diffusers keeps the adapter's settings.
METADATA_KEY = "lora_adapter_metadata"
#: The ``LoraConfig`` settings that change what the adapter computes; every peft since 0.14 knows
#: them. Everything else (peft's version, task type, options of other adapter kinds) stays out of
#: the file, so that the oldest peft the library supports reads what the newest one wrote.
ADAPTER_SETTINGS = (
    "r", "lora_alpha", "target_modules", "init_lora_weights", "lora_dropout",
    "use_dora", "use_rslora", "bias", "rank_pattern", "alpha_pattern",
)  # fmt: skip


def add_lora(unet, config: TrainConfig) -> list[torch.nn.Parameter]:
    """Freeze the UNet and attach a peft LoRA adapter (Gaussian init) to its attention layers.

    Target modules missing from this UNet (SD 2.1 has no ``add_k_proj``) are left out, so one
    config fits UNets with and without added key/value projections.
    """
    from diffusers.training_utils import cast_training_params
    from peft import LoraConfig

    unet.requires_grad_(False)
    present = {name.rsplit(".", 1)[-1] for name, _ in unet.named_modules()}
    targets = [module for module in config.lora_target_modules if module.split(".")[0] in present]
    unet.add_adapter(
        LoraConfig(
            r=config.lora_rank,
            lora_alpha=config.lora_alpha,
            init_lora_weights="gaussian",
            target_modules=targets,
        ),
        adapter_name=ADAPTER_NAME,
    )
    # fp32 LoRA weights even when the frozen UNet is fp16: the gradient scaler refuses to unscale
    # fp16 gradients ("Attempting to unscale FP16 gradients", see the troubleshooting page).
    cast_training_params(unet, dtype=torch.float32)
    return [parameter for parameter in unet.parameters() if parameter.requires_grad]


def remove_lora(unet) -> None:
    """Take the adapter off again, so the same pipeline can fine-tune the next identity."""
    unet.delete_adapters(ADAPTER_NAME)


def adapter_settings(unet) -> dict:
    """The attached adapter's settings that define it (:data:`ADAPTER_SETTINGS`), as a plain dict
    that any supported peft turns back into the same ``LoraConfig``."""
    settings = unet.peft_config[ADAPTER_NAME].to_dict()
    kept = {name: settings[name] for name in ADAPTER_SETTINGS if name in settings}
    kept["target_modules"] = sorted(kept["target_modules"])  # a set in peft; JSON wants a list
    return kept


def known_settings(settings: dict, prefix: str = "unet.") -> dict:
    """``settings`` without the keys the installed peft's ``LoraConfig`` does not take.

    A LoRA written by a newer peft carries options an older one refuses ("unexpected keyword
    argument"); options an older peft lacks are ones the newer peft added, which such a file
    leaves at their defaults, so dropping them keeps the adapter as it was trained.
    """
    from peft import LoraConfig

    known = {field.name for field in dataclasses.fields(LoraConfig)}
    return {key: value for key, value in settings.items() if key.removeprefix(prefix) in known}


def read_lora(path: str | Path) -> tuple[dict[str, torch.Tensor], dict | None]:
    """The tensors of a LoRA file (or of ``LORA_FILE`` in a run folder) and its adapter settings,
    read with safetensors (no pickle) and limited to what the installed peft knows."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    file = path / LORA_FILE if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(
            f"{file} does not exist: name a run folder that training wrote (it holds {LORA_FILE}) "
            "or the LoRA file itself."
        )
    with safe_open(file, framework="pt") as handle:
        header = handle.metadata() or {}
    settings = json.loads(header[METADATA_KEY]) if METADATA_KEY in header else None
    known = known_settings(settings) if settings else None
    return load_file(file), (known or None)  # nothing known: diffusers derives them, as without


def save_lora(unet, output: str | Path) -> Path:
    """Write ``pytorch_lora_weights.safetensors`` in diffusers' format, with the adapter's settings
    in the file's metadata (diffusers' ``save_lora_weights``), so ``load_lora_weights`` restores
    the same alpha."""
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict

    state = get_peft_model_state_dict(unet, adapter_name=ADAPTER_NAME)
    StableDiffusionPipeline.save_lora_weights(
        output,
        unet_lora_layers=convert_state_dict_to_diffusers(state),
        unet_lora_adapter_metadata=adapter_settings(unet),
    )
    return Path(output) / LORA_FILE


def keep_adapter_settings_only(path: str | Path) -> Path:
    """Rewrite a LoRA file (or a run folder's) so that its header holds only
    :data:`ADAPTER_SETTINGS`, tensors unchanged: a LoRA written by an older release of this
    library, or by diffusers with a newer peft, then loads with every peft the library supports.

    The new file is written beside the old one and moved over it in one step, so an interrupted
    rewrite leaves the original in place.
    """
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    file = Path(path) / LORA_FILE if Path(path).is_dir() else Path(path)
    with safe_open(file, framework="pt") as handle:
        header = dict(handle.metadata() or {})
    if METADATA_KEY not in header:
        raise ValueError(f"{file} holds no adapter settings ({METADATA_KEY}): nothing to rewrite.")
    settings = json.loads(header[METADATA_KEY])
    header[METADATA_KEY] = json.dumps(
        {key: value for key, value in settings.items()
         if key.split(".", 1)[-1] in ADAPTER_SETTINGS},
        indent=2, sort_keys=True,
    )  # fmt: skip
    partial = file.with_name(file.name + ".partial.safetensors")
    save_file(load_file(file), partial, metadata=header)
    partial.replace(file)
    return file


def load_lora(pipeline, folder: str | Path, adapter_name: str | None = None) -> None:
    """Load a LoRA written by :func:`save_lora` (or a run folder holding one) onto the UNet.

    The tensors and settings come from :func:`read_lora`, so a file that a newer peft wrote loads
    on an older one; diffusers' own ``load_lora_into_unet`` (what ``load_lora_weights`` calls for
    the UNet) attaches them. Our LoRAs adapt the UNet only. ``adapter_name`` (diffusers picks one
    by default) lets :func:`remove_lora` take it off again with ``ADAPTER_NAME``.
    """
    state, settings = read_lora(folder)
    with quiet_loading():
        type(pipeline).load_lora_into_unet(
            state,
            network_alphas=None,
            unet=pipeline.unet,
            adapter_name=adapter_name,
            metadata=settings,
            _pipeline=pipeline,
            # no random initialisation of layers about to be overwritten: the global random
            # state stays as it was (load_lora_weights' own default)
            low_cpu_mem_usage=True,
        )


@contextmanager
def lora_attached(pipeline, folder: str | Path) -> Iterator[None]:
    """A run's LoRA on ``pipeline`` for the length of a ``with`` block, taken off again however
    the block ends, so that the next drawing is the base model's or the next person's:

        with lora_attached(pipeline, "runs/idbooth/alice"):
            images = pipeline("photo of sks person").images
    """
    load_lora(pipeline, folder, adapter_name=ADAPTER_NAME)
    try:
        yield
    finally:
        remove_lora(pipeline.unet)
