"""Frozen item towers: their first-token features computed once per run, when no hidden-state store holds them."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from transrec.data.content import Content, MultimodalContent
from transrec.eval.ranking import encode_item_rows
from transrec.models.item_tower import ItemTower


class FeatureContent:
    """Item content holding each item's precomputed backbone output: item_idx -> {key: (U, h)}.

    key "first_token", or "<modality>_first_token" for one tower of a multimodal item.
    """

    kind = "features"

    def __init__(self, features: Tensor, key: str = "first_token") -> None:
        self.features = features  # (N+1, h) float32 on the CPU, row 0 = padding
        self.key = key
        self.num_items = features.shape[0] - 1

    def __call__(self, idx: Tensor) -> dict[str, Tensor]:
        """Feature rows of `idx` (U,): {key: (U, h)}."""
        return {self.key: self.features[idx.long().cpu()]}


def backbone_is_frozen(encoder: ItemTower) -> bool:
    """True when the item vector's backbones train nothing, so their first tokens are fixed for the whole run.

    Only towers with a first token count (an ID table or IISAN has none); modules a method hangs on a tower's stages
    (prompt tuning / VPT, K-Adapter's side tower) change the first token too.
    """
    towers = encoder.modality_towers().values()
    staged = [m for tower in towers for m in (tower.backbone, tower.prompt, tower.side) if m is not None]
    return bool(towers) and not any(p.requires_grad for m in staged for p in m.parameters())


def cache_first_tokens(
    encoder: ItemTower,
    content: Content,
    *,
    batch_size: int,
    device: torch.device,
    dtype: torch.dtype | None,
    num_workers: int = 0,
) -> Content:
    """Without a store: run the frozen backbone(s) once over every item (eval mode) and keep the first-token vectors."""
    parts: dict[str, Content] = {}
    for modality, tower in encoder.modality_towers().items():

        def encode(inputs: dict[str, Tensor], tower: nn.Module = tower, modality: str = modality) -> Tensor:
            return tower.first_token(encoder.tower_inputs(modality, inputs))  # (B, h)

        features = encode_item_rows(
            encoder,
            content,
            1,
            content.num_items + 1,
            batch_size=batch_size,
            device=device,
            dtype=dtype,
            num_workers=num_workers,
            encode=encode,
        )  # (N, h)
        padded = torch.cat([features.new_zeros(1, features.shape[1]), features]).cpu()  # (N+1, h)
        parts[modality] = FeatureContent(padded, encoder.feature_key(modality))
    return next(iter(parts.values())) if len(parts) == 1 else MultimodalContent(parts)
