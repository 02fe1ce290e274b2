"""The runs table: one row per metrics.json, full precision in CSV, aligned formatted Markdown."""

import json

import polars as pl
import pytest

from transrec.studies.tables import collect_runs, write_runs_table


def _metrics(method, seed, test_ndcg, trainable, memory=12.5, epochs=3):
    return {
        "run": {
            "dataset": "amazon",
            "encoder": "vit",
            "objective": "sasrec",
            "method": method,
            "start": "hm",
            "seed": seed,
            "stage": "adapt",
        },
        "best_epoch": epochs - 1,
        "valid": {"hr@10": 10.0 + seed, "ndcg@10": 5.0 + seed},
        "test": {"hr@10": 9.5, "ndcg@10": test_ndcg},
        "curve": [
            {
                "epoch": e,
                "loss": 1.0 / (e + 1),
                "valid": {"ndcg@10": 1.0 + e, "hr@10": 2.0 + e},
                "train_seconds": 60.0,
                "eval_seconds": 1.0,
            }
            for e in range(epochs)
        ],
        "trainable_parameters": trainable,
        "total_parameters": 100_000_000,
        "trainable_share": trainable / 100_000_000,
        "seconds_per_epoch": 1234.56,
        "peak_memory_gb": memory,
        "repeat_share": {"valid": 0.1, "test": 0.135},
    }


@pytest.fixture
def runs(tmp_path):
    paths = []
    for i, (method, seed, ndcg, trainable, memory) in enumerate(
        [("lora", 10, 4.321, 250_000, 12.5), ("fta", 2, 6.789, 100_000_000, None), ("lora", 2, 4.0, 250_000, 11.0)]
    ):
        path = tmp_path / f"run{i}" / "metrics.json"
        path.parent.mkdir()
        path.write_text(json.dumps(_metrics(method, seed, ndcg, trainable, memory)))
        paths.append(path)
    return paths


def test_collect_runs_one_sorted_row_per_run(runs):
    frame = collect_runs(runs)
    assert frame.height == 3
    assert frame.select("method", "seed").rows() == [("fta", "2"), ("lora", "2"), ("lora", "10")]  # seeds numeric
    lora = frame.row(1, named=True)
    assert lora["share_pct"] == pytest.approx(0.25)
    assert lora["test_ndcg@10"] == 4.0 and lora["valid_hr@10"] == 12.0
    assert lora["test_repeat_share"] == 0.135 and lora["best_epoch"] == 2 and lora["epochs"] == 3
    assert frame.row(0, named=True)["peak_memory_gb"] is None


def test_a_renamed_or_missing_metrics_key_fails_naming_it(tmp_path):
    metrics = _metrics("x", 0, 1.0, 10)
    metrics["secs_per_epoch"] = metrics.pop("seconds_per_epoch")
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(metrics))
    with pytest.raises(ValueError, match="secs_per_epoch"):
        collect_runs([path])
    del metrics["secs_per_epoch"], metrics["run"]["method"]
    path.write_text(json.dumps(metrics))
    with pytest.raises(ValueError, match="run.method"):
        collect_runs([path])


def test_write_runs_table_csv_and_markdown(runs, tmp_path):
    out_csv, out_md = tmp_path / "t" / "runs.csv", tmp_path / "t" / "runs.md"
    write_runs_table(runs, out_csv, out_md)
    csv = pl.read_csv(out_csv)
    assert csv.columns == [
        "dataset",
        "encoder",
        "objective",
        "method",
        "start",
        "seed",
        "trainable_parameters",
        "share_pct",
        "valid_hr@10",
        "valid_ndcg@10",
        "test_hr@10",
        "test_ndcg@10",
        "seconds_per_epoch",
        "peak_memory_gb",
        "tpme",
        "tpme_basis",
        "timed_steps",
    ]
    assert csv["tpme"].null_count() == 3  # seed 10 has one run; seed 2 mixes a CPU and a GPU run
    assert csv["test_ndcg@10"].to_list() == [6.789, 4.0, 4.321]  # full precision
    lines = out_md.read_text().splitlines()
    assert len(lines) == 5 and len({len(line) for line in lines}) == 1  # header, rule, 3 rows, all aligned
    assert lines[0].startswith("| Dataset") and "Share %" in lines[0] and "Peak memory GB" in lines[0]
    fta = lines[2]
    assert "100,000,000" in fta and "100.00" in fta and "6.79" in fta and "1,234.6" in fta and "n/a" in fta
    assert "250,000" in lines[3] and "0.250" in lines[3] and "12.50" not in lines[3] and "11.00" in lines[3]
    assert lines[1].split("|")[1].startswith(":-") and lines[1].split("|")[7].endswith("-:")  # text left, numbers right
    assert not list(out_md.parent.glob(".*"))  # no temporary files left behind


