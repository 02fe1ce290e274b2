"""Randomly initialised image encoders saved like pretrained ones, for offline runs and tests."""

from __future__ import annotations

import os

import torch
from transformers import ViTConfig, ViTImageProcessor, ViTModel


def save_random_vit(out_dir: str | os.PathLike, *, seed: int = 0, **fields) -> None:
    """Save a ViT with random weights (ViTConfig `fields`) and its image processor to `out_dir`."""
    torch.manual_seed(seed)
    config = ViTConfig(**fields)
    ViTModel(config, add_pooling_layer=False).save_pretrained(out_dir, safe_serialization=True)
    size = config.image_size
    ViTImageProcessor(size={"height": size, "width": size}).save_pretrained(out_dir)
