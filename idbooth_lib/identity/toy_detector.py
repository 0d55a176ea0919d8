"""The toy face detector: a small CNN that plays insightface's detector's part on the toy profile.

insightface's SCRFD finds faces of any size anywhere in a photo and returns a box, a score and five
landmarks. The toy world needs much less: a toy photo is 64×64 and shows at most one face of roughly
known size. So this model looks at one 64×64 window and answers two questions — is there a whole
face in it (a logit), and where are its five landmarks (pixels of the window). Sliding it over
larger images (:class:`idbooth_lib.data.detect.ToyDetectorBackend`) turns it into a detector with
the same interface as insightface's.

Weights are saved like the toy recogniser's: ``config.json`` plus ``model.safetensors`` (fp16).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from idbooth_lib.identity.storage import read_network, save_network


@dataclass(frozen=True)
class DetectorConfig:
    """Architecture of a toy detector; saved next to its weights as ``config.json``."""

    widths: tuple[int, ...] = (16, 32, 64, 96)
    hidden: int = 128
    input_size: int = 64
    landmarks: int = 5

    @classmethod
    def from_dict(cls, values: dict) -> DetectorConfig:
        return cls(**{**values, "widths": tuple(values["widths"])})


def _stage(channels_in: int, channels_out: int) -> nn.Sequential:
    """Halve the resolution, then one more 3×3 convolution: cheap, and enough for toy faces."""
    return nn.Sequential(
        nn.Conv2d(channels_in, channels_out, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(channels_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(channels_out, channels_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(channels_out),
        nn.ReLU(inplace=True),
    )


class ToyFaceDetector(nn.Module):
    """64×64 windows in [-1, 1] → (face logit (B,), landmarks (B, 5, 2) in window pixels).

    Landmarks are regressed in coordinates normalised to [-1, 1] over the window (the range a
    linear layer learns easily) and returned in OpenCV pixel coordinates, like every landmark here.
    """

    def __init__(self, config: DetectorConfig = DetectorConfig()) -> None:
        super().__init__()
        self.config = config
        stages, channels = [], 3
        for width in config.widths:
            stages.append(_stage(channels, width))
            channels = width
        self.features = nn.Sequential(*stages)
        side = config.input_size // 2 ** len(config.widths)
        self.trunk = nn.Sequential(
            nn.Flatten(), nn.Linear(channels * side * side, config.hidden), nn.ReLU(inplace=True)
        )
        self.score = nn.Linear(config.hidden, 1)
        self.landmark_head = nn.Linear(config.hidden, 2 * config.landmarks)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        size = self.config.input_size
        if images.shape[-2:] != (size, size):
            raise ValueError(
                f"expected {size}×{size} windows, got {tuple(images.shape[-2:])}: resize the image "
                "or use idbooth_lib.data.detect.ToyDetectorBackend, which does it for you"
            )
        hidden = self.trunk(self.features(images))
        normalised = self.landmark_head(hidden).view(-1, self.config.landmarks, 2)
        return self.score(hidden).squeeze(-1), normalised_to_pixels(normalised, size)

    def save(self, folder: str | Path) -> None:
        """Write the architecture and fp16 weights (see :mod:`idbooth_lib.identity.storage`)."""
        save_network(self, asdict(self.config), folder)

    @classmethod
    def load(cls, folder: str | Path) -> ToyFaceDetector:
        """Load a saved detector in eval mode, in float32."""
        hint = (
            "this is not a toy detector folder; train one with "
            f"`python -m idbooth_lib.toy.pretrain detector --output {folder}`"
        )
        config, state = read_network(folder, hint)
        model = cls(DetectorConfig.from_dict(config))
        model.load_state_dict(state)
        return model.eval()


def pixels_to_normalised(landmarks: torch.Tensor, size: int) -> torch.Tensor:
    """OpenCV pixel coordinates of a ``size`` window → [-1, 1] (the window's edges at ±1)."""
    return (landmarks + 0.5) * (2.0 / size) - 1.0


def normalised_to_pixels(normalised: torch.Tensor, size: int) -> torch.Tensor:
    """Inverse of :func:`pixels_to_normalised`."""
    return (normalised + 1.0) * (size / 2.0) - 0.5
