"""Study tables: one row per training run, collected from each run's metrics.json, written as CSV and Markdown."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from transrec.eval.efficiency import tpme, tpme_basis
from transrec.eval.run_metrics import RunMetrics
from transrec.io import atomic_path

__all__ = ["collect_runs", "write_runs_table", "probe_label", "RUN_KEYS", "TABLE_COLUMNS", "PROBE_NOTE"]

log = logging.getLogger(__name__)

RUN_KEYS = ("dataset", "encoder", "objective", "method", "start", "seed", "stage")

# (CSV column, Markdown header, formatter); the CSV keeps full precision, the Markdown the formatted text.
TABLE_COLUMNS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("dataset", "Dataset", str),
    ("encoder", "Encoder", str),
    ("objective", "Objective", str),
    ("method", "Method", str),
    ("start", "Start", str),
    ("seed", "Seed", str),
    ("trainable_parameters", "Trainable params", lambda x: f"{int(x):,}"),
    ("share_pct", "Share %", lambda x: f"{x:.2f}" if x >= 1 else f"{x:.3f}"),
    ("valid_hr@10", "Valid HR@10", lambda x: f"{x:.2f}"),
    ("valid_ndcg@10", "Valid NDCG@10", lambda x: f"{x:.2f}"),
    ("test_hr@10", "Test HR@10", lambda x: f"{x:.2f}"),
    ("test_ndcg@10", "Test NDCG@10", lambda x: f"{x:.2f}"),
    ("seconds_per_epoch", "s/epoch", lambda x: f"{x:,.1f}"),
    ("peak_memory_gb", "Peak memory GB", lambda x: f"{x:.2f}"),
    ("tpme", "TPME", lambda x: f"{x:.3f}"),
    ("tpme_basis", "TPME from", str),  # on CPU no peak memory exists: TPME then weighs time and parameters only
)
CSV_ONLY = ("timed_steps",)  # the CSV's last columns: a timing probe's timed steps (null for a trained run)
# TPME compares the methods adapted to one target: the runs that share these keys.
TPME_GROUP = ("stage", "dataset", "encoder", "objective", "seed")
_TEXT = {"dataset", "encoder", "objective", "method", "start", "seed", "stage", "path", "tpme_basis"}
# A timing probe (train.timing_only) is timed, not trained: its accuracy cells say so instead of "n/a"
NO_ACCURACY = "—"
PROBE_NOTE = (
    'A method marked "(timed: N steps, not trained)" is a timing probe (`train.timing_only`): its s/epoch is the '
    "median of N timed training steps x the steps of a full epoch; it is not trained, so it has no accuracy (—)."
)


def probe_label(method: str, timed_steps: int | None) -> str:
    """The method's name in a Markdown or LaTeX table, marked when its runs are timing probes."""
    return method if timed_steps is None else f"{method} (timed: {int(timed_steps)} steps, not trained)"


def _row(path: Path) -> dict[str, Any]:
    """Flatten one metrics.json (checked against the RunMetrics schema) into a table row."""
    metrics = RunMetrics.load(path)
    run = metrics.run
    row: dict[str, Any] = {key: str(getattr(run, key)) for key in RUN_KEYS}
    row["best_epoch"] = metrics.best_epoch
    row["trainable_parameters"], row["total_parameters"] = metrics.trainable_parameters, metrics.total_parameters
    row["share_pct"] = (
        100.0 * metrics.trainable_parameters / metrics.total_parameters if metrics.total_parameters else 0.0
    )
    for split in ("valid", "test"):
        for name, value in getattr(metrics, split).items():
            row[f"{split}_{name}"] = value
        row[f"{split}_repeat_share"] = metrics.repeat_share.get(split)
    row["seconds_per_epoch"] = metrics.seconds_per_epoch
    row["eval_seconds_per_epoch"] = metrics.eval_seconds_per_epoch
    row["setup_seconds"] = metrics.setup_seconds
    row["peak_memory_gb"] = metrics.peak_memory_gb
    row["epochs"] = len(metrics.curve)
    row["timed_steps"] = metrics.timed_steps
    row["path"] = str(path)
    return row


