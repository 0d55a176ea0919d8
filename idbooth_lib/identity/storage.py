"""How the small toy networks are stored: ``config.json`` beside fp16 ``model.safetensors``.

One format for the toy recognisers and the toy detector: the architecture as JSON (readable,
diffable), the weights as safetensors (no pickle, so loading a file cannot run code) in half
precision (half the size in git and in the package), read back in float32 for CPU use.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from idbooth_lib.io import atomic_path, write_json

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


def save_network(module: torch.nn.Module, config: dict[str, Any], folder: str | Path) -> None:
    """Write ``config`` and the module's weights (floating tensors in fp16), each atomically."""
    folder = Path(folder)
    write_json(folder / CONFIG_FILE, config)
    state = {
        name: tensor.detach().half().contiguous() if tensor.is_floating_point() else tensor
        for name, tensor in module.state_dict().items()
    }
    with atomic_path(folder / WEIGHTS_FILE) as temporary:
        save_file(state, str(temporary))


def read_network(
    folder: str | Path, rebuild_hint: str
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The saved config and the weights in float32; a missing file names itself and the fix."""
    folder = Path(folder)
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder / name} is missing: {rebuild_hint}")
    config = json.loads((folder / CONFIG_FILE).read_text())
    state = {
        name: tensor.float() if tensor.is_floating_point() else tensor
        for name, tensor in load_file(str(folder / WEIGHTS_FILE)).items()
    }
    return config, state
