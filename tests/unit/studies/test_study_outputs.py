"""Study tables and figures: mean ± std over seeds, layout from the study spec, CSV/Markdown/LaTeX, PNG/PDF."""

import json

import polars as pl
import pytest
from matplotlib.figure import Figure

from transrec.studies import grid
from transrec.studies.aggregate import study_frame, summarise
from transrec.studies.study_figure import NOTE_CHARS_PER_INCH, add_source_note, plot_study_figure, series_style
from transrec.studies.study_table import write_study_table

KINDS = {"fta": "fta", "houlsby": "houlsby", "houlsby_r8": "houlsby"}
MODALITIES = {"e": "text"}


def _metrics(path, dataset, method, seed, hr, start="mind", params=1000):
    run = {
        "stage": "adapt",
        "dataset": dataset,
        "encoder": "e",
        "objective": "sasrec",
        "method": method,
        "start": start,
        "seed": seed,
    }
    metrics = {
        "run": run,
        "valid": {"hr@10": hr, "ndcg@10": hr / 2},
        "test": {"hr@10": hr, "ndcg@10": hr / 2},
        "repeat_share": {"valid": 0.0, "test": 0.0},
        "trainable_parameters": params,
        "total_parameters": 10_000,
        "seconds_per_epoch": 2.0,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics))
    return path


@pytest.fixture
def runs(tmp_path):
    values = {
        ("adressa", "fta"): (10.0, 12.0),
        ("adressa", "houlsby"): (8.0, 9.0),
        ("amazon", "fta"): (5.0, 7.0),
        ("amazon", "houlsby"): (6.0, 6.0),
    }
    paths = []
    for (dataset, method), hrs in values.items():
        for seed, hr in zip((1, 2), hrs):
            paths.append(
                _metrics(
                    tmp_path / dataset / method / str(seed) / "metrics.json",
                    dataset,
                    method,
                    seed,
                    hr,
                    params=10_000 if method == "fta" else 500,
                )
            )
    return paths


STUDY = {
    "caption": "FTA against Houlsby adapters",
    "paper": "adapter4rec",
    "experiments": ["text"],
    "methods": ["houlsby", "fta"],
    "table": {"rows": ["method"], "columns": ["dataset"], "values": ["hr@10", "share_pct"]},
}


def test_summary_is_mean_and_sample_std_over_seeds(runs):
    frame = study_frame(runs, KINDS, MODALITIES)
    summary = summarise(frame, ["dataset", "method"], ["hr@10"]).sort("dataset", "method")
    row = summary.row(0, named=True)  # adressa, fta: 10 and 12
    assert row["hr@10 mean"] == pytest.approx(11.0) and row["hr@10 std"] == pytest.approx(2**0.5)
    assert row["n_seeds"] == 2 and row["seeds"] == [1, 2]


def test_study_table_layout_and_formats(runs, tmp_path):
    out = {k: tmp_path / "t" / f"table.{k[4:]}" for k in ("out_csv", "out_md", "out_tex")}
    csv = write_study_table(runs, STUDY, name="a4r_table2", method_kinds=KINDS, modalities=MODALITIES, **out)
    assert csv["method"].to_list() == ["houlsby", "fta"]  # the study's method order
    assert csv.row(1, named=True)["adressa / HR@10 mean"] == pytest.approx(11.0)
    assert csv.row(0, named=True)["amazon / trainable % std"] == pytest.approx(0.0)
    md = out["out_md"].read_text()
    assert "FTA against Houlsby adapters" in md and "| fta | 11.00 ± 1.41 |" in md and "seeds [1, 2]" in md
    assert "experiments text; methods houlsby, fta" in md  # the config that made it
    tex = out["out_tex"].read_text()
    assert r"\toprule" in tex and r"11.00 $\pm$ 1.41" in tex and r"\label{tab:a4r_table2}" in tex
    assert pl.read_csv(out["out_csv"]).height == 2


def test_a_timing_probe_row_has_its_time_and_no_accuracy(runs, tmp_path):
    probe = _metrics(tmp_path / "probe" / "metrics.json", "adressa", "fta_timed", 1, 0.0, params=10_000)
    metrics = json.loads(probe.read_text())
    metrics.update(valid={}, test={}, seconds_per_epoch=120.0, timed_steps=4, full_epoch_steps=60)
    probe.write_text(json.dumps(metrics))
    study = {
        **STUDY,
        "methods": ["houlsby", "fta", "fta_timed"],
        "table": {"rows": ["method"], "columns": [], "values": ["hr@10", "seconds_per_epoch", "trainable_parameters"]},
    }
    out = {k: tmp_path / "t" / f"table.{k[4:]}" for k in ("out_csv", "out_md", "out_tex")}
    kinds = {**KINDS, "fta_timed": "fta"}
    csv = write_study_table([*runs, probe], study, name="s", method_kinds=kinds, modalities=MODALITIES, **out)
    row = csv.filter(pl.col("method") == "fta_timed").row(0, named=True)
    assert row["HR@10 mean"] is None and row["s/epoch mean"] == 120.0  # the CSV keeps the plain method name
    md = out["out_md"].read_text()
    assert "| fta_timed (timed: 4 steps, not trained) | — | 120.00 | 10.0 k |" in md
    assert "| fta | 8.50 ± 3.11 | 2.00 ± 0.00 | 10.0 k |" in md  # trained runs as before
    assert "is a timing probe" in md
    assert "fta\\_timed (timed: 4 steps, not trained) & --- & 120.00" in out["out_tex"].read_text()


