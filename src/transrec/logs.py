"""Logging to a rule's log file and progress bars that degrade to plain lines off a terminal."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextlib.contextmanager
def log_to_file(path: str | os.PathLike | None, level: int = logging.INFO, mode: str = "w") -> Iterator[logging.Logger]:
    """Send all `logging` output (and warnings) to `path` (and stderr) for the duration of the block."""
    root = logging.getLogger()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, mode=mode, encoding="utf-8"))
    old_level = root.level
    root.setLevel(level)
    for handler in handlers:
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
    logging.captureWarnings(True)
    try:
        yield root
    except Exception:
        root.exception("failed")
        raise
    finally:
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(old_level)


def progress(iterable: Iterable[T], desc: str, total: int | None = None, every: int = 0) -> Iterator[T]:
    """A tqdm bar on a terminal; elsewhere a log line every `every` items (default: about 10 lines)."""
    if sys.stderr.isatty():
        yield from tqdm(iterable, desc=desc, total=total, dynamic_ncols=True)
        return
    log = logging.getLogger("progress")
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    step = every or max(1, (total or 1000) // 10)
    count = 0
    for count, item in enumerate(iterable, 1):
        yield item
        if count % step == 0:
            log.info("%s: %d/%s", desc, count, total if total is not None else "?")
    log.info("%s: done, %d items", desc, count)
