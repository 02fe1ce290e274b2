"""Leave-one-out split: train = seq[:-2], valid target seq[-2], test target seq[-1] (PROTOCOL.md §Data); the evaluation
histories it implies, left-padded."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import polars as pl
import torch
from torch import Tensor

from transrec.io import write_json, write_parquet

log = logging.getLogger(__name__)


def split_leave_one_out(sequences: Path, out_split: Path, stats: Path, *, max_len: int) -> dict:
    """Write the split table (targets, train prefix, repeat flags) and its stats."""
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    seqs = pl.read_parquet(sequences)
    absent = [c for c in ("user_idx", "sequence") if c not in seqs.columns]
    if absent:
        raise ValueError(f"{sequences}: missing columns {absent}")
    short = seqs.filter(pl.col("sequence").list.len() < 3)
    if not short.is_empty():
        raise ValueError(
            f"{sequences}: {len(short)} sequences have < 3 items (need history, valid and test), "
            f"e.g. user_idx {short['user_idx'].head(5).to_list()}"
        )
    split = split_frame(seqs, max_len)
    report = {
        "users": len(split),
        "max_len": max_len,
        "interactions": int(split["sequence"].list.len().sum()),
        "avg_train_length": float(split["train"].list.len().mean()),
        "valid_repeat_share": float(split["valid_is_repeat"].mean()),
        "test_repeat_share": float(split["test_is_repeat"].mean()),
        "valid_repeats": int(split["valid_is_repeat"].sum()),
        "test_repeats": int(split["test_is_repeat"].sum()),
    }
    write_parquet(split, out_split)
    write_json(stats, report)
    log.info("leave-one-out split of %s: %s", sequences, report)
    return report


def split_frame(sequences: pl.DataFrame, max_len: int) -> pl.DataFrame:
    """The split table of a (user_idx, sequence) frame: train prefix, valid/test targets, repeat flags."""
    seq = pl.col("sequence").cast(pl.List(pl.Int32))
    n = seq.list.len()
    return (
        sequences.select(
            pl.col("user_idx").cast(pl.Int32),
            seq,
            seq.list.slice(0, n - 2).alias("train"),
            seq.list.get(-2).alias("valid_target"),
            seq.list.get(-1).alias("test_target"),
            seq.list.slice(0, n - 1).list.tail(max_len).alias("_test_history"),
        )
        .with_columns(
            pl.col("train").list.tail(max_len).list.contains(pl.col("valid_target")).alias("valid_is_repeat"),
            pl.col("_test_history").list.contains(pl.col("test_target")).alias("test_is_repeat"),
        )
        .drop("_test_history")
        .sort("user_idx")
    )


def eval_histories(split: pl.DataFrame | str | os.PathLike, which: str, max_len: int) -> tuple[Tensor, Tensor]:
    """(histories (N_users, L) long, left-padded; targets (N_users,)) of the valid or test step (PROTOCOL.md §Data)."""
    frame = read_split(split)
    seq = pl.col("sequence")
    if which == "valid":  # up to L items before seq[-2]
        cut = seq.list.slice(0, seq.list.len() - 2)
    elif which == "test":  # up to L items before seq[-1], the validation item included
        cut = seq.list.slice(0, seq.list.len() - 1)
    else:
        raise ValueError(f"which must be 'valid' or 'test', got {which!r}")
    histories = frame.select(cut.alias("history"))["history"]
    targets = torch.from_numpy(frame[f"{which}_target"].to_numpy().astype(np.int64))
    return left_pad(histories, max_len), targets


def left_pad(lists: pl.Series, width: int | None) -> Tensor:
    """The last `width` items of each list, left-padded with 0: (rows, width) long; width None = the longest list."""
    lengths = lists.list.len().fill_null(0).to_numpy().astype(np.int64)
    if width is None:
        width = max(int(lengths.max(initial=0)), 1)
    tails = lists.list.tail(width)
    kept = np.minimum(lengths, width)
    flat = tails.explode().drop_nulls().to_numpy().astype(np.int64)
    rows = np.repeat(np.arange(len(kept)), kept)
    starts = np.repeat(np.cumsum(kept) - kept, kept)
    cols = width - kept[rows] + (np.arange(len(flat)) - starts)
    out = np.zeros((len(kept), width), dtype=np.int64)
    out[rows, cols] = flat
    return torch.from_numpy(out)


def read_split(split: pl.DataFrame | str | os.PathLike) -> pl.DataFrame:
    """The split table (a frame or its parquet), sorted by user_idx."""
    if isinstance(split, pl.DataFrame):
        return split.sort("user_idx")
    return pl.read_parquet(split).sort("user_idx")
