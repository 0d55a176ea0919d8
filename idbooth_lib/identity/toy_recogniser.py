"""The toy face recogniser: a small residual CNN that plays ArcFace's part on the toy profile.

It takes the same input as insightface's ArcFace models — a 112×112 crop aligned to the five-point
template, RGB scaled to [-1, 1] — and returns L2-normalised embeddings, so that every stage that
uses a recogniser (the identity loss, evaluation, data preparation) runs unchanged on both profiles.
The layout follows iResNet in miniature: BatchNorm-conv-BatchNorm-PReLU-conv residual blocks, a
flattened 7×7 map and a linear layer with BatchNorm as the embedding ("BN-Dropout-FC-BN" head).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from idbooth_lib.identity.storage import read_network, save_network


@dataclass(frozen=True)
class RecogniserConfig:
    """Architecture of a toy recogniser; saved next to its weights as ``config.json``."""

    widths: tuple[int, ...] = (32, 64, 128)
    blocks_per_stage: int = 1
    embedding_dim: int = 128
    input_size: int = 112
    dropout: float = 0.0

    @classmethod
    def from_dict(cls, values: dict) -> RecogniserConfig:
        return cls(**{**values, "widths": tuple(values["widths"])})


class ResidualBlock(nn.Module):
    """iResNet's block, BN → conv → BN → PReLU → conv, plus a shortcut. The stride sits on the
    first convolution (iResNet has it on the second) so that both run at the smaller size: 4× less
    work, which is what makes CPU training of the toy models possible."""

    def __init__(self, channels_in: int, channels_out: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(channels_in),
            nn.Conv2d(channels_in, channels_out, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(channels_out),
            nn.PReLU(channels_out),
            nn.Conv2d(channels_out, channels_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels_out),
        )
        self.shortcut = (
            nn.Identity()
            if stride == 1 and channels_in == channels_out
            else nn.Sequential(
                nn.Conv2d(channels_in, channels_out, 1, stride=stride, bias=False),
                nn.BatchNorm2d(channels_out),
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


class ToyRecogniser(nn.Module):
    """Aligned 112×112 faces in [-1, 1] → L2-normalised identity embeddings."""

    def __init__(self, config: RecogniserConfig = RecogniserConfig()) -> None:
        super().__init__()
        self.config = config
        first = config.widths[0]
        # The 112 px crop is an upsampled 64 px toy face: averaging 2×2 pixels first (56 px) loses no
        # detail, and a stride-2 stem then works at 28 px. This keeps CPU training to minutes.
        self.stem = nn.Sequential(
            nn.AvgPool2d(2),
            nn.Conv2d(3, first, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(first),
            nn.PReLU(first),
        )
        stages, channels = [], first
        for width in config.widths[1:]:
            stages.append(ResidualBlock(channels, width, stride=2))
            stages += [ResidualBlock(width, width, 1) for _ in range(config.blocks_per_stage - 1)]
            channels = width
        self.stages = nn.Sequential(*stages)
        side = config.input_size // 2 ** (len(config.widths) + 1)
        self.head = nn.Sequential(
            nn.BatchNorm2d(channels),
            nn.Dropout(config.dropout),
            nn.Flatten(),
            nn.Linear(channels * side * side, config.embedding_dim),
            nn.BatchNorm1d(config.embedding_dim),
        )

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Unnormalised embeddings (what the margin loss trains)."""
        if images.shape[-2:] != (self.config.input_size, self.config.input_size):
            raise ValueError(
                f"expected aligned {self.config.input_size}×{self.config.input_size} crops, got "
                f"{tuple(images.shape[-2:])}: align faces with idbooth_lib.identity.align first"
            )
        return self.head(self.stages(self.stem(images)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.features(images), dim=-1)

    def save(self, folder: str | Path) -> None:
        """Write the architecture and fp16 weights (see :mod:`idbooth_lib.identity.storage`)."""
        save_network(self, asdict(self.config), folder)

    @classmethod
    def load(cls, folder: str | Path) -> ToyRecogniser:
        """Load a saved recogniser in eval mode, in float32."""
        config, state = read_network(folder, "this is not a toy recogniser folder")
        model = cls(RecogniserConfig.from_dict(config))
        model.load_state_dict(state)
        return model.eval()


class AdditiveAngularMargin(nn.Module):
    """ArcFace's training head: cosine logits with an angular margin ``m`` on the true class.

    Written out here (a dozen lines) rather than imported, because the book explains it and no
    well-kept package ships it as a plain torch module.
    """

    def __init__(self, embedding_dim: int, classes: int, scale: float = 32.0, margin: float = 0.5):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(classes, embedding_dim) * 0.01)
        self.scale, self.margin = scale, margin

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cosine = F.normalize(features) @ F.normalize(self.weight).T
        angle = torch.acos(cosine.clamp(-1 + 1e-6, 1 - 1e-6))
        target = torch.cos(angle + self.margin)
        one_hot = F.one_hot(labels, cosine.shape[1]).bool()
        logits = torch.where(one_hot, target, cosine) * self.scale
        return F.cross_entropy(logits, labels)
