"""Frozen item encoders: first-token features read from the hidden-state store, or computed once per run without one."""

from __future__ import annotations

import logging
import os

import torch
from torch import Tensor, nn

from transrec.data.content import MultimodalContent
from transrec.eval.ranking import encode_item_rows
from transrec.features.content import build_store_content
from transrec.models.multimodal import tower_inputs

log = logging.getLogger(__name__)


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


def frozen_backbones(encoder: nn.Module) -> list[nn.Module]:
    """The pretrained backbones of an item encoder: one (text/image), one per tower (multimodal), none (id)."""
    if getattr(encoder, "kind", "") == "id":
        return []
    if hasattr(encoder, "towers"):
        return [tower.backbone for tower in encoder.towers.values()]
    return [encoder.backbone]


def backbone_is_frozen(encoder: nn.Module) -> bool:
    """True when no tensor of a pretrained backbone trains, so its outputs are fixed for the whole run."""
    backbones = frozen_backbones(encoder)
    # modules a method hangs on the encoder's stages (prompt tuning / VPT, K-Adapter's side tower) change
    # first_token too
    staged = [m for m in (getattr(encoder, "prompt", None), getattr(encoder, "side", None)) if isinstance(m, nn.Module)]
    return bool(backbones) and not any(p.requires_grad for m in backbones + staged for p in m.parameters())


def store_first_tokens(stores: dict[str, str | os.PathLike], items_parquet: str | os.PathLike):
    """The frozen baseline's content: each item's backbone output read from the hidden-state store(s)
    {modality: path}."""
    content = build_store_content(stores, items_parquet)
    log.info(
        "frozen backbone: features of %d items read from %s", content.num_items, ", ".join(map(str, stores.values()))
    )
    return content


def cache_first_tokens(
    encoder: nn.Module,
    content,
    *,
    batch_size: int,
    device: torch.device,
    dtype: torch.dtype | None,
    num_workers: int = 0,
) -> FeatureContent | MultimodalContent:
    """Without a store: run the frozen backbone(s) once over every item (eval mode) and keep the first-token vectors."""
    towers = {f"{m}_": tower for m, tower in encoder.towers.items()} if hasattr(encoder, "towers") else {"": encoder}
    parts = {}
    for prefix, tower in towers.items():

        def encode(inputs: dict[str, Tensor], tower: nn.Module = tower, modality: str = prefix[:-1]) -> Tensor:
            return tower.first_token(tower_inputs(modality, inputs) if modality else inputs)  # (B, h)

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
        parts[prefix] = FeatureContent(padded, f"{prefix}first_token")
    return parts[""] if "" in parts else MultimodalContent(parts)
