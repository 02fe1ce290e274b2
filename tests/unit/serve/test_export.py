"""Exported folders load with one call and recommend what the run recommends; the adapter bank serves many targets."""

import shutil

import polars as pl
import pytest
import torch
from safetensors.torch import load_file

from transrec import export as export_cli
from transrec.data.split import left_pad
from transrec.export import export
from transrec.serve.bank import AdapterBank
from transrec.serve.recommender import Recommender


def split(runs):
    return pl.read_parquet(runs["root"] / "data" / "split.parquet")


def test_an_export_loads_with_one_call_and_recommends_the_runs_topk(runs, tmp_path):
    folder = export(runs["target_a"], tmp_path / "model", base_dir=runs["root"])
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md",
        "catalogue.safetensors",
        "config.json",
        "init.safetensors",
        "items.parquet",
        "tokenizer",
        "trainable.safetensors",
    ]
    run = Recommender.from_run(runs["target_a"], runs["root"])
    loaded = Recommender.from_pretrained(folder)
    expected, got = run.recommend_users(split(runs), 10), loaded.recommend_users(split(runs), 10)
    assert got["item_id"].to_list() == expected["item_id"].to_list()
    assert got["score"].to_list() == pytest.approx(expected["score"].to_list(), abs=1e-6)
    # only what the run trained travels (plus the source run's tensors it started from), not the base encoder
    assert set(load_file(folder / "trainable.safetensors")) == set(run.model.state_dict(keep_vars=True)) & {
        n for n, p in run.model.named_parameters() if p.requires_grad
    }
    card = (folder / "README.md").read_text()
    assert "| test |" in card and "Recommender.from_pretrained" in card
    titles = loaded.recommend_history(titles=["Story 3 about election"], k=3)  # the tokenizer travels too
    assert titles.height == 3


def test_full_export_is_self_contained(runs, tmp_path):
    folder = tmp_path / "full"
    export_cli.main([str(runs["target_b"]), str(folder), "--full", "--base-dir", str(runs["root"])])
    assert (folder / "encoder" / "text" / "config.json").is_file()
    base = runs["root"] / "base"
    moved = tmp_path / "base_elsewhere"
    shutil.move(base, moved)  # the base encoder is gone: the folder must not need it
    try:
        loaded = Recommender.from_pretrained(folder)
        assert loaded.recommend_users(split(runs), 5).height == 50
    finally:
        shutil.move(moved, base)


def test_the_bank_serves_each_target_as_its_own_model_would(runs):
    bank = AdapterBank()
    bank.add("a", runs["target_a"], runs["root"])
    bank.add("b", runs["target_b"], runs["root"])
    h = left_pad(split(runs).select(pl.col("sequence").list.tail(6))["sequence"], 6)
    for name in ("a", "b", "a"):  # switching back and forth
        own = Recommender.from_run(runs[f"target_{name}"], runs["root"])
        scores, idx = bank.top_k(name, h, 5)
        want_scores, want_idx = own.top_k(h, 5)
        assert idx.tolist() == want_idx.tolist()
        torch.testing.assert_close(scores, want_scores, atol=1e-6, rtol=0)
    memory = bank.memory_bytes()
    assert memory["targets"] == 2 and memory["bank"] < memory["full_models"]


def test_the_bank_refuses_a_run_with_another_base(runs):
    bank = AdapterBank()
    bank.add("a", runs["target_a"], runs["root"])
    with pytest.raises(ValueError, match=r"differs in \['also_train', 'init_checkpoint', 'method'\]"):
        bank.add("source", runs["source"], runs["root"])


def test_tensorboard_scalars_per_epoch_when_asked(runs, tmp_path, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from transrec.io import read_json
    from transrec.train.config import RunConfig
    from transrec.train.loop import train

    spec = read_json(runs["source"] / "run.json")
    spec["train"]["tensorboard"] = True
    spec["out_dir"] = str(tmp_path / "run")
    monkeypatch.chdir(runs["root"])
    metrics = train(RunConfig.from_dict(spec))
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    assert sorted(events.Tags()["scalars"]) == ["train/loss", "valid/hr@10", "valid/ndcg@10"]
    losses = [(e.step, e.value) for e in events.Scalars("train/loss")]
    assert losses == [(c["epoch"], pytest.approx(c["loss"])) for c in metrics["curve"]]
