"""One interface for every face recogniser: aligned 112×112 faces in [-1, 1] → unit embeddings.

The identity loss, the evaluators and data preparation only ever call :func:`load_identity_encoder`
and then the returned module, so the toy recogniser and ArcFace are interchangeable. Every source
gives a torch module that gradients flow through (the identity loss needs them):

* ``idbooth:toy/NAME`` — a packaged toy recogniser (toy profile), or the folder of one
  (``config.json`` and ``model.safetensors``, as ``idbooth fr-train`` writes a toy backbone);
* ``/path/model.onnx`` — an insightface ArcFace ONNX file, converted by ``onnx2torch``;
* ``/path/backbone.pth`` (``.pt``, ``.safetensors``) — an arcface_torch iResNet checkpoint, such as
  the paper's R100 MS1MV3; its depth is read off the state dict;
* any other name (``buffalo_l``, ``cheetah_s``) or folder — an insightface model pack, found
  under ``face_model_root`` (downloaded there if allowed), whose recognition model is converted.
"""

from __future__ import annotations

from pathlib import Path

import torch

from idbooth_lib.config import PACKAGED_PREFIX
from idbooth_lib.identity.toy_recogniser import ToyRecogniser
from idbooth_lib.models import Source, registers_loader, resolve

CHECKPOINT_SUFFIXES = (".pth", ".pt", ".safetensors")

ACCEPTED_FORMS = (
    f"{PACKAGED_PREFIX}toy/NAME (packaged toy recogniser) or a toy recogniser folder, a path to an ArcFace .onnx file, a path "
    f"to an arcface_torch checkpoint ({', '.join(CHECKPOINT_SUFFIXES)}), or an insightface pack "
    "name or folder (buffalo_l, cheetah_s)"
)


def load_identity_encoder(
    source: str,
    device: str = "cpu",
    face_model_root: str | Path | None = None,
    allow_download: bool = True,
) -> torch.nn.Module:
    """A frozen recogniser in eval mode; gradients still flow *through* it to its input.

    ``face_model_root`` and ``allow_download`` only matter for insightface pack names (see
    :func:`~idbooth_lib.identity.arcface_onnx.insightface_pack_folder`).
    """
    model = _build(source, face_model_root, allow_download)
    return model.to(device).eval().requires_grad_(False)


def _build(
    source: str, face_model_root: str | Path | None, allow_download: bool
) -> torch.nn.Module:
    """The unfrozen module for ``source``; the heavy imports happen only for the form used."""
    found = resolve(source, "identity_encoder")
    if found.kind == "packaged" or _is_toy_recogniser_folder(Path(found.location)):
        return ToyRecogniser.load(found.location)
    if found.kind == "file":
        return _from_file(found)
    if not source.strip() or (Path(source).suffix and not Path(found.location).is_dir()):
        # "model.bin" or "" is neither a pack name nor a folder: say what is accepted instead of
        # letting insightface try (and fail) to download a pack of that name.
        raise ValueError(f"unknown identity encoder source {source!r}: expected {ACCEPTED_FORMS}")
    if found.kind == "folder":
        _refuse_a_folder_without_a_recogniser(found)
    return _insightface_pack(source, face_model_root, allow_download)


def _from_file(found: Source) -> torch.nn.Module:
    """An ArcFace ``.onnx`` file, or an arcface_torch checkpoint (its depth read off the weights)."""
    if found.location.lower().endswith(".onnx"):
        from idbooth_lib.identity.arcface_torch import load_onnx_as_torch

        return load_onnx_as_torch(found.location)
    from idbooth_lib.identity.arcface_torch import load_iresnet

    return load_iresnet(found.location, depth=None)


def _refuse_a_folder_without_a_recogniser(found: Source) -> None:
    """A folder that holds no recogniser is a mistake, not a pack name: insightface would try to
    download ``.../model-zoo//that/path.zip`` and fail obscurely."""
    from idbooth_lib.identity.arcface_onnx import holds_models

    folder, source = Path(found.location), found.written
    if holds_models(folder):
        return
    if not folder.exists():
        raise ValueError(f"{source} does not exist: expected {ACCEPTED_FORMS}")
    hint = ""
    for inner in (folder / "backbone", folder / "backbone.safetensors"):  # fr-train's outputs
        if _is_toy_recogniser_folder(inner) or inner.is_file():
            hint = f" It looks like the output of `idbooth fr-train`: pass {inner}."
    raise ValueError(f"{source} is a folder but holds no recogniser (no toy recogniser's "
                     f"config.json, no .onnx file, no insightface manifest).{hint}")  # fmt: skip


def _is_toy_recogniser_folder(folder: Path) -> bool:
    """A folder holding a saved :class:`~idbooth_lib.identity.toy_recogniser.ToyRecogniser`."""
    import json

    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and {"widths", "embedding_dim"} <= set(config)


def _insightface_pack(
    name: str, face_model_root: str | Path | None, allow_download: bool
) -> torch.nn.Module:
    """The recognition model of insightface pack ``name``, converted to torch."""
    from idbooth_lib.identity.arcface_onnx import find_recognition_model, insightface_pack_folder
    from idbooth_lib.identity.arcface_torch import load_onnx_as_torch

    folder = insightface_pack_folder(name, face_model_root or "~/.insightface", allow_download)
    return load_onnx_as_torch(find_recognition_model(folder))


@registers_loader("identity_encoder")
@registers_loader("evaluation_encoder")
def load_bundled_encoder(bundle, setting: str) -> torch.nn.Module:
    """The recogniser ``models.<setting>`` names, for a :class:`~idbooth_lib.models.ModelBundle`."""
    config = bundle.config
    return load_identity_encoder(
        getattr(config.models, setting), bundle.device, face_model_root=config.models.face_model_root
    )
