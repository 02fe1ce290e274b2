"""The popularity baseline: every user gets the most interacted items,
ranked and masked exactly like a trained model."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import polars as pl
import torch
from torch import Tensor, nn

from transrec.data.split import eval_histories
from transrec.eval.ranking import evaluate

STEPS = ("valid", "test")


def item_counts(split: pl.DataFrame, num_items: int, which: str) -> Tensor:
    """Interactions per item_idx known before the `which` target, (N+1,) float32 (row 0, padding, is 0).

    valid: the training items (sequence[:-2]); test: training items plus the validation targets (sequence[:-1]).
    """
    if which not in STEPS:
        raise ValueError(f"which must be one of {STEPS}, got {which!r}")
    seq = pl.col("sequence")
    known = seq.list.slice(0, seq.list.len() - (2 if which == "valid" else 1))
    items = split.select(known.alias("known"))["known"].explode().drop_nulls().to_numpy().astype(np.int64)
    if items.size and (items.min() < 1 or items.max() > num_items):
        raise ValueError(f"split holds item_idx outside 1..{num_items} (min {items.min()}, max {items.max()})")
    return torch.from_numpy(np.bincount(items, minlength=num_items + 1).astype(np.float32))  # (N+1,)


class PopularityScorer(nn.Module):
    """A "model" whose user vector is the constant 1 and whose item table is one column of counts: score = count."""

    def encode_users(self, item_emb: Tensor, mask: Tensor) -> Tensor:
        """item_emb (B, L, 1), mask (B, L) -> (B, L, 1) ones: every user scores every item by its count."""
        return torch.ones_like(item_emb)


def evaluate_popularity(
    split: pl.DataFrame | str | os.PathLike,
    num_items: int,
    max_len: int,
    *,
    ks: Sequence[int] = (10,),
    mask_history: bool = True,
) -> dict[str, dict[str, float | int]]:
    """{"valid": metrics, "test": metrics} of the popularity ranking, through eval.ranking.evaluate.

    The same evaluate() as for trained models, so history masking (the user's last `max_len` items), pessimistic ties
    (an item tied in count with the target ranks above it) and the repeat/tie shares are identical by construction.
    """
    frame = split if isinstance(split, pl.DataFrame) else pl.read_parquet(split)
    frame = frame.sort("user_idx")
    scorer = PopularityScorer()
    result = {}
    for which in STEPS:
        table = item_counts(frame, num_items, which)[:, None]  # (N+1, 1)
        histories, targets = eval_histories(frame, which, max_len)
        result[which] = evaluate(scorer, table, histories, targets, ks=ks, mask_history=mask_history, device="cpu")
    return result
