"""Save and resume training states: the toy recipes and LoRA fine-tuning use the same mechanism.

A checkpoint is one file, ``checkpoint-<step>.pt``, holding the step, the ``state_dict`` of each
part (modules, optimisers, schedulers, gradient scalers, torch generators, plain containers) and
optional plain ``metadata`` — fine-tuning keeps the settings of its run there, so that a rerun with
other settings is told apart before anything is loaded (:meth:`Checkpointer.latest_metadata`). It
is written atomically, so a run killed mid-write leaves the previous checkpoint intact, and read with
``weights_only=True``: a checkpoint can hold tensors and plain containers, never code.

Why not ``accelerate``'s ``save_state``: fine-tuning several identities splits them across
processes, one LoRA each, and ``save_state`` writes optimiser states from the main process only.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import torch

from idbooth_lib.io import atomic_path, cache_root
from idbooth_lib.logs import package_logger

LOG = package_logger(__name__)

_NAME = re.compile(r"checkpoint-(\d+)\.pt$")


class Checkpointer:
    """The checkpoints of one training run in ``folder``, of which the newest ``keep`` are kept."""

    def __init__(self, folder: str | Path, keep: int = 1) -> None:
        if keep < 1:
            raise ValueError(f"keep must be at least 1 checkpoint, got {keep}")
        self.folder = Path(folder)
        self.keep = keep

    @classmethod
    def in_cache(cls, output: str | Path) -> Checkpointer:
        """Checkpoints of a run that writes ``output``, kept in ``$IDBOOTH_CACHE/checkpoints``.

        The toy recipes write folders inside this package, which must hold only shipped files.
        """
        resolved = str(Path(output).expanduser().resolve())
        digest = hashlib.sha256(resolved.encode()).hexdigest()[:10]
        return cls(cache_root() / "checkpoints" / f"{Path(output).name}-{digest}")

    def saved(self) -> list[Path]:
        """Checkpoint files, oldest first."""
        if not self.folder.is_dir():
            return []
        found = [path for path in self.folder.iterdir() if _NAME.search(path.name)]
        return sorted(found, key=lambda path: int(_NAME.search(path.name).group(1)))

    def latest(self) -> Path | None:
        saved = self.saved()
        return saved[-1] if saved else None

    def clear(self) -> None:
        """Delete every checkpoint of this run (starting over on purpose)."""
        for path in self.saved():
            path.unlink()

    def store(self, step: int, metadata: dict | None = None, **parts) -> Path:
        """Save ``step``, ``metadata`` and the state of each part; then drop checkpoints beyond
        ``keep``."""
        path = self.folder / f"checkpoint-{step}.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        states = {name: _state_of(part) for name, part in parts.items()}
        with atomic_path(path) as temporary:
            torch.save({"step": step, "metadata": metadata or {}, **states}, temporary)
        for old in self.saved()[: -self.keep]:
            old.unlink()
        return path

    def latest_metadata(self) -> dict | None:
        """The ``metadata`` stored with the newest checkpoint (None when there is none)."""
        path = self.latest()
        if path is None:
            return None
        return torch.load(path, map_location="cpu", weights_only=True).get("metadata", {})

    def restore(self, optional: tuple[str, ...] = (), **parts) -> int:
        """Load the newest checkpoint into each part; return its step (0 when there is none).

        Parts named in ``optional`` may be missing from a checkpoint (one written before they
        were kept): they stay as they are."""
        path = self.latest()
        if path is None:
            return 0
        state = torch.load(path, map_location="cpu", weights_only=True)
        for name, part in parts.items():
            if name in optional and name not in state:
                continue
            if isinstance(part, torch.Generator):
                part.set_state(state[name])
            else:
                part.load_state_dict(state[name])
        LOG.info(f"resumed from step {state['step']}")
        return state["step"]


def _state_of(part) -> object:
    return part.get_state() if isinstance(part, torch.Generator) else part.state_dict()
