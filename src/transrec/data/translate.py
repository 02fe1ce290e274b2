"""Translate item titles (table, then a resumable cached backend) and keep the originals."""

from __future__ import annotations

import contextlib
import html
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from transrec.io import write_parquet
from transrec.locks import exclusive_lock
from transrec.logs import progress

log = logging.getLogger(__name__)
BACKENDS = ("google", "cache", "none")
ITEM_COLUMNS = ("item_id", "title")
_CSV_QUOTED = re.compile(r'(?:[^"]|"")*')


class Translator(Protocol):
    """Anything with deep-translator's batch call."""

    def translate_batch(self, batch: list[str]) -> list[str]: ...


def translate_titles(
    item_table: Path,
    out_table: Path,
    *,
    backend: str,
    cache_path: Path,
    source_lang: str = "no",
    target_lang: str = "en",
    batch_size: int = 50,
    timeout_s: float = 20.0,
    max_retries: int = 4,
    translation_table: Path | None = None,
    translator: Translator | None = None,
    backoff_s: float = 1.0,
) -> dict:
    """Write the items table with translated `title`, plus `title_original` and `translation` (its source)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown translation backend {backend!r}; expected one of {BACKENDS}")
    if batch_size < 1 or max_retries < 0 or timeout_s <= 0:
        raise ValueError("batch_size must be >= 1, max_retries >= 0 and timeout_s > 0")
    items = _read_items(Path(item_table))
    original = items["title"].to_list()
    table = read_translation_table(Path(translation_table)) if translation_table else {}
    in_table = [item_id in table for item_id in items["item_id"].to_list()]
    unused = len(set(table) - set(items["item_id"].to_list()))
    if unused:
        log.info("translation table: %d ids are not in %s (ignored)", unused, item_table)

    sources = _unique(title.strip() for title, hit in zip(original, in_table) if not hit)
    report: dict[str, Any] = {"items": len(original), "from_table": sum(in_table), "unique_sources": len(sources)}
    if backend == "none":
        translated: dict[str, str] = {}
        report.update(cached=0, translated_now=0)
    else:
        with _cache_lock(Path(cache_path)):  # the cache lives in data/interim, which workflows may share
            translated = _from_cache(
                sources,
                backend,
                Path(cache_path),
                translator,
                report,
                source_lang=source_lang,
                target_lang=target_lang,
                batch_size=batch_size,
                timeout_s=timeout_s,
                max_retries=max_retries,
                backoff_s=backoff_s,
            )

    titles = [
        table[i] if hit else translated.get(t.strip(), t) for i, t, hit in zip(items["item_id"], original, in_table)
    ]
    labels = ["table" if hit else backend for hit in in_table]
    out = items.with_columns(
        pl.Series("title", titles, dtype=pl.String),
        pl.Series("title_original", original, dtype=pl.String),
        pl.Series("translation", labels, dtype=pl.String),
    )
    write_parquet(out, out_table)
    log.info("translated titles of %s: %s", item_table, report)
    return report


def _cache_lock(cache_path: Path) -> contextlib.AbstractContextManager[None]:
    """One translating process per cache file at a time (the others wait, then find the titles cached)."""
    return exclusive_lock(
        cache_path.with_name(cache_path.name + ".lock"), f"the translation cache {cache_path}", "", wait=True
    )


def _from_cache(
    sources: list[str],
    backend: str,
    cache_path: Path,
    translator: Translator | None,
    report: dict[str, Any],
    *,
    source_lang: str,
    target_lang: str,
    batch_size: int,
    timeout_s: float,
    max_retries: int,
    backoff_s: float,
) -> dict[str, str]:
    """source -> translation of every source title: from the cache, the rest translated and appended to it."""
    cache = load_cache(cache_path)

    missing = [s for s in sources if s and s not in cache]
    report.update(cached=len(sources) - len(missing), translated_now=len(missing))
    if missing and backend == "cache":
        shown = "; ".join(repr(s) for s in missing[:20])
        raise RuntimeError(
            f"translation backend 'cache': {len(missing)} titles are not in {cache_path} "
            f"(first {min(20, len(missing))}: {shown}); run with backend 'google' to fill the cache"
        )
    if missing:
        translator = translator or build_translator(backend, source_lang, target_lang)
        cache.update(
            _translate_missing(
                missing,
                translator,
                Path(cache_path),
                batch_size=batch_size,
                timeout_s=timeout_s,
                max_retries=max_retries,
                backoff_s=backoff_s,
            )
        )
    return {s: (cache[s] if s else "") for s in sources}


def build_translator(backend: str, source_lang: str, target_lang: str) -> Translator:
    """The real translator behind a backend name (only `google` has one)."""
    if backend != "google":
        raise ValueError(f"backend {backend!r} has no translator")
    from deep_translator import GoogleTranslator

    return GoogleTranslator(source=source_lang, target=target_lang)


def read_translation_table(path: Path) -> dict[str, str]:
    """Read a precomputed `item_id<TAB>title` table, titles cleaned by `clean_title`."""
    table: dict[str, str] = {}
    with open(path, encoding="utf-8-sig") as handle:  # -sig: a leading byte-order mark is not part of the first id
        for line_no, line in enumerate(handle, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            item_id, sep, title = line.partition("\t")
            if not sep or not item_id.strip():
                raise ValueError(f"{path}:{line_no}: expected 'item_id<TAB>title', got {line[:80]!r}")
            table[item_id.strip()] = clean_title(title)
    log.info("translation table %s: %d titles", path, len(table))
    return table


def clean_title(title: str) -> str:
    """Strip, undo CSV quoting (outer quotes, doubled inner quotes: the released news.tsv) and HTML entities."""
    title = title.strip()
    if len(title) >= 2 and title[0] == title[-1] == '"' and _CSV_QUOTED.fullmatch(title[1:-1]):
        title = title[1:-1].replace('""', '"')
    return html.unescape(title).strip()


def load_cache(path: Path) -> dict[str, str]:
    """Read the JSON-lines cache; a torn last line (killed run) is cut off with a warning."""
    cache: dict[str, str] = {}
    if not path.exists():
        return cache
    data = path.read_bytes()
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    for line_no, raw in enumerate(lines, 1):
        if raw.strip():
            record = _parse_record(raw)
            if record is None:
                raise ValueError(f"{path}:{line_no}: not a cache record {{'source', 'target'}}: {raw[:80]!r}")
            cache[record[0]] = record[1]
    if tail.strip():
        record = _parse_record(tail)
        if record is None:
            log.warning(
                "%s: dropping torn last line %d (%d bytes) from an interrupted run", path, len(lines) + 1, len(tail)
            )
            with open(path, "r+b") as handle:
                handle.truncate(len(data) - len(tail))
        else:
            cache[record[0]] = record[1]
            with open(path, "ab") as handle:
                handle.write(b"\n")
    return cache


def _parse_record(raw: bytes) -> tuple[str, str] | None:
    try:
        record = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if (
        not isinstance(record, dict)
        or not isinstance(record.get("source"), str)
        or not isinstance(record.get("target"), str)
    ):
        return None
    return record["source"], record["target"]


def _translate_missing(
    missing: list[str],
    translator: Translator,
    cache_path: Path,
    *,
    batch_size: int,
    timeout_s: float,
    max_retries: int,
    backoff_s: float,
) -> dict[str, str]:
    """Translate in batches, appending each finished batch to the cache (flushed and fsynced)."""
    done: dict[str, str] = {}
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    batches = [missing[i : i + batch_size] for i in range(0, len(missing), batch_size)]
    with open(cache_path, "a", encoding="utf-8") as handle:
        for batch in progress(batches, desc="translate batches"):
            try:
                targets = _call_with_retries(translator, batch, timeout_s, max_retries, backoff_s)
            except Exception as error:
                remaining = len(missing) - len(done)
                raise RuntimeError(
                    f"translation failed after {max_retries + 1} attempts: {remaining} of {len(missing)} titles "
                    f"remain; the cache {cache_path} keeps the {len(done)} translated so far, "
                    f"rerun to resume ({error})"
                ) from error
            lines = [json.dumps({"source": s, "target": t}, ensure_ascii=False) + "\n" for s, t in zip(batch, targets)]
            handle.write("".join(lines))
            handle.flush()
            os.fsync(handle.fileno())
            done.update(zip(batch, targets))
    return done


def _call_with_retries(
    translator: Translator, batch: list[str], timeout_s: float, max_retries: int, backoff_s: float
) -> list[str]:
    """One batch call under a timeout, retried with exponential backoff."""
    for attempt in range(max_retries + 1):
        try:
            targets = _call_with_timeout(translator, batch, timeout_s)
            if (
                not isinstance(targets, list)
                or len(targets) != len(batch)
                or not all(isinstance(t, str) for t in targets)
            ):
                raise ValueError(f"translator returned {type(targets).__name__} not {len(batch)} strings")
            return targets
        except Exception as error:
            if attempt == max_retries:
                raise
            delay = backoff_s * 2**attempt
            log.warning(
                "translation batch failed (attempt %d/%d: %s); retrying in %.1f s",
                attempt + 1,
                max_retries + 1,
                error,
                delay,
            )
            time.sleep(delay)
    raise AssertionError("unreachable")


def _call_with_timeout(translator: Translator, batch: list[str], timeout_s: float) -> list[str]:
    """Run `translate_batch` in a daemon thread: deep-translator has no timeout of its own."""
    result: dict[str, Any] = {}

    def call() -> None:
        try:
            result["value"] = translator.translate_batch(list(batch))
        except BaseException as error:  # handed to the caller's thread
            result["error"] = error

    thread = threading.Thread(target=call, daemon=True, name="translate-batch")
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise TimeoutError(f"translate_batch of {len(batch)} titles took longer than {timeout_s} s")
    if "error" in result:
        raise result["error"]
    return result["value"]


def _read_items(path: Path) -> pl.DataFrame:
    items = pl.read_parquet(path)
    absent = [c for c in ITEM_COLUMNS if c not in items.columns]
    if absent:
        raise ValueError(f"{path}: missing columns {absent}")
    nulls = items["title"].null_count()
    if nulls:
        log.warning("%s: %d items have a null title; translated as ''", path, nulls)
        items = items.with_columns(pl.col("title").fill_null(""))
    return items


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
