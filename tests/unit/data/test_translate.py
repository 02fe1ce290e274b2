"""Translation: table precedence, backends, resumable cache, timeouts, torn cache lines."""

from __future__ import annotations

import json
import time
from pathlib import Path

import polars as pl
import pytest

from transrec.data.translate import clean_title, load_cache, translate_titles


def _items(path: Path, titles: list[str]) -> Path:
    pl.DataFrame(
        {
            "item_id": [f"i{k}" for k in range(len(titles))],
            "title": titles,
            "description": [""] * len(titles),
            "category": [""] * len(titles),
            "image_key": pl.Series([None] * len(titles), dtype=pl.String),
        }
    ).write_parquet(path)
    return path


class FakeTranslator:
    """Upper-cases; raises after `fail_after` successful batches; sleeps `sleep_s` per call."""

    def __init__(self, fail_after: int | None = None, sleep_s: float = 0.0) -> None:
        self.calls: list[list[str]] = []
        self.fail_after = fail_after
        self.sleep_s = sleep_s

    def translate_batch(self, batch: list[str]) -> list[str]:
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise ConnectionError("offline")
        self.calls.append(list(batch))
        time.sleep(self.sleep_s)
        return [t.upper() for t in batch]


def _run(tmp_path: Path, titles: list[str], **kwargs) -> tuple[dict, pl.DataFrame]:
    src = _items(tmp_path / "items.parquet", titles)
    out = tmp_path / "out.parquet"
    kwargs.setdefault("cache_path", tmp_path / "cache" / "no_en.jsonl")
    kwargs.setdefault("backoff_s", 0.0)
    report = translate_titles(src, out, **kwargs)
    return report, pl.read_parquet(out)


def test_google_dedupes_and_keeps_original(tmp_path):
    fake = FakeTranslator()
    report, out = _run(tmp_path, ["hei", "hei", " god dag", ""], backend="google", translator=fake, batch_size=10)
    assert fake.calls == [["hei", "god dag"]]
    assert out["title"].to_list() == ["HEI", "HEI", "GOD DAG", ""]
    assert out["title_original"].to_list() == ["hei", "hei", " god dag", ""]
    assert out["translation"].to_list() == ["google"] * 4
    assert out.columns[:5] == ["item_id", "title", "description", "category", "image_key"]
    assert report["translated_now"] == 2


def test_resume_after_kill_translates_only_the_rest(tmp_path):
    titles = [f"tittel {k}" for k in range(10)]
    cache = tmp_path / "cache.jsonl"
    with pytest.raises(RuntimeError, match=r"6 of 10 titles remain.*cache"):
        _run(
            tmp_path,
            titles,
            backend="google",
            cache_path=cache,
            translator=FakeTranslator(fail_after=2),
            batch_size=2,
            max_retries=1,
        )
    assert len(cache.read_text().splitlines()) == 4
    assert not (tmp_path / "out.parquet").exists()
    fake = FakeTranslator()
    report, out = _run(tmp_path, titles, backend="google", cache_path=cache, translator=fake, batch_size=2)
    assert [t for call in fake.calls for t in call] == titles[4:]
    assert report["cached"] == 4 and report["translated_now"] == 6
    assert out["title"].to_list() == [t.upper() for t in titles]
    assert len(load_cache(cache)) == 10


def test_retry_recovers_from_transient_errors(tmp_path):
    class Flaky(FakeTranslator):
        failures = 2

        def translate_batch(self, batch):
            if self.failures:
                self.failures -= 1
                raise ConnectionError("blip")
            return super().translate_batch(batch)

    fake = Flaky()
    _, out = _run(tmp_path, ["a", "b"], backend="google", translator=fake, max_retries=2)
    assert out["title"].to_list() == ["A", "B"]
    assert fake.calls == [["a", "b"]]


