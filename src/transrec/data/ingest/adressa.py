"""Adressa reader: SmartMedia event files (JSON lines, plain or .gz, or one JSON array) into items and views.

Every event with an article `id` is one interaction (user = `userId`, timestamp = `time`). Events without an `id`
(front pages, section pages) are ordinary: they are skipped and counted, not quarantined. An item's title is the
most frequent non-empty `title` seen for its id (ties: the first seen); its category is the first non-empty of
`category`, `category1` (before any `|`), or the first path segment of `url`. Titles stay Norwegian here: the
translate stage applies any translation table (option `translation_table` is accepted and ignored).
An event repeated exactly (same user, article and time: a logging double) is one view: repeats are dropped and
counted (`duplicate_events`, the first kept); option `duplicates: keep` keeps them.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import polars as pl

from transrec.data.ingest.quarantine import Quarantine
from transrec.data.ingest.readers import epoch_seconds, excerpt, list_files, parsed_records
from transrec.data.ingest.tables import ITEM_SCHEMA, Ingested

log = logging.getLogger(__name__)

OPTIONS: dict[str, Any] = {"translation_table": None, "duplicates": "drop"}
NOT_EVENTS = {".tsv", ".md", ".txt", ".py", ".csv", ".parquet"}


def event_files(raw_dir: Path) -> list[Path]:
    """Every event file under raw_dir (any name, sorted), skipping hidden files and obvious non-event files."""
    files = sorted(
        p
        for p in raw_dir.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(raw_dir).parts)
        and p.suffix.lower() not in NOT_EVENTS
    )
    if not files:
        raise FileNotFoundError(f"{raw_dir}: no Adressa event files; found: {list_files(raw_dir)}")
    return files


def event_category(event: dict[str, Any]) -> str:
    """The event's category: `category`, else `category1` before `|`, else the url's first path segment."""
    for key in ("category", "category1"):
        value = event.get(key)
        if isinstance(value, str) and value.strip():
            return value.split("|")[0].strip()
    url = event.get("url")
    if isinstance(url, str):
        segments = [s for s in urlparse(url).path.split("/") if s]
        if len(segments) > 1:  # the last segment is the article itself
            return segments[0]
    return ""


def read(raw_dir: Path, options: dict[str, Any], quarantine: Quarantine) -> Ingested:
    """Read every Adressa event file under raw_dir."""
    if options["duplicates"] not in ("drop", "keep"):
        raise ValueError(f"Adressa option duplicates must be 'drop' or 'keep', not {options['duplicates']!r}")
    users: list[str] = []
    item_ids: list[str] = []
    times: list[int] = []
    titles: dict[str, Counter[str]] = {}
    categories: dict[str, str] = {}
    rows_read: dict[str, int] = {}
    counts: Counter[str] = Counter()
    for path in event_files(raw_dir):
        for file, record in parsed_records(path, raw_dir, quarantine, rows_read):
            event = record.value
            item = event.get("id")
            if item is None or (isinstance(item, str) and not item.strip()):
                quarantine.skip("event_without_id")
                continue
            user, when = event.get("userId"), epoch_seconds(event.get("time"))
            if not isinstance(item, str):
                quarantine.add(file, record.line, "bad_id", excerpt(repr(event)))
            elif not isinstance(user, str) or not user.strip():
                quarantine.add(file, record.line, "missing_user", excerpt(repr(event)))
            elif when is None:
                quarantine.add(file, record.line, "bad_time", excerpt(repr(event)))
            else:
                item = item.strip()
                users.append(user.strip())
                item_ids.append(item)
                times.append(when)
                title = event.get("title")
                seen = titles.setdefault(item, Counter())
                if isinstance(title, str) and title.strip():
                    seen[title.strip()] += 1
                if not categories.get(item):
                    categories[item] = event_category(event)
        file = path.relative_to(raw_dir).as_posix()
        log.info("read %s: %d records", file, rows_read[file])
    items = pl.DataFrame(
        {
            "item_id": list(titles),
            "title": [c.most_common(1)[0][0] if c else "" for c in titles.values()],
            "description": [""] * len(titles),
            "category": [categories.get(i, "") for i in titles],
            "image_key": pl.Series([None] * len(titles), dtype=pl.String),
        },
        schema=ITEM_SCHEMA,
    )
    interactions = pl.DataFrame(
        {"user_id": users, "item_id": item_ids, "timestamp": times, "order": range(len(users))},
        schema={"user_id": pl.String, "item_id": pl.String, "timestamp": pl.Int64, "order": pl.Int64},
    )
    repeated = interactions.select(pl.struct("user_id", "item_id", "timestamp").is_first_distinct().not_()).to_series()
    if options["duplicates"] == "drop":
        interactions = interactions.filter(~repeated)
    counts["duplicate_events"] = int(repeated.sum())
    counts["items_without_title"] = sum(1 for c in titles.values() if not c)
    counts["items_with_several_titles"] = sum(1 for c in titles.values() if len(c) > 1)  # the most frequent is kept
    return Ingested(items, interactions, rows_read, dict(counts), list(rows_read))
