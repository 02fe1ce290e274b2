"""Item images by URL: bounded concurrency, per-host politeness, resume by skipping fetched files, a failure report."""

from __future__ import annotations

import csv
import logging
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import requests

from transrec.data.ingest.readers import iter_records
from transrec.download.http import RETRIED, DownloadError, Policy, fetch
from transrec.io import atomic_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Politeness:
    """At most `workers` requests in flight, at most `per_host` to one host,
    `min_interval_s` between a host's starts."""

    workers: int = 16
    per_host: int = 4
    min_interval_s: float = 0.05


class HostGate:
    """Per-host concurrency limit and spacing between request starts; shared by the worker threads."""

    def __init__(self, politeness: Politeness) -> None:
        self.politeness = politeness
        self.lock = threading.Lock()
        self.slots: dict[str, threading.Semaphore] = {}
        self.next_start: dict[str, float] = {}

    def __call__(self, host: str) -> _Slot:
        with self.lock:
            slot = self.slots.setdefault(host, threading.Semaphore(self.politeness.per_host))
        return _Slot(self, host, slot)

    def wait_turn(self, host: str) -> None:
        """Sleep until this host may see another request start."""
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next_start.get(host, now))
            self.next_start[host] = start + self.politeness.min_interval_s
        time.sleep(max(0.0, start - now))


@dataclass
class _Slot:
    gate: HostGate
    host: str
    semaphore: threading.Semaphore

    def __enter__(self) -> None:
        self.semaphore.acquire()
        self.gate.wait_turn(self.host)

    def __exit__(self, *exc: object) -> None:
        self.semaphore.release()


def fetch_images(
    urls: dict[str, str],
    dest_dir: str | os.PathLike,
    report: str | os.PathLike,
    *,
    politeness: Politeness = Politeness(),
    policy: Policy = Policy(timeout_s=30, retries=2, backoff_s=1),
) -> dict[str, int]:
    """Fetch `urls` {relative path under dest_dir: url}; files already there are skipped (a rerun resumes).

    Every failure (HTTP error, timeout after retries) is written to `report` (tsv: path, url, reason) and counted, never
    raised: the image stage's `images.max_missing_fraction` decides whether too many are missing.
    """
    dest_dir = Path(dest_dir)
    todo = {key: url for key, url in urls.items() if not (dest_dir / key).is_file()}
    gate, session = HostGate(politeness), requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=politeness.workers, pool_maxsize=politeness.workers)
    session.mount("http://", adapter)
    session.mount("https://", adapter)

    def one(item: tuple[str, str]) -> tuple[str, str, str | None]:
        key, url = item
        try:
            with gate(urlparse(url).netloc):
                fetch(url, dest_dir / key, policy=policy, session=session)
            return key, url, None
        except (DownloadError, *RETRIED, requests.RequestException, OSError) as error:
            return key, url, f"{type(error).__name__}: {error}"

    failures = []
    with ThreadPoolExecutor(max_workers=politeness.workers) as pool:
        for key, url, reason in pool.map(one, sorted(todo.items())):
            if reason:
                failures.append((key, url, reason))
    with atomic_path(report, ".tsv") as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["path", "url", "reason"])
        writer.writerows(failures)
    counts = {
        "requested": len(urls),
        "already_there": len(urls) - len(todo),
        "fetched": len(todo) - len(failures),
        "failed": len(failures),
    }
    log.info("images: %s (failures listed in %s)", counts, report)
    return counts


def amazon_image_urls(meta_files: list[Path]) -> dict[str, str]:
    """{images/<asin>.jpg: url} from Amazon metadata: `imUrl` (2014), else the first `imageURLHighRes`/`imageURL`
    (2018); the paths are where the Amazon ingest expects each item's image."""
    urls: dict[str, str] = {}
    for path in meta_files:
        for record in _records(path):
            asin = record.get("asin")
            url = record.get("imUrl") or _first(record.get("imageURLHighRes")) or _first(record.get("imageURL"))
            if isinstance(asin, str) and asin and isinstance(url, str) and url.startswith(("http://", "https://")):
                urls[f"images/{asin}.jpg"] = url
    return urls


def _records(path: Path) -> Iterator[dict]:
    for record in iter_records(path, allow_literal=True):
        if record.value is not None:  # malformed lines are the ingest stage's to quarantine and count
            yield record.value


def _first(value: object) -> str | None:
    return value[0] if isinstance(value, list) and value and isinstance(value[0], str) else None
