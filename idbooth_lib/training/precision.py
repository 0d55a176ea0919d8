"""Mixed precision and the optimiser of *one* run: autocast, a gradient scaler, AdamW.

Why not ``accelerate.Accelerator`` here, as diffusers' script does: an ``Accelerator`` keeps every
optimiser it ever prepared and one gradient scaler, and ``clip_grad_norm_`` unscales them all. When
one process fine-tunes identity after identity (or method after method), a shared ``Accelerator``
lets the scaler's state leak from one run into the next and keeps every old optimiser alive. A run
needs only torch's own ``autocast`` and ``GradScaler``; here each run makes its own, and the state
it saves in a checkpoint is exactly its own. (accelerate still splits identities across processes:
see :mod:`idbooth_lib.training.run`.)
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import torch

from idbooth_lib.config import TrainConfig

#: ``train.mixed_precision`` → the autocast dtype (None: full float32).
AUTOCAST_DTYPES = {"no": None, "fp16": torch.float16, "bf16": torch.bfloat16}


class MixedPrecision:
    """Autocast and a gradient scaler (fp16 only) for one run on ``device``."""

    def __init__(self, mixed_precision: str, device: torch.device) -> None:
        if mixed_precision not in AUTOCAST_DTYPES:
            raise ValueError(
                f"unknown mixed precision {mixed_precision!r} (train.mixed_precision); choose one "
                f"of {', '.join(AUTOCAST_DTYPES)}"
            )
        self.dtype = AUTOCAST_DTYPES[mixed_precision]
        self.device_type = torch.device(device).type
        # fp16's narrow range needs loss scaling; bf16 has float32's range and does not.
        self.scaler = torch.amp.GradScaler(self.device_type, enabled=mixed_precision == "fp16")

    def autocast(self) -> AbstractContextManager:
        """The forward pass's precision (a no-op in float32)."""
        return torch.autocast(self.device_type, dtype=self.dtype, enabled=self.dtype is not None)

    def step(self, loss: torch.Tensor, optimiser, parameters, max_grad_norm: float) -> bool:
        """Backward, unscale, clip, step; returns False when fp16 found inf/NaN gradients and the
        scaler skipped the step (the learning-rate schedule should not advance then)."""
        optimiser.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(optimiser)  # clip the true gradients, not the scaled ones
        torch.nn.utils.clip_grad_norm_(parameters, max_grad_norm)
        scale = self.scaler.get_scale()
        self.scaler.step(optimiser)
        self.scaler.update()
        return not self.scaler.is_enabled() or self.scaler.get_scale() >= scale


def build_optimiser(parameters: list[torch.nn.Parameter], config: TrainConfig):
    """AdamW with the paper's settings; bitsandbytes' 8-bit AdamW when ``use_8bit_adam`` is on."""
    if config.use_8bit_adam:
        try:
            import bitsandbytes
        except ImportError as error:
            raise ImportError(
                "train.use_8bit_adam needs bitsandbytes (pip install bitsandbytes, on a CUDA "
                "machine); or switch it off with --set train.use_8bit_adam=false"
            ) from error
        optimiser_class = bitsandbytes.optim.AdamW8bit
    else:
        optimiser_class = torch.optim.AdamW
    return optimiser_class(
        parameters,
        lr=config.learning_rate,
        betas=config.adam_betas,
        weight_decay=config.adam_weight_decay,
        eps=config.adam_epsilon,
    )
