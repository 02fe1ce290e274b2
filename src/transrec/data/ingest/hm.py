"""H&M reader: articles.csv (items), transactions_train.csv (interactions), customers.csv (counted only).

Article ids are normalised to 10-digit zero-padded strings (files re-saved by pandas lose the leading zeros and gain
an unnamed leading index column: both accepted). title = prod_name, description = detail_desc, category =
product_type_name (else product_group_name). image_key = `images/<first 3 digits>/<id>.jpg`, where the image is
expected (whether it exists is counted here as `missing_images` and listed by the image stage).
A transaction's timestamp is its date at 00:00 UTC in epoch seconds; rows of one day keep their file order.
A transaction repeated exactly (same customer, article and day: several units bought) is one interaction: repeats
are dropped and counted (`duplicate_transactions`); option `duplicates: keep` keeps them.
File names are options (`files: {articles, transactions, customers}`), defaults as the competition ships them;
customers.csv is optional.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import polars as pl

from transrec.data.ingest.quarantine import Quarantine
from transrec.data.ingest.readers import (
    excerpt,
    image_index,
    list_files,
    missing_images,
    open_bytes,
    read_fields,
    row_text,
)
from transrec.data.ingest.tables import Ingested

OPTIONS: dict[str, Any] = {"duplicates": "drop"}
FILES: dict[str, str | None] = {
    "articles": "articles.csv",
    "transactions": "transactions_train.csv",
    "customers": "customers.csv",
}
ARTICLE_COLUMNS = ("article_id", "prod_name")
TRANSACTION_COLUMNS = ("t_dat", "customer_id", "article_id")


def _require(raw_dir: Path, name: str, role: str) -> Path:
    """raw_dir/name (or name.gz); a clear error naming the option and listing raw_dir if absent."""
    for path in (raw_dir / name, raw_dir / f"{name}.gz"):
        if path.is_file():
            return path
    raise FileNotFoundError(f"{raw_dir}: H&M format needs {name} (option files.{role}); found: {list_files(raw_dir)}")


def _columns(header: list[str], required: tuple[str, ...], file: str) -> dict[str, int]:
    """Column name -> index from a header row; the pandas index column has an empty name and is ignored."""
    if not any(name.strip() for name in header):
        raise ValueError(f"{file}: empty file (no header line), expected a header with {list(required)}")
    index = {name.strip(): i for i, name in enumerate(header) if name.strip()}
    missing = [c for c in required if c not in index]
    if missing:
        raise ValueError(f"{file} line 1: header lacks column(s) {missing}; header is {header[:12]}")
    return index


def normalise_ids(ids: pl.Expr) -> pl.Expr:
    """Article ids as 10-digit zero-padded strings; null where the id is not 1-10 digits."""
    clean = ids.str.strip_chars()
    return pl.when(clean.str.contains(r"^\d{1,10}$")).then(clean.str.zfill(10))


def read_articles(path: Path, file: str, quarantine: Quarantine) -> tuple[pl.DataFrame, int, int]:
    """articles.csv (quoted CSV) as items in file order; returns (items, records read, duplicate ids)."""
    rows: list[tuple[str, str, str, str, int, str]] = []
    with io.TextIOWrapper(open_bytes(path), encoding="utf-8", errors="surrogateescape", newline="") as text:
        reader = csv.reader(text)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path}: empty file (no header line), expected a header with {list(ARTICLE_COLUMNS)}")
        col = _columns(header, ARTICLE_COLUMNS, str(path))
        start, records = reader.line_num + 1, 0
        for record in reader:
            line, start, records = start, reader.line_num + 1, records + 1
            joined = ",".join(record)
            if not record or not joined.strip():
                quarantine.skip("blank_line")
                continue
            if any("\udc80" <= ch <= "\udcff" for ch in joined):
                quarantine.add(file, line, "not_utf8", excerpt(joined.encode("utf-8", "surrogateescape")))
            elif len(record) != len(header):
                quarantine.add(file, line, "column_count", excerpt(joined))
            else:
                get = {name: record[i] for name, i in col.items()}
                category = get.get("product_type_name", "") or get.get("product_group_name", "")
                rows.append((get["article_id"], get["prod_name"], get.get("detail_desc", ""), category, line, joined))
    schema = {name: pl.String for name in ("raw_id", "title", "description", "category")}
    frame = pl.DataFrame(rows, schema={**schema, "line": pl.Int64, "text": pl.String}, orient="row")
    frame = frame.with_columns(normalise_ids(pl.col("raw_id")).alias("item_id"))
    quarantine.add_frame(file, frame.filter(pl.col("item_id").is_null()), "bad_id")
    frame = frame.filter(pl.col("item_id").is_not_null())
    keys = pl.concat_str(
        pl.lit("images/"), pl.col("item_id").str.slice(0, 3), pl.lit("/"), pl.col("item_id"), pl.lit(".jpg")
    )
    items = frame.select("item_id", "title", "description", "category", keys.alias("image_key"))
    unique = items.unique(subset="item_id", keep="first", maintain_order=True)
    return unique, records, items.height - unique.height


def read_transactions(path: Path, file: str, quarantine: Quarantine) -> tuple[pl.DataFrame, int]:
    """transactions_train.csv as (line, user_id, item_id, timestamp); bad rows quarantined."""
    with open_bytes(path) as handle:
        header = handle.readline().decode("utf-8", errors="replace").rstrip("\r\n").split(",")
    col = _columns(header, TRANSACTION_COLUMNS, str(path))
    fields, lines, _ = read_fields(path, file, len(header), quarantine, separator=",")
    raw = fields
    fields = fields.filter(pl.col("line") > 1).with_columns(
        pl.col(f"f{col['customer_id']}").str.strip_chars().alias("user_id"),
        normalise_ids(pl.col(f"f{col['article_id']}")).alias("item_id"),
        pl.col(f"f{col['t_dat']}")
        .str.strip_chars()
        .str.to_date("%Y-%m-%d", strict=False)
        .cast(pl.Datetime("ms"))
        .dt.epoch("s")
        .alias("timestamp"),
    )
    checks = [
        ("empty_user", pl.col("user_id") == ""),
        ("bad_id", pl.col("item_id").is_null()),
        ("bad_time", pl.col("timestamp").is_null()),
    ]
    for reason, is_bad in checks:
        quarantine.add_frame(file, fields.filter(is_bad), reason, row_text(raw, ","))
        fields = fields.filter(~is_bad)
    return fields.select("line", "user_id", "item_id", "timestamp"), max(lines - 1, 0)


def count_customers(raw_dir: Path, name: str, quarantine: Quarantine) -> tuple[pl.Series, int, str | None]:
    """customer ids of customers.csv (validated, not used otherwise); returns (ids, rows, file name or None)."""
    try:
        path = _require(raw_dir, name, "customers")
    except FileNotFoundError:
        return pl.Series([], dtype=pl.String), 0, None
    file = path.relative_to(raw_dir).as_posix()
    with open_bytes(path) as handle:
        header = handle.readline().decode("utf-8", errors="replace").rstrip("\r\n").split(",")
    col = _columns(header, ("customer_id",), str(path))
    fields, lines, _ = read_fields(path, file, len(header), quarantine, separator=",")
    return fields.filter(pl.col("line") > 1)[f"f{col['customer_id']}"].str.strip_chars(), max(lines - 1, 0), file


def read(raw_dir: Path, options: dict[str, Any], quarantine: Quarantine) -> Ingested:
    """Read the H&M competition files under raw_dir."""
    if options["duplicates"] not in ("drop", "keep"):
        raise ValueError(f"H&M option duplicates must be 'drop' or 'keep', not {options['duplicates']!r}")
    names = options["files"]
    articles_path = _require(raw_dir, names["articles"], "articles")
    transactions_path = _require(raw_dir, names["transactions"], "transactions")
    articles_file, transactions_file = (p.relative_to(raw_dir).as_posix() for p in (articles_path, transactions_path))
    items, article_rows, duplicates = read_articles(articles_path, articles_file, quarantine)
    events, transaction_rows = read_transactions(transactions_path, transactions_file, quarantine)
    customers, customer_rows, customers_file = count_customers(raw_dir, names["customers"], quarantine)
    known = pl.col("item_id").is_in(items["item_id"].implode())
    quarantine.add_frame(
        transactions_file,
        events.filter(~known).select("line", ("unknown article_id " + pl.col("item_id")).alias("text")),
        "unknown_item",
    )
    interactions = events.filter(known).select("user_id", "item_id", "timestamp", pl.col("line").alias("order"))
    repeated = interactions.select(pl.struct("user_id", "item_id", "timestamp").is_first_distinct().not_()).to_series()
    if options["duplicates"] == "drop":
        interactions = interactions.filter(~repeated)
    rows_read = {articles_file: article_rows, transactions_file: transaction_rows}
    if customers_file:
        rows_read[customers_file] = customer_rows
    counts = {
        "duplicate_items": duplicates,
        "duplicate_transactions": int(repeated.sum()),
        "missing_images": missing_images(items["image_key"], image_index(raw_dir)),
        "customers": customers.n_unique(),
        "transaction_customers_not_in_customers_csv": (
            interactions.select(pl.col("user_id").unique()).filter(~pl.col("user_id").is_in(customers.implode())).height
            if customers_file
            else -1
        ),
    }
    return Ingested(items, interactions, rows_read, counts, [articles_file])
