"""Translation under issue 16: a BOM on the translation table, and one translating process per shared cache."""

from __future__ import annotations

import codecs
import fcntl
import os
from pathlib import Path

import polars as pl

from transrec.data.translate import translate_titles


def _items(path: Path, titles: list[str]) -> Path:
    n = len(titles)
    pl.DataFrame(
        {
            "item_id": [f"i{k}" for k in range(n)],
            "title": titles,
            "description": [""] * n,
            "category": [""] * n,
            "image_key": pl.Series([None] * n, dtype=pl.String),
        }
    ).write_parquet(path)
    return path


class LockProbe:
    """Upper-cases, and records whether the cache's lock file is held by someone while it translates."""

    def __init__(self, lock: Path) -> None:
        self.lock = lock
        self.held: list[bool] = []

    def translate_batch(self, batch: list[str]) -> list[str]:
        fd = os.open(self.lock, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new open file description: conflicts with the holder
            self.held.append(False)
        except BlockingIOError:
            self.held.append(True)
        finally:
            os.close(fd)
        return [t.upper() for t in batch]


def test_bom_on_the_translation_table_keeps_the_first_id(tmp_path):
    table = tmp_path / "table.tsv"
    table.write_bytes(codecs.BOM_UTF8 + "i0\tFish\n".encode())
    out = tmp_path / "out.parquet"
    translate_titles(
        _items(tmp_path / "items.parquet", ["fisk"]),
        out,
        backend="none",
        cache_path=tmp_path / "c",
        translation_table=table,
    )
    assert pl.read_parquet(out)["title"].to_list() == ["Fish"]


def test_the_shared_cache_is_locked_while_translating(tmp_path):
    cache = tmp_path / "data" / "interim" / "translations" / "no_en.jsonl"
    probe = LockProbe(cache.with_name("no_en.jsonl.lock"))
    out = tmp_path / "out.parquet"
    translate_titles(
        _items(tmp_path / "items.parquet", ["hei"]),
        out,
        backend="google",
        translator=probe,
        cache_path=cache,
        backoff_s=0.0,
    )
    assert probe.held == [True]
    assert pl.read_parquet(out)["title"].to_list() == ["HEI"]
    assert cache.with_name("no_en.jsonl.lock").read_text().split()[0] == str(os.getpid())
