"""Differentiable ArcFace recognisers in torch: arcface_torch's iResNet, and converted ONNX packs.

The identity loss of ID-Booth needs gradients *through* the face recogniser, which onnxruntime
(:class:`~idbooth_lib.identity.arcface_onnx.ArcFaceOnnx`) cannot give. Two torch routes are here:

* :class:`IResNet` / :func:`load_iresnet` — the architecture of insightface's ``arcface_torch``
  training code. The paper's recogniser (R100 trained on MS1MV3) is published as a plain state dict
  (``backbone.pth``) for exactly this class, and no pip package ships the class, so it is written
  out here with the same parameter names, and a downloaded checkpoint loads with ``strict=True``.
* :func:`load_onnx_as_torch` — an insightface ArcFace ``.onnx`` (buffalo_l's ``w600k_r50.onnx``)
  rebuilt as torch modules by ``onnx2torch``, so the pack that the sd21 profile already uses for
  data preparation can also drive the loss.

Both take aligned 112×112 RGB crops in [-1, 1] and return L2-normalised embeddings.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    import onnx

#: Residual blocks per stage of arcface_torch's ``get_model("r18" | ... )``.
DEPTHS: dict[str, tuple[int, int, int, int]] = {
    "r18": (2, 2, 2, 2),
    "r34": (3, 4, 6, 3),
    "r50": (3, 4, 14, 3),
    "r100": (3, 13, 30, 3),
    "r200": (6, 26, 60, 6),
}
WIDTHS = (64, 128, 256, 512)
INPUT_SIZE = 112
#: Four stride-2 stages turn the 112 px crop into the 7×7 map that ``fc`` flattens.
FINAL_MAP = INPUT_SIZE // 16

CHECKPOINT_HINT = (
    "pass the path of an arcface_torch backbone (e.g. the paper's R100 MS1MV3 backbone.pth from "
    "insightface's model zoo, recognition/arcface_torch) as models.identity_encoder"
)


class IdentityCheckpointError(ValueError):
    """A recogniser checkpoint does not fit the architecture it is loaded into."""


def _conv3x3(channels_in: int, channels_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(channels_in, channels_out, 3, stride=stride, padding=1, bias=False)


class IBasicBlock(nn.Module):
    """arcface_torch's block: BN → conv3×3 → BN → PReLU → conv3×3 (stride) → BN, plus shortcut.

    Attribute names are those of the checkpoints (``bn1, conv1, bn2, prelu, conv2, bn3,
    downsample``); changing them breaks ``load_state_dict(strict=True)`` on real weights.
    """

    def __init__(self, channels_in: int, channels_out: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(channels_in, eps=1e-5)
        self.conv1 = _conv3x3(channels_in, channels_out)
        self.bn2 = nn.BatchNorm2d(channels_out, eps=1e-5)
        self.prelu = nn.PReLU(channels_out)
        self.conv2 = _conv3x3(channels_out, channels_out, stride)
        self.bn3 = nn.BatchNorm2d(channels_out, eps=1e-5)
        self.downsample: nn.Module | None = None
        if stride != 1 or channels_in != channels_out:
            self.downsample = nn.Sequential(
                nn.Conv2d(channels_in, channels_out, 1, stride=stride, bias=False),
                nn.BatchNorm2d(channels_out, eps=1e-5),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return out + (x if self.downsample is None else self.downsample(x))


class IResNet(nn.Module):
    """arcface_torch's iResNet: aligned 112×112 RGB in [-1, 1] → (B, 512) unit embeddings.

    arcface_torch trains on RGB scaled as ``(x / 255 - 0.5) / 0.5``, which is exactly the [-1, 1]
    range used everywhere in this library, so ``forward`` feeds the input unchanged. ``widths`` and
    ``num_features`` exist so that tests can build a tiny network with the real key names.
    """

    def __init__(
        self,
        layers: Sequence[int] = DEPTHS["r100"],
        widths: Sequence[int] = WIDTHS,
        num_features: int = 512,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if len(layers) != 4 or len(widths) != 4:
            raise ValueError(f"iResNet has 4 stages; got layers={layers}, widths={widths}")
        self.layers, self.widths = tuple(layers), tuple(widths)
        self.conv1 = _conv3x3(3, widths[0])
        self.bn1 = nn.BatchNorm2d(widths[0], eps=1e-5)
        self.prelu = nn.PReLU(widths[0])
        channels = widths[0]
        for index, (blocks, width) in enumerate(zip(layers, widths, strict=True), start=1):
            setattr(self, f"layer{index}", _stage(channels, width, blocks))
            channels = width
        self.bn2 = nn.BatchNorm2d(channels, eps=1e-5)
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(channels * FINAL_MAP * FINAL_MAP, num_features)
        self.features = nn.BatchNorm1d(num_features, eps=1e-5)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        _check_input(images, INPUT_SIZE)
        x = self.prelu(self.bn1(self.conv1(images)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.dropout(torch.flatten(self.bn2(x), 1))
        return F.normalize(self.features(self.fc(x)), dim=-1)


def _stage(channels_in: int, width: int, blocks: int) -> nn.Sequential:
    """One stage: a stride-2 block that changes width (with a downsample shortcut), then more."""
    first = IBasicBlock(channels_in, width, stride=2)
    return nn.Sequential(first, *(IBasicBlock(width, width) for _ in range(blocks - 1)))


def iresnet(
    depth: str = "r100", widths: Sequence[int] = WIDTHS, num_features: int = 512
) -> IResNet:
    """An untrained iResNet of a named depth (``r18``, ``r34``, ``r50``, ``r100``, ``r200``)."""
    if depth not in DEPTHS:
        raise ValueError(f"unknown iResNet depth {depth!r}: choose one of {list(DEPTHS)}")
    return IResNet(DEPTHS[depth], widths, num_features)


def _check_input(images: torch.Tensor, size: int) -> None:
    """Recognisers take aligned crops of one size; anything else is a pipeline bug, said clearly."""
    if images.ndim != 4 or tuple(images.shape[1:]) != (3, size, size):
        raise ValueError(
            f"expected aligned faces of shape (B, 3, {size}, {size}) in [-1, 1], got "
            f"{tuple(images.shape)}: align them to the ArcFace template first"
        )


# ----------------------------------------------------------------------------------------------
# Loading arcface_torch checkpoints
# ----------------------------------------------------------------------------------------------


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.pth``/``.pt`` (``weights_only``: unpickling cannot run code) or
    ``.safetensors`` file; a ``module.`` prefix left by DistributedDataParallel is dropped."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"the recogniser checkpoint {path} does not exist: {CHECKPOINT_HINT}"
        )
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as error:  # a pickled module, not tensors: refuse to run it
            raise IdentityCheckpointError(
                f"{path} is not a plain state dict (it pickles code, which is not loaded): save "
                f"`model.state_dict()` instead. {error}"
            ) from None
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise IdentityCheckpointError(f"{path} holds a {type(state).__name__}, not a state dict")
    return {name.removeprefix("module."): tensor for name, tensor in state.items()}


class Architecture(NamedTuple):
    """What an iResNet state dict was saved from: ``IResNet(*architecture)`` rebuilds it."""

    layers: tuple[int, ...]
    widths: tuple[int, ...]
    num_features: int


def infer_architecture(state: Mapping[str, torch.Tensor]) -> Architecture:
    """Blocks per stage, stage widths and embedding size, read off a state dict's keys and shapes."""
    blocks: dict[int, set[int]] = {}
    for name in state:
        match = re.match(r"layer([1-4])\.(\d+)\.bn1\.weight$", name)
        if match:
            blocks.setdefault(int(match[1]), set()).add(int(match[2]))
    if sorted(blocks) != [1, 2, 3, 4] or "fc.weight" not in state:
        raise IdentityCheckpointError("no layer1..layer4 blocks and fc: not an iResNet state dict")
    stages = (1, 2, 3, 4)
    return Architecture(
        tuple(len(blocks[stage]) for stage in stages),
        tuple(int(state[f"layer{stage}.0.conv1.weight"].shape[0]) for stage in stages),
        int(state["fc.weight"].shape[0]),
    )


