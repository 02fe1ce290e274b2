"""A study's table: rows x columns of run keys, each cell the mean ± std over seeds, as CSV, Markdown and LaTeX."""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from transrec.io import atomic_path
from transrec.studies.aggregate import VALUE_LABELS, sort_keys, study_frame, summarise
from transrec.studies.tables import NO_ACCURACY, PROBE_NOTE, probe_label

KEY_LABELS = {"dataset": "target", "start": "source", "method_kind": "method kind"}


def write_study_table(
    metrics_paths: Sequence[str | os.PathLike],
    study: Mapping[str, Any],
    *,
    name: str,
    method_kinds: Mapping[str, str],
    modalities: Mapping[str, str],
    out_csv: str | os.PathLike,
    out_md: str | os.PathLike,
    out_tex: str | os.PathLike,
) -> pl.DataFrame:
    """Write study `name`'s table (study = its config entry) in three formats, atomically; return the CSV frame."""
    spec = study["table"]
    rows, columns, values = list(spec["rows"]), list(spec["columns"]), list(spec["values"])
    frame = study_frame(metrics_paths, method_kinds, modalities)
    summary = summarise(frame, rows + columns, values)
    order = {"method": study["methods"], "method_kind": list(dict.fromkeys(method_kinds[m] for m in study["methods"]))}
    summary = sort_keys(summary, rows + columns, order)
    wide = _wide(summary, rows, columns, values)
    _add_published(wide, spec.get("published", []), rows, values)
    seeds = sorted({int(s) for s in frame["seed"]})
    note = (
        f"Mean ± std over seeds {seeds} ({len(frame)} runs); study `{name}`"
        + (f", {study['paper']} paper" if study.get("paper", "none") != "none" else "")
        + "; "
        + study_settings(study)
        + (f". {PROBE_NOTE}" if summary["timed_steps"].is_not_null().any() else "")
    )
    with atomic_path(out_csv, ".csv") as tmp:
        wide["csv"].write_csv(tmp)
    with atomic_path(out_md, ".md") as tmp:
        tmp.write_text(_markdown(wide, study["caption"], note), encoding="utf-8")
    with atomic_path(out_tex, ".tex") as tmp:
        tmp.write_text(_latex(wide, study["caption"], note, name), encoding="utf-8")
    return wide["csv"]


def study_settings(study: Mapping[str, Any]) -> str:
    """The config that made a table or figure, in words: its experiments, methods and what else it varies."""
    parts = [f"experiments {', '.join(study['experiments'])}", f"methods {', '.join(study['methods'])}"]
    for key in ("encoders", "objectives"):
        if study.get(key):
            parts.append(f"{key} {', '.join(study[key])}")
    for key in ("source_fractions", "target_fractions"):
        if study.get(key, [1.0]) != [1.0]:
            parts.append(f"{key.replace('_', ' ')} {', '.join(f'{f:g}' for f in study[key])}")
    return "; ".join(parts)


def _wide(summary: pl.DataFrame, rows: list[str], columns: list[str], values: list[str]) -> dict[str, Any]:
    """The table's cells: one line per row-key combination, one (column-key combination, value) pair per cell; the
    Markdown and LaTeX text marks a method whose runs are timing probes, and gives them no accuracy."""
    probes = {
        r["method"]: r["timed_steps"] for r in summary.iter_rows(named=True) if "method" in r and r["timed_steps"]
    }
    combos = list(dict.fromkeys(tuple(r[c] for c in columns) for r in summary.iter_rows(named=True))) or [()]
    line_keys = list(dict.fromkeys(tuple(r[c] for c in rows) for r in summary.iter_rows(named=True)))
    cells = {(tuple(r[c] for c in rows), tuple(r[c] for c in columns)): r for r in summary.iter_rows(named=True)}
    headers = [(combo, value) for combo, value in itertools.product(combos, values)]
    csv_rows, text_rows = [], []
    for key in line_keys:
        csv_row: dict[str, Any] = {KEY_LABELS.get(c, c): _fmt_key(v) for c, v in zip(rows, key)}
        text_row = [_fmt_key(v, c, probes) for c, v in zip(rows, key)]
        for combo, value in headers:
            cell = cells.get((key, combo))
            label = " / ".join([*(_fmt_key(v) for v in combo), VALUE_LABELS[value]])
            mean = None if cell is None else cell[f"{value} mean"]
            std = None if cell is None else cell[f"{value} std"]
            csv_row[f"{label} mean"], csv_row[f"{label} std"] = mean, std
            probe = cell is not None and cell["timed_steps"] is not None
            text_row.append(NO_ACCURACY if probe and "@" in value else _fmt_cell(value, mean, std))
        csv_rows.append(csv_row)
        text_rows.append(text_row)
    header_text = [KEY_LABELS.get(c, c) for c in rows] + [
        " / ".join([*(_fmt_key(v, c, probes) for c, v in zip(columns, combo)), VALUE_LABELS[value]])
        for combo, value in headers
    ]
    return {"csv": pl.DataFrame(csv_rows), "header": header_text, "rows": text_rows, "keys": len(rows)}


