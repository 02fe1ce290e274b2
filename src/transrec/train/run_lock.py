"""One trainer per run folder: an exclusive lock on it, and an exit when the Snakemake that started the trainer dies."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from transrec.locks import exclusive_lock

log = logging.getLogger(__name__)
LOCK_NAME = ".trainer.lock"
WATCH_ENV = "TRANSREC_WATCH_PID"  # a PID to outlive no longer than (else the nearest Snakemake ancestor)
POLL_SECONDS = 1.0


def run_lock(out_dir: str | os.PathLike) -> contextlib.AbstractContextManager[None]:
    """Hold the run folder's lock; a second trainer on the folder stops at once with LockedError naming the holder."""
    out = Path(out_dir)
    advice = (
        "another trainer is writing this run (e.g. left running by a killed Snakemake); wait for it, or end it "
        "(kill <pid>) and rerun"
    )
    return exclusive_lock(out / LOCK_NAME, f"run folder {out}", advice)


def _start_time(pid: int) -> str | None:
    """A process's start time in clock ticks (/proc/<pid>/stat field 22), None when it is gone (or not Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return None if fields[0] in ("Z", "X") else fields[19]  # a zombie has died already


def _parent(pid: int) -> int:
    """The parent PID of `pid` (0 when unknown)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def _is_snakemake(pid: int) -> bool:
    """Whether a process runs Snakemake (`snakemake …` or `python -m snakemake …`)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:4]
    except OSError:
        return False
    names = [Path(arg.decode(errors="replace")).name for arg in argv]
    return "snakemake" in names or any(a == b"-m" and b == "snakemake" for a, b in zip(argv, names[1:]))


def owner_pid() -> int | None:
    """The process whose death should end this trainer: $TRANSREC_WATCH_PID, else the nearest Snakemake ancestor,
    else None (a trainer started by hand, or under nohup, outlives its shell)."""
    if os.environ.get(WATCH_ENV, "").isdigit():
        return int(os.environ[WATCH_ENV])
    pid = _parent(os.getpid())
    while pid > 1:
        if _is_snakemake(pid):
            return pid
        pid = _parent(pid)
    return None


def _watch(pid: int, started: str, poll: float) -> None:
    """Poll until `pid` (with this start time, so a reused PID does not count) is gone, then end this process."""
    while _start_time(pid) == started:
        time.sleep(poll)
    log.error(
        "the process that started this trainer (pid %d) is gone: exiting, so that a rerun never meets a second "
        "trainer on this run folder (last.pt holds the last finished epoch)",
        pid,
    )
    logging.shutdown()
    os._exit(143)  # as if SIGTERMed: the lock and every file handle go with the process


@contextlib.contextmanager
def exit_with_owner(poll: float = POLL_SECONDS) -> Iterator[int | None]:
    """Run the block with a watchdog thread that ends the process when its owner (see owner_pid) dies."""
    pid = owner_pid()
    started = _start_time(pid) if pid else None
    if pid and started:
        log.info("trainer %d exits if its owner, pid %d, dies", os.getpid(), pid)
        threading.Thread(target=_watch, args=(pid, started, poll), name="owner-watchdog", daemon=True).start()
    yield pid
