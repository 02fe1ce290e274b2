"""Tokenise every item title once into a padded (N+1, T) array cache; row 0 is padding."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import polars as pl

from transrec.io import atomic_path
from transrec.logs import progress

log = logging.getLogger(__name__)


def build_token_cache(
    item_table: Path, out_npz: Path, *, tokenizer_path: str, max_tokens: int = 30, batch_size: int = 4096
) -> dict:
    """Write `input_ids` int32 and `attention_mask` uint8 of shape (N+1, max_tokens), row i = item_idx i."""
    from transformers import AutoTokenizer

    if max_tokens < 2 or batch_size < 1:
        raise ValueError("max_tokens must be >= 2 and batch_size >= 1")
    items = pl.read_parquet(item_table, columns=["item_idx", "title"]).sort("item_idx")
    idx = items["item_idx"].to_numpy()
    if not np.array_equal(idx, np.arange(1, len(idx) + 1)):
        bad = int(np.flatnonzero(idx != np.arange(1, len(idx) + 1))[0]) if len(idx) else 0
        raise ValueError(
            f"{item_table}: item_idx must be exactly 1..N; sorted row {bad} holds {idx[bad] if len(idx) else None}"
        )
    nulls = items["title"].null_count()
    if nulls:
        log.warning("%s: %d items have a null title; tokenised as ''", item_table, nulls)
    titles = items["title"].fill_null("").to_list()

    offline = Path(tokenizer_path).is_dir() or os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path, local_files_only=offline)
    input_ids = np.zeros((len(titles) + 1, max_tokens), dtype=np.int32)
    attention_mask = np.zeros((len(titles) + 1, max_tokens), dtype=np.uint8)
    starts = range(0, len(titles), batch_size)
    for start in progress(starts, desc="tokenise titles", total=len(starts)):
        batch = titles[start : start + batch_size]
        # python lists, not return_tensors="np": 3x faster in transformers 5
        encoded = tokenizer(batch, truncation=True, max_length=max_tokens, padding="max_length")
        input_ids[start + 1 : start + 1 + len(batch)] = np.asarray(encoded["input_ids"], dtype=np.int32)
        attention_mask[start + 1 : start + 1 + len(batch)] = np.asarray(encoded["attention_mask"], dtype=np.uint8)

    with atomic_path(out_npz, ".npz") as tmp, open(tmp, "wb") as handle:
        np.savez(
            handle,
            input_ids=input_ids,
            attention_mask=attention_mask,
            tokenizer=np.array(str(tokenizer.name_or_path)),
            max_tokens=np.array(max_tokens, dtype=np.int64),
        )
    lengths = attention_mask[1:].sum(axis=1)
    report = {
        "items": len(titles),
        "max_tokens": max_tokens,
        "tokenizer": str(tokenizer.name_or_path),
        "avg_tokens": float(lengths.mean()) if len(titles) else 0.0,
        "full_length_share": float((lengths == max_tokens).mean()) if len(titles) else 0.0,
    }
    log.info("token cache %s: %s", out_npz, report)
    return report


def load_token_cache(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read (input_ids int32 (N+1, T), attention_mask uint8 (N+1, T)) from a token cache."""
    with np.load(path, allow_pickle=False) as data:
        return data["input_ids"].astype(np.int32, copy=False), data["attention_mask"].astype(np.uint8, copy=False)
