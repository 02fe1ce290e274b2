"""Adressa ingest: article events kept, events without an article id skipped and counted, bad lines quarantined."""

from __future__ import annotations

import json

import pytest

from ingest_helpers import FIXTURES, LENIENT, SHARED, gzip_copy, run

RAW = FIXTURES / "adressa"
X, Y, Z = "a" * 40, "b" * 40, "c" * 40


def test_items_take_most_frequent_title_and_category(tmp_path):
    out = run("adressa", RAW, tmp_path, LENIENT)
    assert out.items.select("item_id", "title", "category").rows() == [
        (X, "Tittel to", "nyheter"),  # "to" seen twice in kept events, "en" once
        (Y, "Fotball", "sport"),  # category from the url's first path segment
        (Z, "", ""),
    ]
    assert out.items["image_key"].null_count() == 3
    assert out.report["counts"]["items_without_title"] == 1


def test_interactions_sorted_by_user_then_time(tmp_path):
    out = run("adressa", RAW, tmp_path, LENIENT)
    assert out.interactions.rows() == [
        ("cx:u1", X, 1483225300),
        ("cx:u1", Z, 1483225800),
        ("cx:u2", Y, 1483225550),
        ("cx:u2", X, 1483225600),
        ("cx:u3", X, 1483225700),
    ]


def test_skips_counted_and_bad_lines_quarantined(tmp_path):
    out = run("adressa", RAW, tmp_path, LENIENT)
    assert out.report["skipped"] == {"blank_line": 1, "event_without_id": 1}
    assert out.reasons("20170101") == {3: "bad_json", 4: "missing_user", 5: "bad_time", 6: "not_utf8", 12: "not_object"}
    assert "\\xe5" in out.quarantine.filter(out.quarantine["line"] == 6)["excerpt"].item()


def test_gzip_equals_plain_and_translation_table_ignored(tmp_path):
    plain = run("adressa", RAW, tmp_path / "p", LENIENT)
    gz = run(
        "adressa", gzip_copy(RAW, tmp_path / "raw_gz"), tmp_path / "g", {**LENIENT, "translation_table": "news.tsv"}
    )
    assert plain.items.equals(gz.items) and plain.interactions.equals(gz.interactions)
    assert gz.reasons("20170101.gz") == plain.reasons("20170101")


def test_json_array_file(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    events = [{"userId": "u", "time": 5, "url": "http://adressa.no"}, {"userId": "u", "time": 6, "id": X, "title": "T"}]
    (raw / "events.json").write_text("[\n" + ",\n".join(json.dumps(e) for e in events) + "\n]\n")
    out = run("adressa", raw, tmp_path / "out")
    assert out.interactions.rows() == [("u", X, 6)] and out.report["skipped"] == {"event_without_id": 1}


def test_no_event_files_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no Adressa event files"):
        run("adressa", tmp_path, tmp_path / "out")


@pytest.mark.realdata
@pytest.mark.skipif(not (SHARED / "raw_samples" / "adressa").is_dir(), reason="shared raw samples absent")
def test_real_two_events_one_skipped_one_kept(tmp_path):
    out = run("adressa", SHARED / "raw_samples" / "adressa", tmp_path)
    assert out.report["skipped"] == {"event_without_id": 1}
    assert out.interactions.rows() == [
        ("cx:2fs9x8i7jvcjyckoxqfa6l4lw:3rr1gvpcbzx8w", "9f3999bd1a1a8d67bcb073ad54840f15cb30f014", 1483225202)
    ]
    assert out.items.select("title", "category").row(0) == ("Se lesernes nyttårsbilder", "nyheter")
    assert out.quarantine.height == 0
