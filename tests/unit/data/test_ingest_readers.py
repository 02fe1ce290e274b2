"""Raw readers and the quarantine collector: line numbering, encodings, JSON forms, TSV escaping."""

from __future__ import annotations

import gzip

import polars as pl
import pytest

from transrec.data.ingest import readers
from transrec.data.ingest.quarantine import Quarantine


def test_line_chunks_never_split_lines_and_number_from_one(tmp_path):
    path = tmp_path / "x.tsv"
    lines = [f"row{i}\t{'x' * (i % 7)}" for i in range(200)]
    path.write_bytes(("\n".join(lines)).encode())  # no final newline
    chunks = list(readers.iter_line_chunks(path, chunk_bytes=64))
    assert len(chunks) > 5
    frame = pl.concat([c.frame for c in chunks])
    assert frame["line"].to_list() == list(range(1, 201))
    assert frame["text"].to_list() == lines


def test_undecodable_lines_located(tmp_path):
    path = tmp_path / "x.tsv"
    path.write_bytes(b"ok\r\nbad \xff\xfe here\nok \xc3\xa9\n\xe9\n")
    chunk = readers.read_lines(path)
    assert chunk.not_utf8 == [(2, "bad \\xff\\xfe here"), (4, "\\xe9")]
    assert chunk.frame["text"].to_list() == ["ok", "", "ok é", ""]


def test_read_fields_quarantines_counts_and_blank_lines(tmp_path):
    path = tmp_path / "x.tsv"
    path.write_bytes(b"a\tb\n\nc\n\xff\tz\nd\te\tf\ng\th\n")
    quarantine = Quarantine()
    frame, lines, blanks = readers.read_fields(path, "x.tsv", 2, quarantine)
    assert (lines, blanks) == (6, 1)
    assert frame.select("line", "f0", "f1").rows() == [(1, "a", "b"), (6, "g", "h")]
    rows = quarantine.frame().select("line", "reason").rows()
    assert sorted(rows) == [(3, "column_count"), (4, "not_utf8"), (5, "column_count")]
    assert quarantine.skipped() == {"blank_line": 1}


def test_gzip_detected_by_content(tmp_path):
    plain, packed = tmp_path / "a.tsv", tmp_path / "b.tsv"
    plain.write_bytes(b"1\t2\n3\t4\n")
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert readers.read_lines(plain).frame.equals(readers.read_lines(packed).frame)


def test_json_array_records_carry_lines(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('[{"a": 1},\n {"a": 2},\n\n [3]]')
    records = list(readers.iter_records(path))
    assert [(r.line, r.value, r.reason) for r in records] == [
        (1, {"a": 1}, ""),
        (2, {"a": 2}, ""),
        (4, None, "not_object"),
    ]
    path.write_text('[{"a": 1},\n {"a": }]')
    with pytest.raises(ValueError, match=r"a\.json: malformed JSON array element at line 2"):
        list(readers.iter_records(path))


def test_json_lines_reasons(tmp_path):
    path = tmp_path / "a.json"
    path.write_bytes(b'{"a": 1}\n{"a": \n\n"text"\n{\'a\': 1}\n\xff\n')
    got = [(r.line, r.reason) for r in readers.iter_records(path)]
    assert got == [(1, ""), (2, "bad_json"), (3, "blank"), (4, "not_object"), (5, "bad_json"), (6, "not_utf8")]
    assert [r.value for r in readers.iter_records(path, allow_literal=True)][4] == {"a": 1}


def test_quarantine_tsv_escapes_and_counts(tmp_path):
    quarantine = Quarantine()
    quarantine.add("f.tsv", 3, "column_count", "a\tb\nc\\d")
    quarantine.add_frame("g.tsv", pl.DataFrame({"line": [1, 2], "text": ["x", "y" * 300]}), "unknown_item")
    assert quarantine.counts() == {"column_count": 1, "unknown_item": 2}
    assert quarantine.format_errors() == 1
    assert quarantine.examples() == ["f.tsv:3 column_count 'a\\tb\\nc\\\\d'"]
    quarantine.write(tmp_path / "q.tsv")
    lines = (tmp_path / "q.tsv").read_text().splitlines()
    assert lines[0] == "file\tline\treason\texcerpt"
    assert lines[1] == "f.tsv\t3\tcolumn_count\ta\\tb\\nc\\\\d"
    assert lines[3] == "g.tsv\t2\tunknown_item\t" + "y" * 200


def test_empty_quarantine_writes_header_only(tmp_path):
    Quarantine().write(tmp_path / "q.tsv")
    assert (tmp_path / "q.tsv").read_text() == "file\tline\treason\texcerpt\n"
