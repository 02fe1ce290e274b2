"""Warm-start server: torch, transformers and the trainer imported once; each client's run in a fresh fork of it."""

from __future__ import annotations

import json
import os
import socket
import struct
import sys
import threading
import time
import traceback
from pathlib import Path

from transrec.train.warm import flock

IDLE_S = float(os.environ.get("TRANSREC_WARM_IDLE", "120"))


def warm_up() -> None:
    """Import what the trainer imports, without a torch op that starts OpenMP threads or CUDA
    (neither survives fork)."""
    import torch
    import transformers  # noqa: F401
    from transformers import AutoConfig, AutoModel, AutoTokenizer, BertModel, ViTMAEModel, ViTModel  # noqa: F401

    import transrec.train.__main__  # noqa: F401  (the trainer: loop, models, data)

    assert not torch.cuda.is_initialized(), "CUDA initialised before fork"
    assert threading.active_count() == 1, f"threads before fork: {threading.enumerate()}"


def serve(path: Path) -> None:
    """Accept clients on `path`, one fork each; exit (removing the socket) after IDLE_S without clients or children."""
    with flock(path.with_suffix(".server.lock"), blocking=False) as mine:
        if mine is None:
            print(f"{os.getpid()}: another server holds {path}", flush=True)
            return
        started = time.monotonic()
        warm_up()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        path.unlink(missing_ok=True)
        listener.bind(str(path))
        listener.listen(64)
        listener.settimeout(1.0)
        print(f"{os.getpid()}: warm in {time.monotonic() - started:.1f} s, serving {path}", flush=True)
        children: set[int] = set()
        last = time.monotonic()
        while True:
            children = {pid for pid in children if _running(pid)}
            if children:
                last = time.monotonic()
            elif time.monotonic() - last > IDLE_S:
                with flock(path.with_suffix(".lock"), blocking=False) as free:  # not while a client starts a server
                    if free is not None:
                        path.unlink(missing_ok=True)  # no new client can connect now; those queued are served below
                        listener.settimeout(0)
                        while (conn := _accept(listener)) is not None:
                            _fork(conn, [listener.fileno(), mine, free])
                        print(f"{os.getpid()}: idle {IDLE_S:.0f} s, exiting", flush=True)
                        return
            conn = _accept(listener)
            if conn is not None:
                children.add(_fork(conn, [listener.fileno(), mine]))
                last = time.monotonic()


def _accept(listener: socket.socket) -> socket.socket | None:
    try:
        return listener.accept()[0]
    except (TimeoutError, BlockingIOError):
        return None


def _running(pid: int) -> bool:
    """Whether a child still runs (reaping it when it has ended)."""
    try:
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return False


def _fork(conn: socket.socket, server_fds: list[int]) -> int:
    """Fork a child that runs the client's request on `conn`, closing the server's socket and flocks (a child holding
    them would keep a new server from starting); the child's PID."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        conn.close()
        return pid
    status = 1
    try:
        for fd in server_fds:
            os.close(fd)
        conn.setblocking(True)
        status = _child(conn)
    except BaseException:  # noqa: BLE001  (never return into the server's loop)
        traceback.print_exc()
    finally:
        os._exit(status)


def _child(conn: socket.socket) -> int:
    """Take the client's stdio, cwd, environment and argv; run the trainer; send its exit status."""
    header, fds, _, _ = socket.recv_fds(conn, 8, 3)
    header += _recv_exactly(conn, 8 - len(header))
    request = json.loads(_recv_exactly(conn, struct.unpack("!Q", header)[0]))
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ["TRANSREC_WATCH_PID"] = str(request["watch"])  # run_lock's watchdog: the client's Snakemake (or it)
    sys.argv = ["python -m transrec.train", *request["argv"]]
    conn.sendall(f"pid {os.getpid()}\n".encode())
    threading.Thread(target=_exit_on_hangup, args=(conn,), daemon=True).start()
    status = run(request["argv"])
    sys.stdout.flush()
    sys.stderr.flush()
    conn.sendall(f"exit {status}\n".encode())
    return status


def run(argv: list[str]) -> int:
    """transrec.train's main(argv) as a process would end it: its exit status, tracebacks on stderr."""
    from transrec.train.__main__ import main

    try:
        main(argv)
        return 0
    except SystemExit as end:
        if end.code is None or isinstance(end.code, int):
            return end.code or 0
        print(end.code, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BaseException:  # noqa: BLE001
        traceback.print_exc()
        return 1


def _recv_exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the client hung up mid-request")
        data += chunk
    return data


def _exit_on_hangup(conn: socket.socket) -> None:
    """End the child at once when its client goes (it never sends after the request); the PID watchdog is a backstop."""
    if not conn.recv(1):
        os._exit(143)
