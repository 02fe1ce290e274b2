"""Mean ± std per method of the fidelity runs finished so far under a working directory (Markdown to stdout).

The study tables need every run of a study; this reads whatever metrics.json exist, so a partly run study can be
reported honestly (the seeds column says which ran).
Usage: PYTHONPATH=src python bench/fidelity_summary.py /work/scratch/fidelity
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

from transrec.studies.tables import collect_runs

VALUES = ("test_hr@10", "test_ndcg@10", "valid_ndcg@10", "trainable_parameters", "seconds_per_epoch", "epochs")


def summary(workdir: Path) -> pl.DataFrame:
    """One row per (stage, encoder, objective, method): mean and std of VALUES over the finished seeds."""
    paths = sorted((workdir / "results" / "runs").rglob("metrics.json"))
    if not paths:
        raise SystemExit(f"no metrics.json under {workdir}/results/runs")
    frame = collect_runs(paths)
    keys = ["stage", "encoder", "objective", "method"]
    return frame.group_by(keys, maintain_order=True).agg(
        pl.col("seed").sort().str.join(",").alias("seeds"),
        *(pl.col(v).cast(pl.Float64).mean().alias(f"{v} mean") for v in VALUES),
        *(pl.col(v).cast(pl.Float64).std().alias(f"{v} std") for v in VALUES),
    )


def markdown(table: pl.DataFrame) -> str:
    """The summary as a Markdown table: test HR@10 and NDCG@10 as mean ± std, the rest as means; "—" where a run
    has no accuracy (a timing probe)."""

    def pm(row: dict, value: str) -> str:
        mean, std = row[f"{value} mean"], row[f"{value} std"]
        if mean is None:  # a timing probe: timed, not trained, no accuracy
            return "—"
        return f"{mean:.2f}" + (f" ± {std:.2f}" if std is not None else "")

    lines = [
        "| stage | encoder | objective | method | seeds | test HR@10 | test NDCG@10 | valid NDCG@10 | trainable "
        "| s/epoch | epochs |",
        "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in table.iter_rows(named=True):
        seconds = row["seconds_per_epoch mean"]
        lines.append(
            f"| {row['stage']} | {row['encoder']} | {row['objective']} | {row['method']} | {row['seeds']} "
            f"| {pm(row, 'test_hr@10')} | {pm(row, 'test_ndcg@10')} | {pm(row, 'valid_ndcg@10')} "
            f"| {row['trainable_parameters mean']:,.0f} | {'-' if seconds is None else f'{seconds:.1f}'} "
            f"| {row['epochs mean']:.1f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(summary(Path(sys.argv[1]))))