def test_timeout_fails_with_clear_message(tmp_path):
    fake = FakeTranslator(sleep_s=0.5)
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="2 of 2 titles remain") as info:
        _run(tmp_path, ["a", "b"], backend="google", translator=fake, timeout_s=0.05, max_retries=1)
    assert isinstance(info.value.__cause__, TimeoutError)
    assert time.monotonic() - start < 0.45  # did not wait for the hung calls
    assert not (tmp_path / "cache" / "no_en.jsonl").read_text()


def test_cache_backend_lists_missing(tmp_path):
    cache = tmp_path / "cache.jsonl"
    cache.write_text(json.dumps({"source": "t0", "target": "T0"}) + "\n")
    titles = [f"t{k}" for k in range(25)]
    with pytest.raises(RuntimeError, match=r"24 titles are not in") as info:
        _run(tmp_path, titles, backend="cache", cache_path=cache)
    assert "'t20'" in str(info.value) and "'t21'" not in str(info.value)  # first 20 missing only
    _, out = _run(tmp_path, ["t0", "t0"], backend="cache", cache_path=cache)
    assert out["title"].to_list() == ["T0", "T0"] and out["translation"].to_list() == ["cache", "cache"]


def test_none_backend_keeps_titles(tmp_path):
    report, out = _run(tmp_path, ["hei", " på "], backend="none")
    assert out["title"].to_list() == ["hei", " på "]
    assert out["translation"].to_list() == ["none", "none"]
    assert not (tmp_path / "cache" / "no_en.jsonl").exists()


def test_table_takes_precedence(tmp_path):
    table = tmp_path / "news.tsv"
    table.write_text("i0\t  Fish &amp; chips\ni9\tunused\n", encoding="utf-8")
    fake = FakeTranslator()
    _, out = _run(tmp_path, ["fisk", "kjøtt"], backend="google", translator=fake, translation_table=table)
    assert fake.calls == [["kjøtt"]]
    assert out["title"].to_list() == ["Fish & chips", "KJØTT"]
    assert out["translation"].to_list() == ["table", "google"]


def test_malformed_table_names_line(tmp_path):
    table = tmp_path / "news.tsv"
    table.write_text("i0\tok\nno tab here\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"news.tsv:2"):
        _run(tmp_path, ["x"], backend="none", translation_table=table)


def test_torn_last_cache_line_is_skipped_and_repaired(tmp_path, caplog):
    cache = tmp_path / "cache.jsonl"
    cache.write_text(json.dumps({"source": "a", "target": "A!"}) + '\n{"source": "b", "tar')
    fake = FakeTranslator()
    _, out = _run(tmp_path, ["a", "b"], backend="google", cache_path=cache, translator=fake)
    assert "torn last line" in caplog.text
    assert fake.calls == [["b"]]
    assert out["title"].to_list() == ["A!", "B"]
    assert [json.loads(line)["source"] for line in cache.read_text().splitlines()] == ["a", "b"]


def test_corrupt_middle_cache_line_is_an_error(tmp_path):
    cache = tmp_path / "cache.jsonl"
    cache.write_text('garbage\n{"source": "a", "target": "A"}\n')
    with pytest.raises(ValueError, match=r"cache.jsonl:1"):
        load_cache(cache)


def test_unknown_backend(tmp_path):
    with pytest.raises(ValueError, match="unknown translation backend"):
        _run(tmp_path, ["x"], backend="deepl")


def test_google_backend_builds_deep_translator_without_network():
    from transrec.data.translate import build_translator

    translator = build_translator("google", "no", "en")
    assert callable(translator.translate_batch)
    assert (translator.source, translator.target) == ("no", "en")


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  Fish &amp; chips ", "Fish & chips"),
        ('"- Let\'s hope for ""counter-pressure"""', '- Let\'s hope for "counter-pressure"'),
        ('"Quoted" and "not"', '"Quoted" and "not"'),  # not CSV quoting: kept
        ("&quot;x&quot;", '"x"'),
    ],
)
def test_clean_title(raw, clean):
    assert clean_title(raw) == clean
