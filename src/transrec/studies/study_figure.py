"""A study's figure: y (mean over seeds, with a ± std band or error bars) against x, one series per key value."""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from transrec.io import atomic_path
from transrec.studies.aggregate import VALUE_COLUMNS, VALUE_LABELS, sort_keys, study_frame, summarise
from transrec.studies.study_table import KEY_LABELS, study_settings

# greyscale-readable: every series differs in marker, line style and hatch, not only in colour
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = ("-", "--", ":", "-.")
HATCHES = ("", "//", "..", "xx", "\\\\", "oo", "++", "--")
NOTE_CHARS_PER_INCH = 17  # x-small type: characters of the source note per inch of figure width
NOTE_LINE_INCHES = 0.13  # ... and the height of one of its lines
AXIS_LABELS = {
    "source_fraction": "share of source users pre-trained on (0 = NoPT)",
    "target_fraction": "share of target users used for adaptation",
    "trainable_parameters": "trainable parameters",
}


def plot_study_figure(
    metrics_paths: Sequence[str | os.PathLike],
    study: Mapping[str, Any],
    *,
    name: str,
    method_kinds: Mapping[str, str],
    modalities: Mapping[str, str],
    out_png: str | os.PathLike,
    out_pdf: str | os.PathLike,
) -> None:
    """Draw study `name`'s figure (study = its config entry) as PNG and PDF, atomically."""
    spec = study["figure"]
    x, y, series, panels = spec["x"], spec["y"], spec["series"], spec.get("panels")
    frame = study_frame(metrics_paths, method_kinds, modalities)
    x_is_value = x in VALUE_COLUMNS
    keys = [k for k in (panels, series) if k] + ([] if x_is_value else [x])
    values = [y] + ([x] if x_is_value else [])
    if x_is_value:
        keys.append("method")  # one point per method variant (e.g. an adapter size)
    summary = summarise(frame, list(dict.fromkeys(keys)), values)
    order = {"method": study["methods"], "method_kind": list(dict.fromkeys(method_kinds[m] for m in study["methods"]))}
    summary = sort_keys(summary, list(dict.fromkeys(keys)), order)
    panel_values = list(dict.fromkeys(summary[panels])) if panels else [None]
    figure = Figure(figsize=(4.2 * len(panel_values) + 1.5, 3.8), layout="constrained")
    FigureCanvasAgg(figure)
    axes_list = figure.subplots(1, len(panel_values), squeeze=False)[0]
    series_values = list(dict.fromkeys(summary[series]))
    for axes, panel in zip(axes_list, panel_values):
        part = summary if panel is None else summary.filter(pl.col(panels) == panel)
        for i, label in enumerate(series_values):
            points = part.filter(pl.col(series) == label)
            if points.is_empty():
                continue
            style = series_style(i, len(series_values)) | {"label": str(label)}
            if spec["kind"] == "bar":
                _bars(axes, points, x, y, i, len(series_values), style, [str(v) for v in dict.fromkeys(part[x])])
            else:
                _line(axes, points, x, y, x_is_value, style)
        if panel is not None:
            axes.set_title(f"{KEY_LABELS.get(panels, panels)}: {panel}", fontsize="medium")
        axes.set_xlabel(AXIS_LABELS.get(x, VALUE_LABELS.get(x, KEY_LABELS.get(x, x))))
        axes.set_ylabel(f"test {VALUE_LABELS[y]}" if y in ("hr@10", "ndcg@10") else VALUE_LABELS[y])
        if spec["log_x"]:
            axes.set_xscale("log")
            axes.xaxis.set_minor_formatter(NullFormatter())  # decades only: minor labels overlap
        axes.grid(alpha=0.3)
    seeds = sorted({int(s) for s in frame["seed"]})
    axes_list[-1].legend(
        fontsize="small",
        title=f"{KEY_LABELS.get(series, series)} (mean ± std, seeds {seeds})",
        title_fontsize="small",
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
    )
    figure.suptitle(study["caption"], fontsize="medium", wrap=True)
    source = f"study {name}: {study_settings(study)}"
    add_source_note(figure, source)
    with atomic_path(out_png, ".png") as tmp:
        figure.savefig(tmp, format="png", dpi=150, metadata={"Software": None})
    with atomic_path(out_pdf, ".pdf") as tmp:
        figure.savefig(tmp, format="pdf", metadata={"CreationDate": None})  # no timestamp: reruns give identical files


def add_source_note(figure: Figure, note: str) -> None:
    """The study's settings in small grey type in a strip of their own below the panels (never over an axis label),
    wrapped to the figure's width and as tall as its lines."""
    width, height = figure.get_size_inches()
    lines = textwrap.wrap(note, width=max(int(width * NOTE_CHARS_PER_INCH), 20))
    strip = min((0.06 + NOTE_LINE_INCHES * len(lines)) / height, 0.4)
    figure.get_layout_engine().set(rect=(0, strip, 1, 1 - strip))
    figure.text(0.01, 0.01, "\n".join(lines), ha="left", va="bottom", fontsize="x-small", color="0.4")


def series_style(i: int, n: int) -> dict[str, Any]:
    """Series i of n: a colour, a marker and a line style of its own; the first in black."""
    palette = colormaps["tab10" if n <= 11 else "tab20"].colors
    colour = "black" if i == 0 else palette[(i - 1) % len(palette)]
    return {"color": colour, "marker": MARKERS[i % len(MARKERS)], "linestyle": LINESTYLES[i % len(LINESTYLES)]}


def _line(axes: Any, points: pl.DataFrame, x: str, y: str, x_is_value: bool, style: dict[str, Any]) -> None:
    """Mean line with a ± std band (the band only where there is more than one seed)."""
    xs = points[f"{x} mean"] if x_is_value else points[x]
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    xs = [float(xs[i]) for i in order]
    mean = [float(points[f"{y} mean"][i]) for i in order]
    std = [_zero_if_missing(points[f"{y} std"][i]) for i in order]
    (line,) = axes.plot(xs, mean, linewidth=1.3, **style)
    axes.fill_between(
        xs,
        [m - s for m, s in zip(mean, std)],
        [m + s for m, s in zip(mean, std)],
        color=line.get_color(),
        alpha=0.15,
        linewidth=0,
    )


def _bars(
    axes: Any,
    points: pl.DataFrame,
    x: str,
    y: str,
    index: int,
    count: int,
    style: dict[str, Any],
    categories: list[str],
) -> None:
    """Grouped bars with ± std error bars, one hatch per series; `categories` are the panel's x values in order."""
    width = 0.8 / count
    positions = [categories.index(str(v)) - 0.4 + width * (index + 0.5) for v in points[x]]
    axes.bar(
        positions,
        points[f"{y} mean"].to_list(),
        width,
        yerr=[_zero_if_missing(s) for s in points[f"{y} std"]],
        label=style["label"],
        hatch=HATCHES[index % len(HATCHES)],
        edgecolor="black",
        capsize=3,
    )
    axes.set_xticks(range(len(categories)), categories, rotation=20, ha="right")


def _zero_if_missing(value: float | None) -> float:
    return 0.0 if value is None or math.isnan(value) else float(value)
