"""The machine a notebook runs on: what it has, and making runs repeatable on it.

Chapter 00 calls :func:`environment_report` so that a reader (and a bug report) shows, in one table,
the Python, the library versions, whether this is Colab, and how much GPU and system memory there is.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import random
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported where it is used, so `idbooth --help` stays instant
    import torch

#: Distributions whose versions matter for the book, in the order a reader would look for them.
TRACKED_PACKAGES = (
    "idbooth-book",
    "torch",
    "torchvision",
    "diffusers",
    "transformers",
    "peft",
    "accelerate",
    "insightface",
    "onnxruntime",
    "jupyter-book",
)


@dataclass
class EnvironmentReport:
    """A snapshot of the machine; :meth:`rows` renders it as a two-column table."""

    python: str
    platform: str
    in_colab: bool
    cpu_count: int
    memory_gib: float | None
    device: str
    gpu_name: str | None
    gpu_memory_gib: float | None
    packages: dict[str, str | None] = field(default_factory=dict)

    def rows(self) -> list[tuple[str, str]]:
        """``(name, value)`` pairs, missing packages shown as ``not installed``."""
        rows = [(key, _show(value)) for key, value in asdict(self).items() if key != "packages"]
        rows += [(name, version or "not installed") for name, version in self.packages.items()]
        return rows


def _show(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def in_colab() -> bool:
    """True inside Google Colab (its runtime module is importable only there)."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def drive_folder(name: str) -> Path:
    """``/content/drive/MyDrive/<name>`` on Colab, with Google Drive mounted first (Colab asks the
    reader to allow it): files there outlive the session, so a disconnect resumes a run instead of
    losing it."""
    from google.colab import drive  # only importable on Colab

    drive.mount("/content/drive")
    folder = Path("/content/drive/MyDrive") / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def package_version(distribution: str) -> str | None:
    """The installed version of ``distribution``, or None."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def system_memory_gib() -> float | None:
    """Total system memory in GiB, from the POSIX ``sysconf`` (None where it is unavailable)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (AttributeError, ValueError, OSError):
        return None


def best_device() -> str:
    """``cuda`` when a GPU is usable, else ``mps`` on Apple silicon, else ``cpu``."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def environment_report() -> EnvironmentReport:
    """Collect the facts chapter 00 prints."""
    import torch

    gpu_name = gpu_memory = None
    if torch.cuda.is_available():
        properties = torch.cuda.get_device_properties(0)
        gpu_name, gpu_memory = properties.name, properties.total_memory / 2**30
    return EnvironmentReport(
        python=platform.python_version(),
        # the system and architecture, not the kernel release: a rendered page should not name the
        # machine that built it
        platform=f"{platform.system()} {platform.machine()}",
        in_colab=in_colab(),
        cpu_count=os.cpu_count() or 1,
        memory_gib=system_memory_gib(),
        device=best_device(),
        gpu_name=gpu_name,
        gpu_memory_gib=gpu_memory,
        packages={name: package_version(name) for name in TRACKED_PACKAGES},
    )


def process_state(config):
    """accelerate's view of this process (rank, process count, device). Under ``accelerate
    launch`` (or torchrun) on CPUs it must be told ``cpu=True`` to join the other processes."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=torch.device(config.device).type == "cpu")


def process_device(config) -> torch.device:
    """This process's device: ``cuda:<local rank>`` under ``accelerate launch`` (one GPU per
    process), ``config.device`` itself when it names one (``cuda:1``), else the CPU.

    Worked out here rather than read off ``PartialState().device``: that state is made once per
    process, so a notebook that used the toy profile first would keep reporting the CPU."""
    import torch

    wanted = torch.device(config.device)
    if wanted.type != "cuda" or not torch.cuda.is_available():
        return torch.device("cpu") if wanted.type == "cuda" else wanted
    if wanted.index is not None:
        return wanted
    return torch.device("cuda", process_state(config).local_process_index)


def source_commit() -> str | None:
    """This library's git commit (short), with ``-dirty`` when its files differ from that commit,
    so that a results file says which code made it; None outside a git checkout (a wheel)."""
    import subprocess
    from pathlib import Path

    here = Path(__file__).parent

    def git(*arguments: str) -> str:
        done = subprocess.run(["git", *arguments], capture_output=True, text=True, cwd=here,
                              check=False)  # fmt: skip
        return done.stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        changed = git("status", "--porcelain", "--", str(here))
    except OSError:  # no git on this machine
        return None
    if not commit:
        return None
    return f"{commit}-dirty" if changed else commit


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices), so a notebook gives the same figures each run."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
