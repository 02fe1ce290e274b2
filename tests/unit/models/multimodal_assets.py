"""Tiny multimodal assets for tests: a random BERT (2 x 32), a random ViT (3 x 16), titles, tokens and an LMDB."""

from __future__ import annotations

import io
from pathlib import Path

import lmdb
import numpy as np
import polars as pl
import torch
from PIL import Image
from transformers import BertConfig, BertModel

from transrec.models.random_encoder import save_random_vit

N_ITEMS = 12
TEXT_DEPTH, TEXT_WIDTH = 2, 32
IMAGE_DEPTH, IMAGE_WIDTH = 3, 16


def write_assets(root: Path, *, missing_title: int | None = None, missing_image: int | None = None) -> dict[str, Path]:
    """Encoders, items.parquet, tokens.npz and images.lmdb of N_ITEMS items under root; returns their paths."""
    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    bert = BertConfig(
        vocab_size=60, hidden_size=TEXT_WIDTH, num_hidden_layers=TEXT_DEPTH, num_attention_heads=2, intermediate_size=37
    )
    BertModel(bert, add_pooling_layer=False).save_pretrained(root / "bert")
    save_random_vit(
        root / "vit",
        hidden_size=IMAGE_WIDTH,
        num_hidden_layers=IMAGE_DEPTH,
        num_attention_heads=2,
        intermediate_size=24,
        image_size=32,
        patch_size=16,
    )
    ids = [f"I{i:02d}" for i in range(1, N_ITEMS + 1)]
    titles = [f"title {i}" for i in range(1, N_ITEMS + 1)]
    if missing_title is not None:
        titles[missing_title - 1] = " "
    pl.DataFrame(
        {"item_idx": list(range(1, N_ITEMS + 1)), "item_id": ids, "title": titles},
        schema_overrides={"item_idx": pl.Int32},
    ).write_parquet(root / "items.parquet")
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 9, N_ITEMS + 1)
    tokens = rng.integers(5, 60, (N_ITEMS + 1, 8)) * (np.arange(8)[None, :] < lengths[:, None])
    tokens[:, 0] = 2
    tokens[0] = 0
    np.savez(root / "tokens.npz", input_ids=tokens.astype(np.int32), attention_mask=(tokens != 0).astype(np.uint8))
    env = lmdb.open(str(root / "images.lmdb"), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for i, item_id in enumerate(ids, 1):
            if i == missing_image:
                continue
            buffer = io.BytesIO()
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(buffer, format="PNG")
            txn.put(item_id.encode(), buffer.getvalue())
    env.close()
    return {
        "bert": root / "bert",
        "vit": root / "vit",
        "items": root / "items.parquet",
        "tokens": root / "tokens.npz",
        "lmdb": root / "images.lmdb",
    }
