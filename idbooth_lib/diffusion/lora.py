"""LoRA adapters on the UNet: attach, save, load, remove — in diffusers' own file format.

One identity, one LoRA (chapter 04). The file a run writes, ``pytorch_lora_weights.safetensors``,
is what diffusers' ``load_lora_weights`` reads, so a researcher can use a trained identity with
plain diffusers. It carries the adapter's settings (rank, alpha, target modules) as metadata:
without them diffusers assumes ``lora_alpha = r``, and an adapter trained with alpha 8 at rank 4
would come back at half its strength. (The file is diffusers' LoRA format, not a peft adapter
folder: load it with ``load_lora_weights``, not ``peft.PeftModel.from_pretrained``.)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from idbooth_lib.config import TrainConfig
from idbooth_lib.diffusion.pipeline import quiet_loading

LORA_FILE = "pytorch_lora_weights.safetensors"
ADAPTER_NAME = "identity"


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
    """The attached adapter's peft settings (rank, alpha, targets, ...) as a plain dict."""
    return unet.peft_config[ADAPTER_NAME].to_dict()


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


def load_lora(pipeline, folder: str | Path, adapter_name: str | None = None) -> None:
    """Load a LoRA written by :func:`save_lora`: diffusers' own ``load_lora_weights``.

    Our LoRAs adapt the UNet only, so diffusers' notice that the text encoder got no LoRA weights
    is expected and silenced. ``adapter_name`` (diffusers picks one by default) lets
    :func:`remove_lora` take it off again with ``ADAPTER_NAME``.
    """
    with quiet_loading():
        pipeline.load_lora_weights(folder, weight_name=LORA_FILE, adapter_name=adapter_name)


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
