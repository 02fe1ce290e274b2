"""Item content: turn a batch of item_idx into the item encoder's inputs (token ids, pixels, ids); stored states:
transrec.features.content."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import polars as pl
import torch
from torch import Tensor

__all__ = [
    "Content",
    "TextContent",
    "ImageContent",
    "IdContent",
    "build_content",
    "MultimodalContent",
    "build_multimodal_content",
    "item_ids",
]


class Content(Protocol):
    """Item content: a batch of item_idx (U,) -> the item tower's inputs; every kind of content (raw, stored,
    cached) is one of these, and the loader, the objectives and evaluation read nothing else."""

    kind: str  # text, image, id, multimodal; "features": precomputed backbone outputs, no backbone runs
    num_items: int  # N: item_idx runs 1..N, 0 is padding

    def __call__(self, idx: Tensor) -> dict[str, Tensor]:
        """The inputs of items `idx` (U,), by key (input_ids, pixel_values, item_idx, first_token, ...)."""
        ...


class TextContent:
    """Cached token ids of every item title; a batch is trimmed to its longest real length."""

    kind = "text"

    def __init__(self, npz_path: str | os.PathLike) -> None:
        from transrec.data.tokens import load_token_cache

        input_ids, attention_mask = load_token_cache(npz_path)  # (N+1, T) int32, (N+1, T) uint8; row 0 = padding
        self.input_ids = torch.from_numpy(np.ascontiguousarray(input_ids, dtype=np.int64))
        self.attention_mask = torch.from_numpy(np.ascontiguousarray(attention_mask, dtype=np.int64))
        # Up to the last real token (not their count): trimming never cuts a real token, whatever the padding side.
        columns = torch.arange(1, self.input_ids.shape[1] + 1)
        self.lengths = (self.attention_mask.bool() * columns).amax(dim=1)  # (N+1,)
        self.num_items = self.input_ids.shape[0] - 1

    def __call__(self, idx: Tensor) -> dict[str, Tensor]:
        """Token rows of `idx` (U,), padded to the longest real title in this batch: (U, T') each."""
        idx = idx.long().cpu()
        width = max(int(self.lengths[idx].max()), 1) if idx.numel() else 1
        return {"input_ids": self.input_ids[idx, :width], "attention_mask": self.attention_mask[idx, :width]}


class ImageContent:
    """Item images read from the LMDB store, decoded and normalised with the encoder's own mean/std.

    A catalogue whose decoded pixels fit in `cache_bytes` is decoded once, on first use, into one uint8 tensor: every
    batch after that is an index and a normalisation, not a JPEG decode per item (larger catalogues decode per batch).
    """

    kind = "image"
    cache_bytes = 1 << 30  # 1 GiB of uint8 pixels: e.g. 7,000 items at 224 px, 150,000 at 48 px

    def __init__(
        self,
        lmdb_path: str | os.PathLike,
        items_parquet: str | os.PathLike,
        mean: Sequence[float],
        std: Sequence[float],
        size: int = 224,
    ) -> None:
        self.lmdb_path = Path(lmdb_path)
        self.size = size
        self.item_ids = item_ids(items_parquet)  # item_ids[i] = item_id of item_idx i; [0] = None
        self.num_items = len(self.item_ids) - 1
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
        self._reader: Any = None  # opened on first use, in whichever process (DataLoader worker) uses it
        self._decoded: Tensor | None = None  # (N+1, 3, size, size) uint8 once decoded; row 0 = padding

    def __getstate__(self) -> dict[str, Any]:
        # Only the path travels: each worker process opens the store itself (the reader also keeps one LMDB
        # environment per process, so forked workers never use the parent's) and decodes its own cache.
        state = self.__dict__.copy()
        state["_reader"] = None
        state["_decoded"] = None
        return state

    def __call__(self, idx: Tensor) -> dict[str, Tensor]:
        """Pixels of `idx` (U,): (U, 3, size, size) float32."""
        if self._reader is None:
            self._reader = _open_reader(self.lmdb_path)
        idx = idx.long().cpu()
        if idx.numel() and (int(idx.min()) < 1 or int(idx.max()) > self.num_items):
            raise IndexError(f"item_idx outside 1..{self.num_items}: the padding item 0 has no image")
        if self._decoded is None and (self.num_items + 1) * 3 * self.size * self.size <= self.cache_bytes:
            self._decoded = self._decode_items(range(1, self.num_items + 1), first_row=1)
        raw = self._decoded[idx] if self._decoded is not None else self._decode_items(idx.tolist())
        return {"pixel_values": (raw.float().div_(255.0) - self.mean) / self.std}

    def _decode_items(self, items: Any, first_row: int = 0) -> Tensor:
        """(first_row + len(items), 3, size, size) uint8 pixels of `items` from row `first_row` on."""
        pixels = torch.zeros(first_row + len(items), 3, self.size, self.size, dtype=torch.uint8)
        for row, item in enumerate(items, first_row):
            image = _decode(self._reader[self.item_ids[item]])
            if image.size != (self.size, self.size):  # the store is built at 224; other sizes are resized here
                image = image.resize((self.size, self.size), resample=3)  # 3 = BICUBIC, as HF image processors
            pixels[row] = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1)
        return pixels


