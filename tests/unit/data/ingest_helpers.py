"""Shared helpers for the ingest tests: run ingest into a temporary folder and read every output back."""

from __future__ import annotations

import gzip
import shutil
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from shared_paths import shared_data_dir
from transrec.data.ingest import ingest
from transrec.io import read_json

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "raw"
SHARED = shared_data_dir()
LENIENT = {"max_bad_fraction": 1.0}


@dataclass
class Outputs:
    """Everything one ingest run wrote."""

    items: pl.DataFrame
    interactions: pl.DataFrame
    quarantine: pl.DataFrame
    report: dict

    def reasons(self, file: str) -> dict[int, str]:
        """line -> reason of the quarantined rows of one file."""
        rows = self.quarantine.filter(pl.col("file") == file)
        return dict(zip(rows["line"].to_list(), rows["reason"].to_list()))

    def sequence(self, user: str) -> list[tuple[str, int]]:
        """(item_id, timestamp) of one user, in output order."""
        rows = self.interactions.filter(pl.col("user_id") == user)
        return list(zip(rows["item_id"].to_list(), rows["timestamp"].to_list()))


def run(dataset_format: str, raw_dir: Path, out: Path, options: dict | None = None) -> Outputs:
    """Ingest raw_dir into out/ and read the outputs back."""
    ingest(
        dataset_format,
        raw_dir,
        item_table=out / "items.parquet",
        interaction_table=out / "interactions.parquet",
        quarantine=out / "quarantine.tsv",
        report=out / "report.json",
        options=options,
    )
    quarantine = pl.read_csv(out / "quarantine.tsv", separator="\t", quote_char=None, infer_schema=False).with_columns(
        pl.col("line").cast(pl.Int64)
    )
    return Outputs(
        pl.read_parquet(out / "items.parquet"),
        pl.read_parquet(out / "interactions.parquet"),
        quarantine,
        read_json(out / "report.json"),
    )


def gzip_copy(source: Path, target: Path, keep_name: bool = False) -> Path:
    """Copy a fixture tree, gzipping every regular non-image file (as name.gz, or under the same name)."""
    for path in source.rglob("*"):
        if path.is_dir() or "images" in path.parts:
            continue
        dest = target / path.relative_to(source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest = dest if keep_name else dest.with_name(dest.name + ".gz")
        dest.write_bytes(gzip.compress(path.read_bytes(), mtime=0))
    if (source / "images").is_dir():
        shutil.copytree(source / "images", target / "images")
    return target
