"""The recognisers' embeddings of an evaluated synthetic and real set, kept in one file.

Evaluation finds and embeds every face once; a set-level interval (chapter 06) resamples people
and recomputes the EER from these embeddings, without the detector or the recognisers. The file
sits below both the evaluation run that writes it and the comparisons that read it, so neither
imports the other.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from idbooth_lib.io import atomic_path


def write_embeddings(
    path: str | Path,
    embedded: dict[str, tuple[np.ndarray, np.ndarray]],
    synthetic_labels,
    real_labels,
    files: tuple[list[str], list[str]] | None = None,
) -> None:
    """Each recogniser's embeddings of the synthetic and the real set (``embedded[role]``), with
    every image's identity, as one safetensors file written atomically: what a set-level interval
    needs to recompute the EER on resampled people, without finding the faces again. With
    ``files`` (synthetic, real), each row's image file is kept too, so a per-image reading (which
    drawing of whom, under which prompt) needs no second pass of the detector either."""
    from safetensors.numpy import save_file

    tensors = {}
    for role, (synthetic, real) in embedded.items():
        tensors[f"{role}.synthetic"] = np.ascontiguousarray(synthetic, np.float32)
        tensors[f"{role}.real"] = np.ascontiguousarray(real, np.float32)
    labels = {"synthetic_labels": json.dumps([str(x) for x in synthetic_labels]),
              "real_labels": json.dumps([str(x) for x in real_labels])}  # fmt: skip
    if files is not None:
        labels["synthetic_files"], labels["real_files"] = (json.dumps(list(f)) for f in files)
    with atomic_path(path) as temporary:
        save_file(tensors, str(temporary), metadata=labels)


def read_embeddings(path: str | Path) -> dict[str, Any]:
    """What :func:`write_embeddings` stored: ``{role: (synthetic, real)}``, both label lists and,
    where they were kept, both file lists."""
    from safetensors import safe_open
    from safetensors.numpy import load_file

    with safe_open(str(path), framework="numpy") as stored:
        labels = stored.metadata()
    arrays = load_file(str(path))
    found: dict[str, Any] = {key: json.loads(value) for key, value in labels.items()
                             if key.endswith(("_labels", "_files"))}  # fmt: skip
    for role in {key.split(".")[0] for key in arrays}:
        found[role] = arrays[f"{role}.synthetic"], arrays[f"{role}.real"]
    return found


__all__ = ["read_embeddings", "write_embeddings"]
