"""Build per-user item sequences: drop, filter, sample, truncate to L+3 and re-index items 1..N."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from transrec.io import write_json, write_parquet

log = logging.getLogger(__name__)
ITEM_COLUMNS = ("item_id", "title", "description", "category", "image_key")
INTERACTION_COLUMNS = ("user_id", "item_id", "timestamp")
DROP_STATUSES = ("missing", "corrupt")
IMAGE_STATUSES = ("missing", "corrupt", "placeholder")


def build_sequences(
    item_table: Path,
    interaction_table: Path,
    *,
    out_items: Path,
    out_sequences: Path,
    stats: Path,
    max_len: int,
    min_interactions: int = 5,
    sample_users: int | None = None,
    seed: int = 0,
    lowercase_titles: bool = True,
    drop_items: Path | None = None,
    dedupe_consecutive: bool = False,
) -> dict:
    """Write the re-indexed items table, the user sequences and their stats (PROTOCOL.md §Data)."""
    if max_len < 1 or min_interactions < 3:
        raise ValueError("max_len must be >= 1 and min_interactions >= 3 (the split needs two targets and a history)")
    if sample_users is not None and sample_users < 1:
        raise ValueError(f"sample_users must be >= 1 or None, got {sample_users}")
    items = _read(Path(item_table), ITEM_COLUMNS).select(ITEM_COLUMNS).with_row_index("item_pos")
    _check_unique_ids(items, item_table)
    n_positions = len(items)
    events = _read(Path(interaction_table), INTERACTION_COLUMNS).select(INTERACTION_COLUMNS)
    events = _time_order(_attach_item_pos(events, items, interaction_table))
    report: dict[str, Any] = {"input": _counts(events, len(items))}

    if drop_items is not None:
        dropped = read_dropped_items(Path(drop_items))
        known = set(items["item_id"].to_list())
        report["drop_items"] = {"listed": len(dropped), "not_in_item_table": len(dropped - known)}
        items = items.filter(~pl.col("item_id").is_in(list(dropped)))
        events = events.filter(pl.col("item_pos").is_in(items["item_pos"].implode()))
        report["drop_items"].update(_counts(events, len(items)))

    if dedupe_consecutive:
        repeat = (pl.col("item_pos") == pl.col("item_pos").shift(1)) & (pl.col("user") == pl.col("user").shift(1))
        events = events.filter(~repeat.fill_null(False))
        report["dedupe_consecutive"] = _counts(events, len(items))
    seqs = events.group_by("user", maintain_order=True).agg(pl.col("user_id").first(), pl.col("item_pos").alias("seq"))
    seqs = seqs.filter(pl.col("seq").list.len() >= min_interactions)
    report["min_interactions"] = _seq_counts(seqs)
    if seqs.is_empty():
        raise ValueError(f"{interaction_table}: no user has >= {min_interactions} interactions")

    if sample_users is not None and sample_users < len(seqs):
        chosen = np.sort(np.random.default_rng(seed).choice(len(seqs), size=sample_users, replace=False))
        seqs = seqs[chosen]
        report["sample_users"] = _seq_counts(seqs)

    seqs = seqs.with_columns(pl.col("seq").list.tail(max_len + 3))
    report["truncate"] = _seq_counts(seqs)

    sequence, used = _reindex(seqs["seq"], n_positions)
    out_seqs = pl.DataFrame(
        {
            "user_idx": np.arange(len(seqs), dtype=np.int32),
            "user_id": seqs["user_id"],
            "sequence": sequence,
        }
    )
    title = pl.col("title").str.to_lowercase() if lowercase_titles else pl.col("title")
    out_item_table = (
        items.filter(pl.col("item_pos").is_in(pl.Series(used, dtype=pl.UInt32).implode()))
        .sort("item_pos")
        .with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int32).alias("item_idx"), title)
        .select("item_idx", *ITEM_COLUMNS)
    )
    lengths = out_seqs["sequence"].list.len()
    report["output"] = {
        "users": len(out_seqs),
        "items": len(out_item_table),
        "interactions": int(lengths.sum()),
        "avg_sequence_length": float(lengths.mean()),
        "min_sequence_length": int(lengths.min()),
        "max_sequence_length": int(lengths.max()),
    }
    report["settings"] = {
        "max_len": max_len,
        "min_interactions": min_interactions,
        "sample_users": sample_users,
        "seed": seed,
        "lowercase_titles": lowercase_titles,
        "dedupe_consecutive": dedupe_consecutive,
    }
    write_parquet(out_item_table, out_items)
    write_parquet(out_seqs, out_sequences)
    write_json(stats, report)
    log.info("sequences of %s: %s", interaction_table, report["output"])
    return report


def _reindex(seq: pl.Series, n_positions: int) -> tuple[pl.Series, np.ndarray]:
    """Map item positions to item_idx 1..N (items-file order); return the new lists and the kept positions."""
    flat = seq.explode().to_numpy()
    used = np.flatnonzero(np.bincount(flat, minlength=n_positions))  # ascending item_pos = items-file order
    lookup = np.zeros(n_positions, dtype=np.int32)
    lookup[used] = np.arange(1, len(used) + 1, dtype=np.int32)
    offsets = np.concatenate([[0], np.cumsum(seq.list.len().to_numpy())]).astype(np.int32)
    lists = pa.ListArray.from_arrays(pa.array(offsets), pa.array(lookup[flat], type=pa.int32()))
    return pl.Series("sequence", lists), used


def read_dropped_items(path: Path) -> set[str]:
    """Item ids whose image is `missing` or `corrupt` in an image report (`item_id<TAB>status<TAB>detail`)."""
    dropped: set[str] = set()
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, 1):
            fields = line.rstrip("\r\n").split("\t")
            if not line.strip() or (line_no == 1 and fields[0] == "item_id"):
                continue
            if len(fields) < 2 or fields[1] not in IMAGE_STATUSES:
                raise ValueError(
                    f"{path}:{line_no}: expected 'item_id<TAB>status<TAB>detail' with status in {IMAGE_STATUSES}"
                )
            if fields[1] in DROP_STATUSES:
                dropped.add(fields[0])
    return dropped


def _read(path: Path, columns: tuple[str, ...]) -> pl.DataFrame:
    frame = pl.read_parquet(path)
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise ValueError(f"{path}: missing columns {absent} (has {frame.columns})")
    return frame


def _check_unique_ids(items: pl.DataFrame, path: Path) -> None:
    dup = items.filter(pl.col("item_id").is_duplicated())
    if not dup.is_empty():
        raise ValueError(
            f"{path}: {dup['item_id'].n_unique()} duplicated item_id, e.g. {dup['item_id'].head(5).to_list()}"
        )


def _attach_item_pos(events: pl.DataFrame, items: pl.DataFrame, path: Path) -> pl.DataFrame:
    """Replace item_id by its position in the items table; unknown ids are an error (ingest quarantines them)."""
    events = events.with_row_index("row")
    nulls = events.filter(pl.col("user_id").is_null() | pl.col("timestamp").is_null())
    if not nulls.is_empty():
        raise ValueError(
            f"{path}: {len(nulls)} interactions lack user_id or timestamp, e.g. rows {nulls['row'].head(5).to_list()}"
        )
    events = events.join(items.select("item_id", "item_pos"), on="item_id", how="left", maintain_order="left")
    unknown = events.filter(pl.col("item_pos").is_null())
    if not unknown.is_empty():
        shown = ", ".join(f"row {r}: {i!r}" for r, i in unknown.select("row", "item_id").head(5).iter_rows())
        raise ValueError(f"{path}: {len(unknown)} interactions name items absent from the item table ({shown})")
    return events.drop("item_id")


def _time_order(events: pl.DataFrame) -> pl.DataFrame:
    """Sort by user_id, then time (ties keep the file order), and add a dense integer `user` code."""
    unsorted = events.select(
        ((pl.col("timestamp").diff() < 0) & (pl.col("user_id") == pl.col("user_id").shift(1))).sum()
    ).item()
    if unsorted:
        log.warning("%d interactions are out of time order within their user; sorting them (stable)", unsorted)
    events = events.sort("user_id", "timestamp", "row")
    return events.with_columns(
        (pl.col("user_id") != pl.col("user_id").shift(1)).fill_null(True).cum_sum().alias("user")
    )


def _counts(events: pl.DataFrame, n_items: int) -> dict[str, int]:
    return {
        "users": events["user"].n_unique(),
        "items": n_items,
        "items_interacted": events["item_pos"].n_unique(),
        "interactions": len(events),
    }


def _seq_counts(seqs: pl.DataFrame) -> dict[str, int]:
    flat = seqs["seq"].explode().drop_nulls()
    return {"users": len(seqs), "items_interacted": flat.n_unique(), "interactions": len(flat)}
