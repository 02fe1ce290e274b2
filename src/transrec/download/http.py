"""One file over HTTP: resumable (Range), retried with backoff, timed out, checksum-verified, published atomically."""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import requests
import tenacity
import urllib3

log = logging.getLogger(__name__)

CHUNK = 1 << 20
FATAL = {401: "unauthorised", 403: "forbidden", 404: "not found", 410: "gone"}


class DownloadError(RuntimeError):
    """A download that retrying cannot fix: 401/403/404, a checksum mismatch, an unexpected answer."""


class TransientError(RuntimeError):
    """A download that may succeed when retried: cut short, 5xx, 429."""


@dataclass(frozen=True)
class Policy:
    """How hard to try: per-read timeout, retries after the first attempt, first backoff (doubling, capped at 60 s)."""

    timeout_s: float = 60.0
    retries: int = 5
    backoff_s: float = 2.0


RETRIED = (
    TransientError,
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.ReadTimeoutError,
    urllib3.exceptions.ProtocolError,
)  # the last two: from raw reads


def sha256_of(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(
    url: str,
    dest: str | os.PathLike,
    *,
    policy: Policy = Policy(),
    sha256: str | None = None,
    manual: str = "",
    session: requests.Session | None = None,
    auth: tuple[str, str] | None = None,
) -> str:
    """Download `url` to `dest` and return its SHA-256; an existing `dest` is verified, not fetched again.

    Bytes land in `dest.part`, which a later call resumes with an HTTP Range request (a server that ignores Range
    restarts it); `dest` appears only complete and verified. 401/403/404/410 stop at once with the URL and `manual`
    (where to get the file by hand); dropped connections, stalls past `policy.timeout_s`, 429 and 5xx are retried
    `policy.retries` times with exponential backoff, resuming each time.
    """
    dest = Path(dest)
    if dest.is_file():
        return _verified(url, dest, sha256, dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    session = session or requests.Session()
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.retries + 1),
        wait=tenacity.wait_exponential(multiplier=policy.backoff_s, max=60),
        retry=tenacity.retry_if_exception_type(RETRIED),
        before_sleep=lambda state: log.warning(
            "%s: %s; retry %d of %d", url, state.outcome.exception(), state.attempt_number, policy.retries
        ),
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            _fetch_once(session, url, part, policy.timeout_s, auth, manual)
    digest = _verified(url, part, sha256, dest)
    os.replace(part, dest)
    log.info("%s -> %s (%d bytes, sha256 %s)", url, dest, dest.stat().st_size, digest)
    return digest


def _verified(url: str, path: Path, sha256: str | None, shown: Path) -> str:
    """The file's digest; a mismatch with the pinned one deletes the file and raises naming URL and both digests."""
    digest = sha256_of(path)
    if sha256 and digest != sha256.lower():
        path.unlink()
        raise DownloadError(
            f"{url}: checksum mismatch for {shown}: expected sha256 {sha256}, got {digest} "
            "(deleted; the file changed upstream or arrived corrupt)"
        )
    return digest


def _fetch_once(
    session: requests.Session, url: str, part: Path, timeout: float, auth: tuple[str, str] | None, manual: str
) -> None:
    """One attempt: continue `part` from its current size; raise TransientError when the body ends early."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with session.get(url, headers=headers, stream=True, timeout=(timeout, timeout), auth=auth) as response:
        status = response.status_code
        if status in FATAL:
            raise DownloadError(f"{url}: HTTP {status} ({FATAL[status]}). {manual}".strip())
        if status == 416 and have:  # nothing after `have`: complete if the server's size is `have`
            if response.headers.get("Content-Range", "").endswith(f"/{have}"):
                return
            part.unlink()
            raise TransientError(f"HTTP 416 with a {have}-byte partial file: starting afresh")
        if status == 429 or status >= 500:
            raise TransientError(f"HTTP {status}")
        if status not in (200, 206):
            raise DownloadError(f"{url}: unexpected HTTP {status}. {manual}".strip())
        if status == 206 and not response.headers.get("Content-Range", "").startswith(f"bytes {have}-"):
            part.unlink()
            raise TransientError(f"server resumed at {response.headers.get('Content-Range')!r}, not byte {have}")
        start = have if status == 206 else 0  # 200: the server ignored Range, the body is the whole file
        expected = response.headers.get("Content-Length")
        received = 0
        response.raw.enforce_content_length = False  # keep the bytes of a cut body; the length check below retries
        with open(part, "ab" if start else "wb") as handle:
            # read1: whatever has arrived, so a stall or a cut loses nothing received; raw bytes, because Range
            # offsets count the bytes as sent (a .gz served with Content-Encoding: gzip must stay compressed)
            while chunk := response.raw.read1(CHUNK, decode_content=False):
                handle.write(chunk)
                received += len(chunk)
        if expected is not None and received < int(expected):
            raise TransientError(f"cut short after {start + received} bytes")
