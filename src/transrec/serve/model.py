"""Rebuild a finished run's model: base encoder, source checkpoint, method, then the run's trainable tensors."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from torch import Tensor

from transrec.data.content import ImageContent, MultimodalContent, TextContent
from transrec.eval.ranking import compute_item_table
from transrec.features.content import raw_content
from transrec.methods.base import build_method, prepare_trainable
from transrec.models.transrec import TransRec
from transrec.train import checkpoint
from transrec.train.config import RunConfig
from transrec.train.loop import build_model

ITEM_COLUMNS = ["item_idx", "item_id", "title"]


def load_items(path: str | os.PathLike) -> pl.DataFrame:
    """The run's item id map (item_idx 1..N, item_id, title), sorted by item_idx."""
    items = pl.read_parquet(path)
    if "title" not in items.columns:
        items = items.with_columns(pl.lit(None, dtype=pl.String).alias("title"))
    return items.select(ITEM_COLUMNS).sort("item_idx").with_columns(pl.col("item_id").cast(pl.String))


def build_trained(
    run: RunConfig, num_items: int, trainable: dict[str, Tensor], init: dict[str, Tensor] | None = None
) -> TransRec:
    """The model as the trainer left it at its best epoch, in eval mode: what it loaded (init: the source run's
    tensors, before the method wraps anything), the method applied, then the run's own trainable tensors."""
    model = build_model(run, num_items)
    if init:
        checkpoint.load_trainable(model, init, source="source checkpoint")
    prepare_trainable(model, build_method(run.method), run.also_train)
    checkpoint.load_trainable(model, trainable, source="run checkpoint")
    return model.eval()


def init_tensors(run: RunConfig, base_dir: str | os.PathLike = ".") -> dict[str, Tensor] | None:
    """The source checkpoint's tensors an adaptation started from (None for a run without one)."""
    if not run.init_checkpoint:
        return None
    path = Path(base_dir) / run.init_checkpoint
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: the source checkpoint run.json names (init_checkpoint) is missing; run from "
            "the workflow's working directory, or use an exported folder"
        )
    return checkpoint.load(path)["trainable"]


def load_run(run_dir: str | os.PathLike, base_dir: str | os.PathLike = ".") -> tuple[RunConfig, TransRec]:
    """(run config, trained model) of a finished run folder (run.json + best.pt); paths in run.json are relative to
    `base_dir`, the workflow's working directory."""
    run_dir = Path(run_dir)
    for name in ("run.json", "best.pt"):
        if not (run_dir / name).is_file():
            raise FileNotFoundError(f"{run_dir / name} is missing: is {run_dir} a finished run?")
    run = with_local_encoders(RunConfig.load(run_dir / "run.json"), base_dir)
    num_items = pl.read_parquet(Path(base_dir) / run.data.items, columns=["item_idx"]).height
    best = checkpoint.load(run_dir / "best.pt")
    return run, build_trained(run, num_items, best["trainable"], init_tensors(run, base_dir))


def with_local_encoders(run: RunConfig, base_dir: str | os.PathLike) -> RunConfig:
    """`run` with encoder folders that exist under `base_dir` (e.g. results/encoders/<name>) made absolute."""
    spec = run.to_dict()
    encoder = spec["encoder"]

    def local(path: str | None) -> str | None:
        return str((Path(base_dir) / path).resolve()) if path and (Path(base_dir) / path).is_dir() else path

    encoder["path"] = local(encoder.get("path"))
    encoder["paths"] = {m: local(p) for m, p in (encoder.get("paths") or {}).items()}
    return RunConfig.from_dict(spec)


def catalogue_table(run: RunConfig, model: TransRec, base_dir: str | os.PathLike = ".") -> Tensor:
    """Every catalogue item's vector, (N+1, d) float32, row 0 padding: the table evaluation ranks against."""
    spec = run.data.content
    rebased = spec.model_copy(
        update={
            "path": str(Path(base_dir) / spec.path) if spec.path else None,
            "paths": {m: str(Path(base_dir) / p) for m, p in spec.paths.items()},
        }
    )
    content = raw_content(rebased, Path(base_dir) / run.data.items, model.item_encoder)
    return compute_item_table(model, content, batch_size=run.eval.item_batch, device="cpu")


