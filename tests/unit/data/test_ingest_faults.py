"""Bad raw files stop at ingest naming the file: truncated gzip, empty or header-only files, nothing that resolves;
duplicates counted; file names and max_bad_fraction set per dataset."""

from __future__ import annotations

import gzip
import re
import shutil
import zlib

import polars as pl
import pytest

from ingest_helpers import FIXTURES, LENIENT, gzip_copy, run
from transrec.data.ingest import readers, resolve_options


def truncate(path, keep: float = 0.6) -> None:
    """Cut a file to `keep` of its bytes, as an interrupted copy or download leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def whole_lines_in(gz_prefix: bytes) -> int:
    """How many complete lines the readable part of a truncated gzip stream holds."""
    return zlib.decompressobj(wbits=31).decompress(gz_prefix).count(b"\n")


@pytest.mark.parametrize(
    ("dataset_format", "damaged"),
    [
        ("mind", "train/behaviors.tsv"),
        ("adressa", "20170101"),
        ("hm", "articles.csv"),
        ("hm", "transactions_train.csv"),
        ("amazon", "meta_Clothing.json"),
        ("amazon", "reviews_Clothing_5.json"),
        ("released", "users.tsv"),
    ],
)
def test_truncated_gzip_names_file_and_line_in_every_format(tmp_path, dataset_format, damaged):
    raw = gzip_copy(FIXTURES / dataset_format, tmp_path / "raw", keep_name=True)
    truncate(raw / damaged)
    with pytest.raises(
        readers.DamagedFileError, match=rf"{re.escape(str(raw / damaged))}: gzip data ends early .* after line \d+"
    ):
        run(dataset_format, raw, tmp_path / "out", LENIENT)


def test_truncated_gzip_line_is_the_last_whole_line_read(tmp_path):
    lines = b"".join(b"%d\tU%d\t11/10/2019 9:00:00 AM\tN1\tN2-1\n" % (i, i % 97) for i in range(60_000))
    packed = gzip.compress(lines, mtime=0)
    path = tmp_path / "behaviors.tsv"
    path.write_bytes(packed[: len(packed) // 2])
    whole = whole_lines_in(packed[: len(packed) // 2])
    with pytest.raises(readers.DamagedFileError) as caught:
        list(readers.iter_line_chunks(path))
    reported = int(re.search(r"after line (\d+)", str(caught.value)).group(1))
    lines_per_step = readers.READ_STEP // len(b"1\tU1\t11/10/2019 9:00:00 AM\tN1\tN2-1\n") + 1
    assert whole - lines_per_step <= reported <= whole  # within one read step of where the data stops


def test_corrupt_gzip_is_named(tmp_path):
    path = tmp_path / "users.tsv.gz"
    packed = bytearray(gzip.compress(b"U1\tI1 I2\n" * 1000, mtime=0))
    packed[-8] ^= 0xFF  # the CRC no longer matches
    path.write_bytes(bytes(packed))
    with pytest.raises(readers.DamagedFileError, match=r"users.tsv.gz: gzip data ends early or is corrupt"):
        readers.read_lines(path)


def test_hm_header_only_articles_is_a_clear_error(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(FIXTURES / "hm", raw)
    header = (FIXTURES / "hm" / "articles.csv").read_bytes().splitlines()[0]
    (raw / "articles.csv").write_bytes(header + b"\n")
    with pytest.raises(
        ValueError,
        match=rf"{re.escape(str(raw / 'articles.csv'))}: no data rows \(the file is empty or holds only a header\)",
    ):
        run("hm", raw, tmp_path / "out", LENIENT)


@pytest.mark.parametrize(
    ("dataset_format", "emptied", "content"),
    [
        ("mind", "train/behaviors.tsv", ""),
        ("mind", "dev/news.tsv", ""),
        ("adressa", "20170101", ""),
        ("hm", "transactions_train.csv", "t_dat,customer_id,article_id,price,sales_channel_id\n"),
        ("hm", "customers.csv", "customer_id,age\n"),
        ("hm", "articles.csv", ""),
        ("hm", "transactions_train.csv", ""),
        ("amazon", "reviews_Clothing_5.json", ""),
        ("amazon", "meta_Clothing.json", "\n"),
        ("released", "items.tsv", ""),
        ("released", "users.tsv", ""),
    ],
)
def test_empty_or_header_only_file_fails_at_ingest_naming_it(tmp_path, dataset_format, emptied, content):
    raw = tmp_path / "raw"
    shutil.copytree(FIXTURES / dataset_format, raw)
    (raw / emptied).write_text(content)
    with pytest.raises(ValueError, match=rf"{re.escape(str(raw / emptied))}: (no data rows|no usable item|empty file)"):
        run(dataset_format, raw, tmp_path / "out", LENIENT)
    assert not (tmp_path / "out" / "interactions.parquet").exists()


def test_reviews_without_metadata_items_fail_naming_both_files(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(FIXTURES / "amazon", raw)
    (raw / "meta_Clothing.json").write_text("{'asin': 'Z9', 'title': 'Other'}\n")
    with pytest.raises(
        ValueError,
        match=r"reviews_Clothing_5.json: no usable interactions; 5 row\(s\) reference items missing from "
        r".*meta_Clothing.json \(1 items\)",
    ):
        run("amazon", raw, tmp_path / "out", LENIENT)


def test_hm_exact_repeat_transactions_dropped_and_counted(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(FIXTURES / "hm", raw)
    with open(raw / "transactions_train.csv", "a") as handle:
        handle.write("2018-09-20,c1,108775015,0.03,2\n2018-09-20,c1,108775015,0.03,2\n")  # two more units of line 3
    out = run("hm", raw, tmp_path / "dropped", LENIENT)
    assert out.report["counts"]["duplicate_transactions"] == 2
    assert out.sequence("c1").count(("0108775015", 1537401600)) == 1
    kept = run("hm", raw, tmp_path / "kept", {**LENIENT, "duplicates": "keep"})
    assert kept.sequence("c1").count(("0108775015", 1537401600)) == 3
    assert (
        kept.report["counts"]["duplicate_transactions"] == 2
        and kept.report["interactions"] == out.report["interactions"] + 2
    )


def test_adressa_exact_repeat_events_dropped_and_counted(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(FIXTURES / "adressa", raw)
    event = '{"userId": "cx:u9", "time": 1483300000, "id": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}\n'
    later = '{"userId": "cx:u9", "time": 1483300001, "id": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}\n'
    (raw / "20170102").write_text(event + event + later)
    out = run("adressa", raw, tmp_path / "out", LENIENT)
    assert out.report["counts"]["duplicate_events"] == 1
    assert [t for _, t in out.sequence("cx:u9")] == [1483300000, 1483300001]  # a later view is a new view


def test_file_names_per_dataset(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(FIXTURES / "hm", raw)
    (raw / "articles.csv").rename(raw / "articles_train_sample.csv")
    with pytest.raises(FileNotFoundError, match=r"needs articles.csv \(option files.articles\)"):
        run("hm", raw, tmp_path / "a", LENIENT)
    out = run("hm", raw, tmp_path / "b", {**LENIENT, "files": {"articles": "articles_train_sample.csv"}})
    assert "articles_train_sample.csv" in out.report["rows_read"] and out.items.height == 3
    assert out.report["options"]["files"]["transactions"] == "transactions_train.csv"  # other roles keep defaults


def test_released_iisan_names_found_by_pattern_or_named(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(FIXTURES / "released", raw)
    (raw / "users.tsv").rename(raw / "am_Clothing_users_10K.tsv")
    (raw / "items.tsv").rename(raw / "Clothing_items.tsv")
    out = run("released", raw, tmp_path / "a", LENIENT)
    assert set(out.report["rows_read"]) == {"am_Clothing_users_10K.tsv", "Clothing_items.tsv"}
    shutil.copy(raw / "am_Clothing_users_10K.tsv", raw / "am_Shoes_users_10K.tsv")
    with pytest.raises(
        FileNotFoundError, match=r"several match \*users\*.tsv: \['am_Clothing_users_10K.tsv', 'am_Shoes"
    ):
        run("released", raw, tmp_path / "b", LENIENT)
    named = run("released", raw, tmp_path / "c", {**LENIENT, "files": {"users": "am_Shoes_users_10K.tsv"}})
    assert "am_Shoes_users_10K.tsv" in named.report["rows_read"]
    assert named.interactions.equals(out.interactions)


def test_options_checked_by_name():
    assert resolve_options("hm", {"max_bad_fraction": 0.2})["max_bad_fraction"] == 0.2
    with pytest.raises(ValueError, match=r"files: unknown file role\(s\) \['article'\] for format 'hm'"):
        resolve_options("hm", {"files": {"article": "a.csv"}})
    with pytest.raises(
        ValueError, match=r"files: unknown file role\(s\) \['events'\] for format 'adressa'; known: none"
    ):
        resolve_options("adressa", {"files": {"events": "x"}})
    with pytest.raises(ValueError, match=r"max_bad_fraction must be a number in \[0, 1\], not 2"):
        resolve_options("mind", {"max_bad_fraction": 2})


def test_max_bad_fraction_per_dataset(tmp_path):
    with pytest.raises(ValueError, match=r"quarantined as malformed .* > max_bad_fraction 1.00%"):
        run("released", FIXTURES / "released", tmp_path / "strict")
    out = run("released", FIXTURES / "released", tmp_path / "lenient", {"max_bad_fraction": 0.5})
    assert out.report["options"]["max_bad_fraction"] == 0.5 and out.report["format_errors"] > 0
    assert pl.read_parquet(tmp_path / "lenient" / "items.parquet").height == 4
