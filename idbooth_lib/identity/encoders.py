"""One interface for every face recogniser: aligned 112×112 faces in [-1, 1] → unit embeddings.

The identity loss, the evaluators and data preparation only ever call :func:`load_identity_encoder`
and then the returned module, so the toy recogniser and insightface's ArcFace are interchangeable.
"""

from __future__ import annotations

import torch

from idbooth_lib.config import PACKAGED_PREFIX, resolve_source
from idbooth_lib.identity.toy_recogniser import ToyRecogniser


def load_identity_encoder(source: str, device: str = "cpu") -> torch.nn.Module:
    """A frozen recogniser in eval mode; gradients still flow *through* it to its input."""
    if source.startswith(PACKAGED_PREFIX):
        model = ToyRecogniser.load(resolve_source(source))
    else:
        raise ValueError(
            f"unknown identity encoder source {source!r}: expected a packaged toy recogniser "
            f"({PACKAGED_PREFIX}toy/NAME)"
        )
    return model.to(device).eval().requires_grad_(False)
