"""Hidden-state store: every item's first-token vectors of a frozen backbone, one float16 .npy, built resumably."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from torch import Tensor

from transrec.data.content import build_content
from transrec.io import read_json, write_json

log = logging.getLogger(__name__)
STATES_FILE = "hidden_states.npy"  # (N+1, n+2, w) float16; row 0 = padding item (zeros)
META_FILE = "meta.json"  # written last: its presence marks a complete store
PROGRESS_FILE = "progress.json"  # work folder only: items committed so far


class FeatureStore:
    """Read-only view of a hidden-state store; opened lazily per process (memory-mapped, safe in DataLoader workers)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not (self.path / META_FILE).is_file():
            raise FileNotFoundError(f"no complete hidden-state store at {self.path} (missing {META_FILE})")
        self.meta = read_json(self.path / META_FILE)
        self.num_items: int = self.meta["num_items"]
        self.depth: int = self.meta["depth"]  # backbone layers n: hidden states 0..n, output row n + 1
        self.width: int = self.meta["width"]
        self._array: np.ndarray | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_array"] = None  # a memory map would pickle as a full copy: each process maps the file itself
        return state

    @property
    def array(self) -> np.ndarray:
        """(N+1, n+2, w) float16, memory-mapped."""
        if self._array is None:
            self._array = np.load(self.path / STATES_FILE, mmap_mode="r")
        return self._array

    def hidden_states(self, idx: Tensor, layers: Sequence[int]) -> Tensor:
        """Kept hidden states of items `idx` (U,): (U, len(layers), w) float16."""
        bad = [k for k in layers if not 0 <= k <= self.depth]
        if bad:
            raise ValueError(f"{self.path}: hidden states {bad} requested, the store holds 0..{self.depth}")
        rows = self.array[idx.long().cpu().numpy()]  # (U, n+2, w): one read per item row
        return torch.from_numpy(np.ascontiguousarray(rows[:, list(layers)]))

    def output(self, idx: Tensor) -> Tensor:
        """The backbone's output first token of items `idx` (U,): (U, w) float32 (the frozen baseline's features)."""
        rows = self.array[idx.long().cpu().numpy(), self.depth + 1]  # (U, w)
        return torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float32))


def build_feature_store(
    modality: str,
    encoder_path: str,
    items_parquet: str | os.PathLike,
    content_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    work_dir: str | os.PathLike,
    *,
    batch_size: int = 64,
    chunk_items: int = 1024,
    device: str = "auto",
    num_workers: int = 0,
) -> Path:
    """Run the frozen `modality` backbone over every item once; chunks are committed in `work_dir`, so a killed build
    resumes where it stopped; the finished store is moved to `out_dir`. Returns `out_dir`."""
    from transrec.models.hub import resolve_model_path
    from transrec.models.item_encoders import build_item_encoder

    items = pl.read_parquet(items_parquet).sort("item_idx")
    check_item_content(modality, items, content_path, items_parquet)
    encoder = build_item_encoder(modality, resolve_model_path(encoder_path), 1, len(items)).requires_grad_(False)
    size = encoder.image_size()  # pixels at the size the backbone was built for
    content = build_content(modality, content_path, items_parquet, encoder.image_mean, encoder.image_std, size)
    depth, width = encoder.backbone.config.num_hidden_layers, encoder.backbone.config.hidden_size
    num_items = content.num_items
    signature = {
        "modality": modality,
        "encoder": encoder_path,
        "num_items": num_items,
        "depth": depth,
        "width": width,
        "dtype": "float16",
        "rows": [f"hidden_{k}" for k in range(depth + 1)] + ["output"],
    }
    work, out = Path(work_dir), Path(out_dir)
    array, done = _open_work(work, signature, (num_items + 1, depth + 2, width))
    if done:
        log.info("%s: resuming after %d/%d items", work, done, num_items)
    dev = torch.device(
        "cuda" if device == "auto" and torch.cuda.is_available() else "cpu" if device == "auto" else device
    )
    encoder.to(dev)
    for start in range(done + 1, num_items + 1, chunk_items):
        stop = min(start + chunk_items, num_items + 1)
        array[start:stop] = _encode_chunk(modality, encoder, content, start, stop, batch_size, dev, num_workers)
        array.flush()
        write_json(work / PROGRESS_FILE, {**signature, "done": stop - 1})  # atomic: a kill never half-commits
        log.info("feature store %s: %d/%d items", out, stop - 1, num_items)
    del array
    write_json(work / META_FILE, {**signature, "items": str(items_parquet), "content": str(content_path)})
    (work / PROGRESS_FILE).unlink()
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(work), str(out))
    return out


def check_item_content(
    modality: str, items: pl.DataFrame, content_path: str | os.PathLike, items_parquet: str | os.PathLike
) -> None:
    """Raise naming the first items whose title (text) or image (image) is missing, before any encoding."""
    if modality == "text":
        title = pl.col("title")
        missing = items.filter(title.is_null() | (title.str.strip_chars() == ""))
        what = "an empty or missing title"
    elif modality == "image":
        from transrec.data.images import LmdbImageReader

        reader = LmdbImageReader(content_path)
        missing = items.filter(
            ~pl.col("item_id").cast(pl.String).map_elements(reader.__contains__, return_dtype=pl.Boolean)
        )
        what = f"no image in {content_path}"
    else:
        raise ValueError(f"unknown modality {modality!r}; expected text or image")
    if missing.height:
        shown = ", ".join(f"{r['item_id']} (item_idx {r['item_idx']})" for r in missing.head(5).iter_rows(named=True))
        raise ValueError(f"{items_parquet}: {missing.height} item(s) with {what}: {shown}")


def _open_work(work: Path, signature: dict[str, Any], shape: tuple[int, ...]) -> tuple[np.memmap, int]:
    """The work array and the count of committed items; a partial build of another signature is discarded."""
    progress = work / PROGRESS_FILE
    if progress.is_file() and (work / STATES_FILE).is_file():
        saved = read_json(progress)
        done = saved.pop("done")
        if saved == signature:
            return np.lib.format.open_memmap(work / STATES_FILE, mode="r+"), done
        log.warning("%s holds a partial build of another encoder or item set: starting afresh", work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    array = np.lib.format.open_memmap(work / STATES_FILE, mode="w+", dtype=np.float16, shape=shape)
    array[0] = 0  # the padding item
    return array, 0


def _encode_chunk(
    modality: str,
    encoder: Any,
    content: Any,
    start: int,
    stop: int,
    batch_size: int,
    device: torch.device,
    num_workers: int,
) -> np.ndarray:
    """First-token stacks of items start..stop-1 in fp32 (eval mode, no grad), stored as float16: (C, n+2, w)."""
    from transrec.eval.ranking import encode_item_rows
    from transrec.models.iisan import first_token_stack

    def encode(inputs: dict[str, Tensor]) -> Tensor:
        return first_token_stack(modality, encoder.backbone, inputs).flatten(1)  # (B, (n+2)*w)

    flat = encode_item_rows(
        encoder,
        content,
        start,
        stop,
        batch_size=batch_size,
        device=device,
        dtype=torch.float32,
        num_workers=num_workers,
        encode=encode,
    )  # (C, (n+2)*w)
    stack = flat.view(stop - start, -1, encoder.hidden_size).cpu().numpy().astype(np.float16)  # (C, n+2, w)
    if not np.isfinite(stack).all():  # a value beyond float16's range would poison every run reading the store
        bad = start + int(np.flatnonzero(~np.isfinite(stack).reshape(len(stack), -1).all(1))[0])
        raise ValueError(f"item_idx {bad}: hidden state outside the float16 range")
    return stack
