"""A run's item content, decided in one place: the stores run.json names, the raw content, or a per-run cache."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Protocol

import torch
from torch import Tensor

from transrec.data.content import Content, MultimodalContent, build_content, build_multimodal_content, item_ids
from transrec.features.cache import backbone_is_frozen, cache_first_tokens
from transrec.features.store import FeatureStore
from transrec.models.item_tower import ItemTower

__all__ = ["ContentSpec", "StoreContent", "build_store_content", "item_content", "raw_content"]
log = logging.getLogger(__name__)


class ContentSpec(Protocol):
    """run.json's data.content: where the raw content lives and the hidden-state stores the run reads (if any)."""

    kind: str  # text, image, id, multimodal
    path: str | None  # token npz (text) or LMDB folder (image)
    paths: Mapping[str, str]  # multimodal: {"text": token npz, "image": LMDB folder}
    stores: Mapping[str, str]  # {modality: hidden-state store}; empty: the run reads none


def item_content(
    spec: ContentSpec,
    items: str | os.PathLike,
    tower: ItemTower,
    *,
    cache_frozen: bool,
    batch_size: int,
    device: torch.device,
    dtype: torch.dtype | None,
    num_workers: int,
) -> tuple[Content, bool]:
    """The run's item content, and whether it serves precomputed backbone outputs.

    The workflow decided where content comes from when it wrote run.json (studies.grid.feature_stores): stores named
    there are read (IISAN's kept hidden states, or a frozen backbone's output row); otherwise the raw content, which a
    frozen backbone (`cache_frozen`, e.g. one trained on a source) encodes once per run instead of at every step.
    """
    if spec.stores:
        layers = tower.store_layers()
        if layers is None and not backbone_is_frozen(tower):
            raise ValueError(
                f"run config: data.content.stores {dict(spec.stores)} hold a frozen backbone's outputs, "
                "but this run trains its backbone"
            )
        content = build_store_content(spec.stores, items, layers)
        log.info("item content of %d items read from %s", content.num_items, ", ".join(map(str, spec.stores.values())))
        return content, True
    content = raw_content(spec, items, tower)
    if not (cache_frozen and backbone_is_frozen(tower)):
        return content, False
    content = cache_first_tokens(
        tower, content, batch_size=batch_size, device=device, dtype=dtype, num_workers=num_workers
    )
    log.info("frozen %s backbone: features of %d items computed once", tower.kind, content.num_items)
    return content, True


def raw_content(spec: ContentSpec, items: str | os.PathLike, tower: ItemTower) -> Content:
    """The items' own content (token ids, pixels preprocessed as `tower` wants them, ids), nothing precomputed."""
    if spec.kind == "multimodal":
        return build_multimodal_content(
            spec.paths["text"], spec.paths["image"], items, tower.image_mean, tower.image_std, tower.image_size()
        )
    return build_content(spec.kind, spec.path, items, tower.image_mean, tower.image_std, tower.image_size())


class StoreContent:
    """Item content read from a hidden-state store (transrec.features.store): no backbone runs.

    layers given: {"<modality>_states": (U, K, w) float16}, IISAN's kept states; layers None: {key: (U, w) float32},
    the backbone output the frozen baseline reads (key "first_token", or "<modality>_first_token" in a multimodal item).
    """

    kind = "features"  # precomputed: no backbone runs

    def __init__(self, store_path: str | os.PathLike, key: str, layers: Sequence[int] | None = None) -> None:
        self.store = FeatureStore(store_path)
        self.key = key
        self.layers = list(layers) if layers is not None else None
        self.num_items = self.store.num_items

    def __call__(self, idx: Tensor) -> dict[str, Tensor]:
        """The store rows of `idx` (U,)."""
        if self.layers is None:
            return {self.key: self.store.output(idx)}  # (U, w)
        return {self.key: self.store.hidden_states(idx, self.layers)}  # (U, K, w)


def build_store_content(
    stores: Mapping[str, str | os.PathLike],
    items_parquet: str | os.PathLike,
    layers: Mapping[str, Sequence[int]] | None = None,
) -> Content:
    """Content from hidden-state stores {modality: path}: IISAN's kept `layers` per modality, or (None) the outputs."""
    expected = len(item_ids(items_parquet)) - 1
    parts: dict[str, Content] = {}
    for modality, path in stores.items():
        if layers is not None:
            parts[modality] = StoreContent(path, f"{modality}_states", layers[modality])
        else:
            parts[modality] = StoreContent(path, "first_token" if len(stores) == 1 else f"{modality}_first_token")
        if parts[modality].num_items != expected:
            raise ValueError(f"{path} holds {parts[modality].num_items} items but {items_parquet} has {expected}")
    return next(iter(parts.values())) if len(parts) == 1 and layers is None else MultimodalContent(parts)
