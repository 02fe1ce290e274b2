"""Reader of the papers' released processed format: users.tsv (`user<TAB>item item ...`) and items.tsv.

Timestamps are positions in the user's line (0, 1, 2, ...; the file lists items oldest first). Titles are
HTML-unescaped and stripped. Items in a user line but not in items.tsv are quarantined as `unknown_item`
(one row per user line, listing the ids); a user id given on a second line is quarantined (`duplicate_user`).
File names: option `files: {users, items}` (relative to raw_dir); unset, `users.tsv` / `items.tsv`, else the one file
named `*users*.tsv[.gz]` / `*items*.tsv[.gz]` (the IISAN release ships `am_<Category>_users_10K.tsv` and
`<Category>_items.tsv`). image_key = `images/<id>.jpg` when raw_dir has an `images` folder (a text-only release has
none: null); missing files are counted (`missing_images`) and listed by the image stage.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import polars as pl

from transrec.data.ingest.quarantine import Quarantine
from transrec.data.ingest.readers import image_index, list_files, missing_images, read_fields, row_text
from transrec.data.ingest.tables import Ingested

OPTIONS: dict[str, Any] = {}
FILES: dict[str, str | None] = {"users": None, "items": None}  # None: <role>.tsv, else the one *<role>*.tsv


def find_file(raw_dir: Path, role: str, name: str | None) -> Path:
    """The `role` file (users or items): `name` if given, else <role>.tsv, else the one *<role>*.tsv[.gz]."""
    for candidate in [name] if name else [f"{role}.tsv"]:
        for path in (raw_dir / candidate, raw_dir / f"{candidate}.gz"):
            if path.is_file():
                return path
    if name:
        raise FileNotFoundError(
            f"{raw_dir}: files.{role} names {name}, which is not there; found: {list_files(raw_dir)}"
        )
    matches = sorted(
        p for p in raw_dir.iterdir() if p.is_file() and role in p.name and p.name.endswith((".tsv", ".tsv.gz"))
    )
    if len(matches) == 1:
        return matches[0]
    found = f"several match *{role}*.tsv: {[p.name for p in matches]}" if matches else f"found: {list_files(raw_dir)}"
    raise FileNotFoundError(
        f"{raw_dir}: released format needs {role}.tsv or one *{role}*.tsv (or option files.{role}); {found}"
    )


def read_items(path: Path, file: str, raw_dir: Path, quarantine: Quarantine) -> tuple[pl.DataFrame, int, int]:
    """items.tsv as items (title unescaped, image_key images/<id>.jpg); returns (items, lines, duplicates)."""
    fields, lines, _ = read_fields(path, file, (1, 2), quarantine)
    empty = pl.col("f0").str.strip_chars() == ""
    quarantine.add_frame(file, fields.filter(empty), "empty_id", row_text(fields))
    fields = fields.filter(~empty).with_columns(pl.col("f0").str.strip_chars(), pl.col("f1").fill_null(""))
    entity = pl.col("f1").str.contains("&", literal=True)
    unescaped = pl.col("f1").map_elements(html.unescape, return_dtype=pl.String)
    has_images = (raw_dir / "images").is_dir()
    items = fields.select(
        pl.col("f0").alias("item_id"),
        pl.when(entity).then(unescaped).otherwise(pl.col("f1")).str.strip_chars().alias("title"),
        pl.lit("").alias("description"),
        pl.lit("").alias("category"),
        pl.when(pl.lit(has_images))
        .then(pl.concat_str(pl.lit("images/"), pl.col("f0"), pl.lit(".jpg")))
        .alias("image_key"),
    )
    unique = items.unique(subset="item_id", keep="first", maintain_order=True)
    return unique, lines, items.height - unique.height


def read(raw_dir: Path, options: dict[str, Any], quarantine: Quarantine) -> Ingested:
    """Read users.tsv and items.tsv from raw_dir."""
    items_path = find_file(raw_dir, "items", options["files"]["items"])
    users_path = find_file(raw_dir, "users", options["files"]["users"])
    items_file, users_file = (p.relative_to(raw_dir).as_posix() for p in (items_path, users_path))
    items, item_lines, duplicate_items = read_items(items_path, items_file, raw_dir, quarantine)
    users, user_lines, _ = read_fields(users_path, users_file, 2, quarantine)
    users = users.with_columns(pl.col("f0").str.strip_chars().alias("user_id"), pl.col("f1").str.strip_chars())
    empty_user = pl.col("user_id") == ""
    quarantine.add_frame(users_file, users.filter(empty_user), "empty_user", row_text(users))
    users = users.filter(~empty_user)
    repeated = ~pl.col("user_id").is_first_distinct()
    quarantine.add_frame(users_file, users.filter(repeated), "duplicate_user", row_text(users))
    users = users.filter(~repeated)
    events = (
        users.select("line", "user_id", pl.col("f1").str.split(" ").alias("item_id"))
        .with_columns(pl.int_ranges(0, pl.col("item_id").list.len(), dtype=pl.Int64).alias("timestamp"))
        .explode(["item_id", "timestamp"])
    )
    empty_tokens = int((events["item_id"] == "").sum())  # doubled spaces in a user line: no item between them
    events = events.filter(pl.col("item_id") != "")
    known = pl.col("item_id").is_in(items["item_id"].implode())
    unknown = (
        events.filter(~known)
        .group_by("line")
        .agg(("unknown ids: " + pl.col("item_id").unique(maintain_order=True).str.join(" ")).alias("text"))
        .sort("line")
    )
    quarantine.add_frame(users_file, unknown, "unknown_item")
    interactions = events.filter(known).select("user_id", "item_id", "timestamp", pl.col("line").alias("order"))
    counts = {
        "duplicate_items": duplicate_items,
        "empty_item_tokens": empty_tokens,
        "unknown_item_references": events.height - interactions.height,
        "users_without_interactions": users.height - interactions["user_id"].n_unique(),
        "missing_images": missing_images(items["image_key"], image_index(raw_dir)),
    }
    rows_read = {items_file: item_lines, users_file: user_lines}
    return Ingested(items, interactions, rows_read, counts, [items_file])
