"""Time one training step (forward + backward + Adam) of BERT-base + SASRec for every method;
ours vs the released code's."""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers import AutoModel, BertConfig

from transrec.methods.base import build_method, prepare_trainable
from transrec.models.item_encoders import TextItemEncoder
from transrec.models.objectives import sasrec_bce
from transrec.models.sasrec import SASRec
from transrec.models.transrec import TransRec

FLOPS_FORMULA = (
    "encoder FLOPs/step = 2 * P_enc * T * k, P_enc = non-embedding encoder parameters, T = tokens the encoder "
    "processes (padding included), k = 3 (fwd + bwd) when the encoder trains, 1 when it runs frozen under no_grad; "
    "attention-score FLOPs, SASRec and the DTL are left out (< 1 % at T <= 30)"
)
VARIANTS = {
    "ours": (
        "unique items of the batch only, padded to the batch's longest title, bf16 autocast (CUDA), SDPA, "
        "fused Adam (CUDA)"
    ),
    "ours_fp32": "ablation: `ours` without bf16 autocast (isolates what batching + SDPA give)",
    "naive": "every slot incl. padding and duplicates (B*(L+1)*2 titles), padded to max_tokens, fp32, eager attention",
}
LR = {"item_encoder": 5e-5, "dtl": 1e-4, "user_encoder": 1e-4, "adapters": 1e-4}  # PROTOCOL.md §Model: text defaults
# name -> (method spec, also_train): the Adapter4Rec recipe trains only the new modules (PROTOCOL.md §Methods)
METHODS = {
    "fta": ({"kind": "fta"}, []),
    "frozen": ({"kind": "frozen"}, ["dtl", "user_encoder"]),
    "ftn_top1": ({"kind": "ftn", "n": 1}, ["dtl", "user_encoder"]),
    "houlsby": ({"kind": "houlsby"}, []),
    "pfeiffer": ({"kind": "pfeiffer"}, []),
    "parallel": ({"kind": "parallel_adapter"}, []),
    "houlsby_plus": ({"kind": "houlsby_plus"}, []),
    "compacter": ({"kind": "compacter"}, []),
    "kadapter": ({"kind": "kadapter"}, []),
    "lora": ({"kind": "lora"}, []),
    "prompt": ({"kind": "prompt", "n": 10}, []),
    "ln_tuning": ({"kind": "ln_tuning"}, []),
    "bitfit": ({"kind": "bitfit"}, []),
}
SIZES = {  # --size: BERT shapes (random weights)
    "base": {},  # BERT-base: 12 x 768, the reference shape
    "small": {"hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4, "intermediate_size": 1024},
    "tiny": {
        "vocab_size": 1000,
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 37,
        "max_position_embeddings": 64,
    },
}


@dataclass
class Catalogue:
    """Synthetic MIND-like items: Zipf popularity and realistic title lengths."""

    tokens: torch.Tensor  # (N+1, T) int64, row 0 = padding item (all zeros, as the reference's item 0)
    lengths: torch.Tensor  # (N+1,) int64, real tokens incl. [CLS]/[SEP]
    popularity: np.ndarray  # (N,) probabilities of items 1..N


def make_catalogue(num_items: int, max_tokens: int, vocab: int, zipf: float, seed: int) -> Catalogue:
    """Titles of ~20 of max_tokens tokens on average (normal, sd 5, clipped to [4, max_tokens])."""
    rng = np.random.default_rng(seed)
    lengths = np.clip(np.rint(rng.normal(0.67 * max_tokens, max_tokens / 6, num_items + 1)), 4, max_tokens).astype(
        np.int64
    )
    lengths[0] = 0
    ids = rng.integers(1000 if vocab > 2000 else 3, vocab, (num_items + 1, max_tokens))
    ids[:, 0], ids[np.arange(num_items + 1), np.maximum(lengths - 1, 0)] = 101 % vocab, 102 % vocab  # [CLS] ... [SEP]
    ids[np.arange(max_tokens)[None, :] >= lengths[:, None]] = 0
    ranks = np.arange(1, num_items + 1, dtype=np.float64)
    popularity = ranks**-zipf / (ranks**-zipf).sum()
    return Catalogue(torch.from_numpy(ids), torch.from_numpy(lengths), popularity)


def make_batch(cat: Catalogue, batch: int, max_len: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """Raw batch: left-padded items (B, L+1) with 0 = padding, one negative per slot (B, L+1)."""
    n = len(cat.popularity)
    # MIND averages ~17 clicks/user (>= 5); sequences are cut to L+3 and the last 2 go to valid/test
    clicks = np.minimum(5 + rng.geometric(1 / 13, batch), max_len + 3)
    real = np.minimum(clicks - 2, max_len + 1)
    items = rng.choice(n, (batch, max_len + 1), p=cat.popularity) + 1
    items[np.arange(max_len + 1)[None, :] < (max_len + 1 - real)[:, None]] = 0
    negatives = rng.integers(1, n + 1, (batch, max_len + 1))
    return {"items": torch.from_numpy(items), "negatives": torch.from_numpy(negatives)}


def ours_inputs(cat: Catalogue, raw: dict[str, torch.Tensor], device: str) -> dict:
    """Unique items + slots, as the project's loader builds them (pad per batch, padding slot = U)."""
    items, negatives = raw["items"], raw["negatives"][:, :-1]
    real = items != 0  # (B, L+1)
    valid = real[:, :-1]  # left padding: a real input always has a real target
    unique, inverse = torch.unique(torch.cat([items[real], negatives[valid]]), return_inverse=True)
    u = len(unique)
    slots = torch.full_like(items, u)
    slots[real] = inverse[: int(real.sum())]
    negative_slots = torch.full_like(negatives, u)
    negative_slots[valid] = inverse[int(real.sum()) :]
    width = int(cat.lengths[unique].max())
    ids = cat.tokens[unique, :width]
    out = {
        "input_ids": ids,
        "attention_mask": (ids != 0).long(),
        "slots": slots,
        "negative_slots": negative_slots,
        "valid": valid,
    }
    return {k: v.to(device) for k, v in out.items()}


def naive_inputs(cat: Catalogue, raw: dict[str, torch.Tensor], device: str) -> dict:
    """Every (B, L+1, 2) slot as its own title, padding items included, all padded to max_tokens."""
    flat = torch.stack([raw["items"], raw["negatives"]], dim=-1).flatten()  # (B*(L+1)*2,)
    ids = cat.tokens[flat]
    out = {"input_ids": ids, "attention_mask": (ids != 0).long(), "real": raw["items"] != 0}
    return {k: v.to(device) for k, v in out.items()}


def build_model(encoder_config: BertConfig, attn: str, d_model: int, max_len: int, device: str) -> TransRec:
    """Random-weight BERT (no download) + DTL + SASRec."""
    torch.manual_seed(0)
    config = copy.deepcopy(encoder_config)  # from_config writes the attention choice into the config
    backbone = AutoModel.from_config(config, attn_implementation=attn, add_pooling_layer=False)
    dtl = torch.nn.Sequential(torch.nn.Linear(config.hidden_size, d_model), torch.nn.GELU())
    return TransRec(TextItemEncoder(backbone, config.hidden_size, dtl), SASRec(d_model, max_len)).to(device)


def encode(model: TransRec, ids: torch.Tensor, mask: torch.Tensor, trains_encoder: bool) -> torch.Tensor:
    """(U, T) tokens -> (U, d); the item encoder itself runs every stage below its lowest trainable one without a
    graph (a frozen backbone entirely)."""
    return model.encode_items({"input_ids": ids, "attention_mask": mask})


def ours_step(model: TransRec, batch: dict, trains_encoder: bool, device: str, bf16: bool = True) -> torch.Tensor:
    """Encode the U unique items once, gather them into sequences, SASRec BCE; returns the loss."""
    with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16 and device == "cuda"):
        items = encode(model, batch["input_ids"], batch["attention_mask"], trains_encoder)  # (U, d)
        table = torch.cat([items, items.new_zeros(1, items.shape[1])])  # (U+1, d), row U = padding
        seq = table[batch["slots"]]  # (B, L+1, d)
        states = model.encode_users(seq[:, :-1], batch["valid"])  # (B, L, d)
        return sasrec_bce(states, seq[:, 1:], table[batch["negative_slots"]], batch["valid"])


def ours_fp32_step(model: TransRec, batch: dict, trains_encoder: bool, device: str) -> torch.Tensor:
    """`ours_step` in fp32."""
    return ours_step(model, batch, trains_encoder, device, bf16=False)


def naive_step(model: TransRec, batch: dict, trains_encoder: bool, device: str) -> torch.Tensor:
    """The released code's step: encode all B*(L+1)*2 slots in fp32, then split positives and negatives."""
    real = batch["real"]  # (B, L+1)
    b, l1 = real.shape
    items = encode(model, batch["input_ids"], batch["attention_mask"], trains_encoder).view(b, l1, 2, -1)
    pos, neg = items[:, :, 0], items[:, :, 1]  # (B, L+1, d)
    states = model.encode_users(pos[:, :-1], real[:, :-1])
    return sasrec_bce(states, pos[:, 1:], neg[:, :-1], real[:, :-1])


def encoder_flop_params(model: TransRec) -> int:
    """Non-embedding parameters of the backbone (the ones doing matmuls per token)."""
    backbone = model.item_encoder.backbone
    embedding = {id(p) for p in backbone.embeddings.parameters()}
    return sum(p.numel() for p in backbone.parameters() if id(p) not in embedding)


def run_case(args, cat: Catalogue, encoder_config: BertConfig, method: str, batch_size: int, variant: str) -> dict:
    """Build, warm up and time one (method, batch, variant); returns its row."""
    device = args.device
    ours = variant.startswith("ours")
    model = build_model(encoder_config, "sdpa" if ours else "eager", args.d_model, args.max_len, device)
    spec, also_train = METHODS[method]
    groups = prepare_trainable(model, build_method(spec), also_train)
    fused = ours and device == "cuda"
    optimiser = torch.optim.Adam([{"params": p, "lr": LR[g]} for g, p in groups.items()], fused=fused or None)
    # the backbone runs fwd + bwd when anything inside it (or before it: a prompt) trains
    trains_encoder = model.item_encoder.graph_start() <= len(model.item_encoder.layers())
    model.train()
    if method == "frozen" and ours:
        model.item_encoder.backbone.eval()  # a frozen encoder's dropout only adds noise
    step_fn = {"ours": ours_step, "ours_fp32": ours_fp32_step, "naive": naive_step}[variant]
    if args.compile and ours:
        model.item_encoder.backbone.compile(dynamic=True)

    rng = np.random.default_rng(args.seed + batch_size)
    raws = [make_batch(cat, batch_size, args.max_len, rng) for _ in range(args.batches)]
    prep = ours_inputs if ours else naive_inputs
    batches = [prep(cat, raw, device) for raw in raws]

    saved = [0]

    def count_saved(tensor: torch.Tensor) -> torch.Tensor:
        saved[0] += tensor.numel() * tensor.element_size()
        return tensor

    def one_step(i: int, measure: bool = False) -> torch.Tensor:
        if measure:  # bytes autograd keeps for backward: the activation memory, measurable on any device
            saved[0] = 0
            with torch.autograd.graph.saved_tensors_hooks(count_saved, lambda t: t):
                loss = step_fn(model, batches[i % len(batches)], trains_encoder, device)  # noqa: F821
        else:
            loss = step_fn(model, batches[i % len(batches)], trains_encoder, device)  # noqa: F821
        loss.backward()
        optimiser.step()  # noqa: F821 (closure over names `del`-ed after the last call)
        optimiser.zero_grad(set_to_none=True)  # noqa: F821
        return loss.detach()

    # every pre-built batch is seen once before timing: a first-seen shape (U varies) costs extra kernel selection
    warm_losses = [one_step(i, measure=i == 0) for i in range(max(args.warmup, args.batches))]
    if not all(torch.isfinite(x) for x in warm_losses):  # e.g. NaN from all-masked attention rows
        raise RuntimeError(f"non-finite loss in {variant}/{method}/B={batch_size}: {[float(x) for x in warm_losses]}")
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(args.steps):
        if device == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            one_step(i)
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            one_step(i)
            times.append(1000 * (time.perf_counter() - t0))
    ms = statistics.median(times)
    titles = [int(b["input_ids"].shape[0]) for b in batches]
    tokens = [int(b["input_ids"].numel()) for b in batches]
    real_tokens = [int(b["attention_mask"].sum()) for b in batches]
    flops = 2 * encoder_flop_params(model) * statistics.mean(tokens) * (3 if trains_encoder else 1)
    row = {
        "method": method,
        "batch": batch_size,
        "variant": variant,
        "ms_per_step": ms,
        "ms_p10": float(np.percentile(times, 10)),
        "ms_p90": float(np.percentile(times, 90)),
        "users_per_s": batch_size / (ms / 1000),
        "titles_encoded": statistics.mean(titles),
        "tokens_processed": statistics.mean(tokens),
        "real_tokens": statistics.mean(real_tokens),
        "encoder_tflop_per_step": flops / 1e12,
        "achieved_tflop_s": flops / (ms / 1000) / 1e12,
        "peak_mem_gib": torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None,
        "trainable_params": sum(p.numel() for ps in groups.values() for p in ps),
        "saved_activations_mib": saved[0] / 2**20,  # first batch; the same batch for every method
        "compiled": bool(args.compile and ours),
    }
    del model, optimiser, batches
    if device == "cuda":
        torch.cuda.empty_cache()
    return row


def add_ratios_to_fta(rows: list[dict]) -> None:
    """time_vs_fta, time_p10_vs_fta, saved_vs_fta: each row over FTA's row of the same batch and variant (same run)."""
    fta = {(r["batch"], r["variant"]): r for r in rows if r["method"] == "fta"}
    for r in rows:
        ref = fta.get((r["batch"], r["variant"]))
        if ref is not None:
            r["time_vs_fta"] = r["ms_per_step"] / ref["ms_per_step"]
            r["time_p10_vs_fta"] = r["ms_p10"] / ref["ms_p10"]  # steadier than the median on a shared CPU
            r["saved_vs_fta"] = r["saved_activations_mib"] / ref["saved_activations_mib"]


def print_table(rows: list[dict]) -> None:
    """One line per case plus the naive/ours ratio and the ratios to FTA."""
    head = (
        f"{'method':12} {'B':>3} {'variant':9} {'ms/step':>9} {'vs FTA':>7} {'saved MiB':>9} {'vs FTA':>7} "
        f"{'trainable':>11} {'peak GiB':>9} {'titles':>7} {'naive/ours':>10}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        mem = f"{r['peak_mem_gib']:.2f}" if r["peak_mem_gib"] is not None else "-"
        ratio = f"{r['naive_over_ours']:.2f}x" if "naive_over_ours" in r else ""
        t_fta = f"{r['time_vs_fta']:.2f}" if "time_vs_fta" in r else ""
        s_fta = f"{r['saved_vs_fta']:.2f}" if "saved_vs_fta" in r else ""
        print(
            f"{r['method']:12} {r['batch']:>3} {r['variant']:9} {r['ms_per_step']:>9.1f} {t_fta:>7} "
            f"{r['saved_activations_mib']:>9.1f} {s_fta:>7} {r['trainable_params']:>11,} {mem:>9} "
            f"{r['titles_encoded']:>7.0f} {ratio:>10}"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cuda", "cpu"])
    p.add_argument("--size", default="base", choices=list(SIZES), help="BERT shape: base (reference), small (CPU)")
    p.add_argument("--batch", type=int, nargs="+", default=[32, 64])
    p.add_argument("--methods", nargs="+", default=["fta", "frozen"], choices=[*METHODS, "all"])
    p.add_argument("--variants", nargs="+", default=["ours", "naive"], choices=list(VARIANTS))
    p.add_argument("--max-len", type=int, default=20)
    p.add_argument("--max-tokens", type=int, default=30)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--num-items", type=int, default=79707, help="MIND's item count")
    p.add_argument("--zipf", type=float, default=1.0, help="popularity exponent of the synthetic clicks")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--batches", type=int, default=8, help="distinct pre-built batches cycled through")
    p.add_argument("--compile", action="store_true", help="torch.compile the encoder in `ours`")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    if "all" in args.methods:
        args.methods = list(METHODS)
    encoder_config = BertConfig(**SIZES[args.size])
    cat = make_catalogue(args.num_items, args.max_tokens, encoder_config.vocab_size, args.zipf, args.seed)
    rows = []
    for method in args.methods:
        for batch_size in args.batch:
            # the released code's way only exists for fta / frozen
            variants = [v for v in args.variants if v != "naive" or method in ("fta", "frozen")]
            case = {v: run_case(args, cat, encoder_config, method, batch_size, v) for v in variants}
            if {"ours", "naive"} <= set(case):
                case["naive"]["naive_over_ours"] = case["naive"]["ms_per_step"] / case["ours"]["ms_per_step"]
            rows += case.values()
    add_ratios_to_fta(rows)
    print_table(rows)
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else platform.processor() or "cpu"
    report = {
        "device": device_name,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": sys.version.split()[0],
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "encoder": f"bert-{args.size} (random weights)",
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "variants": VARIANTS,
        "flops_formula": FLOPS_FORMULA,
        "results": rows,
    }
    out = args.out or Path(__file__).parent / "out" / f"bench_step_{args.device}_{args.size}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
    return rows


if __name__ == "__main__":
    main()
