"""Study figures: validation NDCG@10 per epoch, one line per run, as PNG and PDF."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from transrec.eval.run_metrics import RunMetrics
from transrec.io import atomic_path
from transrec.studies.tables import RUN_KEYS

__all__ = ["plot_learning_curves", "run_labels"]


def _varying(runs: Sequence[dict[str, object]]) -> list[str]:
    """The run keys whose value differs between runs (all of them for a single run)."""
    keys = [key for key in RUN_KEYS if key != "stage"]
    return [key for key in keys if len({str(run.get(key)) for run in runs}) > 1] or keys


def run_labels(runs: Sequence[dict[str, object]]) -> list[str]:
    """A short label per run: only the run keys that differ between runs (all of them for a single run)."""
    varying = _varying(runs)
    return [
        " / ".join(
            f"seed {run.get(key)}" if key == "seed" else str(run.get(key))
            for key in varying
            if run.get(key) is not None
        )
        for run in runs
    ]


def plot_learning_curves(
    metrics_paths: Sequence[str | os.PathLike], out_png: str | os.PathLike, out_pdf: str | os.PathLike
) -> None:
    """Validation NDCG@10 against epoch for every run, best epoch marked; written as PNG and PDF atomically."""
    # baselines have no curve: nothing to plot
    metrics = [m for m in (RunMetrics.load(Path(path)) for path in metrics_paths) if m.curve]
    runs = [dataclasses.asdict(m.run) for m in metrics]
    labels = run_labels(runs)
    common = [key for key in RUN_KEYS[:5] if len(runs) > 1 and key not in _varying(runs)]
    shared = [str(runs[0][key]) for key in common if runs[0].get(key) is not None]
    # Object API with an explicit Agg canvas: no pyplot global state, no display needed, safe in parallel jobs.
    figure = Figure(figsize=(7.5, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for m, label in zip(metrics, labels):
        epochs = [point.epoch for point in m.curve]
        values = [point.valid["ndcg@10"] for point in m.curve]
        (line,) = axes.plot(epochs, values, marker=".", linewidth=1.2, label=label)
        best = m.best_epoch
        if best in epochs:
            axes.plot([best], [values[epochs.index(best)]], marker="*", markersize=11, color=line.get_color())
    axes.set_xlabel("epoch")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    if shared:  # what all runs have in common goes in the title, so the legend stays short
        axes.set_title(" / ".join(shared), fontsize="medium")
    axes.set_ylabel("validation NDCG@10 (x100)")
    axes.grid(alpha=0.3)
    if metrics:
        # Many runs: legend beside the plot so it never hides the curves.
        outside = len(metrics) > 6
        axes.legend(
            fontsize="small",
            title="run (★ best epoch)",
            title_fontsize="small",
            **({"loc": "upper left", "bbox_to_anchor": (1.01, 1.0)} if outside else {"loc": "best"}),
        )
    else:
        axes.text(0.5, 0.5, "no runs", ha="center", va="center", transform=axes.transAxes)
    with atomic_path(out_png, ".png") as tmp:
        figure.savefig(tmp, format="png", dpi=150, metadata={"Software": None})
    with atomic_path(out_pdf, ".pdf") as tmp:
        figure.savefig(
            tmp, format="pdf", metadata={"CreationDate": None}
        )  # no timestamp: identical reruns, identical files
