"""H&M ingest: 10-digit article ids, pandas index column accepted, dates to epoch, bad rows quarantined."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from ingest_helpers import FIXTURES, LENIENT, SHARED, run

RAW = FIXTURES / "hm"


def day(text: str) -> int:
    """Epoch seconds of a date at 00:00 UTC."""
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp())


def test_articles_normalised_with_images(tmp_path):
    out = run("hm", RAW, tmp_path, LENIENT)
    assert out.items.rows() == [
        (
            "0108775015",
            "Strap top",
            "Jersey top with narrow shoulder straps, soft.",
            "Vest top",
            "images/010/0108775015.jpg",
        ),  # image_key: where the image is expected (only the first exists); no product type: the group
        (
            "0108775044",
            "Strap top (2)",
            "Two-line\ndescription, quoted.",
            "Garment Upper body",
            "images/010/0108775044.jpg",
        ),
        ("0110065001", "OP T-shirt", "Short", "Bra", "images/011/0110065001.jpg"),
    ]
    assert out.report["counts"]["duplicate_items"] == 1 and out.report["counts"]["missing_images"] == 2


def test_transactions_by_customer_then_day_in_file_order(tmp_path):
    out = run("hm", RAW, tmp_path, LENIENT)
    assert out.sequence("c1") == [
        ("0108775044", day("2018-09-19")),
        ("0110065001", day("2018-09-20")),
        ("0108775015", day("2018-09-20")),
    ]
    assert out.sequence("c2") == [("0108775044", day("2018-09-21"))]
    assert out.report["counts"]["transaction_customers_not_in_customers_csv"] == 1  # c9
    assert out.report["counts"]["customers"] == 3


def test_malformed_rows_quarantined_with_lines(tmp_path):
    out = run("hm", RAW, tmp_path, LENIENT)
    assert out.reasons("articles.csv") == {6: "bad_id", 7: "column_count", 8: "not_utf8"}  # record 3 spans lines 3-4
    assert out.reasons("transactions_train.csv") == {6: "bad_time", 7: "bad_id", 8: "unknown_item", 9: "column_count"}
    assert out.report["rows_read"] == {"articles.csv": 7, "transactions_train.csv": 9, "customers.csv": 3}


def test_missing_file_is_a_clear_error(tmp_path):
    (tmp_path / "articles.csv").write_text("article_id,prod_name\n1,x\n")
    with pytest.raises(FileNotFoundError, match="transactions_train.csv.*found: articles.csv"):
        run("hm", tmp_path, tmp_path / "out")


def test_header_without_article_id_names_file(tmp_path):
    (tmp_path / "articles.csv").write_text("id,prod_name\n1,x\n")
    (tmp_path / "transactions_train.csv").write_text("t_dat,customer_id,article_id\n2018-09-20,c,1\n")
    with pytest.raises(ValueError, match="articles.csv line 1: header lacks column"):
        run("hm", tmp_path, tmp_path / "out")


@pytest.mark.realdata
@pytest.mark.skipif(not (SHARED / "raw_samples" / "hm").is_dir(), reason="shared raw samples absent")
def test_real_excerpt_ids_padded_and_index_column_ignored(tmp_path):
    out = run("hm", SHARED / "raw_samples" / "hm", tmp_path)
    assert out.items["item_id"].str.len_chars().unique().to_list() == [10]
    assert out.items["item_id"][0] == "0108775015" and out.items["title"][0] == "Strap top"
    # the excerpt lists 965 exact repeats (several units of an article bought by a customer on one day)
    assert out.report["counts"]["duplicate_transactions"] == 965
    assert out.report["interactions"] == 10_000 - 965 and out.report["format_errors"] == 0
    found = {
        p.relative_to(SHARED / "raw_samples" / "hm").as_posix() for p in (SHARED / "raw_samples" / "hm").rglob("*.jpg")
    }
    assert "images/016/0160442007.jpg" in found
    assert out.items["image_key"].is_in(list(found)).sum() == out.report["images_found"] > 0
    assert set(out.interactions["item_id"]) <= set(out.items["item_id"])
