"""Prior-preservation ("class") images: generated once by the base model, cached with embeddings.

DreamBooth keeps the model's idea of "a person" alive by training on images the *base* model drew for
the class prompt. ID-Booth also needs each class image's recogniser embedding: it is the negative
of the triplet. Both are computed once per base model and prompt and kept on disk::

    FOLDER/class-0000.png ...          the images (one seed each, so any batch size gives the same)
    FOLDER/embeddings.safetensors      {stem: unit embedding} for every image with a detected face
    FOLDER/class_images.json           what made them, and which images had no face

A run that is interrupted keeps every image already written and generates only the missing ones.
Images in which the detector finds no face are kept on disk but left out of training: without a
face there is no negative embedding.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from idbooth_lib.config import ProfileConfig
from idbooth_lib.data.detect import FaceDetector
from idbooth_lib.data.faces import embed_detected_faces
from idbooth_lib.data.layout import read_embeddings, write_embeddings
from idbooth_lib.diffusion.pipeline import sampling_with
from idbooth_lib.io import save_image, write_json
from idbooth_lib.logs import package_logger
from idbooth_lib.ranges import pixels_to_signed

LOG = package_logger(__name__)

MANIFEST_FILE = "class_images.json"
EMBEDDINGS_FILE = "embeddings.safetensors"


@dataclass
class ClassImages:
    """Usable class images ``(N, 3, R, R)`` in [-1, 1] and their unit embeddings ``(N, D)``."""

    images: torch.Tensor
    embeddings: torch.Tensor
    stems: list[str]


def class_images_settings(config: ProfileConfig) -> dict:
    """Everything that changes the class images; its hash names their cache folder."""
    return {
        "base_model": config.models.base_model,
        "revision": config.models.base_model_revision,
        "prompt": config.train.class_prompt,
        "resolution": config.data.resolution,
        "scheduler": config.generate.scheduler,
        "steps": config.generate.num_inference_steps,
        "guidance_scale": config.generate.guidance_scale,
        "seed": config.seed,
        "identity_encoder": config.models.identity_encoder,
        "face_analysis": config.models.face_analysis,
    }


def class_images_folder(config: ProfileConfig) -> Path:
    """``<root>/class_images/<hash of the settings>``: shared by every identity and method."""
    settings = json.dumps(class_images_settings(config), sort_keys=True)
    return (
        config.paths.runs.parent
        / "class_images"
        / hashlib.sha256(settings.encode()).hexdigest()[:12]
    )


def generate_missing(pipeline, config: ProfileConfig, folder: Path, count: int) -> list[Path]:
    """Draw the class images not yet on disk with the base pipeline and ``generate.scheduler``;
    return all ``count`` paths."""
    paths = [folder / f"class-{index:04d}.png" for index in range(count)]
    missing = [index for index, path in enumerate(paths) if not path.is_file()]
    if missing:
        LOG.info(f"generating {len(missing)} class images for {config.train.class_prompt!r} in {folder}")
    batch = max(1, config.generate.batch_size)
    for start in range(0, len(missing), batch):
        indices = missing[start : start + batch]
        with sampling_with(pipeline, config.generate.scheduler):
            images = pipeline(
                [config.train.class_prompt] * len(indices),
                height=config.data.resolution,
                width=config.data.resolution,
                num_inference_steps=config.generate.num_inference_steps,
                guidance_scale=config.generate.guidance_scale,
                generator=[torch.Generator().manual_seed(config.seed + i) for i in indices],
            ).images
        for index, image in zip(indices, images, strict=True):
            save_image(paths[index], image)
    return paths


def embed_class_images(
    paths: list[Path], detector: FaceDetector, encoder: torch.nn.Module
) -> dict[str, torch.Tensor]:
    """Detect, align and embed each image; images without a face get no entry."""
    embedded = {}
    for start in range(0, len(paths), 32):  # 32 at a time: 200 images of 512 px would take GBs
        chunk = paths[start : start + 32]
        images = pixels_to_signed(np.stack([_read_rgb(path) for path in chunk]))
        embeddings, found = embed_detected_faces(images, detector, encoder)
        embedded |= {path.stem: embeddings[row] for row, path in enumerate(chunk) if found[row]}
    return embedded


def ensure_class_images(
    pipeline,
    config: ProfileConfig,
    detector: FaceDetector,
    encoder: torch.nn.Module,
    folder: Path | None = None,
) -> ClassImages:
    """The profile's class images with their embeddings, generated and embedded only when missing."""
    folder = Path(folder) if folder is not None else class_images_folder(config)
    count = config.train.num_class_images
    paths = generate_missing(pipeline, config, folder, count)
    stems = [path.stem for path in paths]
    manifest_path, embeddings_path = folder / MANIFEST_FILE, folder / EMBEDDINGS_FILE
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    if manifest.get("stems") != stems or not embeddings_path.is_file():
        embeddings = embed_class_images(paths, detector, encoder)
        write_embeddings(embeddings_path, embeddings)
        without = [stem for stem in stems if stem not in embeddings]
        write_json(
            manifest_path,
            {"settings": class_images_settings(config), "stems": stems, "no_face": without},
        )
    embeddings = read_embeddings(embeddings_path)
    usable = [stem for stem in stems if stem in embeddings]
    if not usable:
        raise ValueError(
            f"the detector found no face in any of the {count} class images in {folder}: check "
            f"the base model and the class prompt {config.train.class_prompt!r}"
        )
    if len(usable) < count:
        LOG.info(f"{count - len(usable)} of {count} class images have no detectable face; left out")
    images = pixels_to_signed(np.stack([_read_rgb(folder / f"{stem}.png") for stem in usable]))
    return ClassImages(images, torch.stack([embeddings[stem] for stem in usable]), usable)


def _read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.array(image.convert("RGB"))  # a writable copy, as torch expects
