"""Atomic, byte-reproducible writers for the synthetic raw files (text, gzip, binary)."""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from transrec.io import atomic_path


def write_lines(path: Path, lines: Iterable[str], block: int = 65536) -> int:
    """Write `lines` (no trailing newlines) one a line, UTF-8, atomically; gzip when the name ends in .gz."""
    count = 0
    with atomic_path(path) as tmp:
        raw = open(tmp, "wb")
        # mtime=0 and no file name in the header, so the same content gives the same bytes
        stream = (
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6)
            if path.name.endswith(".gz")
            else raw
        )
        try:
            buffer: list[str] = []
            for line in lines:
                buffer.append(line)
                if len(buffer) >= block:
                    stream.write(("\n".join(buffer) + "\n").encode("utf-8"))
                    count += len(buffer)
                    buffer.clear()
            if buffer:
                stream.write(("\n".join(buffer) + "\n").encode("utf-8"))
                count += len(buffer)
        finally:
            if stream is not raw:
                stream.close()
            raw.close()
    return count


def write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_path(path, path.suffix) as tmp:
        tmp.write_bytes(data)


@contextlib.contextmanager
def replace_dir(folder: Path) -> Iterator[Path]:
    """Yield an empty staging folder beside `folder`; it replaces `folder` only if the block succeeds."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        yield staging
        if folder.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old.", dir=folder.parent))
            os.replace(folder, old / folder.name)
            os.replace(staging, folder)
            shutil.rmtree(old)
        else:
            os.replace(staging, folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
