"""Raw readers: plain or gzip bytes, numbered text lines as polars frames, JSON and Python-literal records."""

from __future__ import annotations

import ast
import codecs
import gzip
import json
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import polars as pl
import pyarrow as pa

from transrec.data.ingest.quarantine import Quarantine

GZIP_MAGIC = b"\x1f\x8b"
BOM = codecs.BOM_UTF8
CHUNK_BYTES = 256 * 1024 * 1024
EXCERPT_CHARS = 200


READ_STEP = 64 * 1024  # a damaged gzip loses the step it was decoding: this bounds how far the line count lags
DAMAGED = (EOFError, gzip.BadGzipFile, zlib.error)


class DamagedFileError(ValueError):
    """A compressed raw file ends early (truncated copy or download) or is corrupt."""


class GzipLines(gzip.GzipFile):
    """A gzip reader that counts the lines it has returned, so a truncated or corrupt stream is reported with the
    file's path and the last whole line read (gzip itself raises a bare EOFError naming nothing)."""

    def __init__(self, path: str | os.PathLike) -> None:
        super().__init__(path, "rb")
        self.path = str(path)
        self.lines = 0

    def _damaged(self, error: BaseException) -> DamagedFileError:
        return DamagedFileError(
            f"{self.path}: gzip data ends early or is corrupt after line {self.lines} (the last whole line read; "
            f"{type(error).__name__}: {error}); the file is truncated or damaged: copy or download it again"
        )

    def _count(self, data: bytes) -> bytes:
        self.lines += data.count(b"\n")
        return data

    def read(self, size: int | None = -1) -> bytes:
        """Read like GzipFile.read, in steps, counting lines."""
        size = -1 if size is None else size
        pieces: list[bytes] = []
        try:
            while size < 0 or size > 0:
                piece = super().read(READ_STEP if size < 0 else min(size, READ_STEP))
                if not piece:
                    break
                pieces.append(self._count(piece))
                size = size - len(piece) if size > 0 else size
        except DAMAGED as error:
            raise self._damaged(error) from error
        return b"".join(pieces)

    def read1(self, size: int = -1) -> bytes:
        """GzipFile.read1, counting lines."""
        try:
            return self._count(super().read1(size))
        except DAMAGED as error:
            raise self._damaged(error) from error

    def readline(self, size: int | None = -1) -> bytes:
        """GzipFile.readline (also what iteration calls), counting lines."""
        try:
            return self._count(super().readline(size))
        except DAMAGED as error:
            raise self._damaged(error) from error


def open_bytes(path: str | os.PathLike) -> BinaryIO:
    """Open `path` for binary reading, decompressing gzip when the file starts with the gzip magic bytes, past a
    leading UTF-8 byte-order mark (every text format reads through here, so a BOM never glues onto the first field;
    `has_bom` reports it)."""
    with open(path, "rb") as probe:
        magic = probe.read(2)
    handle = GzipLines(path) if magic == GZIP_MAGIC else open(path, "rb")
    try:
        if handle.peek(len(BOM))[: len(BOM)] == BOM:
            handle.read(len(BOM))
    except DAMAGED as error:
        handle.close()
        raise handle._damaged(error) from error  # type: ignore[union-attr]  # only gzip raises these
    return handle  # type: ignore[return-value]


def has_bom(path: str | os.PathLike) -> bool:
    """Whether a plain or gzip text file starts with a UTF-8 byte-order mark (open_bytes skips it)."""
    with open(path, "rb") as probe:
        magic = probe.read(2)
    try:
        with GzipLines(path) if magic == GZIP_MAGIC else open(path, "rb") as handle:
            return handle.read(len(BOM)) == BOM
    except DamagedFileError:
        return False  # the reader itself names a damaged file


def excerpt(raw: bytes | str) -> str:
    """The first 200 characters of a raw line, undecodable bytes shown as escapes, line ending removed."""
    text = raw.decode("utf-8", errors="backslashreplace") if isinstance(raw, bytes) else raw
    return text.rstrip("\r\n")[:EXCERPT_CHARS]


