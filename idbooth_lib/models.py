"""Where each model comes from, and one bundle of a profile's models, each loaded on first use.

Every model of the pipeline is named by one setting of ``config.models``, and a source is written
in one of five ways. :func:`resolve` is the one place that tells them apart; every loader, the
preflight and the toy tools ask it rather than looking at the string themselves:

=====================  ==================================================  =========================
kind                   written as                                          loaded from
=====================  ==================================================  =========================
``packaged``           ``idbooth:toy/NAME``                                a folder inside this package
``file``               a path ending in ``.onnx``, ``.pth``, ``.pt``,      that file
                       ``.safetensors``
``folder``             any other path, or a name that is a folder here     that folder
``insightface_pack``   a plain name for a face model (``buffalo_l``)       ``face_model_root/models/NAME``
``hub``                any other name (``sd2-community/...``)              the Hugging Face hub (cached)
=====================  ==================================================  =========================

:class:`ModelBundle` is what every stage holds: data preparation asks it for the detector and the
recogniser, training for the base pipeline as well, evaluation for the image features and the
scene scorer. Nothing loads until a stage asks, so a resumed, finished run loads nothing, and a
model loaded once (the detector) serves every stage that shares the bundle (an experiment hands
the detector and recogniser its training loaded on to the bundle that evaluates).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from idbooth_lib.config import MODEL_SETTINGS, PACKAGED_PREFIX, ProfileConfig, looks_like_a_path

SOURCE_KINDS = ("packaged", "file", "folder", "insightface_pack", "hub")

#: Settings whose plain names (``buffalo_l``, ``cheetah_s``) are insightface packs, not hub ids.
INSIGHTFACE_SETTINGS = frozenset(setting.name for setting in MODEL_SETTINGS if setting.insightface_pack)

#: A source ending so is one model file, loaded from disk (never downloaded).
MODEL_FILE_SUFFIXES = (".onnx", ".pth", ".pt", ".safetensors")


@dataclass(frozen=True)
class Source:
    """A model source as the settings write it (``written``), what kind it is, and where it is
    loaded from: a folder or file for the first three kinds, the name itself for the others."""

    written: str
    kind: str
    location: str

    @property
    def on_disk(self) -> bool:
        """Loaded from a folder or file here, never downloaded."""
        return self.kind in ("packaged", "file", "folder")


def source_kind(source: str, setting: str = "base_model") -> str:
    """Which of ``SOURCE_KINDS`` ``source``, the value of ``models.<setting>``, is; read off
    the string (and whether such a folder exists here), without loading or checking anything."""
    if source.startswith(PACKAGED_PREFIX):
        return "packaged"
    path = Path(source).expanduser()
    if path.suffix.lower() in MODEL_FILE_SUFFIXES:
        return "file"
    if looks_like_a_path(source) or path.exists():
        return "folder"
    return "insightface_pack" if setting in INSIGHTFACE_SETTINGS else "hub"


def resolve(source: str, setting: str = "base_model") -> Source:
    """What ``source``, the value of ``models.<setting>``, names and where it loads from (see the
    module docstring).

    A packaged model that is missing from the installed package is an error here; a missing
    folder or file is left to its loader (and to the preflight), which say which setting to fix.
    """
    kind = source_kind(source, setting)
    if kind == "packaged":
        return Source(source, kind, str(packaged_folder(source)))
    if kind in ("file", "folder"):
        return Source(source, kind, str(Path(source).expanduser()))
    return Source(source, kind, source)


def packaged_folder(source: str) -> Path:
    """The folder inside this package that ``idbooth:PACKAGE/NAME`` names; a clear error when the
    installed package lacks it."""
    package, _, name = source.removeprefix(PACKAGED_PREFIX).partition("/")
    folder = Path(__file__).resolve().parent / package / "weights" / name
    if not folder.is_dir():
        raise FileNotFoundError(
            f"the packaged model {source!r} is missing ({folder}): reinstall the package, or "
            f"rebuild it with its recipe (`python -m idbooth_lib.toy.pretrain --help`)"
        )
    return folder


def resolve_source(source: str) -> str:
    """Where to load ``source`` from: a packaged model's folder; anything else unchanged (a hub
    id, a pack name, a path as written)."""
    return resolve(source).location if source_kind(source) == "packaged" else source


# ----------------------------------------------------------------------------------------------
# The bundle
# ----------------------------------------------------------------------------------------------

#: The models of a bundle, by the name a stage reads (``bundle.detector``), each with the
#: ``config.models`` setting that names its source (one per :data:`~idbooth_lib.config.MODEL_SETTINGS`
#: record).
BUNDLED_MODELS: dict[str, str] = {setting.bundle_name: setting.name for setting in MODEL_SETTINGS}

#: ``loader(bundle, setting) -> model``, by bundle name, as the stages register them.
BundleLoader = Callable[["ModelBundle", str], Any]
_LOADERS: dict[str, BundleLoader] = {}


def registers_loader(bundle_name: str) -> Callable[[BundleLoader], BundleLoader]:
    """Decorate the function that loads ``bundle_name`` for a bundle; the stage that defines it
    registers it when it is imported.

    Why the loaders register themselves: they live in the stages that use them (the pipeline in
    ``diffusion``, the detector in ``data``, the image features in ``evaluation``), above this
    module, which every stage imports. A table here that named them would point up the layers; a
    stage that asks a bundle for a model has imported the module that loads it, so its loader is
    there when it is asked for.
    """
    if bundle_name not in BUNDLED_MODELS:
        raise ValueError(f"{bundle_name!r} is no bundle model; they are {', '.join(BUNDLED_MODELS)}")

    def register(loader: BundleLoader) -> BundleLoader:
        _LOADERS[bundle_name] = loader
        return loader

    return register


class ModelBundle:
    """A profile's models, each loaded the first time it is read and kept for the next reader.

    ``ModelBundle(config)`` loads nothing; ``models.detector`` loads the face detector then.
    Models passed by name are used as they are and never loaded from the profile (tests and
    notebooks pass small ones: ``ModelBundle(config, detector=mine)``). ``device`` defaults to
    this process's device; ``pipeline_dtype`` to ``generate.dtype`` (training keeps its frozen
    models in the dtype of its mixed precision).
    """

    def __init__(
        self,
        config: ProfileConfig,
        device: str | None = None,
        pipeline_dtype: str | None = None,
        **given: Any,
    ) -> None:
        unknown = set(given) - set(BUNDLED_MODELS)
        if unknown:
            raise TypeError(f"a bundle holds {', '.join(BUNDLED_MODELS)}, not {', '.join(sorted(unknown))}")
        self.config, self.pipeline_dtype = config, pipeline_dtype
        self._device, self._models, self._given = device, dict(given), frozenset(given)

    @property
    def device(self) -> str:
        if self._device is None:
            from idbooth_lib.env import process_device

            self._device = str(process_device(self.config))
        return self._device

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in BUNDLED_MODELS:
            raise AttributeError(name)
        if name not in self._models:
            self._models[name] = self._load(name)
        return self._models[name]

    def _load(self, name: str) -> Any:
        if name not in _LOADERS:
            raise LookupError(
                f"no loader for the bundle's {name!r} is registered: import the stage that loads "
                f"models.{BUNDLED_MODELS[name]} first (for example `import idbooth_lib.evaluation`)"
            )
        return _LOADERS[name](self, BUNDLED_MODELS[name])

    def load(self, *names: str) -> ModelBundle:
        """Load ``names`` now (a stage that must not fail half-way loads all it needs first)."""
        for name in names:
            getattr(self, name)
        return self

    def is_loaded(self, name: str) -> bool:
        """Whether ``name`` is held already (passed in or loaded)."""
        return name in self._models

    def settings_given(self) -> set[str]:
        """The settings whose models were passed in code: the preflight leaves them alone."""
        return {BUNDLED_MODELS[name] for name in self._given}


#: Models a caller may leave as None to mean "the profile's" (data preparation's ``detector=None``,
#: ``encoder=None``); for the others None is a choice (``clip_features=None``: no CMMD).
LOADED_WHEN_NONE = frozenset({"detector", "identity_encoder", "evaluation_encoder"})


def as_bundle(config: ProfileConfig, models: ModelBundle | dict[str, Any] | None) -> ModelBundle:
    """``models`` as a bundle: a bundle as it is, a dict of models as the models it passes in
    (recognisers as modules that embed aligned crops, as the profile's are)."""
    if isinstance(models, ModelBundle):
        return models
    given = {name: model for name, model in (models or {}).items()
             if model is not None or name not in LOADED_WHEN_NONE}  # fmt: skip
    return ModelBundle(config, **given)