def test_tpme_compares_the_methods_adapted_to_one_target(tmp_path):
    paths = []
    for method, seconds, trainable, memory in [
        ("fta", 100.0, 1_000, 10.0),
        ("lora", 50.0, 100, 4.0),
        ("frozen", 20.0, 0, 2.0),
    ]:
        metrics = _metrics(method, 1, 5.0, trainable, memory)
        metrics["seconds_per_epoch"] = seconds
        path = tmp_path / method / "metrics.json"
        path.parent.mkdir()
        path.write_text(json.dumps(metrics))
        paths.append(path)
    pretrain = _metrics("fta", 1, 5.0, 1_000, 10.0)
    pretrain["run"]["stage"] = "pretrain"
    (tmp_path / "pre").mkdir()
    (tmp_path / "pre" / "metrics.json").write_text(json.dumps(pretrain))
    frame = write_runs_table([*paths, tmp_path / "pre" / "metrics.json"], tmp_path / "r.csv", tmp_path / "r.md")
    scores = dict(zip(frame["method"] + frame["seconds_per_epoch"].cast(str), frame["tpme"]))
    # fta is the worst on all three measures (1.0); frozen the best (0.0);
    # lora: 0.45 * 30/80 + 0.1 * 100/1000 + 0.45 * 2/8
    assert scores["fta100.0"] == pytest.approx(1.0)
    assert scores["frozen20.0"] == pytest.approx(0.0)
    assert scores["lora50.0"] == pytest.approx(0.45 * 30 / 80 + 0.1 * 0.1 + 0.45 * 0.25)
    assert scores["fta1234.56"] is None  # pre-training is not part of the comparison


def test_empty_run_list_writes_header_only(tmp_path):
    frame = write_runs_table([], tmp_path / "runs.csv", tmp_path / "runs.md")
    assert frame.height == 0
    assert len((tmp_path / "runs.md").read_text().splitlines()) == 2


def _probe(method="fta_timed", seed=2, steps=4):
    """A timing probe's metrics.json: timed steps and an extrapolated s/epoch, no accuracy, no curve."""
    metrics = _metrics(method, seed, 0.0, 100_000_000, None, epochs=0)
    seconds = [2.0, 3.0, 2.5, 4.0][:steps]
    metrics.update(valid={}, test={}, best_epoch=None, seconds_per_epoch=2.75 * 50)
    metrics.update(timed_steps=steps, full_epoch_steps=50, step_seconds=seconds)
    return metrics


def test_a_timing_probe_shows_its_efficiency_but_no_accuracy(runs, tmp_path):
    path = tmp_path / "probe" / "metrics.json"
    path.parent.mkdir()
    path.write_text(json.dumps(_probe()))
    frame = write_runs_table([*runs, path], tmp_path / "runs.csv", tmp_path / "runs.md")
    probe = frame.filter(pl.col("method") == "fta_timed").row(0, named=True)
    assert probe["timed_steps"] == 4 and probe["seconds_per_epoch"] == 137.5 and probe["test_hr@10"] is None
    assert frame.filter(pl.col("method") != "fta_timed")["timed_steps"].null_count() == 3
    text = (tmp_path / "runs.md").read_text()
    (line,) = [row for row in text.splitlines() if "fta_timed" in row]
    cells = [cell.strip() for cell in line.strip("|").split("|")]
    assert cells[3] == "fta_timed (timed: 4 steps, not trained)"
    assert cells[8:12] == ["—"] * 4  # valid and test HR@10 / NDCG@10: not 0, not nan, not n/a
    assert cells[6] == "100,000,000" and cells[12] == "137.5"  # its parameters and s/epoch
    assert "is a timing probe" in text.splitlines()[-1]
    lora = [row for row in text.splitlines() if "lora" in row][0]
    assert "—" not in lora and "(timed" not in lora
