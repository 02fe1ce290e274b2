"""Randomly initialised encoders (ViT, BERT-shaped text) saved like pretrained ones, for offline runs and tests."""

from __future__ import annotations

import os

import torch
from transformers import AutoTokenizer, BertConfig, BertModel, ViTConfig, ViTImageProcessor, ViTModel

from transrec.models.hub import resolve_model_path


def save_random_encoder(
    out_dir: str | os.PathLike, kind: str, *, seed: int = 0, tokenizer: str | None = None, **fields
) -> None:
    """Save a random `kind` (image: ViT, text: BERT-shaped) encoder with `fields` of its config to `out_dir`."""
    if kind == "image":
        save_random_vit(out_dir, seed=seed, **fields)
    elif kind == "text":
        if not tokenizer:
            raise ValueError("a random-init text encoder needs a tokenizer (encoders.<name>.tokenizer)")
        save_random_bert(out_dir, tokenizer=tokenizer, seed=seed, **fields)
    else:
        raise ValueError(f"random_init is for text or image encoders, not {kind!r}")


def save_random_vit(out_dir: str | os.PathLike, *, seed: int = 0, **fields) -> None:
    """Save a ViT with random weights (ViTConfig `fields`) and its image processor to `out_dir`."""
    torch.manual_seed(seed)
    config = ViTConfig(**fields)
    ViTModel(config, add_pooling_layer=False).save_pretrained(out_dir, safe_serialization=True)
    size = config.image_size
    ViTImageProcessor(size={"height": size, "width": size}).save_pretrained(out_dir)


def save_random_bert(out_dir: str | os.PathLike, *, tokenizer: str, seed: int = 0, **fields) -> None:
    """Save a BERT with random weights (BertConfig `fields`, the tokenizer's vocabulary) and that tokenizer."""
    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(resolve_model_path(tokenizer))
    config = BertConfig(vocab_size=len(tok), pad_token_id=tok.pad_token_id or 0, **fields)
    BertModel(config, add_pooling_layer=False).save_pretrained(out_dir, safe_serialization=True)
    tok.save_pretrained(out_dir)