@dataclass
class LineChunk:
    """Consecutive lines of a file: `frame` has `line` (1-based int64) and `text` (str, "" for a bad line)."""

    frame: pl.DataFrame
    not_utf8: list[tuple[int, str]] = field(default_factory=list)  # (line, excerpt) of undecodable lines


_DECODE_ERRORS: list[int] = []


def _record_decode_error(error: UnicodeDecodeError) -> tuple[str, int]:
    """Codec error handler: remember where undecodable bytes start and skip them."""
    _DECODE_ERRORS.append(error.start)
    return "", error.end


codecs.register_error("transrec_ingest_record", _record_decode_error)


def _bad_utf8_lines(data: bytes, starts: np.ndarray) -> list[int]:
    """Indices of the lines (by start offset) that are not valid UTF-8, in one decoding pass."""
    _DECODE_ERRORS.clear()
    data.decode("utf-8", errors="transrec_ingest_record")
    positions = np.array(_DECODE_ERRORS, np.int64)
    _DECODE_ERRORS.clear()
    return np.unique(np.searchsorted(starts, positions, side="right") - 1).tolist()


def _chunk_frame(data: bytes, first_line: int) -> LineChunk:
    """Split one block of whole lines into a numbered frame without a Python loop over lines."""
    newlines = np.flatnonzero(np.frombuffer(data, np.uint8) == 10)
    ends = newlines + 1
    if len(ends) == 0 or ends[-1] != len(data):
        ends = np.append(ends, len(data))
    starts = np.concatenate([[0], ends[:-1]]).astype(np.int64)
    not_utf8: list[tuple[int, str]] = []
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        bad = _bad_utf8_lines(data, starts)
        not_utf8 = [(first_line + i, excerpt(data[starts[i] : ends[i]])) for i in bad]
        keep = np.ones(len(starts), bool)
        keep[bad] = False
        pieces = [data[s:e] if k else b"\n" for s, e, k in zip(starts, ends, keep)]
        data = b"".join(pieces)
        lengths = np.array([len(p) for p in pieces], np.int64)
        ends = np.cumsum(lengths)
        starts = ends - lengths
    offsets = np.concatenate([starts, ends[-1:]]).astype(np.int64)
    array = pa.LargeStringArray.from_buffers(len(starts), pa.py_buffer(offsets), pa.py_buffer(data))
    frame = pl.DataFrame(
        {
            "line": pl.int_range(first_line, first_line + len(starts), dtype=pl.Int64, eager=True),
            "text": pl.Series("text", array).str.strip_chars_end("\r\n"),
        }
    )
    return LineChunk(frame, not_utf8)


def iter_line_chunks(path: str | os.PathLike, chunk_bytes: int = CHUNK_BYTES) -> Iterator[LineChunk]:
    """Yield the lines of a plain or gzip text file in blocks, each line numbered from 1; never splits a line."""
    first_line = 1
    rest = b""
    with open_bytes(path) as handle:
        while True:
            block = handle.read(chunk_bytes)
            if not block:
                break
            data = rest + block
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                rest = data
                continue
            rest = data[cut:]
            chunk = _chunk_frame(data[:cut], first_line)
            first_line += chunk.frame.height
            yield chunk
    if rest:
        yield _chunk_frame(rest, first_line)


def read_lines(path: str | os.PathLike) -> LineChunk:
    """All lines of a (small or large) text file as one numbered frame."""
    chunks = list(iter_line_chunks(path))
    if not chunks:
        return LineChunk(pl.DataFrame(schema={"line": pl.Int64, "text": pl.String}))
    frame = pl.concat([c.frame for c in chunks], rechunk=False)
    return LineChunk(frame, [bad for c in chunks for bad in c.not_utf8])


@dataclass
class Record:
    """One parsed record (a dict) or the reason it could not be parsed, with its 1-based line."""

    line: int
    value: dict[str, Any] | None
    reason: str = ""
    excerpt: str = ""