def depth_name(layers: Sequence[int]) -> str | None:
    """``"r100"`` for blocks per stage (3, 13, 30, 3), and so on; None for an unnamed layout."""
    return next((name for name, counts in DEPTHS.items() if counts == tuple(layers)), None)


def load_iresnet(path: str | Path, depth: str | None = None) -> IResNet:
    """An arcface_torch backbone from its checkpoint, in eval mode.

    With ``depth=None`` the depth (and widths) are read off the state dict's block counts, so one
    call loads r18 to r200; a given ``depth`` that does not fit is reported with the right one.
    """
    if depth is not None and depth not in DEPTHS:
        raise ValueError(f"unknown iResNet depth {depth!r}: choose one of {list(DEPTHS)} or None")
    state = read_state_dict(path)
    try:
        found = infer_architecture(state)
    except IdentityCheckpointError as error:
        raise IdentityCheckpointError(f"{path}: {error}; {CHECKPOINT_HINT}") from None
    if depth is not None and DEPTHS[depth] != found.layers:
        raise IdentityCheckpointError(
            f"{path} is not an iResNet {depth} ({DEPTHS[depth]} blocks per stage): its state dict "
            f"has {found.layers} (layer3 has {found.layers[2]} blocks), i.e. "
            f"depth={depth_name(found.layers)!r}; pass that, or depth=None to infer it"
        )
    model = IResNet(*found)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise IdentityCheckpointError(f"{path} does not fit an iResNet {found}: {error}") from None
    return model.eval()


