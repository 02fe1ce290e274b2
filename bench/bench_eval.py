"""Full-ranking evaluation time: vectorised transrec.eval.ranking vs the reference's per-user argsort loop.

Run: PYTHONPATH=src python bench/bench_eval.py [--device cpu|cuda] [--users 20000] [--items 80000]
The naive loop runs on --naive-users users (default: all on CUDA, 1,000 on CPU) and its time is extrapolated linearly
to all users (it is a per-user loop, so its cost is linear in users); the JSON says whether it was.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import torch
from torch import Tensor, nn

from transrec.eval.ranking import evaluate

try:
    from transrec.models.sasrec import SASRec
except ImportError:  # the project's SASRec not written yet: a SASRec-shaped stand-in (causal, 2 blocks, 2 heads)
    SASRec = None


class UserModel(nn.Module):
    """Only the user side of TransRec: the item table is given, so encode_users is all evaluation needs."""

    def __init__(self, d_model: int, max_len: int):
        super().__init__()
        if SASRec is not None:
            self.user_encoder: nn.Module = SASRec(d_model=d_model, max_len=max_len)
            self.kind = "transrec.models.sasrec.SASRec"
        else:
            layer = nn.TransformerEncoderLayer(d_model, 2, 4 * d_model, 0.1, batch_first=True)
            self.user_encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.positions = nn.Parameter(torch.randn(max_len, d_model) * 0.02)
            self.kind = "stub (nn.TransformerEncoder)"

    def encode_users(self, item_emb: Tensor, mask: Tensor) -> Tensor:
        if SASRec is not None:
            return self.user_encoder(item_emb, mask)
        causal = nn.Transformer.generate_square_subsequent_mask(item_emb.shape[1], device=item_emb.device)
        return self.user_encoder(item_emb + self.positions[-item_emb.shape[1] :], mask=causal, is_causal=True)


def make_case(users: int, items: int, d: int, max_len: int, seed: int, device: torch.device):
    """Random item table (N+1, d), left-padded histories (U, L) of random lengths, random targets (U,)."""
    generator = torch.Generator().manual_seed(seed)
    table = torch.randn(items + 1, d, generator=generator) / math.sqrt(d)
    table[0] = 0
    histories = torch.randint(1, items + 1, (users, max_len), generator=generator)
    lengths = torch.randint(1, max_len + 1, (users,), generator=generator)
    histories[torch.arange(max_len) < (max_len - lengths)[:, None]] = 0
    targets = torch.randint(1, items + 1, (users,), generator=generator)
    # No repeat targets: the reference ranks a masked target inside the -inf tail (a hit at K = N), ours counts it a
    # miss, so repeats would make the full-depth agreement check differ by design.
    while (repeats := (histories == targets[:, None]).any(dim=1)).any():
        targets[repeats] = torch.randint(1, items + 1, (int(repeats.sum()),), generator=generator)
    torch.manual_seed(seed)
    model = UserModel(d, max_len).to(device).eval()
    return model, table.to(device), histories, targets


def metrics_topk(y_score: Tensor, y_true: Tensor, item_rank: Tensor, ks: tuple[int, ...]) -> Tensor:
    """The reference's metrics_topK (full argsort, rank read off a one-hot label), for several K from one sort."""
    order = torch.argsort(y_score, descending=True)
    y_true = torch.take(y_true, order)
    rank = torch.sum(y_true * item_rank)
    out = torch.zeros(2 * len(ks))
    for j, k in enumerate(ks):
        if rank <= k:
            out[2 * j] = 1
            out[2 * j + 1] = 1 / math.log2(rank + 1)
    return out


