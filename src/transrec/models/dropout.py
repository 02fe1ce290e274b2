"""Dropout with a fast CPU mask: torch's CPU Bernoulli draw was a quarter of a small model's training step."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

KEEP_LEVELS = 65_536  # the mask compares uniform 16-bit integers: p is rounded to a multiple of 1/65536


class FastDropout(nn.Dropout):
    """nn.Dropout whose training mask on a CPU comes from numpy's PCG64 random bytes (`keep_mask`).

    The same distribution as nn.Dropout (each element zeroed independently with probability p, survivors scaled by
    1 / (1 - p)), with p rounded to a multiple of 1/65536. Each mask is seeded by one draw from torch's generator, so
    torch.manual_seed makes it deterministic and a checkpoint's torch RNG state resumes it. Other devices, evaluation
    and p of 0 or 1 use nn.Dropout itself.
    """

    def forward(self, x: Tensor) -> Tensor:
        """x -> x with dropout applied (training on a CPU: the fast mask)."""
        if not self.training or x.device.type != "cpu" or not 0.0 < self.p < 1.0:
            return super().forward(x)
        scale = torch.tensor(1.0 / (1.0 - self.p), dtype=x.dtype)
        return x * (keep_mask(x.shape, self.p).to(x.dtype) * scale)


def keep_mask(shape: torch.Size | tuple[int, ...], p: float) -> Tensor:
    """A bool tensor of `shape`, each element True with probability 1 - p (p rounded to 1/65536), seeded from torch."""
    seed = int(torch.randint(0, 2**62, ()))
    count = int(np.prod(shape))
    bits = np.frombuffer(np.random.Generator(np.random.PCG64(seed)).bytes(2 * count), dtype=np.uint16)
    return torch.from_numpy(bits >= round(p * KEEP_LEVELS)).view(shape)


def use_fast_dropout(model: nn.Module) -> int:
    """Replace every plain nn.Dropout inside `model` by a FastDropout of the same p; returns how many were replaced."""
    replaced = 0
    for module in model.modules():
        for name, child in module.named_children():
            if type(child) is nn.Dropout:
                setattr(module, name, FastDropout(child.p))
                replaced += 1
    return replaced
