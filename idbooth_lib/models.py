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

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from idbooth_lib.config import PACKAGED_PREFIX, ProfileConfig, looks_like_a_path

SOURCE_KINDS = ("packaged", "file", "folder", "insightface_pack", "hub")

#: Settings whose plain names (``buffalo_l``, ``cheetah_s``) are insightface packs, not hub ids.
INSIGHTFACE_SETTINGS = frozenset({"face_analysis", "identity_encoder", "evaluation_encoder"})

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

#: The models of a bundle, each with the ``config.models`` setting that names its source and the
#: function that loads it. The loaders live in the stages that use them, above this module, so
#: they are named by their import path and imported only when a model is first asked for.
BUNDLED_MODELS: dict[str, tuple[str, str]] = {
    "pipeline": ("base_model", "idbooth_lib.diffusion.pipeline:load_bundled_pipeline"),
    "detector": ("face_analysis", "idbooth_lib.data.detect:load_bundled_detector"),
    "identity_encoder": ("identity_encoder", "idbooth_lib.identity.encoders:load_bundled_encoder"),
    "evaluation_encoder": (
        "evaluation_encoder", "idbooth_lib.identity.encoders:load_bundled_encoder"
    ),
    "image_features": ("image_features", "idbooth_lib.evaluation.features:load_bundled_features"),
    "clip_features": ("clip_features", "idbooth_lib.evaluation.features:load_bundled_features"),
    "scene_scorer": ("scene_scorer", "idbooth_lib.evaluation.adherence:load_bundled_scorer"),
}


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
        setting, loader = BUNDLED_MODELS[name]
        module, _, function = loader.partition(":")
        return getattr(importlib.import_module(module), function)(self, setting)

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
        return {BUNDLED_MODELS[name][0] for name in self._given}


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
