"""MIND reader: news.tsv + behaviors.tsv of every split folder into per-user click sequences (vectorised, polars).

A user's sequence is the clicked history of each impression line followed by the line's clicked impressions
(label 1), all splits merged. History entries carry no time: an impression at time t with history h_0..h_{n-1}
gives h_i the timestamp t - (n - i) seconds, so the history keeps its order and precedes that impression's clicks.
Events are ordered by (timestamp, the line's place among the user's lines in file order, position in the line);
a history string repeated on a user's later impressions describes the same clicks and is read once (from the
user's earliest line holding it), so its unknown ids are reported on that line only.
Duplicates: `dedupe="first"` (default) keeps a news id's first click, `"last"` its latest, `"none"` keeps all.
Then only the latest `history_limit` clicks of each user are kept (default 23: the papers' "latest 20 clicked
news" is the window L = 20, and PROTOCOL.md cuts sequences to L + 3 later, so ingest must keep at least that;
0 or None keeps everything). Clicks on news ids missing from news.tsv are quarantined (`unknown_item`, one row per
behaviors line listing the ids) before the cut. Times (`11/15/2019 8:55:22 AM`) are read as UTC.
Impression tokens without a label (MIND test split) count as not clicked.
File names per split folder: option `files: {news, behaviors}` (defaults news.tsv, behaviors.tsv; `.gz` accepted).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from transrec.data.ingest.quarantine import Quarantine
from transrec.data.ingest.readers import list_files, read_fields, row_text
from transrec.data.ingest.sequence_order import sequences
from transrec.data.ingest.tables import Ingested

log = logging.getLogger(__name__)

OPTIONS: dict[str, Any] = {"history_limit": 23, "splits": None, "dedupe": "first"}
FILES: dict[str, str | None] = {"news": "news.tsv", "behaviors": "behaviors.tsv"}
TIME_FORMAT = "%m/%d/%Y %I:%M:%S %p"
BAD_IMPRESSIONS = r"-(?:[^01]|[01]\S|$)|(?:^|\s)-|\s\s|^\s|\s$"  # any token other than `id`, `id-0`, `id-1`
SPLIT_ORDER = {"train": 0, "dev": 1, "valid": 1, "test": 2}


def _pair(folder: Path, names: dict[str, str | None] = FILES) -> tuple[Path, Path] | None:
    """The (news, behaviors) files of a folder, plain or .gz, or None."""
    found = []
    for role in ("news", "behaviors"):
        paths = [folder / f"{names[role]}", folder / f"{names[role]}.gz"]
        found.append(next((p for p in paths if p.is_file()), None))
    return (found[0], found[1]) if all(found) else None


def find_splits(
    raw_dir: Path, splits: list[str] | None = None, names: dict[str, str | None] = FILES
) -> list[tuple[Path, Path]]:
    """The (news, behaviors) pairs to read: raw_dir itself if it holds a pair, else its split sub-folders."""
    flat = _pair(raw_dir, names)
    folders = sorted(
        (p for p in raw_dir.iterdir() if p.is_dir() and _pair(p, names)),
        key=lambda p: (SPLIT_ORDER.get(p.name, 3), p.name),
    )
    if splits is not None:
        by_name = {p.name: p for p in folders} | ({".": raw_dir} if flat else {})
        missing = [s for s in splits if s not in by_name]
        if missing:
            raise FileNotFoundError(f"{raw_dir}: MIND split(s) {missing} not found; present: {sorted(by_name)}")
        return [_pair(by_name[s], names) for s in splits]  # type: ignore[misc]
    pairs = ([flat] if flat else []) + [_pair(p, names) for p in folders]
    if not pairs:
        raise FileNotFoundError(
            f"{raw_dir}: no {names['news']} + {names['behaviors']} pair (flat or in sub-folders; option files.news, "
            f"files.behaviors); found: {list_files(raw_dir)}"
        )
    return pairs  # type: ignore[return-value]


def read_news(path: Path, file: str, quarantine: Quarantine) -> tuple[pl.DataFrame, int]:
    """News rows (8 tab-separated columns) as items; empty ids quarantined. Returns (items, lines read)."""
    fields, lines, _ = read_fields(path, file, 8, quarantine)
    empty = fields.filter(pl.col("f0").str.strip_chars() == "")
    quarantine.add_frame(file, empty, "empty_id", row_text(fields))
    items = fields.filter(pl.col("f0").str.strip_chars() != "").select(
        pl.col("f0").str.strip_chars().alias("item_id"),
        pl.col("f3").alias("title"),
        pl.col("f4").alias("description"),
        pl.col("f1").alias("category"),
        pl.lit(None, pl.String).alias("image_key"),
    )
    return items, lines


def read_behaviors(path: Path, file: str, file_index: int, quarantine: Quarantine) -> tuple[pl.DataFrame, int, int]:
    """Valid impression lines as (file, line, user_id, ts, history, clicks); bad lines quarantined by reason."""
    fields, lines, _ = read_fields(path, file, 5, quarantine)
    user = pl.col("f1").str.strip_chars()
    ts = pl.col("f2").str.strip_chars().str.to_datetime(TIME_FORMAT, strict=False, time_unit="ms").dt.epoch("s")
    frame = fields.with_columns(
        user.alias("user_id"),
        ts.alias("ts"),
        pl.when(user == "")
        .then(pl.lit("empty_user"))
        .when(ts.is_null())
        .then(pl.lit("bad_time"))
        .when(pl.col("f4").str.contains(BAD_IMPRESSIONS))
        .then(pl.lit("bad_impressions"))
        .alias("reason"),
    )
    bad = frame.filter(pl.col("reason").is_not_null())
    if bad.height:  # filtering copies every string column: only when needed
        for reason in bad["reason"].unique().sort():
            quarantine.add_frame(file, bad.filter(pl.col("reason") == reason), reason, row_text(fields))
        frame = frame.filter(pl.col("reason").is_null())
    unlabeled = frame.select(((pl.col("f4") != "") & ~pl.col("f4").str.contains("-", literal=True)).sum()).item()
    frame = frame.select(
        pl.lit(file_index, pl.Int32).alias("file"),
        "line",
        "user_id",
        "ts",
        pl.col("f3").alias("history"),
        pl.col("f4").str.extract_all(r"[^\s-]+-1").list.eval(pl.element().str.strip_suffix("-1")).alias("clicks"),
    )
    return frame, lines, unlabeled


def _explode_positions(frame: pl.DataFrame, lists: str) -> pl.DataFrame:
    """Explode a list column, adding `pos` (the element's index in its list) without a per-row loop."""
    lengths = frame[lists].list.len().to_numpy().astype(np.int64)
    starts = np.cumsum(lengths) - lengths
    exploded = frame.explode(lists, empty_as_null=False, keep_nulls=False)
    positions = np.arange(len(exploded), dtype=np.int64) - np.repeat(starts, lengths)
    return exploded.with_columns(pl.Series("pos", positions.astype(np.int32)))


def click_events(lines: pl.DataFrame) -> tuple[pl.DataFrame, np.ndarray]:
    """One event per history entry (read once per user and history string) and per clicked impression.

    `lines` has uid (user code 0..U-1) and lo (the line's rank among the user's lines in file order).
    Also returns each user's earliest event time (a base for compact relative times)."""
    first_rows = (  # chosen on narrow columns so the long history strings are never sorted or copied
        lines.select(pl.int_range(pl.len()).alias("row"), "uid", "ts", "lo", pl.col("history").hash().alias("hash"))
        .filter(lines["history"] != "")
        .sort(["ts", "lo"])
        .unique(subset=["uid", "hash"], keep="first", maintain_order=True)["row"]
    )
    first_history = (
        lines.select("file", "line", "uid", "lo", "ts", "history")[first_rows]
        .select("file", "line", "uid", "lo", "ts", pl.col("history").str.split(" ").alias("item_id"))
        .with_columns(pl.col("item_id").list.len().cast(pl.Int64).alias("n"))
    )
    history = (
        _explode_positions(first_history, "item_id")
        .filter(pl.col("item_id") != "")
        .select(
            "file",
            "line",
            "uid",
            "lo",
            "item_id",
            "pos",
            (pl.col("ts") - (pl.col("n") - pl.col("pos"))).alias("timestamp"),
        )
    )
    clicks = _explode_positions(
        lines.select("file", "line", "uid", "lo", "ts", pl.col("clicks").alias("item_id")).filter(
            pl.col("item_id").list.len() > 0
        ),
        "item_id",
    ).select("file", "line", "uid", "lo", "item_id", "pos", pl.col("ts").alias("timestamp"))
    starts = pl.concat(
        [
            first_history.select("uid", (pl.col("ts") - pl.col("n")).alias("t")),
            lines.select("uid", pl.col("ts").alias("t")),
        ]
    )
    n_users = int(lines["uid"].max() or 0) + 1 if lines.height else 0
    user_start = np.zeros(n_users, np.int64)
    by_user = starts.group_by("uid").agg(pl.col("t").min())
    user_start[by_user["uid"].to_numpy()] = by_user["t"].to_numpy()
    return pl.concat([history, clicks]), user_start


def read(raw_dir: Path, options: dict[str, Any], quarantine: Quarantine) -> Ingested:
    """Read every selected MIND split under raw_dir (train and dev merged)."""
    pairs = find_splits(raw_dir, options["splits"], options["files"])
    rows_read: dict[str, int] = {}
    news, behaviors, unlabeled = [], [], 0
    for index, (news_path, behaviors_path) in enumerate(pairs):
        news_name, behaviors_name = (p.relative_to(raw_dir).as_posix() for p in (news_path, behaviors_path))
        items, rows_read[news_name] = read_news(news_path, news_name, quarantine)
        news.append(items)
        frame, rows_read[behaviors_name], n_unlabeled = read_behaviors(
            behaviors_path, behaviors_name, index, quarantine
        )
        behaviors.append(frame)
        unlabeled += n_unlabeled
        log.info("read %s (%d news) and %s (%d lines)", news_name, items.height, behaviors_name, frame.height)
    all_news = pl.concat(news)
    items = all_news.unique(subset="item_id", keep="first", maintain_order=True)
    lines = pl.concat(behaviors)
    del behaviors, frame
    user_ids = lines["user_id"].unique().sort()
    codes = pl.DataFrame({"user_id": user_ids, "uid": pl.int_range(len(user_ids), dtype=pl.UInt32, eager=True)})
    lines = lines.join(codes, on="user_id", how="left", maintain_order="left").drop("user_id")
    lines = lines.with_columns(pl.int_range(pl.len(), dtype=pl.UInt32).over("uid").alias("lo"))
    events, user_start = click_events(lines)
    events = events.join(
        items.select("item_id", pl.int_range(pl.len(), dtype=pl.UInt32).alias("iid")), on="item_id", how="left"
    )  # row order is irrelevant from here: events are sorted by their packed key
    unknown = events.filter(pl.col("iid").is_null())
    files = [p.relative_to(raw_dir).as_posix() for _, p in pairs]
    unknown_lines = (
        unknown.group_by("file", "line")
        .agg(("unknown ids: " + pl.col("item_id").unique(maintain_order=True).str.join(" ")).alias("text"))
        .sort("file", "line")
    )
    for index, name in enumerate(files):
        quarantine.add_frame(name, unknown_lines.filter(pl.col("file") == index), "unknown_item")
    n_unknown, n_lines = unknown.height, lines.height
    del unknown, unknown_lines, lines
    events = events.filter(pl.col("iid").is_not_null()).drop("item_id", "file", "line")
    kept, counts = sequences(events, user_start, options["dedupe"], options["history_limit"])
    del events
    interactions = kept.select(
        user_ids.gather(kept["uid"]).alias("user_id"),
        items["item_id"].gather(kept["iid"]).alias("item_id"),
        "timestamp",
        pl.int_range(pl.len(), dtype=pl.Int64).alias("order"),
    )
    counts |= {
        "duplicate_items": all_news.height - items.height,
        "unknown_item_references": n_unknown,
        "impression_lines": n_lines,
        "unlabeled_impression_lines": unlabeled,
        "users_without_clicks": user_ids.len() - kept["uid"].n_unique(),
    }
    news_files = [p.relative_to(raw_dir).as_posix() for p, _ in pairs]
    return Ingested(items, interactions, rows_read, counts, news_files)
