"""Seeded, nested user subsets of a split for the data-scaling study."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import polars as pl

from transrec.io import write_parquet

log = logging.getLogger(__name__)


def subsample_users(split: Path, out_split: Path, *, fraction: float, seed: int) -> dict:
    """Keep the first ceil(fraction * U) users of a seeded permutation, so smaller fractions nest in larger ones."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    table = pl.read_parquet(split)
    if "user_idx" not in table.columns:
        raise ValueError(f"{split}: missing column user_idx")
    kept = kept_users(table["user_idx"].to_numpy(), fraction, seed)
    out = table.filter(pl.col("user_idx").is_in(pl.Series(kept, dtype=table["user_idx"].dtype).implode()))
    write_parquet(out, out_split)
    report = {"users": len(table), "kept": len(out), "fraction": fraction, "seed": seed}
    log.info("subsample of %s: %s", split, report)
    return report


def kept_users(user_idx: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """The user ids kept at `fraction`: a prefix of one seeded permutation of the sorted ids."""
    users = np.unique(user_idx)
    if len(users) != len(user_idx):
        raise ValueError("user_idx values must be unique")
    order = np.random.default_rng(seed).permutation(len(users))
    count = math.ceil(round(fraction * len(users), 9))  # round: 0.1 * 30 must keep 3, not 4
    return users[order[:count]]
