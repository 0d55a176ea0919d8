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
from dataclasses import dataclass, field

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
        """Backward, unscale, clip, step, for one batch; returns False when the step was skipped
        (the learning-rate schedule should not advance then): see :meth:`backward` and
        :meth:`apply`."""
        optimiser.zero_grad(set_to_none=True)
        if not self.backward(loss):
            return False
        return self.apply(optimiser, parameters, max_grad_norm)

    def backward(self, loss: torch.Tensor) -> bool:
        """Add ``loss``'s (scaled) gradients to the parameters' ``.grad``; False, and nothing
        added, when the loss is not finite: in float32 or bf16 its NaN gradients would reach every
        weight at the next step."""
        if not torch.isfinite(loss):
            return False
        self.scaler.scale(loss).backward()
        return True

    def apply(self, optimiser, parameters, max_grad_norm: float) -> bool:
        """Unscale, clip and take the optimiser step on the gradients added so far; False when
        fp16's scaler found inf/NaN gradients and skipped it."""
        self.scaler.unscale_(optimiser)  # clip the true gradients, not the scaled ones
        torch.nn.utils.clip_grad_norm_(parameters, max_grad_norm)
        scale = self.scaler.get_scale()
        self.scaler.step(optimiser)
        self.scaler.update()
        return not self.scaler.is_enabled() or self.scaler.get_scale() >= scale


class NonFiniteLoss(ValueError):
    """The loss was not finite for ``train.stop_after_non_finite`` steps in a row."""


@dataclass
class RunHealth:
    """What a run skipped, so that no run fails silently: the steps whose loss was not finite and
    the steps fp16's gradient scaler skipped (a few while it finds its scale are normal; many
    mean the run learns little)."""

    non_finite_steps: list[int] = field(default_factory=list)
    skipped_steps: list[int] = field(default_factory=list)
    streak: int = 0

    def record(self, step: int, finite: bool, stepped: bool) -> None:
        """Step ``step``'s outcome: its loss finite or not, its optimiser step taken or not."""
        if not finite:
            self.non_finite_steps.append(step)
        elif not stepped:
            self.skipped_steps.append(step)
        self.streak = 0 if finite else self.streak + 1

    def stop(self, checkpointed: bool) -> None:
        """Raise :class:`NonFiniteLoss` for the current run of non-finite losses
        (``train.stop_after_non_finite`` of them); ``checkpointed`` says whether the run holds a
        checkpoint from before them."""
        if self.streak:
            first = self.non_finite_steps[-self.streak]
            kept = ("its last checkpoint, from before, is kept" if checkpointed
                    else "it had written no checkpoint yet")  # fmt: skip
            raise NonFiniteLoss(
                f"the loss was not finite (inf or NaN) for {self.streak} steps in a row, steps "
                f"{first}-{self.non_finite_steps[-1]}: the run stopped, and {kept}. Fix: in fp16, "
                "decode x̂0 in float32 (--set train.decode_fp32=true), or train in bf16 "
                "(--set train.mixed_precision=bf16) or float32 (=no), or lower the learning rate; "
                "each changes the run, so start it with --no-resume or into another --output"
            )

    def summary(self) -> dict[str, int]:
        return {"non_finite_losses": len(self.non_finite_steps),
                "skipped_steps": len(self.skipped_steps)}  # fmt: skip

    def state_dict(self) -> dict:
        return {"non_finite_steps": list(self.non_finite_steps),
                "skipped_steps": list(self.skipped_steps), "streak": self.streak}  # fmt: skip

    def load_state_dict(self, state: dict) -> None:
        self.non_finite_steps = list(state["non_finite_steps"])
        self.skipped_steps, self.streak = list(state["skipped_steps"]), int(state["streak"])


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
