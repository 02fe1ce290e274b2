"""Frozen item encoders: first-token features computed once per run and served as item content (IISAN's caching)."""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor

from transrec.models.item_encoders import ItemEncoder


class FeatureContent:
    """Item content holding each item's precomputed backbone output: item_idx -> {"first_token": (U, h)}."""

    kind = "features"

    def __init__(self, features: Tensor) -> None:
        self.features = features  # (N+1, h) float32 on the CPU, row 0 = padding
        self.num_items = features.shape[0] - 1

    def __call__(self, idx: Tensor) -> dict[str, Tensor]:
        """Feature rows of `idx` (U,): {"first_token": (U, h)}."""
        return {"first_token": self.features[idx.long().cpu()]}


def backbone_is_frozen(encoder: ItemEncoder) -> bool:
    """True when no tensor of a pretrained backbone trains, so its outputs are fixed for the whole run."""
    return encoder.kind != "id" and not any(p.requires_grad for p in encoder.backbone.parameters())


@torch.no_grad()
def cache_first_tokens(
    encoder: ItemEncoder, content, *, batch_size: int, device: torch.device, dtype: torch.dtype | None
) -> FeatureContent:
    """Run the frozen backbone once over every item (eval mode: no dropout) and keep its first-token vectors."""
    was_training = encoder.training
    encoder.eval()
    rows = [torch.zeros(1, encoder.hidden_size)]
    autocast = torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()
    with autocast:
        for start in range(1, content.num_items + 1, batch_size):
            idx = torch.arange(start, min(start + batch_size, content.num_items + 1))
            inputs = {key: value.to(device) for key, value in content(idx).items()}
            rows.append(encoder.first_token(inputs).float().cpu())  # (b, h)
    encoder.train(was_training)
    return FeatureContent(torch.cat(rows))  # (N+1, h)
