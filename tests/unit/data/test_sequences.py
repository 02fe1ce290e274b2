"""Sequences: image drops, min-count filter, seeded sampling, L+3 truncation, re-indexing."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from transrec.data.sequences import build_sequences


def _write_items(path: Path, ids: list[str]) -> Path:
    pl.DataFrame(
        {
            "item_id": ids,
            "title": [f"Title {i.upper()}" for i in ids],
            "description": [""] * len(ids),
            "category": ["cat"] * len(ids),
            "image_key": [f"images/{i}.jpg" for i in ids],
            "title_original": ids,
        }
    ).write_parquet(path)
    return path


def _write_events(path: Path, seqs: dict[str, list[str]]) -> Path:
    rows = [(u, item, t) for u, items in seqs.items() for t, item in enumerate(items)]
    pl.DataFrame(
        rows, schema={"user_id": pl.String, "item_id": pl.String, "timestamp": pl.Int64}, orient="row"
    ).write_parquet(path)
    return path


def _build(tmp_path: Path, ids: list[str], seqs: dict[str, list[str]], **kwargs):
    events = _write_events(tmp_path / "events.parquet", seqs)
    return _run(tmp_path, _write_items(tmp_path / "items.parquet", ids), events, **kwargs)


def _run(tmp_path: Path, items: Path, events: Path, **kwargs):
    """build_sequences on two written tables; returns (report, items out, sequences out)."""
    out = {
        "out_items": tmp_path / "o_items.parquet",
        "out_sequences": tmp_path / "o_seqs.parquet",
        "stats": tmp_path / "stats.json",
    }
    kwargs.setdefault("max_len", 20)
    report = build_sequences(items, events, **out, **kwargs)
    return report, pl.read_parquet(out["out_items"]), pl.read_parquet(out["out_sequences"])


IDS = ["a", "b", "c", "d", "e", "f", "g", "h"]


def test_filter_truncate_reindex(tmp_path):
    seqs = {
        "u2": ["a", "b", "c", "d", "e", "f"],  # 6 -> truncated to last 5 (L=2): b c d e f
        "u1": ["h", "c", "c", "h", "c"],  # exactly 5: kept
        "u0": ["g", "g", "g", "g"],  # 4 < 5: dropped, so g is never seen
    }
    report, items, out = _build(tmp_path, IDS, seqs, max_len=2)
    # items kept in items-file order: b c d e f h -> 1..6; a (truncated away) and g (filtered user) dropped
    assert items["item_id"].to_list() == ["b", "c", "d", "e", "f", "h"]
    assert items["item_idx"].to_list() == [1, 2, 3, 4, 5, 6]
    assert items["item_idx"].dtype == pl.Int32
    assert items.columns == ["item_idx", "item_id", "title", "description", "category", "image_key"]
    assert items["title"].to_list()[0] == "title b"
    assert out["user_id"].to_list() == ["u1", "u2"]
    assert out["user_idx"].to_list() == [0, 1] and out["user_idx"].dtype == pl.Int32
    assert out["sequence"].dtype == pl.List(pl.Int32)
    assert out["sequence"].to_list() == [[6, 2, 2, 6, 2], [1, 2, 3, 4, 5]]
    assert report["input"]["users"] == 3 and report["input"]["interactions"] == 15
    assert report["min_interactions"]["users"] == 2 and report["truncate"]["interactions"] == 10
    assert report["output"] == json.loads((tmp_path / "stats.json").read_text())["output"]
    assert report["output"]["avg_sequence_length"] == 5.0


def test_time_order_and_keep_case(tmp_path):
    items = _write_items(tmp_path / "items.parquet", IDS)
    events = tmp_path / "events.parquet"
    pl.DataFrame(
        {"user_id": ["u"] * 6, "item_id": ["a", "b", "c", "d", "e", "f"], "timestamp": [5, 1, 1, 2, 3, 9]}
    ).write_parquet(events)
    _, out_items, out = _run(tmp_path, items, events, lowercase_titles=False)
    # stable time order: b, c (tie keeps file order), d, e, a, f
    assert out["sequence"].to_list() == [[2, 3, 4, 5, 1, 6]]
    assert out_items["title"][0] == "Title A"


def test_sampling_is_seeded_and_after_filter(tmp_path):
    seqs = {f"u{k:02d}": ["a", "b", "c", "d", "e"] for k in range(20)}
    seqs["short"] = ["a", "b"]
    _, _, first = _build(tmp_path, IDS, seqs, sample_users=7, seed=3)
    _, _, again = _build(tmp_path, IDS, seqs, sample_users=7, seed=3)
    _, _, other = _build(tmp_path, IDS, seqs, sample_users=7, seed=4)
    assert first["user_id"].to_list() == again["user_id"].to_list()
    assert first["user_id"].to_list() != other["user_id"].to_list()
    assert len(first) == 7 and "short" not in first["user_id"].to_list()
    assert first["user_id"].to_list() == sorted(first["user_id"].to_list())
    report, _, everyone = _build(tmp_path, IDS, seqs, sample_users=50)
    assert len(everyone) == 20 and "sample_users" not in report


def test_drop_items_before_filter(tmp_path):
    report_tsv = tmp_path / "image_report.tsv"
    report_tsv.write_text("item_id\tstatus\tdetail\nb\tmissing\tno file\nc\tplaceholder\tgrey\nzz\tcorrupt\tbad\n")
    seqs = {"u0": ["a", "b", "c", "d", "e"], "u1": ["a", "c", "d", "e", "f", "h"]}
    report, items, out = _build(tmp_path, IDS, seqs, drop_items=report_tsv)
    assert out["user_id"].to_list() == ["u1"]  # u0 fell to 4 after dropping b
    assert "b" not in items["item_id"].to_list() and "c" in items["item_id"].to_list()
    assert report["drop_items"]["listed"] == 2 and report["drop_items"]["not_in_item_table"] == 1
    assert report["drop_items"]["interactions"] == 10


def test_bad_image_report_names_line(tmp_path):
    bad = tmp_path / "image_report.tsv"
    bad.write_text("a\tmissing\t\nb\tgone\t\n")
    with pytest.raises(ValueError, match=r"image_report.tsv:2"):
        _build(tmp_path, IDS, {"u": list("abcde")}, drop_items=bad)


def test_dedupe_consecutive(tmp_path):
    seqs = {"u0": ["a", "a", "b", "a", "c", "c", "d"], "u1": ["a", "a", "a", "a", "b", "c"]}
    report, _, out = _build(tmp_path, IDS, seqs, dedupe_consecutive=True)
    assert out["sequence"].to_list() == [[1, 2, 1, 3, 4]]
    assert report["dedupe_consecutive"]["interactions"] == 8


def test_unknown_items_are_an_error(tmp_path):
    with pytest.raises(ValueError, match=r"1 interactions name items absent.*row 6: 'zz'"):
        _build(tmp_path, IDS, {"u0": list("abcde"), "u1": ["a", "zz"]})


def test_duplicate_item_ids_are_an_error(tmp_path):
    with pytest.raises(ValueError, match="duplicated item_id"):
        _build(tmp_path, ["a", "b", "a"], {"u0": list("aabba")})


def test_no_user_left_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no user has >= 5"):
        _build(tmp_path, IDS, {"u0": list("abc")})


def test_empty_drop_report_changes_nothing(tmp_path):
    empty = tmp_path / "image_report.tsv"
    empty.write_text("item_id\tstatus\tdetail\n")
    report, items, out = _build(tmp_path, IDS, {"u0": list("abcde")}, drop_items=empty)
    assert out["sequence"].to_list() == [[1, 2, 3, 4, 5]] and report["drop_items"]["listed"] == 0


def test_null_user_is_an_error(tmp_path):
    items = _write_items(tmp_path / "items.parquet", IDS)
    events = tmp_path / "events.parquet"
    pl.DataFrame({"user_id": ["u", None], "item_id": ["a", "b"], "timestamp": [1, 2]}).write_parquet(events)
    with pytest.raises(ValueError, match=r"lack user_id or timestamp, e.g. rows \[1\]"):
        _run(tmp_path, items, events)
