"""Amazon ingest: reviews + metadata (2014 Python literals, 2018 JSON lines or arrays), parsed without eval."""

from __future__ import annotations

import pytest

from ingest_helpers import FIXTURES, LENIENT, SHARED, gzip_copy, run
from transrec.data.ingest import readers

RAW = FIXTURES / "amazon"


def test_2014_literal_metadata_and_reviews(tmp_path):
    out = run("amazon", RAW, tmp_path, LENIENT)
    assert out.items.rows() == [  # image_key: where the image is expected; only B0001's exists
        ("B0001", "Red Shoe", "A shoe.", "Sneakers", "images/B0001.jpg"),
        ("B0002", "", "", "Hats", "images/B0002.jpg"),
        ("B0003", "Blue Hat", "", "", "images/B0003.jpg"),
    ]
    assert (out.report["images_expected"], out.report["images_found"]) == (3, 1)
    assert out.sequence("A1") == [("B0002", 1200000000), ("B0001", 1300000000)]  # time order; exact repeat dropped
    assert out.sequence("A2") == [("B0003", 1300000001)]
    assert out.report["counts"] == {
        "duplicate_items": 1,
        "duplicate_reviews": 1,
        "items_without_title": 1,
        "missing_images": 2,
    }


def test_malformed_rows_quarantined_and_code_never_run(tmp_path):
    out = run("amazon", RAW, tmp_path, LENIENT)
    assert out.reasons("meta_Clothing.json") == {3: "bad_literal", 5: "missing_field"}
    assert out.reasons("reviews_Clothing_5.json") == {
        4: "bad_json",
        5: "missing_field",
        6: "bad_time",
        7: "unknown_item",
    }
    assert "__import__" in out.quarantine.filter(out.quarantine["line"] == 3)["excerpt"][0]


def test_literal_eval_is_safe(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "meta.json"
    path.write_text(f"__import__('pathlib').Path('{marker}').touch()\n{{'asin': 'X', 'title': 'ok'}}\n")
    records = list(readers.iter_records(path, allow_literal=True))
    assert [(r.line, r.reason) for r in records] == [(1, "bad_literal"), (2, "")]
    assert records[1].value == {"asin": "X", "title": "ok"} and not marker.exists()


def test_2018_json_array_reviews_and_json_lines_meta(tmp_path):
    out = run("amazon", FIXTURES / "amazon_2018", tmp_path)
    assert out.items.select("item_id", "title", "description", "category").rows() == [
        ("B1", "Dress", "Long dress", "Dresses"),
        ("B2", "Scarf", "", ""),
    ]
    assert out.sequence("A1") == [("B1", 1500000000), ("B2", 1500000100)]


def test_gzip_equals_plain(tmp_path):
    plain = run("amazon", RAW, tmp_path / "p", LENIENT)
    gz = run("amazon", gzip_copy(RAW, tmp_path / "raw_gz"), tmp_path / "g", LENIENT)
    assert plain.items.equals(gz.items) and plain.interactions.equals(gz.interactions)
    assert gz.reasons("meta_Clothing.json.gz") == plain.reasons("meta_Clothing.json")


def test_missing_files_listed(tmp_path):
    (tmp_path / "reviews.json").write_text("")
    with pytest.raises(FileNotFoundError, match="metadata.*found: reviews.json"):
        run("amazon", tmp_path, tmp_path / "out")


@pytest.mark.realdata
@pytest.mark.skipif(not (SHARED / "raw_samples" / "amazon").is_dir(), reason="shared raw samples absent")
def test_real_excerpts_json_array_metadata(tmp_path):
    raw = SHARED / "raw_samples" / "amazon"
    # gift-card metadata, fashion reviews: no review resolves, so ingest stops, naming both files
    with pytest.raises(
        ValueError, match=r"AMAZON_FASHION_5.json: no usable interactions; 175 row.*meta_Gift_Cards.json"
    ):
        run("amazon", raw, tmp_path)
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "meta_Gift_Cards.json").symlink_to(raw / "meta_Gift_Cards.json")
    (tmp_path / "raw" / "gift_reviews_5.json").write_text(
        '{"reviewerID": "U1", "asin": "B001GXRQW0", "unixReviewTime": 1}\n'
    )
    out = run("amazon", tmp_path / "raw", tmp_path / "out")
    assert out.items.height == 10 and out.items["title"][0] == "Serendipity 3 $100.00 Gift Card"
    assert out.items["category"][0] == "Gift Cards"
