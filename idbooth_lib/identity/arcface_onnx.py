"""insightface's ArcFace ONNX recognisers behind the same interface as the toy recogniser.

The sd21 profile embeds faces with the recogniser of an insightface model pack (``buffalo_l``:
ResNet-50 trained on WebFace600K). insightface runs it with onnxruntime and expects *BGR* uint8
crops (OpenCV's order); every other stage here works in RGB. :class:`ArcFaceOnnx` hides that
difference: it is a ``torch.nn.Module`` that takes aligned crops in [-1, 1], like
:class:`~idbooth_lib.identity.toy_recogniser.ToyRecogniser`, so data preparation and the
evaluators can use either. It computes embeddings only — no gradients flow through ONNX — so the
identity *loss* of fine-tuning needs a torch recogniser.

This module also finds insightface model packs on disk (:func:`insightface_pack_folder`) and, when
they are missing, says where insightface looks and how to get them, instead of insightface's bare
``AssertionError``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from idbooth_lib.ranges import signed_to_pixels

#: Where insightface publishes its model packs (``<name>.zip``, unzipped into ``<root>/models``).
INSIGHTFACE_RELEASES = "https://github.com/deepinsight/insightface/releases/download/model-zoo/"
#: The file that makes a folder an insightface 2.x package (its tasks and their files).
MANIFEST = "manifest.json"


class InsightFaceModelsMissingError(FileNotFoundError):
    """An insightface model pack is not on disk and could not be downloaded."""


def insightface_pack_folder(name: str, root: str | Path, allow_download: bool = True) -> Path:
    """The folder holding insightface model pack ``name``: ``<root>/models/<name>``.

    ``name`` may also be a folder of ``.onnx`` files. Two kinds of pack exist: the classic ones
    (``buffalo_l``: a folder of ``.onnx`` files that insightface routes by their shapes) and
    insightface 2.x packages (``cheetah_s``: a ``manifest.json`` that names each task's file). If
    the pack is missing and ``allow_download`` is true, insightface's own downloader for that kind
    fetches it (what happens on Colab); if that is not allowed or fails (no network, a pack that
    insightface does not serve), :class:`InsightFaceModelsMissingError` says how to install it.
    """
    direct = Path(name).expanduser()
    if direct.is_dir() and holds_models(direct):
        return direct
    root = Path(root or "~/.insightface").expanduser()
    folder = root / "models" / name
    if holds_models(folder):
        return folder
    if not allow_download:
        raise _missing_pack_error(name, folder, "downloads are switched off")
    try:
        _download_pack(name, folder, root)
    except Exception as error:  # any network or archive failure means the same thing to the user
        raise _missing_pack_error(name, folder, f"the download failed: {error}") from error
    if not holds_models(folder):
        raise _missing_pack_error(name, folder, "the downloaded archive held no .onnx files")
    return folder


def holds_models(folder: Path) -> bool:
    """A folder of ``.onnx`` files or an insightface 2.x package (its ``manifest.json``)."""
    return folder.is_dir() and (any(folder.glob("*.onnx")) or (folder / MANIFEST).is_file())


def _download_pack(name: str, folder: Path, root: Path) -> None:
    """insightface's downloader for the kind of pack ``name`` is: its 2.x packages are unpacked
    into a staging folder and checked against their manifest's SHA-256 sums before they appear."""
    from insightface.model_zoo import person_package
    from insightface.utils import storage

    if name in person_package.DOWNLOAD_PACKAGES:
        person_package.ensure_person_package(name, str(root))
    else:
        storage.download("models", name, force=folder.exists(), root=str(root))


def _missing_pack_error(name: str, folder: Path, why: str) -> InsightFaceModelsMissingError:
    return InsightFaceModelsMissingError(
        f"the insightface models {name!r} are missing: insightface looks for them in "
        f"{folder} ({why}). insightface downloads buffalo_l and its 2.x packages (cheetah_s, "
        f"cheetah_l) by itself on first use wherever the internet is reachable, Colab included; other packs "
        f"(antelopev2, buffalo_s) must be downloaded by hand. Offline: download "
        f"{INSIGHTFACE_RELEASES}{name}.zip elsewhere and unzip it so that its files sit directly "
        f"in {folder}, or set IDBOOTH_FACE_MODEL_ROOT (--set models.face_model_root=...) to a "
        f"folder whose models/{name}/ holds them."
    )


def find_recognition_model(folder: str | Path) -> Path:
    """The recognition ``.onnx`` of an insightface pack: the file a 2.x package's manifest names
    for its ``recognition`` task, or, in a classic pack, the one insightface routes to ArcFace."""
    from insightface.model_zoo import get_model
    from insightface.model_zoo.arcface_onnx import ArcFaceONNX

    folder = Path(folder)
    if (folder / MANIFEST).is_file():
        return _manifest_recognition_model(folder)
    # The recogniser is the largest file of a pack (166 MB in buffalo_l, the detector 16 MB), so
    # trying files by size finds it first; insightface's own routing still decides.
    by_size = sorted(folder.glob("*.onnx"), key=lambda path: (-path.stat().st_size, path.name))
    for candidate in by_size:
        if isinstance(get_model(str(candidate)), ArcFaceONNX):
            return candidate
    raise InsightFaceModelsMissingError(
        f"no recognition model (ArcFace, 112×112 input) among the .onnx files in {folder}; "
        "use a pack that has one, such as buffalo_l or cheetah_s"
    )


def _manifest_recognition_model(folder: Path) -> Path:
    """The recognition file a 2.x package declares, read with insightface's own manifest parser.

    The book feeds every recogniser ArcFace's input ((pixel - 127.5) / 127.5, 112 px), so a package
    that declares another normalisation is refused rather than silently mis-fed.
    """
    from insightface.model_zoo.package_manifest import load_model_package

    try:
        task = load_model_package(folder).task("recognition")
    except (ValueError, TypeError, FileNotFoundError) as error:
        raise InsightFaceModelsMissingError(
            f"{folder / MANIFEST} describes no usable recognition model ({error}); reinstall "
            "the package whole (delete the folder and let insightface download it again)"
        ) from error
    metadata = dict(task.metadata)
    expected = {"mean": 127.5, "std": 127.5}
    if metadata.get("preprocessing") != expected or tuple(metadata.get("input_size")) != (112, 112):
        raise ValueError(
            f"the recogniser of {folder} expects preprocessing {metadata.get('preprocessing')} at "
            f"{metadata.get('input_size')} px; the book feeds ArcFace's {expected} at 112 px"
        )
    if not task.path.is_file():
        raise InsightFaceModelsMissingError(
            f"{task.path}, the recognition model that {folder / MANIFEST} names, is missing: "
            "reinstall the package whole"
        )
    return task.path


class ArcFaceOnnx(nn.Module):
    """An insightface ArcFace ``.onnx`` file as a frozen embedding module.

    ``forward`` takes (B, 3, 112, 112) aligned RGB crops in [-1, 1] and returns L2-normalised
    float32 embeddings; :meth:`embed` takes (B, 112, 112, 3) RGB uint8 crops directly.
    """

    def __init__(self, path: str | Path, providers: list[str] | None = None) -> None:
        super().__init__()
        from insightface.model_zoo import get_model
        from insightface.model_zoo.arcface_onnx import ArcFaceONNX

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path} does not exist: expected an ArcFace .onnx file")
        model = get_model(str(self.path), providers=providers)
        if not isinstance(model, ArcFaceONNX):
            raise ValueError(
                f"{self.path} is not a recognition model: insightface routes it to "
                f"{type(model).__name__}; ArcFace models take one square input of at least 112 px"
            )
        self.model = model
        self.input_size = int(model.input_size[0])

    def embed(self, crops_rgb: np.ndarray) -> np.ndarray:
        """(B, S, S, 3) RGB uint8 aligned crops → (B, D) float32 unit embeddings."""
        crops_rgb = np.asarray(crops_rgb)
        if crops_rgb.ndim != 4 or crops_rgb.shape[1:] != (self.input_size, self.input_size, 3):
            raise ValueError(
                f"expected aligned crops (B, {self.input_size}, {self.input_size}, 3), got "
                f"{crops_rgb.shape}: align faces with insightface.utils.face_align.norm_crop first"
            )
        # insightface's get_feat swaps channels itself, because it expects OpenCV's BGR order.
        crops_bgr = [np.ascontiguousarray(crop[..., ::-1]) for crop in crops_rgb]
        features = np.asarray(self.model.get_feat(crops_bgr), dtype=np.float32)
        norms = np.linalg.norm(features, axis=1, keepdims=True)
        return features / np.maximum(norms, 1e-12)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) RGB in [-1, 1] → (B, D) unit embeddings, on ``images``' device."""
        crops = signed_to_pixels(images).cpu().numpy()
        embeddings = torch.from_numpy(self.embed(crops)).to(images.device)
        return F.normalize(embeddings, dim=-1)


def load_insightface_recogniser(
    name: str, root: str | Path, allow_download: bool = True
) -> ArcFaceOnnx:
    """The ArcFace recogniser of insightface pack ``name`` (e.g. ``buffalo_l``) under ``root``."""
    folder = insightface_pack_folder(name, root, allow_download)
    return ArcFaceOnnx(find_recognition_model(folder))
