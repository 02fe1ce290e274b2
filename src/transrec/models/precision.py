"""The one precision policy: a run's autocast dtype from its setting, and the autocast block for it (train and eval)."""

from __future__ import annotations

import contextlib
from typing import Any

import torch


def autocast_dtype(setting: str, device: torch.device) -> torch.dtype | None:
    """'bf16' -> bfloat16; 'auto' -> bfloat16 on CUDA, None (fp32) elsewhere; 'fp32' -> None.

    CPU stays fp32 under 'auto': CPU bf16 is slow and buys nothing here.
    """
    if setting == "bf16" or (setting == "auto" and device.type == "cuda"):
        return torch.bfloat16
    if setting in ("auto", "fp32"):
        return None
    raise ValueError(f"precision {setting!r} unknown; expected auto, fp32 or bf16")


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager[Any]:
    """Autocast to `dtype` on `device`; None (or float32) runs in fp32, on every device alike.

    Training and evaluation both call this, so a run trained in fp32 is also evaluated in fp32.
    """
    if dtype is None or dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)