def collect_runs(metrics_paths: Sequence[str | os.PathLike]) -> pl.DataFrame:
    """One row per run: run keys, best epoch, parameters, valid/test metrics, repeat shares, s/epoch, peak memory,
    timed steps (timing probes)."""
    rows = [_row(Path(path)) for path in metrics_paths]
    columns = list(dict.fromkeys(key for row in rows for key in row))  # union, in first-seen order
    for required in [name for name, _, _ in TABLE_COLUMNS] + list(CSV_ONLY):  # every column, even if no run has it
        if required not in columns and required not in ("tpme", "tpme_basis"):
            columns.append(required)
    schema = {name: pl.String if name in _TEXT else pl.Float64 for name in columns}
    for name in ("best_epoch", "trainable_parameters", "total_parameters", "epochs", "timed_steps"):
        schema[name] = pl.Int64
    frame = pl.DataFrame([{name: row.get(name) for name in columns} for row in rows], schema=schema, orient="row")
    keys = [pl.col(key) for key in RUN_KEYS[:5]] + [pl.col("seed").cast(pl.Int64, strict=False), pl.col("seed")]
    return frame.sort(keys, nulls_last=True)  # seeds numerically: 2 before 10


def with_tpme(frame: pl.DataFrame) -> pl.DataFrame:
    """Add `tpme` (lower is better) to adaptation runs, min-max normalised within each TPME_GROUP, and `tpme_basis`
    (the measures it used: peak memory is missing on CPU); null elsewhere."""
    scores: list[float | None] = [None] * len(frame)
    bases: list[str | None] = [None] * len(frame)
    if "stage" not in frame.columns:  # no runs at all
        return _with_scores(frame, scores, bases)
    adapted = frame.with_row_index("_row").filter(pl.col("stage") == "adapt")
    for keys, group in adapted.group_by(TPME_GROUP, maintain_order=True):
        if len(group) < 2:
            continue
        try:
            group_scores = tpme(group.to_dicts())
        except ValueError as error:  # e.g. peak memory from a GPU run beside a CPU run: not comparable
            log.warning("no TPME for %s: %s", dict(zip(TPME_GROUP, keys, strict=True)), error)
            continue
        for row, score in zip(group["_row"], group_scores, strict=True):
            scores[row], bases[row] = score, tpme_basis(group.to_dicts())
    return _with_scores(frame, scores, bases)


def _with_scores(frame: pl.DataFrame, scores: list[float | None], bases: list[str | None]) -> pl.DataFrame:
    return frame.with_columns(
        pl.Series("tpme", scores, dtype=pl.Float64), pl.Series("tpme_basis", bases, dtype=pl.String)
    )


def _markdown(frame: pl.DataFrame) -> str:
    """A Markdown table with padded, aligned columns: text left, numbers right; timing probes marked, with a note."""
    headers = [header for _, header, _ in TABLE_COLUMNS]
    cells = [[_cell(row, name, fmt) for name, _, fmt in TABLE_COLUMNS] for row in frame.iter_rows(named=True)]
    numeric = [name not in _TEXT for name, _, _ in TABLE_COLUMNS]
    widths = [max(len(text) for text in column) for column in zip(headers, *cells)]

    def line(texts: Sequence[str]) -> str:
        padded = [t.rjust(w) if num else t.ljust(w) for t, w, num in zip(texts, widths, numeric)]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|" + "|".join(("-" * (w + 1) + ":") if num else (":" + "-" * (w + 1)) for w, num in zip(widths, numeric)) + "|"
    )
    probes = frame["timed_steps"].is_not_null().any()
    return (
        "\n".join([line(headers), rule, *(line(row) for row in cells)]) + "\n" + (f"\n{PROBE_NOTE}\n" if probes else "")
    )


def _cell(row: dict[str, Any], name: str, fmt: Callable[[Any], str]) -> str:
    """One Markdown cell: formatted, "n/a" when the run did not report it; a probe's label and missing accuracy."""
    probe = row["timed_steps"] is not None
    if name == "method":
        return probe_label(row["method"], row["timed_steps"])
    if probe and "@" in name:
        return NO_ACCURACY
    return "n/a" if row[name] is None else fmt(row[name])


def write_runs_table(
    metrics_paths: Sequence[str | os.PathLike], out_csv: str | os.PathLike, out_md: str | os.PathLike
) -> pl.DataFrame:
    """Write the runs table as CSV (full precision, then CSV_ONLY) and Markdown (formatted), both atomically; return
    it."""
    frame = with_tpme(collect_runs(metrics_paths)).select([name for name, _, _ in TABLE_COLUMNS] + list(CSV_ONLY))
    with atomic_path(out_csv, ".csv") as tmp:
        frame.write_csv(tmp)
    with atomic_path(out_md, ".md") as tmp:
        tmp.write_text(_markdown(frame), encoding="utf-8")
    return frame