def test_published_numbers_are_rows_below_the_measured_ones(runs, tmp_path):
    published = [{"label": "IISAN paper: FFT", "values": {"hr@10": 6.3, "ndcg@10": 4.58}}]
    study = {
        **STUDY,
        "table": {
            "rows": ["dataset", "method"],
            "columns": [],
            "values": ["hr@10", "ndcg@10", "trainable_parameters"],
            "published": published,
        },
    }
    out = {k: tmp_path / "t" / f"table.{k[4:]}" for k in ("out_csv", "out_md", "out_tex")}
    csv = write_study_table(runs, study, name="s", method_kinds=KINDS, modalities=MODALITIES, **out)
    assert csv["published"].to_list() == [False] * 4 + [True]
    paper = csv.row(4, named=True)
    assert paper["target"] == "IISAN paper: FFT" and paper["HR@10 mean"] == 6.3
    assert paper["HR@10 std"] is None and paper["trainable parameters mean"] is None
    md = out["out_md"].read_text().splitlines()
    assert md[-3] == "| IISAN paper: FFT | — | 6.30 | 4.58 | — |"  # below the measured rows, before the note
    assert "IISAN paper: FFT & --- & 6.30 & 4.58 & ---" in out["out_tex"].read_text()


def test_scaling_views_become_fractions_and_nopt_is_zero(tmp_path):
    paths = [
        _metrics(tmp_path / "a" / "metrics.json", "adressa@0.25", "fta", 1, 4.0, start="mind@0.5"),
        _metrics(tmp_path / "b" / "metrics.json", "adressa", "fta", 1, 3.0, start="nopt"),
    ]
    frame = study_frame(paths, KINDS, MODALITIES).sort("source_fraction")
    assert frame["dataset"].to_list() == ["adressa", "adressa"] and frame["start"].to_list() == ["nopt", "mind"]
    assert frame["source_fraction"].to_list() == [0.0, 0.5] and frame["target_fraction"].to_list() == [1.0, 0.25]
    assert frame["modality"].to_list() == ["text", "text"]


@pytest.mark.parametrize(
    "figure",
    [
        {
            "kind": "line",
            "x": "trainable_parameters",
            "y": "hr@10",
            "series": "method_kind",
            "panels": "dataset",
            "log_x": True,
        },
        {"kind": "bar", "x": "method", "y": "ndcg@10", "series": "dataset", "panels": None, "log_x": False},
    ],
)
def test_study_figure_png_and_pdf(runs, tmp_path, figure):
    study = {**STUDY, "methods": ["fta", "houlsby"], "figure": figure}
    study.pop("table")
    out_png, out_pdf = tmp_path / "f.png", tmp_path / "f.pdf"
    plot_study_figure(
        runs, study, name="fig", method_kinds=KINDS, modalities=MODALITIES, out_png=out_png, out_pdf=out_pdf
    )
    assert out_png.read_bytes()[:4] == b"\x89PNG" and out_pdf.read_bytes()[:4] == b"%PDF"


def test_every_series_of_twelve_has_its_own_colour_and_marker():
    styles = [series_style(i, 12) for i in range(12)]
    assert len({(str(s["color"]), s["marker"]) for s in styles}) == 12
    assert len({str(s["color"]) for s in styles}) == 12 and styles[0]["color"] == "black"


def test_a_long_source_note_wraps_inside_the_figure():
    figure = Figure(figsize=(6, 4), layout="constrained")
    add_source_note(figure, "methods " + ", ".join(f"method_{i}" for i in range(40)))
    (text,) = figure.texts
    lines = text.get_text().splitlines()
    assert len(lines) > 1 and max(map(len, lines)) <= 6 * NOTE_CHARS_PER_INCH


def test_study_expansion_shares_runs_and_adds_pretraining(repo_root):
    import yaml

    config = yaml.safe_load((repo_root / "config/config.yaml").read_text())
    config["source_seed"] = None  # one source pre-training per adaptation seed
    config["studies"] = {
        "scaling": {
            "caption": "c",
            "experiments": ["text"],
            "methods": ["fta"],
            "source_fractions": [0.5, 1.0],
            "target_fractions": [0.25, 1.0],
            "nopt": True,
            "seeds": [1, 2],
            "figure": {"x": "source_fraction"},
        },
        "again": {
            "caption": "c",
            "experiments": ["text"],
            "methods": ["fta"],
            "seeds": [1],
            "table": {"rows": ["method"]},
        },
    }
    config = grid.resolve_config(config)
    runs = grid.study_runs(config, "scaling")
    assert len(runs) == 2 * 2 * 3  # seeds x target fractions x (two source fractions + NoPT)
    assert grid.Run("adapt", "adressa@0.25", "bert_small", "inbatch", "fta", "mind@0.5", 2) in runs
    assert set(grid.study_runs(config, "again")) <= set(runs)  # shared runs train once
    everything = grid.expand_runs(config)
    assert grid.Run("pretrain", "mind@0.5", "bert_small", "inbatch", "fta", "nopt", 1) in everything
    rc = grid.plan(config, grid.Run("adapt", "adressa@0.25", "bert_small", "inbatch", "fta", "mind@0.5", 2)).run_json
    assert rc["data"]["split"] == "results/subsample/adressa/0.25/split.parquet"
    assert rc["data"]["items"] == "results/sequences/adressa/items.parquet"
    assert rc["init_checkpoint"] == "results/runs/pretrain/mind@0.5/bert_small/inbatch/2/best.pt"
    assert grid.study_outputs(config) == ["results/figures/scaling.png", "results/tables/again.md"]
