"""Nested, seeded user subsets."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from transrec.data.subsample import subsample_users


@pytest.fixture()
def split(tmp_path: Path) -> Path:
    path = tmp_path / "split.parquet"
    pl.DataFrame(
        {
            "user_idx": pl.Series(range(30), dtype=pl.Int32),
            "sequence": pl.Series([[1, 2, 3 + k] for k in range(30)], dtype=pl.List(pl.Int32)),
            "valid_target": pl.Series([2] * 30, dtype=pl.Int32),
        }
    ).write_parquet(path)
    return path


def _users(split: Path, out: Path, fraction: float, seed: int = 0) -> list[int]:
    report = subsample_users(split, out, fraction=fraction, seed=seed)
    users = pl.read_parquet(out)["user_idx"].to_list()
    assert report["kept"] == len(users)
    return users


def test_nested_and_sized(split, tmp_path):
    kept = {f: set(_users(split, tmp_path / f"{f}.parquet", f)) for f in (0.1, 0.25, 0.5, 1.0)}
    assert [len(kept[f]) for f in (0.1, 0.25, 0.5, 1.0)] == [3, 8, 15, 30]  # ceil, and 0.1 * 30 keeps 3
    assert kept[0.1] <= kept[0.25] <= kept[0.5] <= kept[1.0] == set(range(30))


def test_deterministic_columns_and_order(split, tmp_path):
    first = _users(split, tmp_path / "a.parquet", 0.5, seed=1)
    assert first == _users(split, tmp_path / "b.parquet", 0.5, seed=1)
    assert first == sorted(first)
    assert set(first) != set(_users(split, tmp_path / "c.parquet", 0.5, seed=2))
    out = pl.read_parquet(tmp_path / "a.parquet")
    assert out.schema == pl.read_parquet(split).schema
    assert out["sequence"].to_list() == [[1, 2, 3 + u] for u in first]


@pytest.mark.parametrize("fraction", [0.0, -0.5, 1.5])
def test_fraction_validated(split, tmp_path, fraction):
    with pytest.raises(ValueError, match="fraction"):
        subsample_users(split, tmp_path / "x.parquet", fraction=fraction, seed=0)
