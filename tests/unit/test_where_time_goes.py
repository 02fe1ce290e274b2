"""bench/where_time_goes.py: job seconds per rule, the parts of training runs, and the run's wall time."""

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "where_time_goes.py"


def _module():
    spec = importlib.util.spec_from_file_location("where_time_goes", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _benchmark(path: Path, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"s\th:m:s\tmax_rss\n{seconds}\t0:00:10\t100\n")


def test_report_splits_jobs_by_rule_and_training_into_its_parts(tmp_path):
    _benchmark(tmp_path / "benchmarks/adapt/a.tsv", 30.0)
    _benchmark(tmp_path / "benchmarks/adapt/b.tsv", 20.0)
    _benchmark(tmp_path / "benchmarks/ingest/x.tsv", 5.0)
    run = tmp_path / "results/runs/adapt/x/metrics.json"
    run.parent.mkdir(parents=True)
    curve = [{"train_seconds": 10.0, "eval_seconds": 1.0}, {"train_seconds": 12.0, "eval_seconds": 1.0}]
    run.write_text(json.dumps({"curve": curve, "setup_seconds": 3.0, "test_seconds": 2.0}))
    baseline = tmp_path / "results/runs/baseline/y/metrics.json"
    baseline.parent.mkdir(parents=True)
    baseline.write_text(json.dumps({"curve": None, "setup_seconds": 0.0, "test_seconds": 9.0}))  # not trained
    log = tmp_path / "snakemake.log"
    log.write_text("[Wed Dec  2 16:00:00 2026]\nrule ingest:\n[Wed Dec  2 16:15:30 2026]\nFinished\n")

    module = _module()
    assert module.job_seconds(tmp_path) == {"adapt": [30.0, 20.0], "ingest": [5.0]}
    parts = module.training_parts(tmp_path)
    assert parts == {"runs": 1, "epochs": 2, "setup": 3.0, "train": 22.0, "validation": 2.0, "test": 2.0}
    assert module.wall_seconds(log) == 930.0
    text = module.report(tmp_path, log)
    assert "Wall time of the run: 15.5 min (930 s)" in text
    assert "| adapt | 2 | 50 | 90.9 % |" in text
    assert "| process start-up, imports, writing outputs (job time not in the above) | 21 | 42.0 % |" in text
