"""Where a workflow run's time went: job wall time per rule (Snakemake's benchmark files) and, inside training jobs,
start-up, setup, epochs, validation and test (each run's metrics.json).

    .venv/bin/python bench/where_time_goes.py [--root .] [--log snakemake.log] [--out results/tables/time_profile.md]

`--log` (Snakemake's console output) adds the run's wall time, from its first to its last timestamp.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from collections import defaultdict
from datetime import datetime
from pathlib import Path

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")


def job_seconds(root: Path) -> dict[str, list[float]]:
    """Wall seconds of every benchmarked job, by rule (benchmarks/<rule>/<job>.tsv)."""
    by_rule: dict[str, list[float]] = defaultdict(list)
    for path in sorted((root / "benchmarks").glob("*/*.tsv")):
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        if rows:
            by_rule[path.parent.name].append(float(rows[-1]["s"]))
    return dict(by_rule)


def training_parts(root: Path) -> dict[str, float]:
    """Seconds summed over every trained run: setup, training epochs, per-epoch validation, test."""
    parts = dict.fromkeys(("runs", "epochs", "setup", "train", "validation", "test"), 0.0)
    for path in sorted((root / "results" / "runs").glob("*/**/metrics.json")):
        metrics = json.loads(path.read_text())
        curve = metrics.get("curve") or []
        if not curve:  # an untrained baseline
            continue
        parts["runs"] += 1
        parts["epochs"] += len(curve)
        parts["setup"] += metrics.get("setup_seconds") or 0.0
        parts["train"] += sum(epoch.get("train_seconds", 0.0) for epoch in curve)
        parts["validation"] += sum(epoch.get("eval_seconds", 0.0) for epoch in curve)
        parts["test"] += metrics.get("test_seconds") or 0.0
    return parts


def wall_seconds(log: Path) -> float | None:
    """Seconds from the first to the last timestamp of a Snakemake console log."""
    stamps = [
        datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y")
        for line in log.read_text(errors="replace").splitlines()
        if (m := STAMP.match(line.strip()))
    ]
    return (stamps[-1] - stamps[0]).total_seconds() if len(stamps) > 1 else None


def report(root: Path, log: Path | None) -> str:
    """The Markdown report."""
    jobs = job_seconds(root)
    lines = ["# Where the time went", ""]
    if log is not None and (wall := wall_seconds(log)) is not None:
        lines += [f"Wall time of the run: {wall / 60:.1f} min ({wall:.0f} s).", ""]
    total = sum(sum(v) for v in jobs.values())
    lines += ["| rule | jobs | job seconds | share |", "|---|---:|---:|---:|"]
    for rule, seconds in sorted(jobs.items(), key=lambda kv: -sum(kv[1])):
        lines.append(
            f"| {rule} | {len(seconds)} | {sum(seconds):.0f} | {100 * sum(seconds) / max(total, 1e-9):.1f} % |"
        )
    lines += [f"| all benchmarked jobs | {sum(len(v) for v in jobs.values())} | {total:.0f} | 100 % |", ""]
    parts = training_parts(root)
    trained = sum(jobs.get("pretrain", [])) + sum(jobs.get("adapt", []))
    inside = parts["setup"] + parts["train"] + parts["validation"] + parts["test"]
    lines += [
        f"Inside the {parts['runs']:.0f} training runs ({parts['epochs']:.0f} epochs):",
        "",
        "| part | seconds | share of training jobs |",
        "|---|---:|---:|",
    ]
    for name in ("train", "validation", "test", "setup"):
        lines.append(f"| {name} | {parts[name]:.0f} | {100 * parts[name] / max(trained, 1e-9):.1f} % |")
    lines.append(
        f"| process start-up, imports, writing outputs (job time not in the above) | {trained - inside:.0f} | "
        f"{100 * (trained - inside) / max(trained, 1e-9):.1f} % |"
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path("."), help="the workflow's working directory")
    parser.add_argument("--log", type=Path, help="Snakemake's console output, for the run's wall time")
    parser.add_argument("--out", type=Path, help="write the report here too")
    args = parser.parse_args()
    text = report(args.root, args.log)
    print(text, end="")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
