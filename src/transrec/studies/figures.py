"""Learning curves: validation NDCG@10 per epoch, one panel per experiment, one line per method and seed."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from transrec.eval.run_metrics import RunMetrics
from transrec.io import atomic_path
from transrec.studies.study_figure import LINESTYLES, MARKERS

__all__ = ["curve_panels", "plot_learning_curves"]


def curve_panels(runs: Sequence[dict[str, object]]) -> dict[str, list[int]]:
    """Run indices grouped by experiment (stage, dataset, encoder, objective): one panel each, in first-seen order."""
    panels: dict[str, list[int]] = {}
    for i, run in enumerate(runs):
        title = " / ".join(str(run.get(key)) for key in ("stage", "dataset", "encoder", "objective"))
        panels.setdefault(title, []).append(i)
    return panels


def plot_learning_curves(
    metrics_paths: Sequence[str | os.PathLike], out_png: str | os.PathLike, out_pdf: str | os.PathLike
) -> None:
    """Validation NDCG@10 per epoch as small multiples: one panel per experiment, one colour per method (line style
    per seed, a star at the best epoch), one legend inside the figure; written as PNG and PDF atomically."""
    # baselines have no curve: nothing to plot
    metrics = [m for m in (RunMetrics.load(Path(path)) for path in metrics_paths) if m.curve]
    runs = [dataclasses.asdict(m.run) for m in metrics]
    panels = curve_panels(runs)
    methods = list(dict.fromkeys(_method_label(run) for run in runs))
    seeds = sorted({int(run["seed"]) for run in runs})
    colours = {method: f"C{i % 10}" for i, method in enumerate(methods)}
    markers = {method: MARKERS[(i // 10) % len(MARKERS)] for i, method in enumerate(methods)}
    columns = min(3, max(1, len(panels)))
    rows = max(1, math.ceil(len(panels) / columns))
    # Object API with an explicit Agg canvas: no pyplot global state, no display needed, safe in parallel jobs.
    figure = Figure(
        figsize=(4.2 * columns, 3.0 * rows + 0.4 + 0.22 * math.ceil(len(methods) / 4)), layout="constrained"
    )
    FigureCanvasAgg(figure)
    grid = figure.subplots(rows, columns, squeeze=False)
    for axes in grid.flat[len(panels) :]:
        axes.set_visible(False)
    for axes, (title, members) in zip(grid.flat, panels.items()):
        for i in members:
            m, run = metrics[i], runs[i]
            method = _method_label(run)
            epochs = [point.epoch for point in m.curve]
            values = [point.valid["ndcg@10"] for point in m.curve]
            style = LINESTYLES[seeds.index(int(run["seed"])) % len(LINESTYLES)]
            axes.plot(
                epochs,
                values,
                linestyle=style,
                linewidth=1.1,
                color=colours[method],
                marker=markers[method],
                markersize=2.5,
            )
            if m.best_epoch in epochs:
                axes.plot(
                    [m.best_epoch],
                    [values[epochs.index(m.best_epoch)]],
                    marker="*",
                    markersize=8,
                    color=colours[method],
                )
        axes.set_title(title, fontsize="small")
        axes.set_xlabel("epoch", fontsize="small")
        axes.set_ylabel("valid NDCG@10 (x100)", fontsize="small")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.tick_params(labelsize="x-small")
        axes.grid(alpha=0.3)
    if metrics:
        handles = [Line2D([], [], color=colours[m], marker=markers[m], label=m) for m in methods]
        handles += [
            Line2D([], [], color="0.3", linestyle=LINESTYLES[k % len(LINESTYLES)], label=f"seed {seed}")
            for k, seed in enumerate(seeds)
        ]
        handles.append(Line2D([], [], color="0.3", marker="*", linestyle="", markersize=8, label="best epoch"))
        figure.legend(handles=handles, loc="outside lower center", ncols=min(4, len(handles)), fontsize="small")
    else:
        grid[0][0].text(0.5, 0.5, "no runs", ha="center", va="center", transform=grid[0][0].transAxes)
    with atomic_path(out_png, ".png") as tmp:
        figure.savefig(tmp, format="png", dpi=120, metadata={"Software": None})
    with atomic_path(out_pdf, ".pdf") as tmp:
        figure.savefig(tmp, format="pdf", metadata={"CreationDate": None})  # no timestamp: identical reruns


def _method_label(run: dict[str, object]) -> str:
    """The method, and where an adaptation started from unless from scratch (pre-training: fta)."""
    if run["stage"] == "pretrain" or run["start"] == "none":
        return str(run["method"])
    return f"{run['method']} from {run['start']}"
