"""Download one dataset's release into data/raw/<name>/ (the ingest stage's input), with a manifest of what came."""

from __future__ import annotations

import logging
import os
import shutil
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
)

from transrec.download import catalogue, kaggle
from transrec.download.archive import unpack
from transrec.download.http import Policy, fetch
from transrec.download.images import Politeness, amazon_image_urls, fetch_images
from transrec.io import replace_dir, write_json
from transrec.validation import validate_plain

log = logging.getLogger(__name__)


class DownloadSettings(BaseModel):
    """A dataset's `download` block of config: every key the schema fills is required (the schema has the defaults)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    release: str
    category: str | None = None  # Amazon only: the schema requires it there and nowhere else
    images: bool
    sha256: dict[str, str]
    timeout_s: PositiveFloat
    retries: NonNegativeInt
    backoff_s: NonNegativeFloat
    image_workers: PositiveInt
    per_host: PositiveInt
    min_interval_s: NonNegativeFloat

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DownloadSettings:
        """Build from the config's block; unknown or missing keys and bad values raise ValueError naming them."""
        return validate_plain(cls, dict(d), "download settings")


def download_dataset(
    settings: dict[str, Any] | DownloadSettings,
    raw_dir: str | os.PathLike,
    *,
    report: str | os.PathLike,
    image_failures: str | os.PathLike,
    cache_dir: str | os.PathLike,
    environ: Mapping[str, str] = os.environ,
    kaggle_api: str = kaggle.KAGGLE_API,
    releases: Mapping[str, catalogue.Release] | None = None,
) -> dict[str, Any]:
    """Fetch the release's files into `cache_dir` (kept between attempts: partial files resume), unpack and link them
    into `raw_dir` (published only complete), fetch item images when asked, and write `report` (the manifest)."""
    if not isinstance(settings, DownloadSettings):
        settings = DownloadSettings.from_dict(settings)
    chosen = catalogue.release(settings.release, settings.category, settings.sha256, releases=releases)
    raw_dir, cache_dir = Path(raw_dir), Path(cache_dir)
    manual = chosen.manual.replace("<name>", raw_dir.name)
    files, auth = chosen.files, None
    if chosen.kaggle:
        auth = kaggle.credentials(environ, manual)
        files = kaggle.competition_files(chosen.kaggle, settings.images, kaggle_api)
    policy = Policy(settings.timeout_s, settings.retries, settings.backoff_s)
    staging = raw_dir.parent / f".{raw_dir.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    manifest = []
    for remote in files:
        cached = cache_dir / remote.name
        digest = fetch(remote.url, cached, policy=policy, sha256=remote.sha256, manual=f"By hand: {manual}", auth=auth)
        _place(cached, remote, staging, cache_dir / "unpacked")
        manifest.append(
            {
                "url": remote.url,
                "file": remote.name,
                "into": remote.into,
                "sha256": digest,
                "pinned": remote.sha256 is not None,
                "bytes": cached.stat().st_size,
            }
        )
    images = {"requested": 0, "already_there": 0, "fetched": 0, "failed": 0}
    if chosen.images == "amazon" and settings.images:
        urls = amazon_image_urls(sorted(p for p in staging.iterdir() if p.name.lower().startswith("meta")))
        images = fetch_images(
            urls,
            cache_dir,
            image_failures,
            politeness=Politeness(settings.image_workers, settings.per_host, settings.min_interval_s),
        )
        if (cache_dir / "images").is_dir():
            _link_tree(cache_dir / "images", staging / "images")
    else:
        fetch_images({}, cache_dir, image_failures)  # an empty failure report: nothing was asked for
    replace_dir(staging, raw_dir)
    summary = {
        "release": chosen.name,
        "format": chosen.format,
        "raw_dir": str(raw_dir),
        "files": manifest,
        "images": images,
    }
    write_json(report, summary)
    log.info("downloaded %s into %s: %d files, images %s", chosen.name, raw_dir, len(manifest), images)
    return summary


def _place(cached: Path, remote: catalogue.RemoteFile, staging: Path, unpacked: Path) -> None:
    """Put one fetched file where the raw layout wants it: unpacked (archives), else hard-linked (copied if need be).

    A single file served zipped (as Kaggle may) is unpacked and its one member placed under the expected name."""
    target = staging / remote.into
    if remote.unpack:
        _link_tree(unpack(cached, unpacked / remote.name), target)
    elif zipfile.is_zipfile(cached) and not remote.name.lower().endswith(".zip"):
        members = [p for p in unpack(cached, unpacked / remote.name).rglob("*") if p.is_file()]
        if len(members) != 1:
            raise ValueError(f"{cached}: expected one file inside, found {[m.name for m in members]}")
        _link(members[0], target)
    else:
        _link(cached, target)


def _link_tree(source: Path, target: Path) -> None:
    for path in sorted(source.rglob("*")):
        if path.is_file():
            _link(path, target / path.relative_to(source))


def _link(source: Path, target: Path) -> None:
    """A hard link (no second copy of a large file), or a copy across filesystems."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
