"""Recommendations from a finished run: evaluation-consistent top-k, the parquet output, histories, cold-start."""

import json

import polars as pl
import pytest
import torch

from transrec import recommend as cli
from transrec.recommend import read_new_items, recommend
from transrec.serve.recommender import Recommender


@pytest.fixture(scope="module")
def target(runs):
    return Recommender.from_run(runs["target_a"], runs["root"])


def split(runs):
    return pl.read_parquet(runs["root"] / "data" / "split.parquet")


def test_top10_of_the_test_histories_is_the_runs_hr_at_10(runs, target):
    top = target.recommend_users(split(runs), 10, history="test")
    targets = split(runs).select(
        pl.col("user_idx").cast(pl.String).alias("user"), ("N" + pl.col("test_target").cast(pl.String)).alias("item_id")
    )
    hits = top.join(targets, on=["user", "item_id"]).height
    metrics = json.loads((runs["target_a"] / "metrics.json").read_text())
    assert 100.0 * hits / targets.height == pytest.approx(metrics["test"]["hr@10"])


def test_recommend_writes_every_users_topk_with_history_masked(runs, tmp_path):
    out = tmp_path / "rec" / "topk.parquet"
    top = recommend(runs["target_a"], out, k=5, base_dir=runs["root"])
    assert pl.read_parquet(out).equals(top)
    assert top.columns == ["user", "rank", "item_id", "title", "score"]
    assert top.height == 10 * 5 and top["rank"].to_list()[:5] == [1, 2, 3, 4, 5]
    assert top.group_by("user").agg(pl.col("score").is_sorted(descending=True).all())["score"].all()
    seen = (
        split(runs)
        .select(pl.col("user_idx").cast(pl.String).alias("user"), pl.col("sequence").list.tail(6))
        .explode("sequence")
    )
    seen = seen.with_columns(("N" + pl.col("sequence").cast(pl.String)).alias("item_id"))
    assert top.join(seen, on=["user", "item_id"]).height == 0  # the last L items are never recommended
    assert top.filter(pl.col("item_id") == "N5")["title"].unique().to_list() in ([], ["Story 5 about football"])


def test_a_history_of_titles_ranks_like_the_same_history_of_ids(target):
    ids = ["N3", "N4", "N5"]
    titles = target.items.filter(pl.col("item_id").is_in(ids)).sort("item_idx")["title"].to_list()
    by_ids = target.recommend_history(item_ids=ids, k=5)
    by_titles = target.recommend_history(titles=titles, k=5)
    assert by_titles["item_id"].to_list() == by_ids["item_id"].to_list()
    assert by_titles["score"].to_list() == pytest.approx(by_ids["score"].to_list(), abs=1e-5)


def test_a_cold_start_item_is_scored_as_inside_the_catalogue_and_recommended(runs):
    fresh = Recommender.from_run(runs["target_a"], runs["root"])
    history = ["N1", "N2", "N3"]
    before = fresh.recommend_history(item_ids=history, k=3)
    best_id, best_score = before["item_id"][0], before["score"][0]
    title = fresh.items.filter(pl.col("item_id") == best_id)["title"][0]
    fresh.add_items(["NEW1"], [title])  # never trained on: only its title is known
    assert fresh.items["item_id"][-1] == "NEW1" and fresh.items["item_idx"][-1] == 31
    catalogue_row = fresh.table[fresh.item_idx([best_id])[0]]
    assert torch.allclose(fresh.table[-1], catalogue_row, atol=1e-5)  # the same vector as inside the catalogue
    after = fresh.recommend_history(item_ids=history, k=3)
    assert set(after["item_id"][:2]) == {best_id, "NEW1"}
    assert after.filter(pl.col("item_id") == "NEW1")["score"][0] == pytest.approx(best_score, abs=1e-5)


def test_new_items_file_errors_name_file_and_line(tmp_path):
    good = tmp_path / "new.tsv"
    good.write_text("X1\tA new story\n\nX2\tAnother one\n")
    assert read_new_items(good) == (["X1", "X2"], ["A new story", "Another one"], None)  # no image column
    bad = tmp_path / "bad.tsv"
    bad.write_text("X1\tfine\nX2 no tab here\n")
    with pytest.raises(ValueError, match=r"bad.tsv, line 2: expected `item_id<TAB>title`"):
        read_new_items(bad)


def test_unknown_ids_and_id_models_without_titles_raise(target):
    with pytest.raises(KeyError, match=r"not in the catalogue: \['NOPE'\]"):
        target.recommend_history(item_ids=["N1", "NOPE"])
    with pytest.raises(ValueError, match="as item ids or as titles"):
        target.recommend_history()


def test_the_cli_prints_a_history_s_topk_with_cold_start_items(runs, tmp_path, capsys, monkeypatch):
    (tmp_path / "new.tsv").write_text("NEW9\tStory 7 about weather\n")
    monkeypatch.chdir(runs["root"])
    cli.main([str(runs["target_a"]), "--ids", "N1", "N2", "--k", "3", "--items", str(tmp_path / "new.tsv")])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "rank\titem_id\ttitle\tscore" and len(lines) == 4


def test_k_beyond_the_unseen_items_never_shows_a_masked_item(runs, target):
    everything = target.recommend_users(split(runs), target.items.height + 5)
    assert everything["score"].is_finite().all()
    per_user = everything.group_by("user").agg(pl.len().alias("n"), pl.col("item_id").n_unique().alias("distinct"))
    assert (per_user["n"] == per_user["distinct"]).all() and (per_user["n"] < target.items.height).all()
