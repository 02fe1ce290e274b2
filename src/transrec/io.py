"""Atomic file writes (every output appears whole or not at all) and clear errors when the disk is full."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
# writers that do not raise OSError (polars, lmdb) only say it in their message
DISK_FULL_TEXT = ("no space left on device", "os error 28", "disk quota exceeded", "os error 122")


class DiskFullError(OSError):
    """An output could not be written because its filesystem is full (ENOSPC) or over quota."""


def is_disk_full(error: BaseException) -> bool:
    """Whether `error`, or an exception it was raised from, reports a full disk or an exceeded quota."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in DISK_FULL_ERRNOS:
            return True
        if any(text in str(current).lower() for text in DISK_FULL_TEXT):
            return True
        current = current.__cause__ or current.__context__
    return False


def free_mib(path: str | os.PathLike) -> float | None:
    """Free space in MiB on the filesystem holding `path` (its nearest existing parent), or None if unknown."""
    probe = Path(path).absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return shutil.disk_usage(probe).free / 2**20
    except OSError:
        return None


def disk_full_error(path: str | os.PathLike, error: BaseException) -> DiskFullError:
    """A DiskFullError naming `path`, the free space left and the original error."""
    free = free_mib(path)
    space = f"{free:.1f} MiB free" if free is not None else "free space unknown"
    return DiskFullError(
        errno.ENOSPC,
        f"disk full while writing {path} ({space} on its filesystem; {type(error).__name__}: {error}). "
        "Nothing was written there: free space (or move the output folder) and rerun",
    )


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    A full disk, while writing or renaming, raises DiskFullError naming `path`; the temporary file is removed."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_path: Path | None = None
    umask = os.umask(0)
    os.umask(umask)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or ".tmp", dir=target.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        yield tmp_path
        if tmp_path.is_file():  # mkstemp creates 0600; give the output the permissions of an ordinary file
            tmp_path.chmod(0o666 & ~umask)
        os.replace(tmp_path, target)
    except Exception as error:
        if is_disk_full(error) and not isinstance(error, DiskFullError):
            raise disk_full_error(target, error) from error
        raise
    finally:
        if tmp_path is not None and tmp_path.exists():
            tmp_path.unlink()


def replace_dir(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Move the finished folder `source` onto `target`, replacing it; across filesystems (EXDEV), copy beside
    `target` first and rename that copy, so `target` is never seen half-copied."""
    source, target = Path(source), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(target, ignore_errors=True)
    try:
        os.replace(source, target)
        return
    except OSError as error:
        if error.errno != errno.EXDEV:
            raise
    staging = target.with_name(f".{target.name}.copy")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        shutil.copytree(source, staging)
    except Exception as error:
        shutil.rmtree(staging, ignore_errors=True)
        if is_disk_full(error):
            raise disk_full_error(target, error) from error
        raise
    os.replace(staging, target)
    shutil.rmtree(source)


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write `data` as indented JSON, atomically."""
    with atomic_path(path, ".json") as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")


def write_parquet(frame, path: str | os.PathLike) -> None:
    """Write a polars DataFrame to parquet, atomically."""
    with atomic_path(path, ".parquet") as tmp:
        frame.write_parquet(tmp)


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
