"""MIND ingest: sequences built from history + clicks, splits merged, malformed rows quarantined by line."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import polars as pl
import pytest

from ingest_helpers import FIXTURES, LENIENT, SHARED, gzip_copy, run
from transrec.data.ingest import mind, readers, sequence_order
from transrec.data.ingest.quarantine import Quarantine

RAW = FIXTURES / "mind"


def epoch(*args: int) -> int:
    """Epoch seconds of a UTC wall-clock time."""
    return int(datetime(*args, tzinfo=timezone.utc).timestamp())


T1, T2, T3, T_DEV, T7 = (
    epoch(2019, 11, 10, 9),
    epoch(2019, 11, 10, 9, 5),
    epoch(2019, 11, 11, 10),
    epoch(2019, 11, 15, 8, 55, 22),
    epoch(2019, 11, 10, 9),
)


def test_sequences_merge_history_and_clicks_across_splits(tmp_path):
    out = run("mind", RAW, tmp_path, LENIENT)
    # history N1 N2 before line 1's click N3; line 3 repeats the history (read once) and re-clicks N2 (dropped);
    # dev line's history N1 N2 N3 is all repeats; N8 is a dev-only news item
    assert out.sequence("U1") == [("N1", T1 - 2), ("N2", T1 - 1), ("N3", T1), ("N4", T3), ("N8", T_DEV)]
    assert out.sequence("U2") == [("N1", T2), ("N2", T2)]  # empty history is fine; clicks keep impression order
    assert out.sequence("U4") == [("N1", T7 - 1), ("N5", T7)]  # unknown N99, N98 removed
    assert out.interactions["user_id"].to_list() == sorted(out.interactions["user_id"].to_list())
    assert out.report["counts"]["users_without_clicks"] == 1  # U6 clicked nothing
    assert out.report["users"] == 3 and out.report["interactions"] == 9


def test_items_merged_and_typed(tmp_path):
    out = run("mind", RAW, tmp_path, LENIENT)
    assert out.items["item_id"].to_list() == ["N1", "N2", "N3", "N4", "N5", "N8"]  # train first, dev adds N8
    assert out.items.schema == pl.Schema(
        {
            "item_id": pl.String,
            "title": pl.String,
            "description": pl.String,
            "category": pl.String,
            "image_key": pl.String,
        }
    )
    assert out.interactions.schema == pl.Schema({"user_id": pl.String, "item_id": pl.String, "timestamp": pl.Int64})
    row = out.items.row(1, named=True)
    assert row == {
        "item_id": "N2",
        "title": "Title N2",
        "description": "Abstract N2",
        "category": "sports",
        "image_key": None,
    }
    assert out.report["counts"]["duplicate_items"] == 1  # N1 listed in train and dev


def test_every_malformed_row_quarantined_with_line(tmp_path):
    out = run("mind", RAW, tmp_path, LENIENT)
    assert out.reasons("train/news.tsv") == {6: "column_count", 7: "empty_id", 8: "not_utf8"}
    assert out.reasons("train/behaviors.tsv") == {
        4: "bad_time",
        5: "bad_impressions",
        6: "column_count",
        7: "unknown_item",
        8: "not_utf8",
    }
    assert out.reasons("dev/behaviors.tsv") == {}
    unknown = out.quarantine.filter(pl.col("reason") == "unknown_item")["excerpt"].item()
    assert unknown == "unknown ids: N99 N98"
    assert out.report["quarantined"] == {
        "bad_impressions": 1,
        "bad_time": 1,
        "column_count": 2,
        "empty_id": 1,
        "not_utf8": 2,
        "unknown_item": 1,
    }
    assert out.report["format_errors"] == 7 and out.report["rows_read_total"] == 20


def test_history_limit_keeps_latest_and_dedupe_options(tmp_path):
    limited = run("mind", RAW, tmp_path / "a", {**LENIENT, "history_limit": 3})
    assert [i for i, _ in limited.sequence("U1")] == ["N3", "N4", "N8"]
    assert limited.report["counts"]["clicks_beyond_history_limit"] == 2
    last = run("mind", RAW, tmp_path / "b", {**LENIENT, "dedupe": "last"})
    assert [i for i, _ in last.sequence("U1")] == ["N4", "N2", "N3", "N8", "N1"]  # each news at its latest click
    none = run("mind", RAW, tmp_path / "c", {**LENIENT, "dedupe": "none"})
    assert len(none.sequence("U1")) == 10  # 2 + 3 history entries, 1 + 2 + 2 clicks


def test_packed_and_multi_column_orderings_agree():
    quarantine = Quarantine()
    lines = pl.DataFrame(
        {
            "file": [0, 0, 1],
            "line": [1, 2, 1],
            "uid": np.array([1, 0, 1], np.uint32),
            "lo": np.array([0, 0, 1], np.uint32),
            "ts": [100, 50, 100],
            "history": ["a b a", "", "c"],
            "clicks": [["b"], ["a", "c"], ["a"]],
        }
    )
    events, start = mind.click_events(lines)
    events = events.with_columns(
        pl.col("item_id").replace_strict({"a": 0, "b": 1, "c": 2}, return_dtype=pl.UInt32).alias("iid")
    )
    assert start.tolist() == [50, 97]  # uid 1: history of 3 before its impression at 100
    assert events.filter(pl.col("uid") == 1).sort("timestamp", "lo", "pos")["item_id"].to_list() == [
        "a",
        "b",
        "a",
        "c",
        "b",
        "a",
    ]
    for dedupe in ("first", "last", "none"):
        packed, _ = sequence_order.sequences(events, start, dedupe, 2)
        fallback, _ = sequence_order.sequences(events, start, dedupe, 2, packed=False)
        assert packed.equals(fallback), dedupe
    assert quarantine.counts() == {}


def test_wrong_format_trips_max_bad_fraction(tmp_path):
    with pytest.raises(ValueError, match="max_bad_fraction"):
        run("mind", RAW, tmp_path)  # 7 malformed of 20 rows > 1 %


def test_gzip_equals_plain(tmp_path):
    plain = run("mind", RAW, tmp_path / "plain", LENIENT)
    gz = run("mind", gzip_copy(RAW, tmp_path / "gz_raw"), tmp_path / "gz", LENIENT)
    assert plain.items.equals(gz.items) and plain.interactions.equals(gz.interactions)
    assert plain.quarantine["reason"].to_list() == gz.quarantine["reason"].to_list()


def test_splits_option_and_flat_layout(tmp_path):
    dev = run("mind", RAW, tmp_path / "dev", {"splits": ["dev"]})
    assert dev.sequence("U1") == [("N1", T_DEV - 3), ("N8", T_DEV)]  # N2, N3 are not in dev/news.tsv
    flat = tmp_path / "flat"
    flat.mkdir()
    for name in ("news.tsv", "behaviors.tsv"):
        (flat / name).write_bytes((RAW / "dev" / name).read_bytes())
    assert run("mind", flat, tmp_path / "flat_out").interactions.equals(dev.interactions)
    with pytest.raises(FileNotFoundError, match="test"):
        run("mind", RAW, tmp_path / "x", {"splits": ["test"]})
    with pytest.raises(ValueError, match="unknown ingest option"):
        run("mind", RAW, tmp_path / "y", {"history_length": 3})


def test_fast_parse_equals_line_scan(tmp_path, monkeypatch):
    path = tmp_path / "behaviors.tsv"
    path.write_bytes((RAW / "dev" / "behaviors.tsv").read_bytes() * 3 + b"11\tU7\t1/2/2019 12:00:01 AM\t\tN1-1\r\n")
    fast, n_fast, _ = readers.read_fields(path, "b", 5, Quarantine())
    monkeypatch.setattr(readers, "_fast_fields", lambda *a: None)
    slow, n_slow, _ = readers.read_fields(path, "b", 5, Quarantine())
    assert fast.equals(slow) and n_fast == n_slow == 4
    assert fast["f4"][-1] == "N1-1"  # CRLF stripped


@pytest.mark.realdata
@pytest.mark.skipif(not (SHARED / "raw_samples" / "mind").is_dir(), reason="shared raw samples absent")
def test_real_excerpt_counts_unknown_ids(tmp_path):
    out = run("mind", SHARED / "raw_samples" / "mind", tmp_path)
    assert out.report["rows_read"] == {"news.tsv": 2000, "behaviors.tsv": 5000}
    assert out.report["format_errors"] == 0
    assert out.report["quarantined"]["unknown_item"] == out.quarantine.height > 4000
    assert out.report["counts"]["unknown_item_references"] > 100_000
    assert set(out.interactions["item_id"].unique()) <= set(out.items["item_id"])
    assert out.items.height == 2000 and out.report["users"] > 0


@pytest.mark.parametrize("dedupe", ["first", "last", "none"])
def test_packed_sort_matches_polars_sort_on_random_events(dedupe):
    rng = np.random.default_rng(7)
    n = 3000
    events = pl.DataFrame(
        {
            "uid": rng.integers(0, 40, n).astype(np.uint32),
            "iid": rng.integers(0, 25, n).astype(np.uint32),  # many repeats per user
            "timestamp": rng.integers(1000, 1060, n),  # many ties in time
            "lo": rng.integers(0, 4, n).astype(np.uint32),
            "pos": rng.integers(0, 9, n).astype(np.int32),
        }
    ).unique(subset=["uid", "timestamp", "lo", "pos"], keep="first", maintain_order=True)  # one event per slot
    start = np.full(40, 990, np.int64)
    packed, counts_packed = sequence_order.sequences(events, start, dedupe, 7)
    fallback, counts_fallback = sequence_order.sequences(events, start, dedupe, 7, packed=False)
    assert packed.equals(fallback) and counts_packed == counts_fallback
