"""Released processed format: users.tsv + items.tsv, positions as timestamps, titles unescaped."""

from __future__ import annotations

import pytest

from ingest_helpers import FIXTURES, LENIENT, SHARED, run

RAW = FIXTURES / "released"


def test_items_unescaped_with_images(tmp_path):
    out = run("released", RAW, tmp_path, LENIENT)
    assert out.items.select("item_id", "title", "image_key").rows() == [
        ("I1", "Rock & Roll Guitar", "images/I1.jpg"),  # where each image is expected; only I1's exists
        ("I2", "Drum <Kit>", "images/I2.jpg"),
        ("I3", "", "images/I3.jpg"),
        ("I4", "Unused item", "images/I4.jpg"),
    ]
    assert out.report["counts"]["missing_images"] == 3 and out.report["images_found"] == 1


def test_positions_are_timestamps_and_repeats_kept(tmp_path):
    out = run("released", RAW, tmp_path, LENIENT)
    assert out.sequence("U1") == [("I1", 0), ("I2", 1), ("I3", 2)]
    assert out.sequence("U2") == [("I2", 0), ("I3", 2)]  # I9 unknown: quarantined, positions kept
    assert out.sequence("U5") == [("I3", 0), ("I3", 1), ("I1", 2)]
    assert out.report["counts"]["users_without_interactions"] == 1  # U3


def test_malformed_rows_quarantined(tmp_path):
    out = run("released", RAW, tmp_path, LENIENT)
    assert out.reasons("users.tsv") == {2: "unknown_item", 3: "duplicate_user", 5: "column_count"}
    assert out.reasons("items.tsv") == {}


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("folder", "users", "items", "listed", "interactions"),
    [
        ("amazon_instruments", 10_000, 20_618, 33_921, 83_828),
        ("amazon_clothing", 21_153, 14_438, 14_720, 129_744),
    ],
)
def test_real_released_sets(tmp_path, folder, users, items, listed, interactions):
    if not (SHARED / folder).is_dir():
        pytest.skip("shared data absent")
    out = run("released", SHARED / folder, tmp_path)
    assert (
        out.report["users"],
        out.report["items_with_interactions"],
        out.report["items"],
        out.report["interactions"],
    ) == (users, items, listed, interactions)
    assert out.quarantine.height == 0
    assert not out.items["title"].str.contains("&amp;", literal=True).any()
    assert not out.items["title"].str.starts_with(" ").any()
    first = (SHARED / folder / "users.tsv").read_text().split("\n", 1)[0].split("\t")
    assert out.sequence(first[0]) == [(item, i) for i, item in enumerate(first[1].split(" "))]


def test_dispatch_rejects_unknown_format_and_options(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset format 'csv'"):
        run("csv", RAW, tmp_path)
    with pytest.raises(ValueError, match=r"unknown ingest option\(s\) \['history_limit'\]"):
        run("released", RAW, tmp_path, {"history_limit": 3})


def test_report_counts(tmp_path):
    out = run("released", RAW, tmp_path, LENIENT)
    assert out.report["rows_read"] == {"items.tsv": 4, "users.tsv": 6}
    assert out.report["quarantined"] == {"column_count": 1, "duplicate_user": 1, "unknown_item": 1}
    assert out.report["format_errors"] == 2 and out.report["users"] == 3 and out.report["interactions"] == 8
