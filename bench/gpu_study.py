"""The GPU half of the fidelity study: config/instruments.yaml + bench/gpu_suite_config.yaml, run by Snakemake on one
GPU within a time bound; `--check` only validates the merged config and lists its runs (the CPU smoke mode).

The finished runs' table is written even when the bound cuts the study short (bench/gpu_suite.sh calls this).
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BASE, OVERLAY = REPO / "config" / "instruments.yaml", REPO / "bench" / "gpu_suite_config.yaml"
STUDY = "fidelity_instruments_gpu"
EXPERIMENTS = ("fidelity_gpu", "fidelity_id")  # the seeds given apply to both
TARGETS = (f"results/tables/{STUDY}.md", "results/tables/fidelity_instruments_id.md", "results/tables/runs.md")


def merged_config(data_dir: str, seeds: list[int]) -> dict:
    """The base config updated by the overlay (nested mappings merged, other values replaced), seeds and data set."""
    config = yaml.safe_load(BASE.read_text())
    _merge(config, yaml.safe_load(OVERLAY.read_text()))
    config["datasets"]["amazon_instruments"]["raw_dir"] = str(Path(data_dir).resolve())
    for name in EXPERIMENTS:
        config["experiments"][name]["seeds"] = list(seeds)
    return config


def _merge(base: dict, update: dict) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


def check(config: dict) -> list[str]:
    """Validate the merged config as the workflow does and return the study's runs (nothing is trained)."""
    from transrec.studies import grid

    resolved = grid.resolve_config(config)
    return [run.out_dir for run in grid.study_runs(resolved, STUDY)]


def run(config: dict, work: Path, out: Path, jobs: int, minutes: float) -> int:
    """Snakemake on the GPU, `jobs` training runs sharing it, stopped after `minutes`; tables copied to `out`."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(work),
        "--configfile",
        str(work / "config.yaml"),
        "--cores",
        str(os.cpu_count() or 4),
        "--resources",
        f"gpu={jobs}",
        "--keep-going",
        *TARGETS,
    ]
    try:
        code = subprocess.run(command, cwd=REPO, timeout=60 * minutes).returncode
    except subprocess.TimeoutExpired:
        code = 124
        print(f"gpu_study: stopped after {minutes:g} minutes; the runs finished so far are tabled", flush=True)
    finished = sorted(str(p) for p in (work / "results" / "runs").rglob("metrics.json"))
    out.mkdir(parents=True, exist_ok=True)
    if finished:
        from transrec.studies.tables import write_runs_table

        write_runs_table(finished, out / "gpu_study_runs.csv", out / "gpu_study_runs.md")
    for target in TARGETS[:2]:
        if (work / target).exists():
            shutil.copy(work / target, out / Path(target).name)
    print(f"gpu_study: {len(finished)} runs finished, exit {code}; tables in {out}", flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="validate and list the runs only (CPU smoke mode)")
    shared = (REPO / os.environ.get("TRANSREC_SHARED_DATA", "../shared/data")).resolve()  # relative = to the repo root
    parser.add_argument("--data", default=str(shared / "amazon_instruments"))
    parser.add_argument("--seeds", default="42", help="space-separated, e.g. '42 43 44'")
    parser.add_argument("--work", type=Path, default=Path("/tmp/transrec_gpu_suite"))
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--jobs", type=int, default=6, help="training runs sharing the GPU at once")
    parser.add_argument("--minutes", type=float, default=7.0)
    args = parser.parse_args(argv)
    config = merged_config(args.data, [int(s) for s in args.seeds.split()])
    runs = check(config)
    print(f"gpu_study: {STUDY} has {len(runs)} runs (config valid)", flush=True)
    if args.check:
        return 0
    return run(config, args.work, args.out, args.jobs, args.minutes)


if __name__ == "__main__":
    sys.exit(main())
