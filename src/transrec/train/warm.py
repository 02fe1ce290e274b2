"""Warm-start client: `python -m transrec.train.warm <transrec.train argv>`
runs the trainer in a fork of a warm server."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # src/transrec
KEY_PREFIXES = (
    "HF_",
    "TRANSFORMERS_",
    "TORCH",
    "PYTORCH_",
    "CUDA",
    "NVIDIA_",
    "OMP_",
    "MKL_",
    "KMP_",
    "OPENBLAS_",
    "TOKENIZERS_",
    "PYTHON",
    "LD_",
    "XDG_",
    "TRANSREC_",
)
KEY_NAMES = ("HOME", "TMPDIR", "LANG", "LC_ALL")  # cache folders and the temp dir are resolved at import
NOT_KEY = ("TRANSREC_WATCH_PID", "TRANSREC_WARM_START_TIMEOUT")  # set per child / read by the client only
START_TIMEOUT_S = float(os.environ.get("TRANSREC_WARM_START_TIMEOUT", "120"))


def server_key(package_dir: Path = PACKAGE_DIR, env: Mapping[str, str] = os.environ, cwd: str | None = None) -> str:
    """16 hex digits naming everything a warm process could differ from a fresh one in: the interpreter, sys.path
    (its folders' mtimes change when packages are installed), the cwd (sys.path[0] under -m), every .py of the
    package (path, mtime_ns, size) and the environment variables libraries read at import."""
    parts = [sys.executable, cwd or os.getcwd()]
    for entry in sys.path[1:]:  # sys.path[0] is the cwd (its mtime moves with every file made there)
        with contextlib.suppress(OSError):
            parts.append(f"{entry}:{os.stat(entry).st_mtime_ns}")
    for path in sorted(package_dir.rglob("*.py")):
        stat = path.stat()
        parts.append(f"{path.relative_to(package_dir)}:{stat.st_mtime_ns}:{stat.st_size}")
    parts += sorted(
        f"{k}={v}" for k, v in env.items() if (k.startswith(KEY_PREFIXES) or k in KEY_NAMES) and k not in NOT_KEY
    )
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def socket_path() -> Path:
    """<tmp>/transrec-warm-<uid>/<key>.sock ($TRANSREC_WARM_DIR replaces the folder); a private folder, or OSError."""
    folder = Path(os.environ.get("TRANSREC_WARM_DIR") or Path(tempfile.gettempdir()) / f"transrec-warm-{os.getuid()}")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    stat = folder.stat()
    if stat.st_uid != os.getuid() or stat.st_mode & 0o022 or not os.access(folder, os.W_OK):
        raise OSError(f"{folder} is not a private writable folder")
    path = folder / f"{server_key()}.sock"
    if len(os.fsencode(path)) >= 108:
        raise OSError(f"{path} is too long for a Unix socket")
    return path


@contextlib.contextmanager
def flock(path: Path, blocking: bool = True) -> Iterator[int | None]:
    """Hold an exclusive flock on `path` for the block: its fd, or None (not blocking) when another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield None
            return
        yield fd
    finally:
        os.close(fd)


def _connect(path: Path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
        return sock
    except OSError:
        sock.close()
        return None


def connect(path: Path) -> socket.socket:
    """A connection to the server on `path`, starting it (one per key: flock on <key>.lock) when absent."""
    sock = _connect(path)
    if sock:
        return sock
    with flock(path.with_suffix(".lock")):
        sock = _connect(path)
        if sock:
            return sock
        server = None
        with flock(path.with_suffix(".server.lock"), blocking=False) as free:
            pass
        if (
            free is not None
        ):  # no server lives (a slow-starting one holds .server.lock): clear a stale socket, start one
            path.unlink(missing_ok=True)
            with path.with_suffix(".log").open("ab") as log:
                server = subprocess.Popen(
                    [sys.executable, "-m", "transrec.train.warm", "--serve", str(path)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and not (server and server.poll() is not None):
            sock = _connect(path)
            if sock:
                return sock
            time.sleep(0.05)
    raise OSError(f"no warm server on {path} after {START_TIMEOUT_S:.0f} s (see {path.with_suffix('.log')})")


def run_warm(argv: list[str], path: Path) -> int | None:
    """Run the trainer in a fork of the server; its exit status, or None when it never started (use the fallback)."""
    sock = connect(path)
    from transrec.train.run_lock import owner_pid  # standard library only

    # the trainer's watchdog follows what a trainer started here would follow (the nearest Snakemake ancestor), so a
    # SIGKILLed Snakemake takes the forked trainer along; the client's own death is seen as a hang-up
    watch = owner_pid() or os.getpid()
    request = json.dumps(
        {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "pid": os.getpid(), "watch": watch}
    ).encode()
    sys.stdout.flush()
    sys.stderr.flush()
    socket.send_fds(sock, [struct.pack("!Q", len(request))], [0, 1, 2])
    sock.sendall(request)
    replies = sock.makefile("r", encoding="utf-8")
    first = replies.readline()
    if not first.startswith("pid "):
        return None  # the server exited between accepting and forking
    child = int(first.split()[1])

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    last = replies.readline()
    return int(last.split()[1]) if last.startswith("exit ") else 143  # dropped without a status: killed


def main(argv: list[str]) -> int:
    """The trainer's exit status: through the warm server when possible, else in this process."""
    if os.environ.get("TRANSREC_WARM", "1") == "0":
        reason = "TRANSREC_WARM=0"
    elif not sys.platform.startswith("linux"):
        reason = f"not Linux ({sys.platform})"
    else:
        try:
            status = run_warm(argv, socket_path())
            if status is not None:
                return status
            reason = "the server closed before starting the trainer"
        except OSError as error:
            reason = str(error)
    print(f"transrec.train.warm: no warm server ({reason}); training in this process", file=sys.stderr, flush=True)
    from transrec.train.__main__ import main as train_main

    train_main(argv)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        from transrec.train.warm_server import serve

        serve(Path(sys.argv[2]))
    else:
        sys.exit(main(sys.argv[1:]))