class IdContent:
    """No content: the item encoder is an embedding table looked up by item_idx."""

    kind = "id"

    def __init__(self, num_items: int) -> None:
        self.num_items = num_items

    def __call__(self, idx: Tensor) -> dict[str, Tensor]:
        """The ids themselves: {"item_idx": (U,)}."""
        return {"item_idx": idx.long()}


def build_content(
    kind: str,
    path: str | os.PathLike | None,
    items_parquet: str | os.PathLike,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    size: int = 224,
) -> Content:
    """The content of `kind` (text: token npz, image: LMDB, id: none) for the items of `items_parquet`."""
    if kind == "text":
        if path is None:
            raise ValueError("text content needs the token cache path")
        content: Content = TextContent(path)
    elif kind == "image":
        if path is None or mean is None or std is None:
            raise ValueError("image content needs the LMDB path and the encoder's image mean and std")
        content = ImageContent(path, items_parquet, mean, std, size)
    elif kind == "id":
        return IdContent(len(item_ids(items_parquet)) - 1)
    else:
        raise ValueError(f"unknown content kind {kind!r}; expected text, image or id")
    expected = len(item_ids(items_parquet)) - 1
    if content.num_items != expected:
        raise ValueError(f"{path} holds {content.num_items} items but {items_parquet} has {expected}")
    return content


def item_ids(items_parquet: str | os.PathLike) -> list[str | None]:
    """item_id by item_idx (position 0 = padding), checking that item_idx is exactly 1..N."""
    items = pl.read_parquet(items_parquet, columns=["item_idx", "item_id"]).sort("item_idx")
    idx = items["item_idx"].to_list()
    if idx != list(range(1, len(idx) + 1)):
        raise ValueError(f"{items_parquet}: item_idx is not 1..{len(idx)}")
    return [None, *items["item_id"].cast(pl.String).to_list()]


def _open_reader(lmdb_path: Path) -> Any:
    from transrec.data.images import LmdbImageReader  # imported on use: lmdb is needed only for image content

    return LmdbImageReader(lmdb_path)


def _decode(data: bytes) -> Any:
    from transrec.data.images import decode_image

    return decode_image(data)


class MultimodalContent:
    """A multimodal item carries every modality's content: the parts' dicts merged (their keys never collide)."""

    kind = "multimodal"

    def __init__(self, parts: dict[str, Content]) -> None:
        counts = {name: part.num_items for name, part in parts.items()}
        if len(set(counts.values())) != 1:
            raise ValueError(f"multimodal content parts disagree on the item count: {counts}")
        self.parts = parts
        self.num_items = next(iter(counts.values()))
        # all parts precomputed: as cheap as one feature table (the full-softmax objective accepts it)
        self.kind = "features" if all(p.kind == "features" for p in parts.values()) else "multimodal"

    def __call__(self, idx: Tensor) -> dict[str, Tensor]:
        """Every part's content of `idx` (U,), in one dict."""
        merged: dict[str, Tensor] = {}
        for part in self.parts.values():
            merged.update(part(idx))
        return merged


def build_multimodal_content(
    token_path: str | os.PathLike,
    lmdb_path: str | os.PathLike,
    items_parquet: str | os.PathLike,
    mean: Sequence[float],
    std: Sequence[float],
    size: int = 224,
) -> MultimodalContent:
    """Title tokens and LMDB images of the items of `items_parquet` together."""
    return MultimodalContent(
        {
            "text": build_content("text", token_path, items_parquet),
            "image": build_content("image", lmdb_path, items_parquet, mean, std, size),
        }
    )
