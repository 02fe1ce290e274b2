"""Frozen item encoders: first-token features computed once per run and served as item content (IISAN's caching)."""

from __future__ import annotations

import torch
from torch import Tensor

from transrec.eval.ranking import encode_item_rows
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


def cache_first_tokens(
    encoder: ItemEncoder,
    content,
    *,
    batch_size: int,
    device: torch.device,
    dtype: torch.dtype | None,
    num_workers: int = 0,
) -> FeatureContent:
    """Run the frozen backbone once over every item (eval mode: no dropout) and keep its first-token vectors."""
    features = encode_item_rows(encoder, content, 1, content.num_items + 1, batch_size=batch_size, device=device,
                                dtype=dtype, num_workers=num_workers, encode=encoder.first_token)  # (N, h)
    return FeatureContent(torch.cat([features.new_zeros(1, features.shape[1]), features]).cpu())  # (N+1, h)
