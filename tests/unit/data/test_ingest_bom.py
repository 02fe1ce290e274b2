"""A UTF-8 byte-order mark at the start of any raw text file changes nothing but the report (issue 16)."""

from __future__ import annotations

import codecs
import gzip
import shutil
from pathlib import Path

import pytest

from ingest_helpers import FIXTURES, LENIENT, gzip_copy, run
from transrec.data.ingest.readers import has_bom, open_bytes

BOM = codecs.BOM_UTF8


def with_bom(source: Path, target: Path) -> list[str]:
    """Copy a fixture tree, prefixing every text file (plain or gzip) with a BOM; returns the marked files."""
    shutil.copytree(source, target)
    marked = []
    for path in sorted(target.rglob("*")):
        if path.is_dir() or "images" in path.parts:
            continue
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            path.write_bytes(gzip.compress(BOM + gzip.decompress(data), mtime=0))
        else:
            path.write_bytes(BOM + data)
        marked.append(path.relative_to(target).as_posix())
    return marked


@pytest.mark.parametrize(
    ("dataset_format", "fixture"),
    [
        ("released", "released"),  # TSV, no header; the case that lost 20 % of a repro's interactions
        ("mind", "mind"),  # TSV in split folders
        ("hm", "hm"),  # CSV with a header line
        ("adressa", "adressa"),  # JSON lines
        ("amazon", "amazon"),  # JSON lines + Python-literal lines
        ("amazon", "amazon_2018"),  # one JSON array + JSON lines
    ],
)
def test_bom_in_every_text_format_changes_no_row(tmp_path, dataset_format, fixture):
    plain = run(dataset_format, FIXTURES / fixture, tmp_path / "plain", LENIENT)
    marked = with_bom(FIXTURES / fixture, tmp_path / "raw")
    out = run(dataset_format, tmp_path / "raw", tmp_path / "bom", LENIENT)
    assert out.items.equals(plain.items)
    assert out.interactions.equals(plain.interactions)
    assert out.quarantine.equals(plain.quarantine)
    assert sorted(out.report["guessed"]["byte_order_marks"]) == sorted(
        f for f in marked if f in out.report["rows_read"]
    )
    assert plain.report["guessed"]["byte_order_marks"] == []


def test_bom_in_gzip_files_is_skipped_too(tmp_path):
    zipped = gzip_copy(FIXTURES / "released", tmp_path / "gz")
    plain = run("released", zipped, tmp_path / "plain", LENIENT)
    with_bom(zipped, tmp_path / "raw")
    out = run("released", tmp_path / "raw", tmp_path / "bom", LENIENT)
    assert out.interactions.equals(plain.interactions) and out.items.equals(plain.items)
    assert out.report["guessed"]["byte_order_marks"] == ["items.tsv.gz", "users.tsv.gz"]


def test_bom_on_items_keeps_the_first_item_under_default_limits(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "items.tsv").write_bytes(BOM + b"A\tfirst\nB\tsecond\n")
    (raw / "users.tsv").write_bytes(b"u1\tA B A\nu2\tB A\n")
    out = run("released", raw, tmp_path / "out")
    assert out.items["item_id"].to_list() == ["A", "B"]
    assert out.interactions.height == 5 and out.quarantine.height == 0
    assert out.report["guessed"] == {"byte_order_marks": ["items.tsv"], "items_without_title": 0}


def test_only_a_leading_bom_is_skipped(tmp_path):
    path = tmp_path / "x.tsv"
    path.write_bytes(BOM + b"a\n" + BOM + b"b\n")  # a mark inside the file is data
    with open_bytes(path) as handle:
        assert handle.read() == b"a\n" + BOM + b"b\n"
    assert has_bom(path)
    path.write_bytes(b"ab")  # shorter than a mark
    with open_bytes(path) as handle:
        assert handle.read() == b"ab"
    assert not has_bom(path)
