"""The Snakefile's onstart hook turns Snakemake's job rate limiter off for local runs (transrec/scheduling.py)."""

import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

from transrec.scheduling import drop_local_rate_limit

REPO = Path(__file__).resolve().parents[2]

SNAKEFILE = """
from transrec.scheduling import drop_local_rate_limit

onstart:
    drop_local_rate_limit(workflow)

rule all:
    input: expand("done/{i}.txt", i=range(3))

rule one:
    output: "done/{i}.txt"
    shell: "echo {wildcards.i} > {output}"
"""


def test_a_local_run_exits_right_after_its_last_job_under_a_long_rate_limit(tmp_path):
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    command = [sys.executable, "-m", "snakemake", "--cores", "1", "--max-jobs-per-timespan", "1000/5m"]
    started = time.monotonic()
    # without the hook the process waits for its last 5-minute rate-limit timer before it exits
    proc = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == ["0.txt", "1.txt", "2.txt"]
    assert time.monotonic() - started < 200  # far below the 300 s a leftover timer holds the process


def _workflow(local: bool) -> SimpleNamespace:
    return SimpleNamespace(local_exec=local, scheduler=SimpleNamespace(job_rate_limiter=object()))


def test_only_a_local_run_loses_its_limiter():
    local, cluster = _workflow(True), _workflow(False)
    assert drop_local_rate_limit(local) and local.scheduler.job_rate_limiter is None
    assert not drop_local_rate_limit(cluster) and cluster.scheduler.job_rate_limiter is not None
    assert not drop_local_rate_limit(SimpleNamespace(local_exec=True))  # a Snakemake without the attribute: untouched
