"""The SLURM profile for real: a one-node cluster on this machine runs the smoke target through `--profile
profiles/slurm` to the same outputs as a local run, and a scancel'd job is retried, never waited on (issue 16).

Skipped unless root with Debian's slurmctld, slurmd, munged and sbatch installed (.ci/run tries to install them)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

REPO = Path(__file__).resolve().parents[2]
CLUSTER = REPO / "profiles" / "slurm" / "local_cluster.sh"
SMOKE = ["results/split/mind/split.parquet"]  # synthetic MIND: generate, ingest, sequences, split (4 jobs)
CONFIG = ["--configfile", str(REPO / "config" / "config.yaml"), str(REPO / "config" / "smoke.yaml")]  # tiny data
OUTPUTS = [
    "results/ingest/mind/items.parquet",
    "results/ingest/mind/interactions.parquet",
    "results/sequences/mind/sequences.parquet",
    "results/split/mind/split.parquet",
]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
ON_SLURM = [
    "--profile",
    str(REPO / "profiles" / "slurm"),
    "--slurm-init-seconds-before-status-checks",
    "2",
    "--default-resources",
    "slurm_partition=local",
    "mem_mb=1000",
    "runtime=10",
]  # the local partition

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> dict[str, str]:
    """A running one-node SLURM (stopped afterwards); the environment that reaches it."""
    missing = [
        tool
        for tool in ("slurmctld", "slurmd", "munged", "sbatch")
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists()
    ]
    if missing or os.geteuid() != 0:
        pytest.skip(
            f"needs root and SLURM ({', '.join(missing) or 'not root'}): apt-get install slurmctld slurmd "
            "munge slurm-client"
        )
    if Path("/etc/slurm/slurm.conf").exists() and not Path("/etc/slurm/slurm.conf").is_symlink():
        pytest.skip("this machine has a SLURM configuration of its own (/etc/slurm/slurm.conf): not touching it")
    state = tmp_path_factory.mktemp("slurm")
    started = subprocess.run(["bash", str(CLUSTER), "start", str(state)], capture_output=True, text=True, timeout=120)
    if started.returncode != 0:
        pytest.skip(f"a local SLURM did not start: {started.stderr[-500:]}")
    env = {**os.environ, "SLURM_CONF": str(state / "slurm.conf"), "HF_HUB_OFFLINE": "1"}
    yield env
    subprocess.run(["bash", str(CLUSTER), "stop", str(state)], timeout=60)


def snakemake(workdir: Path, env: dict[str, str], *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """Snakemake on the smoke target in `workdir`."""
    return subprocess.run(
        [*SNAKEMAKE, "--directory", str(workdir), *CONFIG, *args, "--", *SMOKE],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_smoke_target_on_slurm_matches_a_local_run_and_a_cancelled_job_is_retried(cluster, tmp_path):
    local = snakemake(tmp_path / "local", cluster, "--cores", "2")
    assert local.returncode == 0, local.stderr[-3000:]
    started = time.monotonic()
    on_slurm = snakemake(tmp_path / "slurm", cluster, *ON_SLURM)
    assert on_slurm.returncode == 0, on_slurm.stderr[-3000:]
    assert "has been submitted with SLURM jobid" in on_slurm.stderr
    for output in OUTPUTS:
        assert pl.read_parquet(tmp_path / "slurm" / output).equals(pl.read_parquet(tmp_path / "local" / output)), output
    assert time.monotonic() - started < 600

    # scancel the split job as soon as SLURM runs it: the profile's retry reruns it, Snakemake finishes
    (tmp_path / "slurm" / OUTPUTS[-1]).unlink()
    command = [*SNAKEMAKE, "--directory", str(tmp_path / "slurm"), *CONFIG, *ON_SLURM, "--", *SMOKE]
    with subprocess.Popen(
        command, cwd=REPO, env=cluster, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        deadline = time.monotonic() + 300
        while True:
            jobs = subprocess.run(["squeue", "-h", "-o", "%i"], env=cluster, capture_output=True, text=True).stdout
            if jobs.split():
                subprocess.run(["scancel", jobs.split()[0]], env=cluster, check=True)
                break
            assert proc.poll() is None and time.monotonic() < deadline, "no SLURM job appeared"
            time.sleep(0.2)
        output, _ = proc.communicate(timeout=600)  # never waited on forever
    assert "CANCELLED" in output, output[-3000:]
    assert proc.returncode == 0, output[-3000:]
    assert pl.read_parquet(tmp_path / "slurm" / OUTPUTS[-1]).equals(pl.read_parquet(tmp_path / "local" / OUTPUTS[-1]))
