"""Quarantine collector: every rejected input row with its file, 1-based line, reason and excerpt."""

from __future__ import annotations

import os
from collections import Counter

import polars as pl

from transrec.io import atomic_path

COLUMNS = ("file", "line", "reason", "excerpt")
NOT_FORMAT_ERRORS = frozenset({"unknown_item"})  # genuine cross-file references, not a sign of a wrong format
SCHEMA = {"file": pl.String, "line": pl.Int64, "reason": pl.String, "excerpt": pl.String}


class Quarantine:
    """Collects quarantined rows one at a time or as polars frames, counts them by reason, writes a TSV."""

    def __init__(self) -> None:
        self._rows: list[tuple[str, int, str, str]] = []
        self._frames: list[pl.DataFrame] = []
        self._skipped: Counter[str] = Counter()

    def add(self, file: str, line: int, reason: str, excerpt: str) -> None:
        """Quarantine one row."""
        self._rows.append((str(file), int(line), reason, excerpt[:200]))

    def add_frame(self, file: str, frame: pl.DataFrame, reason: str, excerpt: str | pl.Expr = "text") -> None:
        """Quarantine every row of `frame` (column `line`; excerpt: a column name or expression) under one reason."""
        if frame.height:
            self._frames.append(
                frame.select(
                    pl.lit(str(file)).alias("file"),
                    pl.col("line").cast(pl.Int64),
                    pl.lit(reason).alias("reason"),
                    (pl.col(excerpt) if isinstance(excerpt, str) else excerpt)
                    .cast(pl.String)
                    .str.slice(0, 200)
                    .alias("excerpt"),
                )
            )

    def skip(self, reason: str, n: int = 1) -> None:
        """Count rows that are legitimately not data (blank lines, events without an article): reported, not written."""
        self._skipped[reason] += n

    def skipped(self) -> dict[str, int]:
        """Skipped (not quarantined) rows per reason."""
        return dict(sorted((k, v) for k, v in self._skipped.items() if v))

    def frame(self) -> pl.DataFrame:
        """All quarantined rows, in the order they were added (single rows first)."""
        single = pl.DataFrame(self._rows, schema=SCHEMA, orient="row")
        return pl.concat([single, *self._frames], how="vertical")

    def counts(self) -> dict[str, int]:
        """Number of quarantined rows per reason."""
        counts = Counter(reason for _, _, reason, _ in self._rows)
        for part in self._frames:
            counts[part["reason"][0]] += part.height
        return dict(sorted(counts.items()))

    def format_errors(self) -> int:
        """Quarantined rows that point at a malformed input (everything but unresolved references)."""
        return sum(n for reason, n in self.counts().items() if reason not in NOT_FORMAT_ERRORS)

    def examples(self, n: int = 5) -> list[str]:
        """A few format-error rows as `file:line reason excerpt`, for error messages."""
        rows = self.frame().filter(~pl.col("reason").is_in(list(NOT_FORMAT_ERRORS))).head(n)
        return [f"{r['file']}:{r['line']} {r['reason']} {r['excerpt'][:80]!r}" for r in rows.iter_rows(named=True)]

    def write(self, path: str | os.PathLike) -> None:
        """Write `file<TAB>line<TAB>reason<TAB>excerpt` (header; rows by file and line; tabs, breaks,
        backslashes escaped)."""
        escaped = (
            self.frame()
            .sort(["file", "line"], maintain_order=True)
            .with_columns(
                pl.col("excerpt")
                .str.replace_all("\\", "\\\\", literal=True)
                .str.replace_all("\t", "\\t", literal=True)
                .str.replace_all("\n", "\\n", literal=True)
                .str.replace_all("\r", "\\r", literal=True)
            )
        )
        with atomic_path(path, ".tsv") as tmp:
            escaped.write_csv(tmp, separator="\t", quote_style="never", include_header=True)