def _parse_line(text: str, allow_literal: bool) -> tuple[Any, str]:
    """Parse one line as JSON, or (if allowed) as a Python literal via ast.literal_eval; never eval."""
    try:
        return json.loads(text), ""
    except json.JSONDecodeError:
        if not allow_literal:
            return None, "bad_json"
    try:
        return ast.literal_eval(text), ""
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None, "bad_literal"


def _iter_json_array(text: str) -> Iterator[tuple[int, Any]]:
    """Elements of a JSON array with the line each element starts on; a broken array raises."""
    decoder = json.JSONDecoder()
    position = text.index("[") + 1
    line = 1 + text.count("\n", 0, position)
    while True:
        while position < len(text) and text[position] in " \t\r\n,":
            line += text[position] == "\n"
            position += 1
        if position >= len(text):
            raise ValueError(f"JSON array not closed (line {line})")
        if text[position] == "]":
            return
        try:
            value, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            raise ValueError(f"malformed JSON array element at line {line}: {error.msg}") from error
        yield line, value
        line += text.count("\n", position, end)
        position = end


def iter_records(path: str | os.PathLike, *, allow_literal: bool = False) -> Iterator[Record]:
    """Records of a JSON-lines file, a file holding one JSON array, or (allow_literal) Python-literal dict lines."""
    with open_bytes(path) as handle:
        head = handle.read(4096).lstrip()
    if head.startswith(b"["):
        with open_bytes(path) as handle:
            raw = handle.read()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            line = raw.count(b"\n", 0, error.start) + 1
            raise ValueError(f"{path}: JSON array is not UTF-8 (line {line})") from error
        try:
            for line, value in _iter_json_array(text):
                ok = isinstance(value, dict)
                yield Record(line, value if ok else None, "" if ok else "not_object", "" if ok else excerpt(str(value)))
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from error
        return
    with open_bytes(path) as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield Record(number, None, "not_utf8", excerpt(raw))
                continue
            if not text.strip():
                yield Record(number, None, "blank", "")
                continue
            value, reason = _parse_line(text, allow_literal)
            if not reason and not isinstance(value, dict):
                reason = "not_object"
            yield Record(number, value if not reason else None, reason, excerpt(text) if reason else "")


def parsed_records(
    path: Path, raw_dir: Path, quarantine: Quarantine, rows_read: dict[str, int], *, allow_literal: bool = False
) -> Iterator[tuple[str, Record]]:
    """(file, record) for each parsed record of one file: rows counted, blank lines skipped, the rest quarantined."""
    file = path.relative_to(raw_dir).as_posix()
    rows_read[file] = 0
    for record in iter_records(path, allow_literal=allow_literal):
        rows_read[file] += 1
        if record.reason == "blank":
            quarantine.skip("blank_line")
        elif record.value is None:
            quarantine.add(file, record.line, record.reason, record.excerpt)
        else:
            yield file, record


def epoch_seconds(value: Any) -> int | None:
    """Epoch seconds from an int (or an integral float / digit string), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def list_files(raw_dir: Path) -> str:
    """A short listing of a directory's files, for error messages."""
    names = sorted(str(p.relative_to(raw_dir)) for p in raw_dir.rglob("*") if p.is_file() and "images" not in p.parts)
    shown = ", ".join(names[:30]) + (f", ... ({len(names)} files)" if len(names) > 30 else "")
    return shown or "(empty)"


def image_index(raw_dir: Path, folder: str = "images") -> set[str]:
    """Every file under raw_dir/<folder>, as paths relative to raw_dir with forward slashes (one directory walk)."""
    root = raw_dir / folder
    found: set[str] = set()
    for directory, _, files in os.walk(root):
        rel = Path(directory).relative_to(raw_dir).as_posix()
        found.update(f"{rel}/{name}" for name in files)
    return found


def missing_images(keys: pl.Series, found: set[str]) -> int:
    """How many expected image paths (null: none expected) are not among the files found."""
    return int((~keys.drop_nulls().is_in(pl.Series(sorted(found), dtype=pl.String).implode())).sum())


