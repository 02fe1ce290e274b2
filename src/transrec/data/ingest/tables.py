"""The ingest output contract: column types of the items and interactions tables, and their final checks."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

ITEM_SCHEMA = {
    "item_id": pl.String,
    "title": pl.String,
    "description": pl.String,
    "category": pl.String,
    "image_key": pl.String,
}
INTERACTION_SCHEMA = {"user_id": pl.String, "item_id": pl.String, "timestamp": pl.Int64}


@dataclass
class Ingested:
    """What one format reader returns: items in file order, interactions with an `order` tie-breaker, counts."""

    items: pl.DataFrame
    interactions: pl.DataFrame  # user_id, item_id, timestamp, order (int64, original order)
    rows_read: dict[str, int]
    counts: dict[str, int] = field(default_factory=dict)  # skipped events and other non-quarantine counts
    item_files: list[str] = field(default_factory=list)  # the raw files items came from, for error messages


def items_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """Items with exactly the contract's columns and types; empty strings rather than nulls, except image_key."""
    out = frame.select(
        pl.col("item_id").cast(pl.String),
        *(pl.col(c).cast(pl.String).fill_null("") for c in ("title", "description", "category")),
        pl.col("image_key").cast(pl.String),
    )
    if out["item_id"].is_duplicated().any():
        raise ValueError(
            "duplicate item ids after ingest: "
            f"{out.filter(pl.col('item_id').is_duplicated())['item_id'].head(5).to_list()}"
        )
    return out


def _is_sorted(frame: pl.DataFrame) -> bool:
    """Whether rows already run by (user_id, timestamp, order), checked against each previous row."""
    user, stamp, order = pl.col("user_id"), pl.col("timestamp"), pl.col("order")
    same_user = user == user.shift(1)
    ascending = (user > user.shift(1)) | (
        same_user & ((stamp > stamp.shift(1)) | ((stamp == stamp.shift(1)) & (order > order.shift(1))))
    )
    return bool(frame.select(ascending.slice(1).all()).item()) if frame.height > 1 else True


def interactions_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """Interactions with the contract's columns and types, sorted by (user_id, timestamp, original order)."""
    if not _is_sorted(frame):
        frame = frame.sort(["user_id", "timestamp", "order"], maintain_order=True)
    return frame.select(
        pl.col("user_id").cast(pl.String), pl.col("item_id").cast(pl.String), pl.col("timestamp").cast(pl.Int64)
    )


def empty_interactions() -> pl.DataFrame:
    """An interactions frame with no rows (and the `order` column readers add)."""
    return pl.DataFrame(schema={**INTERACTION_SCHEMA, "order": pl.Int64})