@torch.no_grad()
def naive(model, table, histories, targets, *, user_batch: int, device: torch.device, ks: tuple[int, ...]) -> dict:
    """The reference's eval loop: fp32 user vectors per batch, then per user: mask history, argsort, one-hot rank."""
    n = table.shape[0] - 1
    item_rank = torch.arange(1, n + 1, device=device)
    totals = torch.zeros(2 * len(ks))
    for start in range(0, len(targets), user_batch):
        history = histories[start : start + user_batch].to(device)
        users = model.encode_users(table[history], history != 0)[:, -1]
        scores = users @ table.T  # (B, N+1)
        for score, h, label in zip(scores, history, targets[start : start + user_batch].tolist()):
            score[h] = float("-inf")
            score = score[1:]
            y_true = torch.zeros(n, device=device)
            y_true[label - 1] = 1
            totals += metrics_topk(score, y_true, item_rank, ks)
    result = {}
    for j, k in enumerate(ks):
        result[f"hr@{k}"] = 100 * float(totals[2 * j]) / len(targets)
        result[f"ndcg@{k}"] = 100 * float(totals[2 * j + 1]) / len(targets)
    return result


def timed(fn, device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=80_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--max-len", type=int, default=20)
    parser.add_argument("--user-batch", type=int, default=1024)
    parser.add_argument(
        "--naive-users", type=int, default=None, help="users for the naive loop (default: all on cuda, 1000 on cpu)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of ours; the median is reported")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    model, table, histories, targets = make_case(args.users, args.items, args.dim, args.max_len, args.seed, device)
    naive_users = min(args.users, args.naive_users or (args.users if device.type == "cuda" else 1000))

    # ndcg@N (N = all items) is a smooth function of every user's rank: equal values mean equal ranks, not just hits.
    ks = (10, args.items)

    def run(dtype, u=None):
        return evaluate(
            model,
            table,
            histories[:u],
            targets[:u],
            ks=ks,
            user_batch=args.user_batch,
            device=device,
            dtype=dtype,
        )

    run(None, 256)  # warm-up: kernels, allocator, thread pools
    ours_times = []
    for _ in range(args.repeats):
        seconds, ours = timed(lambda: run(None), device)
        ours_times.append(seconds)
    ours_seconds = sorted(ours_times)[len(ours_times) // 2]
    naive_subset_seconds, naive_result = timed(
        lambda: naive(
            model,
            table,
            histories[:naive_users],
            targets[:naive_users],
            user_batch=args.user_batch,
            device=device,
            ks=ks,
        ),
        device,
    )
    naive_seconds = naive_subset_seconds * args.users / naive_users
    # Same users, fp32 throughout: the two must agree exactly (random real scores do not tie).
    check = run(torch.float32, naive_users)

    report = {
        "users": args.users,
        "items": args.items,
        "dim": args.dim,
        "max_len": args.max_len,
        "user_batch": args.user_batch,
        "device": (
            torch.cuda.get_device_name()
            if device.type == "cuda"
            else f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
        ),
        "torch": torch.__version__,
        "user_encoder": model.kind,
        "ours_seconds": ours_seconds,
        "ours_seconds_all": ours_times,
        "ours_precision": "bf16 autocast encoders, fp32 scores" if device.type == "cuda" else "fp32",
        "naive_seconds": naive_seconds,
        "naive_measured_users": naive_users,
        "naive_extrapolated": naive_users < args.users,
        "naive_measured_seconds": naive_subset_seconds,
        "speedup": naive_seconds / ours_seconds,
        "ours_metrics": ours,
        "agreement_on_naive_users": {"naive": naive_result, "ours_fp32": {key: check[key] for key in naive_result}},
    }
    out = args.out or Path(__file__).parent / "out" / f"bench_eval_{args.device}_{args.users}x{args.items}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    extrapolated = f" (measured on {naive_users} users, extrapolated linearly)" if naive_users < args.users else ""
    print(f"{args.users:,} users x {args.items:,} items, d={args.dim}, on {report['device']}")
    print(f"ours (vectorised, {report['ours_precision']}): {ours_seconds:.2f} s")
    print(f"naive (per-user loop, fp32, argsort): {naive_seconds:.2f} s{extrapolated}")
    print(f"speed-up: {report['speedup']:.1f}x")
    print(
        f"agreement on {naive_users} users: naive {naive_result}, "
        f"ours fp32 {report['agreement_on_naive_users']['ours_fp32']}"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