def _fields_of_chunk(
    chunk: LineChunk, file: str, n_fields: tuple[int, int], separator: str, quarantine: Any
) -> tuple[pl.DataFrame, int]:
    """Quarantine undecodable and wrongly sized lines of one chunk; split the rest into f0..f{max-1}."""
    low, high = n_fields
    for line, text in chunk.not_utf8:
        quarantine.add(file, line, "not_utf8", text)
    bad_lines = {line for line, _ in chunk.not_utf8}
    frame = chunk.frame.filter(~pl.col("line").is_in(list(bad_lines))) if bad_lines else chunk.frame
    blank = frame.filter(pl.col("text").str.strip_chars() == "")
    frame = frame.filter(pl.col("text").str.strip_chars() != "")
    separators = pl.col("text").str.count_matches(separator, literal=True)
    sized = (separators >= low - 1) & (separators <= high - 1)
    quarantine.add_frame(file, frame.filter(~sized), "column_count")
    frame = frame.filter(sized)
    fields = pl.col("text").str.split_exact(separator, high - 1).struct.rename_fields([f"f{i}" for i in range(high)])
    return frame.select("line", "text", fields.alias("fields")).unnest("fields"), blank.height


def _fast_fields(path: Path, n_fields: int, separator: str) -> tuple[pl.DataFrame, int] | None:
    """Whole-file polars parse when every line is UTF-8 with exactly n_fields (polars raises on bad bytes and on
    extra fields; the separator total catches short and blank lines); else None."""
    with open_bytes(path) as handle:
        data = handle.read()
    if not data or data.endswith(b"\n\n") or data.startswith(b"\n"):
        return None
    separators = data.count(separator.encode())
    names = [f"f{i}" for i in range(n_fields)]
    try:
        frame = pl.read_csv(
            data,
            has_header=False,
            separator=separator,
            quote_char=None,
            new_columns=names,
            schema={name: pl.String for name in names},
            empty_string_is_null=False,
            row_index_name="line",
            row_index_offset=1,
        )
    except (pl.exceptions.PolarsError, ValueError):
        return None
    if separators != (n_fields - 1) * frame.height:
        return None
    return frame.with_columns(pl.col("line").cast(pl.Int64)), frame.height


def row_text(frame: pl.DataFrame, separator: str = "\t") -> pl.Expr:
    """The original line rebuilt from a read_fields frame's f0.. columns (for quarantine excerpts)."""
    fields = sorted((c for c in frame.columns if c[:1] == "f" and c[1:].isdigit()), key=lambda c: int(c[1:]))
    return pl.concat_str([pl.col(c) for c in fields], separator=separator, ignore_nulls=True)


def read_fields(
    path: Path, file: str, n_fields: int | tuple[int, int], quarantine: Any, *, separator: str = "\t"
) -> tuple[pl.DataFrame, int, int]:
    """Split a delimited file without quoting into columns line, f0.. (missing trailing fields null).

    Undecodable lines (`not_utf8`) and lines with a field count outside `n_fields` (`column_count`) are quarantined;
    blank lines are skipped and counted. A clean file takes one multi-threaded polars parse; any irregularity
    switches to a block-wise line scan that locates the bad lines. Returns (frame, lines read, blank lines)."""
    bounds = (n_fields, n_fields) if isinstance(n_fields, int) else n_fields
    if bounds[0] == bounds[1]:
        fast = _fast_fields(path, bounds[0], separator)
        if fast is not None:
            return fast[0], fast[1], 0
    parts, lines, blanks = [], 0, 0
    for chunk in iter_line_chunks(path):
        lines += chunk.frame.height
        frame, blank = _fields_of_chunk(chunk, file, bounds, separator, quarantine)
        parts.append(frame.drop("text"))
        blanks += blank
    quarantine.skip("blank_line", blanks)
    if not parts:
        return pl.DataFrame(schema={"line": pl.Int64, **{f"f{i}": pl.String for i in range(bounds[1])}}), 0, 0
    return pl.concat(parts), lines, blanks
