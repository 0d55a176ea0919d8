"""Generic image features — not identity features — for fidelity, diversity and memorisation.

``models.image_features`` names the network:

- a Hugging Face vision model (``facebook/dinov2-base`` on ``sd21``, as the paper uses DINOv2):
  loaded with transformers' ``AutoModel`` and ``AutoImageProcessor``; the feature is the
  ``pooler_output`` (DINOv2: the layer-normed CLS token);
- a diffusers pipeline folder (``idbooth:toy/foundation`` on ``toy``): its VAE encoder's latent
  means, flattened. The toy world has no self-supervised image model, and the VAE is the one
  network trained on toy images for their *appearance* — background, pose, hair, light — rather
  than for who is in them, which is what a generic feature space must capture.

``models.clip_features`` names a CLIP model for CMMD (``sd21`` only; empty: CMMD is skipped).
Every extractor takes uint8 ``(N, H, W, 3)`` images and returns float32 ``(N, D)``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from idbooth_lib.models import registers_loader, resolve
from idbooth_lib.ranges import pixels_to_signed

FeatureExtractor = Callable[[np.ndarray], np.ndarray]
BATCH = 32


def load_image_features(source: str, device: str = "cpu") -> FeatureExtractor:
    """The extractor ``source`` names (see the module docstring)."""
    folder = resolve(source, "image_features").location
    if (Path(folder) / "model_index.json").is_file():
        return _vae_features(folder, device)
    return hub_model(lambda: _transformers_features(folder, device), source, "image_features")


def hub_model(load: Callable, source: str, setting: str):
    """``load()``, with a hub model that is neither cached nor downloadable (offline, a mistyped
    id) reported as one line naming the setting and the fix, not a traceback."""
    try:
        return load()
    except OSError as error:
        first = (str(error).splitlines() or [type(error).__name__])[0]
        raise FileNotFoundError(
            f"the model {source!r} (models.{setting}) could not be loaded: {first} Fix: download "
            f"it once where the hub is reachable (`huggingface-cli download {source}`), or "
            f"--set models.{setting}=FOLDER to a local copy"
        ) from error


def _batched(extract: Callable[[np.ndarray], torch.Tensor]) -> FeatureExtractor:
    @torch.no_grad()
    def run(images: np.ndarray) -> np.ndarray:
        chunks = [extract(images[start : start + BATCH]) for start in range(0, len(images), BATCH)]
        return torch.cat(chunks).float().cpu().numpy()

    return run


def _vae_features(folder: str, device: str) -> FeatureExtractor:
    from diffusers import AutoencoderKL

    vae = AutoencoderKL.from_pretrained(folder, subfolder="vae", torch_dtype=torch.float32)
    vae = vae.to(device).eval()
    size = vae.config.sample_size

    def extract(images: np.ndarray) -> torch.Tensor:
        signed = pixels_to_signed(np.ascontiguousarray(images)).to(device)
        if signed.shape[-1] != size:
            signed = torch.nn.functional.interpolate(signed, size=(size, size), mode="area")
        return vae.encode(signed).latent_dist.mean.flatten(1)

    return _batched(extract)


def writable(images) -> list[np.ndarray]:
    """Each image as its own writable array: transformers' processors hand arrays to torch, which
    warns about (and may not copy) a read-only view, such as one of an image file read whole."""
    return [np.array(image, copy=True) for image in images]


def _transformers_features(source: str, device: str) -> FeatureExtractor:
    from transformers import AutoImageProcessor, AutoModel

    processor = AutoImageProcessor.from_pretrained(source)
    model = AutoModel.from_pretrained(source, dtype=torch.float32).to(device).eval()

    def extract(images: np.ndarray) -> torch.Tensor:
        inputs = processor(images=writable(images), return_tensors="pt").to(device)
        return model(**inputs).pooler_output

    return _batched(extract)


def load_clip_features(source: str, device: str = "cpu") -> FeatureExtractor:
    """CLIP image embeddings (``get_image_features``), for CMMD."""
    from transformers import CLIPModel, CLIPProcessor

    folder = resolve(source, "clip_features").location
    processor = hub_model(lambda: CLIPProcessor.from_pretrained(folder), source, "clip_features")
    model = hub_model(
        lambda: CLIPModel.from_pretrained(folder, dtype=torch.float32), source, "clip_features"
    )
    model = model.to(device).eval()

    def extract(images: np.ndarray) -> torch.Tensor:
        inputs = processor(images=writable(images), return_tensors="pt").to(device)
        features = model.get_image_features(**inputs)
        return getattr(features, "pooler_output", features)

    return _batched(extract)


@registers_loader("image_features")
@registers_loader("clip_features")
def load_bundled_features(bundle, setting: str) -> FeatureExtractor | None:
    """The extractor ``models.<setting>`` names for a :class:`~idbooth_lib.models.ModelBundle`:
    ``image_features``, or ``clip_features`` (None when that setting is empty: no CMMD)."""
    source = getattr(bundle.config.models, setting)
    if setting == "clip_features":
        return load_clip_features(source, bundle.device) if source else None
    return load_image_features(source, bundle.device)
