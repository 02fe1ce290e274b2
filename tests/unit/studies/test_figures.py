"""Learning-curve figure: valid PNG and PDF files, legible labels made of what differs between runs."""

import json

from transrec.studies.figures import plot_learning_curves


def _write(path, method, seed, epochs=4):
    run = {
        "dataset": "adressa",
        "encoder": "bert",
        "objective": "sasrec",
        "method": method,
        "start": "mind",
        "seed": seed,
        "stage": "adapt",
    }
    curve = [
        {
            "epoch": e,
            "loss": 1.0,
            "valid": {"ndcg@10": 2.0 + e * (seed + 1), "hr@10": 3.0},
            "train_seconds": 1.0,
            "eval_seconds": 0.1,
        }
        for e in range(1, epochs + 1)
    ]
    path.parent.mkdir(parents=True)
    metrics = {"run": run, "best_epoch": epochs, "curve": curve, "valid": {}, "test": {}, "repeat_share": {}}
    path.write_text(json.dumps(metrics))
    return path


def test_learning_curves_written_as_png_and_pdf(tmp_path):
    paths = [
        _write(tmp_path / f"r{i}" / "metrics.json", method, seed)
        for i, (method, seed) in enumerate([("lora", 0), ("lora", 1), ("houlsby", 0)])
    ]
    out_png, out_pdf = tmp_path / "fig" / "curves.png", tmp_path / "fig" / "curves.pdf"
    plot_learning_curves(paths, out_png, out_pdf)
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out_png.stat().st_size > 5_000
    pdf = out_pdf.read_bytes()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert sorted(p.name for p in out_png.parent.iterdir()) == ["curves.pdf", "curves.png"]  # no temporaries


def test_many_runs_and_no_runs_still_plot(tmp_path):
    paths = [_write(tmp_path / f"r{i}" / "metrics.json", "lora", i) for i in range(8)]
    plot_learning_curves(paths, tmp_path / "many.png", tmp_path / "many.pdf")
    plot_learning_curves([], tmp_path / "none.png", tmp_path / "none.pdf")
    assert (tmp_path / "many.png").exists() and (tmp_path / "none.pdf").exists()


def test_learning_curves_are_small_multiples_one_panel_per_experiment(tmp_path):
    from transrec.studies.figures import curve_panels

    runs = [
        {
            "stage": "adapt",
            "dataset": d,
            "encoder": "bert",
            "objective": "inbatch",
            "method": m,
            "start": "x",
            "seed": 1,
        }
        for d in ("adressa", "amazon")
        for m in ("fta", "lora")
    ]
    runs.append(
        {
            "stage": "pretrain",
            "dataset": "mind",
            "encoder": "bert",
            "objective": "inbatch",
            "method": "fta",
            "start": "none",
            "seed": 1,
        }
    )
    panels = curve_panels(runs)
    assert list(panels.values()) == [[0, 1], [2, 3], [4]]
    assert list(panels) == [
        "adapt / adressa / bert / inbatch",
        "adapt / amazon / bert / inbatch",
        "pretrain / mind / bert / inbatch",
    ]


def test_a_study_figures_source_note_never_covers_an_axis_label():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from transrec.studies.study_figure import add_source_note

    figure = Figure(figsize=(9.9, 3.8), layout="constrained")
    canvas = FigureCanvasAgg(figure)
    for axes in figure.subplots(1, 2):
        axes.plot([0, 0.25, 1], [1, 2, 3])
        axes.set_xlabel("share of source users pre-trained on (0 = NoPT)")
    add_source_note(figure, "study a4r_figure5_source: experiments text, image; methods fta, houlsby; fractions 0.25")
    canvas.draw()
    renderer = canvas.get_renderer()
    note = figure.texts[-1].get_window_extent(renderer)
    for axes in figure.axes:
        assert not note.overlaps(axes.xaxis.label.get_window_extent(renderer))
        assert not note.overlaps(axes.get_window_extent(renderer))
