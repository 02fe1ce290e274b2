"""Leave-one-out split against hand-computed sequences."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from transrec.data import split as split_module
from transrec.data.split import split_leave_one_out


def _split(tmp_path: Path, seqs: list[list[int]], max_len: int) -> tuple[dict, pl.DataFrame]:
    src = tmp_path / "sequences.parquet"
    pl.DataFrame(
        {
            "user_idx": pl.Series(range(len(seqs)), dtype=pl.Int32),
            "user_id": [f"u{k}" for k in range(len(seqs))],
            "sequence": pl.Series(seqs, dtype=pl.List(pl.Int32)),
        }
    ).write_parquet(src)
    report = split_leave_one_out(src, tmp_path / "split.parquet", tmp_path / "split_stats.json", max_len=max_len)
    return report, pl.read_parquet(tmp_path / "split.parquet")


SEQS = [
    [1, 2, 3, 4, 5],  # exactly 5, no repeats
    [7, 3, 9, 3, 7],  # valid 3 repeats (history 7 3 9); test 7: L=3 history 3 9 3 -> no, L=20 -> yes
    [4, 1, 2, 3, 5, 6, 7, 4, 8, 4],  # L=3: valid 8 no; test 4: history (7 4 8) -> repeat
    [4, 1, 2, 3, 5, 6, 7, 8, 4, 9],  # L=3: valid 4: history (6 7 8) -> no (4 only outside the window)
]


def test_targets_train_and_repeats(tmp_path):
    report, out = _split(tmp_path, SEQS, max_len=3)
    assert out.columns == [
        "user_idx",
        "sequence",
        "train",
        "valid_target",
        "test_target",
        "valid_is_repeat",
        "test_is_repeat",
    ]
    assert out["train"].to_list() == [s[:-2] for s in SEQS]
    assert out["sequence"].to_list() == SEQS
    assert out["valid_target"].to_list() == [4, 3, 8, 4]
    assert out["test_target"].to_list() == [5, 7, 4, 9]
    assert out["valid_is_repeat"].to_list() == [False, True, False, False]
    assert out["test_is_repeat"].to_list() == [False, False, True, False]
    assert out["valid_target"].dtype == pl.Int32 and out["train"].dtype == pl.List(pl.Int32)
    assert report["valid_repeat_share"] == 0.25 and report["test_repeat_share"] == 0.25
    assert json.loads((tmp_path / "split_stats.json").read_text())["test_repeats"] == 1


def test_long_window_sees_older_repeats(tmp_path):
    _, out = _split(tmp_path, SEQS, max_len=20)
    assert out["valid_is_repeat"].to_list() == [False, True, False, True]
    assert out["test_is_repeat"].to_list() == [False, True, True, False]


def test_repeat_flags_match_the_evaluation_histories(tmp_path):
    _, out = _split(tmp_path, SEQS, max_len=3)
    for which in ("valid", "test"):
        histories, targets = split_module.eval_histories(out, which, 3)  # (users, 3), (users,)
        assert out[f"{which}_is_repeat"].to_list() == (histories == targets[:, None]).any(1).tolist()


def test_short_sequence_is_an_error(tmp_path):
    with pytest.raises(ValueError, match=r"1 sequences have < 3 items.*user_idx \[1\]"):
        _split(tmp_path, [[1, 2, 3], [1, 2]], max_len=3)