# ----------------------------------------------------------------------------------------------
# insightface ArcFace ONNX → torch
# ----------------------------------------------------------------------------------------------


class ArcFaceTorchFromOnnx(nn.Module):
    """A converted ArcFace network: (B, 3, S, S) RGB in [-1, 1] → (B, D) unit embeddings.

    ``input_mean``/``input_std`` are the pixel normalisation insightface applies before the network
    (127.5/127.5 for every current pack, which is our [-1, 1] range unchanged).
    """

    def __init__(
        self,
        network: nn.Module,
        input_size: int = INPUT_SIZE,
        input_mean: float = 127.5,
        input_std: float = 127.5,
    ) -> None:
        super().__init__()
        self.network = network
        self.input_size, self.input_mean, self.input_std = input_size, input_mean, input_std

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        _check_input(images, self.input_size)
        if (self.input_mean, self.input_std) != (127.5, 127.5):  # back to pixels, then theirs
            images = ((images + 1) * 127.5 - self.input_mean) / self.input_std
        return F.normalize(self.network(images), dim=-1)


def insightface_input_normalisation(model: onnx.ModelProto) -> tuple[float, float]:
    """The (mean, std) insightface subtracts/divides pixels by for this ArcFace ONNX graph.

    Copied from ``insightface/model_zoo/arcface_onnx.py`` (``ArcFaceONNX.__init__``, insightface 2.1
    in this venv): models converted from MXNet normalise inside the graph — a ``Sub``/``_minus`` and
    a ``Mul``/``_mul`` among the first 8 nodes — and get raw pixels (0, 1); all others get
    (127.5, 127.5). ``get_feat`` builds the blob with ``cv2.dnn.blobFromImages(..., swapRB=True)``
    from OpenCV BGR crops, so the network itself sees RGB, like our tensors.
    """
    names = [node.name for node in model.graph.node[:8]]
    has_sub = any(name.startswith(("Sub", "_minus")) for name in names)
    has_mul = any(name.startswith(("Mul", "_mul")) for name in names)
    return (0.0, 1.0) if has_sub and has_mul else (127.5, 127.5)


def load_onnx_as_torch(path: str | Path) -> ArcFaceTorchFromOnnx:
    """An insightface ArcFace ``.onnx`` rebuilt in torch by ``onnx2torch``, so gradients flow."""
    import onnx

    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: expected an ArcFace .onnx file (e.g. w600k_r50.onnx of the "
            "insightface pack buffalo_l), or give the pack's name instead of a path"
        )
    model = onnx.load(str(path))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    size = dims[2].dim_value if len(dims) == 4 and dims[2].dim_value else INPUT_SIZE
    mean, std = insightface_input_normalisation(model)
    return ArcFaceTorchFromOnnx(_convert(model, path), int(size), mean, std).eval()


#: onnx2torch 1.5 registers converters by the opset an operator last changed in; files from newer
#: exporters (torch 2.14's TorchScript exporter writes opset 20) hit versions it lacks, such as
#: AveragePool-19 and Identity-19. insightface's packs were exported years earlier with older
#: opsets, so the rewrite matters mostly for one's own fresh exports.
FALLBACK_OPSET = 17


def _convert(model: onnx.ModelProto, path: Path) -> nn.Module:
    """``onnx2torch.convert``, retried once on the graph rewritten to :data:`FALLBACK_OPSET`."""
    from onnx import version_converter
    from onnx2torch import convert

    try:
        return convert(model)
    except NotImplementedError as error:  # onnx2torch names the operation it cannot convert
        opset = max(
            entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")
        )
        if opset <= FALLBACK_OPSET:
            raise ValueError(f"onnx2torch cannot convert {path}: {error}") from error
        try:
            return convert(version_converter.convert_version(model, FALLBACK_OPSET))
        except Exception as retry_error:
            raise ValueError(
                f"onnx2torch cannot convert {path}: {error}, not even rewritten to opset "
                f"{FALLBACK_OPSET} ({retry_error}); re-export it with opset_version={FALLBACK_OPSET}"
            ) from error
