"""Ingest one dataset's raw files (any supported format) into the items, interactions and quarantine tables."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transrec.data.ingest import adressa, amazon, hm, mind, released
from transrec.data.ingest.quarantine import Quarantine
from transrec.data.ingest.readers import has_bom
from transrec.data.ingest.tables import Ingested, interactions_frame, items_frame
from transrec.io import write_json, write_parquet

log = logging.getLogger(__name__)

READERS: dict[str, tuple[Callable[[Path, dict[str, Any], Quarantine], Ingested], dict[str, Any]]] = {
    "mind": (mind.read, mind.OPTIONS),
    "adressa": (adressa.read, adressa.OPTIONS),
    "hm": (hm.read, hm.OPTIONS),
    "amazon": (amazon.read, amazon.OPTIONS),
    "released": (released.read, released.OPTIONS),
}
COMMON_OPTIONS: dict[str, Any] = {"max_bad_fraction": 0.01, "files": {}}
FILE_ROLES: dict[str, dict[str, str | None]] = {  # file name per role, as each dataset ships (None: found by pattern)
    "mind": mind.FILES,
    "adressa": {},
    "hm": hm.FILES,
    "amazon": amazon.FILES,
    "released": released.FILES,
}


def resolve_options(dataset_format: str, options: dict | None) -> dict[str, Any]:
    """The reader's options with defaults filled in (`files` merged role by role); an unknown format, option key
    or file role raises, naming it."""
    if dataset_format not in READERS:
        raise ValueError(f"unknown dataset format {dataset_format!r}; known: {sorted(READERS)}")
    defaults = {**COMMON_OPTIONS, **READERS[dataset_format][1]}
    options = dict(options or {})
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise ValueError(f"unknown ingest option(s) {unknown} for format {dataset_format!r}; known: {sorted(defaults)}")
    roles = FILE_ROLES[dataset_format]
    files = options.get("files") or {}
    bad_roles = sorted(set(files) - set(roles))
    if bad_roles:
        raise ValueError(
            f"files: unknown file role(s) {bad_roles} for format {dataset_format!r}; known: {sorted(roles) or 'none'}"
        )
    fraction = options.get("max_bad_fraction", defaults["max_bad_fraction"])
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction <= 1:
        raise ValueError(f"max_bad_fraction must be a number in [0, 1], not {fraction!r}")
    return {**defaults, **options, "files": {**roles, **files}}


def check_files_have_rows(raw_dir: Path, result: Ingested) -> None:
    """Fail here, naming the raw file, when a file holds no data rows (empty, or only a header)."""
    for file, rows in result.rows_read.items():
        if rows == 0:
            raise ValueError(f"{raw_dir / file}: no data rows (the file is empty or holds only a header)")


def check_usable(raw_dir: Path, result: Ingested, rejected: Quarantine) -> None:
    """Fail here, naming the raw files, when no item or no interaction is left after quarantine."""
    item_files = [str(raw_dir / f) for f in result.item_files] or [str(raw_dir)]
    if result.items.height == 0:
        raise ValueError(f"{', '.join(item_files)}: no usable item rows (quarantined by reason: {rejected.counts()})")
    if result.interactions.height == 0:
        others = [str(raw_dir / f) for f in result.rows_read if f not in result.item_files] or item_files
        unknown = rejected.counts().get("unknown_item", 0)
        raise ValueError(
            f"{', '.join(others)}: no usable interactions; {unknown} row(s) reference items missing from "
            f"{', '.join(item_files)} ({result.items.height} items); quarantined by reason: {rejected.counts()}"
        )


def guesses(raw_dir: Path, result: Ingested, items: Any) -> dict[str, Any]:
    """What the readers had to decide without being told, counted for the report and logged: byte-order marks
    skipped, items left without a title (other readers' choices are in `counts`)."""
    boms = sorted(file for file in result.rows_read if has_bom(raw_dir / file))
    guessed = {"byte_order_marks": boms, "items_without_title": int((items["title"] == "").sum())}
    if boms:
        log.warning("skipped a UTF-8 byte-order mark at the start of %s", ", ".join(str(raw_dir / f) for f in boms))
    if guessed["items_without_title"]:
        log.warning("%d of %d items have no title", guessed["items_without_title"], items.height)
    return guessed


def warn_unknown_items(raw_dir: Path, result: Ingested, rejected: Quarantine, limit: float) -> None:
    """Log a warning naming the item files when more than `limit` of the interaction rows reference unknown items
    (they are not format errors, yet losing many of them usually means the items file was misread)."""
    unknown = result.counts.get("unknown_item_references", rejected.counts().get("unknown_item", 0))
    total = unknown + result.interactions.height
    if total and unknown / total > limit:
        log.warning(
            "%d of %d interactions (%.1f%%) reference items missing from %s (max_bad_fraction %.1f%%): check that "
            "file's ids; the rows are listed as unknown_item in the quarantine table",
            unknown,
            total,
            100 * unknown / total,
            ", ".join(str(raw_dir / f) for f in result.item_files),
            100 * limit,
        )


def ingest(
    dataset_format: str,
    raw_dir: Path,
    *,
    item_table: Path,
    interaction_table: Path,
    quarantine: Path,
    report: Path,
    options: dict | None = None,
) -> dict:
    """Read raw_dir in `dataset_format`, write items, interactions, quarantine TSV and report JSON;
    return the report."""
    started = time.perf_counter()
    settings = resolve_options(dataset_format, options)
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise FileNotFoundError(f"raw_dir {raw_dir} is not a directory")
    rejected = Quarantine()
    result = READERS[dataset_format][0](raw_dir, settings, rejected)
    items = items_frame(result.items)
    interactions = interactions_frame(result.interactions)
    rows_read = sum(result.rows_read.values())
    format_errors = rejected.format_errors()
    bad_fraction = format_errors / max(rows_read, 1)
    summary = {
        "format": dataset_format,
        "raw_dir": str(raw_dir),
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in settings.items()},
        "rows_read": result.rows_read,
        "rows_read_total": rows_read,
        "quarantined": rejected.counts(),
        "format_errors": format_errors,
        "bad_fraction": bad_fraction,
        "skipped": rejected.skipped(),
        "counts": result.counts,
        "users": interactions["user_id"].n_unique(),
        "items": items.height,
        "items_with_interactions": interactions["item_id"].n_unique(),
        "interactions": interactions.height,
        "images_expected": int(items["image_key"].is_not_null().sum()),
        "images_found": int(items["image_key"].is_not_null().sum()) - result.counts.get("missing_images", 0),
        "guessed": guesses(raw_dir, result, items),
    }
    check_files_have_rows(raw_dir, result)
    if bad_fraction > settings["max_bad_fraction"]:
        raise ValueError(
            f"{raw_dir}: {format_errors} of {rows_read} rows quarantined as malformed ({bad_fraction:.2%} > "
            f"max_bad_fraction {settings['max_bad_fraction']:.2%}); is format {dataset_format!r} right? "
            f"by reason: {rejected.counts()}; first: {rejected.examples()}"
        )
    check_usable(raw_dir, result, rejected)
    warn_unknown_items(raw_dir, result, rejected, settings["max_bad_fraction"])
    write_parquet(items, item_table)
    write_parquet(interactions, interaction_table)
    rejected.write(quarantine)
    summary["seconds"] = round(time.perf_counter() - started, 3)
    write_json(report, summary)
    log.info(
        "ingest %s: %d users, %d items, %d interactions, %d quarantined (%s) in %.1f s",
        dataset_format,
        summary["users"],
        summary["items"],
        summary["interactions"],
        sum(summary["quarantined"].values()),
        summary["quarantined"],
        summary["seconds"],
    )
    return summary
