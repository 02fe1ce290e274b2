"""Exclusive advisory file locks: one writer per run folder or shared work item, the holder's PID and host named."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)


class LockedError(RuntimeError):
    """Another live process holds the lock."""


def holder(path: str | os.PathLike) -> str:
    """Who holds (or last held) a lock file: `pid N on host H`, or `an unknown process`."""
    try:
        pid, _, host = Path(path).read_text(encoding="utf-8").strip().partition(" ")
    except OSError:
        return "an unknown process"
    return f"pid {pid} on host {host}" if pid.isdigit() else "an unknown process"


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike, what: str, advice: str, *, wait: bool = False) -> Iterator[None]:
    """Hold an exclusive flock on `path` (created if needed) for the block; the OS releases it when the process dies.

    Held elsewhere: raise LockedError naming `what`, the holder and `advice`, or (wait) log who holds it and wait.
    The file keeps `<pid> <host>` of the last holder; it is never deleted (deleting would let two holders in)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise LockedError(f"{what} is in use by {holder(path)} (lock file {path}): {advice}") from None
            log.info("waiting for %s, which holds %s (%s)", holder(path), path, what)
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)
