"""Item content read from hidden-state stores: IISAN's kept states, or the frozen baseline's backbone outputs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from torch import Tensor

from transrec.data.content import MultimodalContent, item_ids
from transrec.features.store import FeatureStore

__all__ = ["StoreContent", "build_store_content"]


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
    stores: dict[str, str | os.PathLike],
    items_parquet: str | os.PathLike,
    layers: dict[str, Sequence[int]] | None = None,
) -> StoreContent | MultimodalContent:
    """Content from hidden-state stores {modality: path}: IISAN's kept `layers` per modality, or (None) the outputs."""
    expected = len(item_ids(items_parquet)) - 1
    parts: dict[str, Any] = {}
    for modality, path in stores.items():
        if layers is not None:
            parts[modality] = StoreContent(path, f"{modality}_states", layers[modality])
        else:
            parts[modality] = StoreContent(path, "first_token" if len(stores) == 1 else f"{modality}_first_token")
        if parts[modality].num_items != expected:
            raise ValueError(f"{path} holds {parts[modality].num_items} items but {items_parquet} has {expected}")
    return next(iter(parts.values())) if len(parts) == 1 and layers is None else MultimodalContent(parts)
