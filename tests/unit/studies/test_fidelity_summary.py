"""bench/fidelity_summary.py: mean ± std per method over the seeds that finished, hand-computed."""

import importlib.util
from pathlib import Path

from transrec.eval.run_metrics import RunMetrics

SUMMARY = Path(__file__).resolve().parents[3] / "bench" / "fidelity_summary.py"


def _write(root: Path, method: str, seed: int, hr: float) -> None:
    path = root / "results" / "runs" / method / str(seed) / "metrics.json"
    path.parent.mkdir(parents=True)
    RunMetrics.from_dict(
        {
            "run": {
                "dataset": "d",
                "encoder": "minilm",
                "objective": "converged",
                "method": method,
                "start": "nopt",
                "seed": seed,
                "stage": "adapt",
            },
            "best_epoch": 1,
            "valid": {"hr@10": 1.0, "ndcg@10": 2.0},
            "test": {"hr@10": hr, "ndcg@10": hr / 2},
            "curve": [{"epoch": 1, "loss": 1.0, "valid": {"ndcg@10": 2.0}, "train_seconds": 3.0, "eval_seconds": 1.0}],
            "trainable_parameters": 10,
            "total_parameters": 100,
            "trainable_share": 0.1,
            "seconds_per_epoch": 3.0,
            "repeat_share": {"valid": 0.0, "test": 0.0},
        }
    ).save(path)


def test_summary_over_finished_seeds(tmp_path):
    spec = importlib.util.spec_from_file_location("fidelity_summary", SUMMARY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _write(tmp_path, "iisan", 42, 6.0)
    _write(tmp_path, "iisan", 43, 8.0)
    _write(tmp_path, "frozen", 42, 5.0)
    table = module.summary(tmp_path).sort("method")
    assert table["method"].to_list() == ["frozen", "iisan"]
    assert table["seeds"].to_list() == ["42", "42,43"]
    assert table["test_hr@10 mean"].to_list() == [5.0, 7.0]
    assert table["test_hr@10 std"].to_list()[1] == 2**0.5  # sample std of 6 and 8
    text = module.markdown(table)
    assert "| 7.00 ± 1.41 | 3.50 ± 0.71 |" in text and "| 5.00 |" in text  # one seed: no std


def test_a_timing_probe_has_its_time_and_no_accuracy(tmp_path):
    spec = importlib.util.spec_from_file_location("fidelity_summary", SUMMARY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _write(tmp_path, "frozen", 42, 5.0)
    path = tmp_path / "results" / "runs" / "fta_timed" / "42" / "metrics.json"
    path.parent.mkdir(parents=True)
    metrics = RunMetrics.load(tmp_path / "results" / "runs" / "frozen" / "42" / "metrics.json").to_dict()
    metrics["run"]["method"] = "fta_timed"
    metrics.update(valid={}, test={}, seconds_per_epoch=1800.0, timed_steps=4, full_epoch_steps=79, curve=[])
    RunMetrics.from_dict(metrics).save(path)
    text = module.markdown(module.summary(tmp_path).sort("method"))
    assert "| fta_timed | 42 | — | — | — | 10 | 1800.0 |" in text
