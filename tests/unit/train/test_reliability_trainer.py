"""Issue 16 for the trainer: one writer per run folder, an orphan exits, a damaged last.pt resumes, GPUs checked."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_loop import tiny_run
from transrec.locks import LockedError
from transrec.train import checkpoint, run_lock
from transrec.train.__main__ import main
from transrec.train.config import RunConfig
from transrec.train.distributed import check_devices
from transrec.train.loop import train

HOLD = (
    "import sys, time; from transrec.train.run_lock import run_lock\nwith run_lock(sys.argv[1]):\n"
    "    print('locked', flush=True); time.sleep(60)"
)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_a_second_trainer_on_a_locked_run_stops_naming_the_holder(tmp_path):
    run = tiny_run(tmp_path)
    (tmp_path / "run.json").write_text(json.dumps(run))
    with subprocess.Popen([sys.executable, "-c", HOLD, run["out_dir"]], stdout=subprocess.PIPE, text=True) as holder:
        try:
            assert holder.stdout.readline().strip() == "locked"
            with pytest.raises(
                LockedError, match=rf"run folder {run['out_dir']} is in use by pid {holder.pid} on host"
            ):
                main([str(tmp_path / "run.json")])
            assert not (Path(run["out_dir"]) / "train.log").exists()  # stopped before touching any file
        finally:
            holder.kill()
    main([str(tmp_path / "run.json")])  # the OS released the dead holder's lock
    assert (Path(run["out_dir"]) / "metrics.json").exists()


FAKE_SNAKEMAKE = """\
import subprocess, sys
# like Snakemake: the job runs in a shell, the trainer is the shell's child
child = subprocess.Popen(["bash", "-c", sys.executable + " -c '" + sys.argv[1] + "'; echo"])
print(child.pid, flush=True)
child.wait()
"""
ORPHAN = """import os, time
from transrec.train.run_lock import exit_with_owner
with exit_with_owner(poll=0.05) as owner:
    print(os.getpid(), owner, flush=True)
    time.sleep(60)
"""


def test_the_trainer_exits_when_its_snakemake_is_killed(tmp_path):
    fake = tmp_path / "snakemake"  # found as an ancestor by its name, as the real one is
    fake.write_text(FAKE_SNAKEMAKE)
    with subprocess.Popen([sys.executable, str(fake), ORPHAN], stdout=subprocess.PIPE, text=True) as parent:
        shell = int(parent.stdout.readline())
        pid, owner = map(int, parent.stdout.readline().split())
        assert owner == parent.pid and _parent_of(pid) == shell  # the owner is found past the job's shell
        os.kill(parent.pid, signal.SIGKILL)  # kill -9 of Snakemake alone: its shell and the trainer stay
        parent.wait()
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(pid), "the orphaned trainer kept running"


def _parent_of(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def test_no_owner_outside_snakemake(monkeypatch):
    monkeypatch.delenv(run_lock.WATCH_ENV, raising=False)
    assert run_lock.owner_pid() is None or run_lock._is_snakemake(run_lock.owner_pid())
    monkeypatch.setenv(run_lock.WATCH_ENV, str(os.getppid()))
    assert run_lock.owner_pid() == os.getppid()


def _strip(metrics: dict) -> dict:
    curve = [{k: v for k, v in c.items() if "seconds" not in k} for c in metrics["curve"]]
    return {"best_epoch": metrics["best_epoch"], "valid": metrics["valid"], "test": metrics["test"], "curve": curve}


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # a copy torn half-way


def test_a_truncated_last_pt_resumes_from_the_previous_state(tmp_path, caplog):
    whole = train(RunConfig.from_dict(tiny_run(tmp_path / "whole")))
    run = RunConfig.from_dict(
        tiny_run(tmp_path / "torn", train={"epochs": 3, "batch_size": 3, "patience": 100, "threads": 1, "seed": 3})
    )
    train(run)  # 3 of 4 epochs: last.pt holds epoch 3, last.prev.pt epoch 2
    out = Path(run.out_dir)
    assert checkpoint.load(out / "last.prev.pt")["epoch"] == 2
    _truncate(out / "last.pt")
    with pytest.raises(checkpoint.DamagedCheckpointError, match=rf"{out / 'last.pt'} is not a readable checkpoint"):
        checkpoint.load(out / "last.pt")
    (out / "metrics.json").unlink()
    resumed = train(RunConfig.from_dict({**run.to_dict(), "train": {**run.to_dict()["train"], "epochs": 4}}))
    assert "resuming from the previous good state" in caplog.text and (out / "last.pt.damaged").exists()
    assert _strip(resumed) == _strip(whole)


def test_no_good_state_starts_the_run_over(tmp_path, caplog):
    last = tmp_path / "last.pt"
    last.write_bytes(b"PK\x03\x04 torn")
    assert checkpoint.load_resumable(last) is None
    assert "starting the run over" in caplog.text and (tmp_path / "last.pt.damaged").exists() and not last.exists()
    assert checkpoint.load_resumable(tmp_path / "absent.pt") is None


@pytest.mark.parametrize(
    ("device", "world", "local", "cuda", "message"),
    [
        ("auto", 4, 4, 0, r"train.gpus is 4 .* 0 CUDA device\(s\); set train.gpus to at most 1, or train.device: cpu"),
        ("cuda", 4, 4, 2, r"train.gpus is 4 .* 2 CUDA device\(s\); set train.gpus to at most 2"),
        ("cuda", 1, 1, 0, r"train.device is 'cuda' but this host has no CUDA device"),
        ("auto", 1, 1, 0, None),  # one process: CPU when there is no GPU (the embedded default)
        ("cpu", 4, 4, 0, None),  # several CPU processes, asked for by config
        ("auto", 8, 4, 4, None),  # two hosts of four GPUs
    ],
)
def test_gpus_asked_versus_present(device, world, local, cuda, message):
    if message is None:
        check_devices(device, world, local, cuda)
    else:
        with pytest.raises(RuntimeError, match=message):
            check_devices(device, world, local, cuda)


def test_setup_stops_four_processes_on_a_host_without_gpus(monkeypatch):
    from transrec.train import distributed

    monkeypatch.setattr(distributed.torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(distributed.torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(RuntimeError, match=r"train.gpus is 4 .* 0 CUDA device"):
        distributed.setup("auto")  # before any process group is joined
