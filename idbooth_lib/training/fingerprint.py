"""The settings that shape a fine-tuning run, so that a rerun into the same folder is recognised.

A run folder may already hold checkpoints, or a finished LoRA, when ``idbooth train`` is started
again. Three cases must be told apart: the *same* run interrupted (resume it), the same run
finished (nothing to do), and a *different* run — another method, learning rate, number of steps,
rank, seed, data or base model. Resuming a different run would silently mix two experiments (or
crash half-way), so each checkpoint and the finished marker carry these settings, and a mismatch
stops with the settings that changed and the fix.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

import torch

from idbooth_lib.config import TrainConfig

#: Training settings that do not change what a run computes: where and how often it saves, and
#: recomputing activations instead of storing them.
NOT_SHAPING = (
    "checkpointing_steps",
    "checkpoints_total_limit",
    "gradient_checkpointing",
    "lora_snapshot_steps",
    "stop_after_non_finite",
    "validation_every",
    "validation_prompt",
    "tensorboard",
)

#: Shaping settings that came after runs were made, with the value those runs had: a folder
#: written before a setting existed holds the same run as one made with its default.
ADDED_LATER: dict[str, Any] = {
    "train.lr_warmup_steps": 0,
    "train.gradient_accumulation_steps": 1,
    "train.decode_fp32": False,
}


def with_later_defaults(stored: dict[str, Any]) -> dict[str, Any]:
    """``stored`` run settings with :data:`ADDED_LATER`'s defaults where they predate a setting."""
    return {**ADDED_LATER, **stored}


class RunMismatchError(ValueError):
    """The output folder holds a run made with other settings."""


def tensor_digest(tensors: list[torch.Tensor]) -> str:
    """A short SHA-256 of the tensors' shapes and values: the training data's identity."""
    digest = hashlib.sha256()
    for tensor in tensors:
        values = tensor.detach().cpu().contiguous()
        digest.update(str((tuple(values.shape), str(values.dtype))).encode())
        digest.update(values.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def run_settings(
    config: TrainConfig, seed: int, data_digest: str, context: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Every setting that shapes a run, flat and JSON-safe: the training config (less
    :data:`NOT_SHAPING`), the seed, the data's digest and ``context`` (base model, encoder, ...)."""
    settings: dict[str, Any] = {
        f"train.{name}": value
        for name, value in dataclasses.asdict(config).items()
        if name not in NOT_SHAPING
    }
    settings |= {"seed": seed, "data": data_digest, **(context or {})}
    return json.loads(json.dumps(settings))  # tuples become lists, as they come back from JSON


def changed_settings(stored: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """``"name: old → new"`` for every setting that differs (missing ones shown as ``-``)."""
    lines = []
    for name in sorted(set(stored) | set(wanted)):
        old, new = stored.get(name, "-"), wanted.get(name, "-")
        if old != new:
            what = "the training images or embeddings" if name == "data" else name
            lines.append(f"{what}: {old!r} → {new!r}")
    return lines


def mismatch_error(
    folder, stored: dict[str, Any] | None, wanted: dict[str, Any]
) -> RunMismatchError:
    """The error for a folder whose run was made with other settings, naming them and the fix."""
    changes = (
        changed_settings(stored, wanted)
        if stored
        else ["its settings are unknown (written by an older version of this library)"]
    )
    return RunMismatchError(
        f"{folder} holds a run made with other settings ({'; '.join(changes)}). Fix: choose "
        "another --output folder, or start over in this one with --no-resume "
        "(finetune(..., resume=False) in a notebook), which deletes its checkpoints"
    )
