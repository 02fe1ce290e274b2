"""The warm-start trainer: same results as a fresh process, one server per key, exit status, kill, fallback."""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_loop import tiny_run
from transrec.train import warm
from transrec.train.run_lock import LOCK_NAME

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the warm server is Linux-only")


@pytest.fixture(scope="module")
def warm_env(tmp_path_factory):
    """An environment with a private socket folder (no server shared with real runs); its servers killed after."""
    folder = tmp_path_factory.mktemp("warm")
    env = {**os.environ, "TRANSREC_WARM_DIR": str(folder), "TRANSREC_WARM_IDLE": "60"}
    yield env
    for pid in server_pids(folder):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def server_pids(folder: Path) -> list[int]:
    """The PIDs of the servers started in `folder` (from their logs)."""
    return [int(pid) for log in folder.glob("*.log") for pid in re.findall(r"^(\d+): warm in", log.read_text(), re.M)]


def write_run(root: Path, **overrides) -> Path:
    path = root / "run.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(tiny_run(root, **overrides)))
    return path


def launch(module: str, run: Path, env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", module, str(run), "--threads", "1", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def untimed(metrics: dict) -> dict:
    """metrics.json without its timings."""
    if isinstance(metrics, dict):
        return {k: untimed(v) for k, v in metrics.items() if "seconds" not in k}
    return [untimed(v) for v in metrics] if isinstance(metrics, list) else metrics


def test_a_warm_run_matches_a_fresh_process_and_reuses_the_server(tmp_path, warm_env):
    fresh = launch("transrec.train", write_run(tmp_path / "fresh"), warm_env)
    first = launch("transrec.train.warm", write_run(tmp_path / "warm"), warm_env)  # starts the server meanwhile
    assert fresh.wait(timeout=120) == 0, fresh.stderr.read()
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert re.search(r"best epoch \d+: valid", err)  # the trainer's logging reaches the client's stderr
    expected = untimed(json.loads((tmp_path / "fresh" / "run" / "metrics.json").read_text()))
    assert untimed(json.loads((tmp_path / "warm" / "run" / "metrics.json").read_text())) == expected
    servers = server_pids(Path(warm_env["TRANSREC_WARM_DIR"]))
    second = launch("transrec.train.warm", write_run(tmp_path / "again"), warm_env, "--no-resume")
    assert second.wait(timeout=60) == 0, second.stderr.read()
    assert server_pids(Path(warm_env["TRANSREC_WARM_DIR"])) == servers and len(servers) == 1
    assert untimed(json.loads((tmp_path / "again" / "run" / "metrics.json").read_text())) == expected


def test_the_key_follows_sources_and_import_time_environment(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "sub" / "a.py").write_text("x = 1\n")
    env = {"HF_HOME": "/hf", "SNAKEMAKE_JOB": "1"}
    key = warm.server_key(package, env, cwd="/w")
    assert warm.server_key(package, env, cwd="/w") == key
    assert warm.server_key(package, {**env, "SNAKEMAKE_JOB": "2", "TRANSREC_WATCH_PID": "9"}, cwd="/w") == key
    assert warm.server_key(package, {**env, "HF_HOME": "/other"}, cwd="/w") != key
    assert warm.server_key(package, {**env, "OMP_NUM_THREADS": "1"}, cwd="/w") != key
    assert warm.server_key(package, env, cwd="/elsewhere") != key
    stat = (package / "sub" / "a.py").stat()
    os.utime(package / "sub" / "a.py", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert warm.server_key(package, env, cwd="/w") != key
    (package / "b.py").write_text("")
    assert len({key, warm.server_key(package, env, cwd="/w")}) == 2


def test_the_exit_status_and_error_reach_the_client(tmp_path, warm_env):
    client = launch("transrec.train.warm", tmp_path / "missing.json", warm_env)
    _, err = client.communicate(timeout=60)
    assert client.returncode == 1
    assert "missing.json" in err and "Traceback" in err


def _locked(path: Path) -> bool:
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False


def _wait(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.parametrize("signum, status", [(signal.SIGKILL, -signal.SIGKILL), (signal.SIGTERM, 143)])
def test_killing_the_client_ends_its_trainer(tmp_path, warm_env, signum, status):
    run = write_run(tmp_path, train={"epochs": 100_000, "batch_size": 3, "patience": 100_000, "threads": 1, "seed": 3})
    lock = tmp_path / "run" / LOCK_NAME
    client = launch("transrec.train.warm", run, warm_env)
    try:
        assert _wait(lambda: lock.exists() and _locked(lock), 60), "the trainer never took its run lock"
    finally:
        client.send_signal(signum)  # SIGKILL: the child sees the hang-up; SIGTERM: the client forwards it
        assert client.wait(timeout=10) == status
    assert _wait(lambda: not _locked(lock), 5), "the trainer outlived its client"


def test_the_fallback_trains_in_the_client_process(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TRANSREC_WARM", "0")
    monkeypatch.setenv("TRANSREC_WARM_DIR", str(tmp_path / "sockets"))
    assert warm.main([str(write_run(tmp_path)), "--threads", "1"]) == 0
    assert "training in this process" in capsys.readouterr().err
    assert (tmp_path / "run" / "metrics.json").exists()
    assert not (tmp_path / "sockets").exists()  # no server was asked for
