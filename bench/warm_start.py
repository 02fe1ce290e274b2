"""Wall seconds per training job: a fresh `python -m transrec.train` versus
the warm-start client (docs/warm_start.md)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unit" / "train"))
from test_loop import tiny_run  # noqa: E402  (the unit tests' tiny run: id encoder, 8 users, 4 epochs)


def timed(module: str, run: Path, env: dict) -> float:
    """Wall seconds of one job launched as the workflow launches it (a warm job that fell back raises)."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", module, str(run), "--threads", "1"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seconds = time.perf_counter() - started
    if "training in this process" in done.stderr:
        raise RuntimeError(f"the warm client fell back: {done.stderr[:500]}")
    print(f"{module}: {seconds:.2f} s", file=sys.stderr, flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="jobs per launcher")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="warm-bench-") as tmp:
        root = Path(tmp)
        env = {**os.environ, "TRANSREC_WARM_DIR": str(root / "sockets"), "TRANSREC_WARM_IDLE": "30"}

        def job(name: str) -> Path:
            path = root / name / "run.json"
            path.parent.mkdir(parents=True)
            path.write_text(json.dumps(tiny_run(root / name)))
            return path

        fresh = [timed("transrec.train", job(f"fresh{i}"), env) for i in range(args.runs)]
        first = timed("transrec.train.warm", job("warm_first"), env)  # starts the server (its imports)
        warm = [timed("transrec.train.warm", job(f"warm{i}"), env) for i in range(args.runs)]
        servers = [
            int(pid)
            for log in (root / "sockets").glob("*.log")
            for pid in re.findall(r"^(\d+): warm in", log.read_text(), re.M)
        ]
        for pid in servers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
    report = {
        "runs": args.runs,
        "fresh_mean_s": round(statistics.mean(fresh), 2),
        "warm_first_s (starts the server)": round(first, 2),
        "warm_mean_s": round(statistics.mean(warm), 2),
        "ratio fresh/warm": round(statistics.mean(fresh) / statistics.mean(warm), 1),
        f"ratio over {args.runs + 1} jobs incl. server start": round(
            statistics.mean(fresh) * (args.runs + 1) / (first + sum(warm)), 1
        ),
        "fresh_s": [round(t, 2) for t in fresh],
        "warm_s": [round(t, 2) for t in warm],
        "server_starts": len(servers),  # > 1 when transrec's code changed during the run (a new key, a new server)
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0],
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
