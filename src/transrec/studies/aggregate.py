"""A study's runs as one frame with every run key (views split into dataset + fraction), then mean ± std over seeds."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import polars as pl

from transrec.studies.grid import NOPT, parse_view
from transrec.studies.tables import collect_runs, with_tpme

# value name in a study spec -> column of the runs frame
VALUE_COLUMNS = {
    "hr@10": "test_hr@10",
    "ndcg@10": "test_ndcg@10",
    "valid_hr@10": "valid_hr@10",
    "valid_ndcg@10": "valid_ndcg@10",
    "trainable_parameters": "trainable_parameters",
    "share_pct": "share_pct",
    "seconds_per_epoch": "seconds_per_epoch",
    "peak_memory_gb": "peak_memory_gb",
    "tpme": "tpme",
}
VALUE_LABELS = {
    "hr@10": "HR@10",
    "ndcg@10": "NDCG@10",
    "valid_hr@10": "valid HR@10",
    "valid_ndcg@10": "valid NDCG@10",
    "trainable_parameters": "trainable parameters",
    "share_pct": "trainable %",
    "seconds_per_epoch": "s/epoch",
    "peak_memory_gb": "peak GPU memory (GiB)",
    "tpme": "TPME",
}
NUMERIC_KEYS = ("source_fraction", "target_fraction", "seed")


def study_frame(
    metrics_paths: Sequence[str | os.PathLike], method_kinds: Mapping[str, str], modalities: Mapping[str, str]
) -> pl.DataFrame:
    """One row per run with the run keys of a study: dataset and start without their views, the fractions (NoPT has
    source fraction 0), method_kind and the modality of the run's items (`modalities`: encoder -> its kind); plus every
    metric and TPME."""
    frame = with_tpme(collect_runs(metrics_paths))
    if frame.is_empty():
        raise ValueError("a study needs at least one run")
    targets = [parse_view(name) for name in frame["dataset"]]
    starts = [(NOPT, 0.0) if name == NOPT else parse_view(name) for name in frame["start"]]
    unknown = sorted(set(frame["method"]) - set(method_kinds))
    if unknown:
        raise ValueError(f"no method kind given for {unknown}")
    return frame.with_columns(
        pl.Series("dataset", [t[0] for t in targets]),
        pl.Series("target_fraction", [t[1] for t in targets], dtype=pl.Float64),
        pl.Series("start", [s[0] for s in starts]),
        pl.Series("source_fraction", [s[1] for s in starts], dtype=pl.Float64),
        pl.Series("method_kind", [method_kinds[m] for m in frame["method"]]),
        pl.Series("modality", [modalities[e] for e in frame["encoder"]]),
        pl.col("seed").cast(pl.Int64),
    )


def summarise(frame: pl.DataFrame, keys: Sequence[str], values: Sequence[str]) -> pl.DataFrame:
    """Mean, sample std (null for one seed) and seed count of each value per group of `keys`, in first-seen order;
    `timed_steps` is the group's timing-probe steps (null for trained runs: docs/methods.md, Timing probes)."""
    columns = [VALUE_COLUMNS[v] for v in values]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"the runs report no {missing}")
    aggregations = [pl.len().alias("n_seeds"), pl.col("seed").unique().sort().alias("seeds")]
    for value, column in zip(values, columns):
        aggregations += [pl.col(column).mean().alias(f"{value} mean"), pl.col(column).std().alias(f"{value} std")]
    if "timed_steps" in frame.columns:
        aggregations.append(pl.col("timed_steps").max().alias("timed_steps"))
    return frame.group_by(list(keys), maintain_order=True).agg(aggregations)


def sort_keys(frame: pl.DataFrame, keys: Sequence[str], order: Mapping[str, Sequence[str]]) -> pl.DataFrame:
    """Rows ordered by `keys`: text keys in the order the study lists them (`order`), numbers ascending."""
    ranks = []
    for key in keys:
        if key in order:
            position = {value: i for i, value in enumerate(order[key])}
            ranks.append(pl.col(key).replace_strict(position, default=len(position), return_dtype=pl.Int64))
        else:
            ranks.append(pl.col(key))
    return frame.sort(ranks, maintain_order=True)
