"""Amazon reader: reviews (2014 or 2018, JSON lines or array, plain or .gz) and metadata (JSON or Python literals).

Files are found by name: reviews contain "review" or end in `_5.json[.gz]`; metadata start with "meta" (or are given
by option `files: {reviews: <name>, meta: <name>}`, relative to raw_dir). A review is
an interaction (user = reviewerID, item = asin, timestamp = unixReviewTime); exact repeats of (user, item,
timestamp), which the 2018 files list once per product style, are dropped and counted (option `duplicates: keep`
keeps them). Metadata lines of the 2014
release are Python literals, parsed with ast.literal_eval (never eval). title "" when absent (counted);
description = the text (list items joined); category = the most specific entry of `category` (2018) or of the
first `categories` path (2014). image_key = `images/<asin>.jpg`, where the image is expected (missing ones are
counted here as `missing_images` and listed by the image stage).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl

from transrec.data.ingest.quarantine import Quarantine
from transrec.data.ingest.readers import (
    epoch_seconds,
    excerpt,
    image_index,
    list_files,
    missing_images,
    parsed_records,
)
from transrec.data.ingest.tables import ITEM_SCHEMA, Ingested

OPTIONS: dict[str, Any] = {"duplicates": "drop"}
FILES: dict[str, str | None] = {"reviews": None, "meta": None}  # None: found by name pattern
REVIEWS = re.compile(r"(review|_5\.json(\.gz)?$)", re.IGNORECASE)


def _named(raw_dir: Path, name: str, role: str) -> list[Path]:
    """[raw_dir/name] (or name.gz), the file option `files.<role>` names; a clear error if absent."""
    for path in (raw_dir / name, raw_dir / f"{name}.gz"):
        if path.is_file():
            return [path]
    raise FileNotFoundError(f"{raw_dir}: files.{role} names {name}, which is not there; found: {list_files(raw_dir)}")


def find_files(raw_dir: Path, names: dict[str, str | None] | None = None) -> tuple[list[Path], list[Path]]:
    """(review files, metadata files): as named by `names`, else by name pattern; a clear error listing raw_dir."""
    names = names or {}
    if names.get("reviews") and names.get("meta"):
        return _named(raw_dir, names["reviews"], "reviews"), _named(raw_dir, names["meta"], "meta")
    files = sorted(p for p in raw_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    meta = [p for p in files if p.name.lower().startswith("meta")]
    reviews = [p for p in files if p not in meta and REVIEWS.search(p.name)]
    if names.get("reviews"):
        reviews = _named(raw_dir, names["reviews"], "reviews")
    if names.get("meta"):
        meta = _named(raw_dir, names["meta"], "meta")
    if not reviews or not meta:
        raise FileNotFoundError(
            f"{raw_dir}: Amazon format needs a reviews file (*review*.json[.gz] or *_5.json[.gz]) and a metadata "
            f"file (meta*.json[.gz]), or option files.reviews / files.meta; found: {list_files(raw_dir)}"
        )
    return reviews, meta


def _text(value: Any) -> str:
    """A metadata text field as one string (lists joined by spaces)."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):
        return " ".join(v.strip() for v in value if isinstance(v, str) and v.strip())
    return ""


def _category(record: dict[str, Any]) -> str:
    """The most specific category of a 2018 `category` list or of the first 2014 `categories` path."""
    path = record.get("category")
    if not isinstance(path, list):
        paths = record.get("categories")
        path = paths[0] if isinstance(paths, list) and paths and isinstance(paths[0], list) else []
    names = [c.strip() for c in path if isinstance(c, str) and c.strip()]
    return names[-1] if names else ""


def read_metadata(
    paths: list[Path], raw_dir: Path, quarantine: Quarantine, counts: Counter[str]
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Items from metadata files (first record per asin kept); returns (items, rows read per file)."""
    rows: dict[str, tuple[str, str, str, str | None]] = {}
    rows_read: dict[str, int] = {}
    for path in paths:
        for file, record in parsed_records(path, raw_dir, quarantine, rows_read, allow_literal=True):
            asin = record.value.get("asin")
            if not isinstance(asin, str) or not asin.strip():
                quarantine.add(file, record.line, "missing_field", excerpt(repr(record.value)))
                continue
            asin = asin.strip()
            if asin in rows:
                counts["duplicate_items"] += 1
                continue
            title = record.value.get("title")
            if not isinstance(title, str) or not title.strip():
                counts["items_without_title"] += 1
            rows[asin] = (
                _text(title),
                _text(record.value.get("description")),
                _category(record.value),
                f"images/{asin}.jpg",
            )
    items = pl.DataFrame(
        [(asin, *row) for asin, row in rows.items()],
        schema=ITEM_SCHEMA,
        orient="row",
    )
    counts["missing_images"] = missing_images(items["image_key"], image_index(raw_dir))
    return items, rows_read


def read(raw_dir: Path, options: dict[str, Any], quarantine: Quarantine) -> Ingested:
    """Read the Amazon reviews and metadata files under raw_dir."""
    if options["duplicates"] not in ("drop", "keep"):
        raise ValueError(f"Amazon option duplicates must be 'drop' or 'keep', not {options['duplicates']!r}")
    review_paths, meta_paths = find_files(raw_dir, options["files"])
    counts: Counter[str] = Counter()
    items, rows_read = read_metadata(meta_paths, raw_dir, quarantine, counts)
    known = set(items["item_id"].to_list())
    users: list[str] = []
    asins: list[str] = []
    times: list[int] = []
    order: list[int] = []
    seen: set[tuple[str, str, int]] = set()
    for path in review_paths:
        for file, record in parsed_records(path, raw_dir, quarantine, rows_read):
            user, asin, when = (
                record.value.get("reviewerID"),
                record.value.get("asin"),
                epoch_seconds(record.value.get("unixReviewTime")),
            )
            if not isinstance(user, str) or not user.strip() or not isinstance(asin, str) or not asin.strip():
                quarantine.add(file, record.line, "missing_field", excerpt(repr(record.value)))
            elif when is None:
                quarantine.add(file, record.line, "bad_time", excerpt(repr(record.value)))
            elif asin.strip() not in known:
                quarantine.add(file, record.line, "unknown_item", f"unknown asin {asin.strip()}")
            else:
                key = (user.strip(), asin.strip(), when)
                counts["duplicate_reviews"] += key in seen
                if key in seen and options["duplicates"] == "drop":
                    continue
                seen.add(key)
                users.append(user.strip())
                asins.append(asin.strip())
                times.append(when)
                order.append(len(order))
    interactions = pl.DataFrame(
        {"user_id": users, "item_id": asins, "timestamp": times, "order": order},
        schema={"user_id": pl.String, "item_id": pl.String, "timestamp": pl.Int64, "order": pl.Int64},
    )
    meta_files = [p.relative_to(raw_dir).as_posix() for p in meta_paths]
    return Ingested(items, interactions, rows_read, dict(counts), meta_files)
