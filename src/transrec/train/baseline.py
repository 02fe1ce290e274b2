"""Untrained baselines as ordinary runs: evaluate on the target's split and write a typed metrics.json."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import polars as pl

from transrec.eval.popularity import evaluate_popularity
from transrec.eval.run_metrics import RunMetrics

log = logging.getLogger(__name__)
BASELINES = {"popularity": evaluate_popularity}


def run_baseline(spec: dict[str, Any]) -> RunMetrics:
    """Evaluate the baseline `spec` (grid.baseline_config) and write `<out_dir>/metrics.json`."""
    if spec["baseline"] not in BASELINES:
        raise ValueError(f"unknown baseline {spec['baseline']!r}; known: {sorted(BASELINES)}")
    started = time.perf_counter()
    split = pl.read_parquet(spec["split"])
    num_items = pl.read_parquet(spec["items"], columns=["item_idx"]).height
    result = BASELINES[spec["baseline"]](
        split, num_items, spec["max_len"], ks=tuple(spec["ks"]), mask_history=spec["mask_history"]
    )
    metrics = RunMetrics.from_dict(
        {
            "run": {**spec["name"], "stage": "baseline"},
            "valid": {k: v for k, v in result["valid"].items() if "@" in k},
            "test": {k: v for k, v in result["test"].items() if "@" in k},
            "repeat_share": {
                "valid": float(split["valid_is_repeat"].mean()),
                "test": float(split["test_is_repeat"].mean()),
            },
            "test_seconds": time.perf_counter() - started,
        }
    )
    metrics.save(Path(spec["out_dir"]) / "metrics.json")
    log.info("%s on %s: valid %s test %s", spec["baseline"], spec["name"]["dataset"], metrics.valid, metrics.test)
    return metrics