def tokenizer_of(token_cache: str | os.PathLike) -> tuple[str, int]:
    """(tokenizer location, max tokens) a title-token cache was built with."""
    with np.load(token_cache, allow_pickle=False) as data:
        return str(data["tokenizer"]), int(data["max_tokens"])


# --- cold-start items: the training content classes over given inputs, encoded as catalogue_table encodes


class GivenTokens(TextContent):
    """TextContent over title tokens given here (M, T) rather than a token cache: batches trimmed as in training."""

    def __init__(self, input_ids: Tensor, attention_mask: Tensor) -> None:  # noqa: D107  (no cache file to read)
        pad = input_ids.new_zeros(1, input_ids.shape[1])  # row 0 = padding, as in the cache
        self.input_ids = torch.cat([pad, input_ids.long()])
        self.attention_mask = torch.cat([pad, attention_mask.long()])
        columns = torch.arange(1, self.input_ids.shape[1] + 1)
        self.lengths = (self.attention_mask.bool() * columns).amax(dim=1)
        self.num_items = input_ids.shape[0]


class GivenImages(ImageContent):
    """ImageContent over image bytes given here rather than an LMDB store: decoded (decode_image), resized to the
    encoder's size (BICUBIC) and normalised with its mean/std by ImageContent's own code."""

    def __init__(self, images: list[bytes], mean: Any, std: Any, size: int) -> None:  # noqa: D107
        self.lmdb_path = Path("<given images>")
        self.size = size
        self.item_ids = [None, *range(len(images))]
        self.num_items = len(images)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
        self._reader = dict(enumerate(images))  # what _decode_items reads in place of the store
        self._decoded = None


def image_bytes(image: Any, name: str) -> bytes:
    """Bytes decode_image reads for an image file path or a PIL image: an RGB file's own bytes (what the store holds
    for an RGB JPEG of its size), else its RGB (transparency on white, as the store build does) as lossless PNG.
    An unreadable file raises naming `name` (the item) and the path."""
    from PIL import Image

    from transrec.data.images import to_rgb

    try:
        if isinstance(image, Image.Image):
            rgb = to_rgb(image)
        else:
            data = Path(image).read_bytes()
            with Image.open(io.BytesIO(data)) as opened:
                opened.load()
                if opened.mode == "RGB":
                    return data
                rgb = to_rgb(opened)
    except (OSError, SyntaxError, ValueError) as error:
        raise ValueError(f"item {name}: cannot read image {image}: {type(error).__name__}: {error}") from error
    buffer = io.BytesIO()
    rgb.save(buffer, format="PNG")
    return buffer.getvalue()


def image_content(model: TransRec, images: list[bytes]) -> GivenImages:
    """Content of given image bytes, preprocessed for `model` as catalogue_table preprocesses the store's images."""
    encoder = model.item_encoder
    if encoder.image_mean is None or encoder.image_std is None:
        raise ValueError("this model's item encoder has no image normalisation: it does not read images")
    return GivenImages(images, encoder.image_mean, encoder.image_std, encoder.image_size())


def encode_given(run: RunConfig, model: TransRec, parts: dict[str, Any]) -> Tensor:
    """Item vectors (M, d) float32 of given content {modality: part}, through compute_item_table as catalogue_table
    computes the catalogue (same batches, eval mode, device): a catalogue item given again gets its own row."""
    if getattr(model.item_encoder, "kind", None) == "iisan" and not getattr(model.item_encoder, "backbones", True):
        raise ValueError(
            "a cached IISAN run reads stored hidden states and has no backbones: it cannot encode new "
            "items (train it uncached to serve cold-start items)"
        )
    content: Any = MultimodalContent(parts) if len(parts) > 1 else next(iter(parts.values()))
    return compute_item_table(model, content, batch_size=run.eval.item_batch, device="cpu")[1:]