def _add_published(wide: dict[str, Any], published: Sequence[Mapping[str, Any]], rows: list[str], values: list[str]):
    """Published numbers (the study's `table.published`) as rows below the measured ones: the label in the first
    key column, "—" where the paper gives no number; the CSV marks them in a `published` column."""
    if not published:
        return
    frame = wide["csv"].with_columns(pl.lit(False).alias("published"))
    extra = []
    for entry in published:
        key_cells = [entry["label"], *("—" for _ in rows[1:])]
        wide["rows"].append(
            key_cells + [_fmt_cell(v, entry["values"].get(v), None) if v in entry["values"] else "—" for v in values]
        )
        row: dict[str, Any] = {col: None for col in frame.columns}
        row.update({KEY_LABELS.get(c, c): k for c, k in zip(rows, key_cells)}, published=True)
        for value in values:
            row[f"{VALUE_LABELS[value]} mean"] = entry["values"].get(value)
        extra.append(row)
    wide["csv"] = pl.concat([frame, pl.DataFrame(extra, schema=frame.schema)])


def _fmt_key(value: Any, key: str = "", probes: Mapping[str, int | None] | None = None) -> str:
    """A run key's value as text; a method (key "method") whose runs are timing probes (`probes`) marked."""
    if isinstance(value, float):
        return f"{value:g}"
    if key == "method" and probes:
        return probe_label(str(value), probes.get(value))
    return str(value)


def _fmt_cell(value: str, mean: float | None, std: float | None) -> str:
    """'6.21 ± 0.35'; a parameter count as '1.2 M'; 'n/a' when the run did not report it."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "n/a"
    if value == "trainable_parameters":
        return _count(mean)
    digits = 3 if value in ("tpme", "share_pct") and abs(mean) < 1 else 2
    text = f"{mean:.{digits}f}"
    if std is not None and not math.isnan(std):
        text += f" ± {std:.{digits}f}"
    return text


def _count(n: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f}"


def _markdown(wide: dict[str, Any], caption: str, note: str) -> str:
    header, rows, keys = wide["header"], wide["rows"], wide["keys"]
    lines = [
        f"**{caption}**",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(":---" if i < keys else "---:" for i in range(len(header))) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join([*lines, "", note, ""])


def _latex(wide: dict[str, Any], caption: str, note: str, name: str) -> str:
    header, rows, keys = wide["header"], wide["rows"], wide["keys"]

    def esc(text: str) -> str:
        for raw, safe in (
            ("\\", r"\textbackslash{}"),
            ("&", r"\&"),
            ("%", r"\%"),
            ("_", r"\_"),
            ("#", r"\#"),
            ("±", r"$\pm$"),
            ("—", "---"),
            ("@", "@"),
        ):
            text = text.replace(raw, safe)
        return text

    spec = "l" * keys + "r" * (len(header) - keys)
    body = [" & ".join(esc(c) for c in row) + r" \\" for row in rows]
    return "\n".join(
        [
            r"\begin{table}[t]",
            r"\centering",
            rf"\caption{{{esc(caption)} {esc(note)}}}",
            rf"\label{{tab:{name}}}",
            rf"\begin{{tabular}}{{{spec}}}",
            r"\toprule",
            " & ".join(esc(h) for h in header) + r" \\",
            r"\midrule",
            *body,
            r"\bottomrule",
            r"\end{tabular}",
            r"\end{table}",
            "",
        ]
    )
