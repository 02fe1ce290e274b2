"""TPME on CPU weighs time and parameters only (no peak memory exists there): the runs table says so per run."""

from transrec.eval.efficiency import tpme_basis
from transrec.eval.run_metrics import RunMetrics
from transrec.studies.tables import write_runs_table


def _metrics(tmp_path, method: str, seconds: float, params: int, memory: float | None):
    path = tmp_path / method / "metrics.json"
    path.parent.mkdir()
    RunMetrics.from_dict(
        {
            "run": {
                "dataset": "d",
                "encoder": "e",
                "objective": "inbatch",
                "method": method,
                "start": "nopt",
                "seed": 1,
                "stage": "adapt",
            },
            "best_epoch": 1,
            "valid": {"hr@10": 1.0, "ndcg@10": 1.0},
            "test": {"hr@10": 1.0, "ndcg@10": 1.0},
            "curve": [],
            "trainable_parameters": params,
            "total_parameters": 1000,
            "trainable_share": params / 1000,
            "seconds_per_epoch": seconds,
            "peak_memory_gb": memory,
            "repeat_share": {"valid": 0.0, "test": 0.0},
            "device": "cpu" if memory is None else "cuda",
        }
    ).save(path)
    return path


def test_tpme_basis_names_the_measures():
    assert tpme_basis([{"peak_memory_gb": None}, {"peak_memory_gb": None}]) == "t+p (no peak memory: CPU)"
    assert tpme_basis([{"peak_memory_gb": 1.0}, {"peak_memory_gb": 2.0}]) == "t+p+m"


def test_cpu_runs_table_marks_tpme_without_memory(tmp_path):
    paths = [_metrics(tmp_path, "a", 10.0, 100, None), _metrics(tmp_path, "b", 20.0, 300, None)]
    frame = write_runs_table(paths, tmp_path / "runs.csv", tmp_path / "runs.md")
    # a: t 0, p 0 -> 0; b: t 1, p 1 -> 0.45 + 0.1 (memory, absent on CPU, adds nothing)
    assert frame["tpme"].to_list() == [0.0, 0.55]
    assert frame["tpme_basis"].to_list() == ["t+p (no peak memory: CPU)"] * 2
    assert "t+p (no peak memory: CPU)" in (tmp_path / "runs.md").read_text()
