"""Pixel ranges: one function per conversion, each named after the range it produces.

Three ranges meet in this library: 8-bit *pixels* (uint8, 0–255, channels last, as PIL, NumPy and
the detectors see images), the *signed* range [-1, 1] (float, channels first) that every model here
takes — the VAE, the recognisers, the detectors — and the *unit* interval [0, 1] (float, channels
first) of ``torchvision`` and of display. The names say where a conversion goes from and to, so
``pixels_to_signed`` and ``signed_to_unit`` cannot be mistaken for each other.
"""

from __future__ import annotations

import numpy as np
import torch


def pixels_to_signed(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 ``(N, H, W, 3)`` → float ``(N, 3, H, W)`` in [-1, 1]."""
    tensor = torch.as_tensor(images)
    return tensor.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def signed_to_pixels(images: torch.Tensor) -> torch.Tensor:
    """float ``(N, 3, H, W)`` in [-1, 1] → uint8 ``(N, H, W, 3)``, clamped and rounded (detached)."""
    values = (images.detach().float().clamp(-1, 1) + 1) * 127.5
    return values.round().byte().permute(0, 2, 3, 1)


def signed_to_unit(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] → [0, 1], clamped (for display and saving)."""
    return ((images.float() + 1) / 2).clamp(0, 1)


def unit_to_pixels(images: torch.Tensor) -> torch.Tensor:
    """float ``(N, 3, H, W)`` in [0, 1] → uint8 ``(N, H, W, 3)``, clamped and rounded (detached)."""
    return (images.detach().float().clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1)


def unit_to_signed(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] (e.g. a pipeline's ``output_type="pt"`` images) → [-1, 1]."""
    return images.float() * 2 - 1
