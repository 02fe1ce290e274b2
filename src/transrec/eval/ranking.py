"""Full ranking: encode every item once, score every item for every user in batches, shard across processes."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from transrec.data.content import Content
from transrec.eval.metrics import hits, ndcg_gains, ranks_from_scores, tied_items
from transrec.models.precision import autocast

__all__ = ["shards", "compute_item_table", "encode_item_rows", "evaluate"]


def shards(n: int, world_size: int) -> list[tuple[int, int]]:
    """Contiguous [start, stop) ranges splitting range(n) into `world_size` parts whose sizes differ by at most one."""
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, not {world_size}")
    base, extra = divmod(n, world_size)
    bounds, start = [], 0
    for r in range(world_size):
        stop = start + base + (1 if r < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


def _world(rank: int | None, world_size: int | None) -> tuple[int, int, bool]:
    """(rank, world_size, whether a process group exists to combine the shards); defaults from torch.distributed."""
    grouped = dist.is_available() and dist.is_initialized()
    world_size = world_size if world_size is not None else (dist.get_world_size() if grouped else 1)
    rank = rank if rank is not None else (dist.get_rank() if grouped else 0)
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} outside world of size {world_size}")
    return rank, world_size, grouped and world_size > 1


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode (no dropout) for the block, then the caller's mode back."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


class _IndexBatches(Dataset):
    """Batch b = the content of items order[b*size : (b+1)*size]; built in DataLoader workers when num_workers > 0."""

    def __init__(self, content: Content, order: Tensor, size: int) -> None:
        self.content, self.order, self.size = content, order, size

    def __len__(self) -> int:
        return math.ceil(len(self.order) / self.size)

    def __getitem__(self, b: int) -> dict[str, Tensor]:
        return self.content(self.order[b * self.size : (b + 1) * self.size])


def encoding_order(content: Content, start: int, stop: int) -> Tensor:
    """item_idx start..stop-1 in the order to encode them: shortest title first where the content has token lengths
    (a batch is trimmed to its longest title, so sorted batches carry little padding), else as they come."""
    idx = torch.arange(start, stop)
    lengths = getattr(content, "lengths", None)
    if lengths is None:
        return idx
    return idx[torch.argsort(lengths[start:stop], stable=True)]


@torch.no_grad()
def encode_item_rows(
    model: nn.Module,
    content: Content,
    start: int,
    stop: int,
    *,
    batch_size: int = 1024,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    num_workers: int = 0,
    encode: Callable[[dict[str, Tensor]], Tensor] | None = None,
) -> Tensor:
    """`encode` (default model.encode_items) of item_idx start..stop-1: (stop - start, d) float32 on `device`.

    Runs in eval mode without gradients; `encode` may be another function of the model's inputs (e.g. first_token).
    Items are encoded in `encoding_order` and returned in item_idx order.
    """
    encode = encode or model.encode_items
    device = torch.device(device)
    order = encoding_order(content, start, stop)
    loader = DataLoader(
        _IndexBatches(content, order, batch_size),
        batch_size=None,  # the dataset yields whole batches
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
    )
    rows = []
    with _eval_mode(model), autocast(device, dtype):
        for inputs in loader:
            inputs = {key: value.to(device, non_blocking=True) for key, value in inputs.items()}
            rows.append(encode(inputs).float())  # (B, ...)
    if not rows:
        raise ValueError(f"no items in [{start}, {stop})")
    encoded = torch.cat(rows)
    out = torch.empty_like(encoded)
    out[(order - start).to(device)] = encoded
    return out


def compute_item_table(
    model: nn.Module,
    content: Content,
    *,
    batch_size: int = 1024,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    num_workers: int = 0,
) -> Tensor:
    """Embeddings of every item, (N+1, d) float32, row 0 (padding) zeros.

    Under torch.distributed each rank encodes its own slice of items and the slices are all-gathered, so the table is
    computed once in total rather than once per GPU (PROTOCOL.md §Engineering lessons).
    """
    device = torch.device(device)
    rank, world_size, grouped = _world(None, None)
    n = content.num_items
    if not grouped or n < world_size:
        own = encode_item_rows(
            model, content, 1, n + 1, batch_size=batch_size, device=device, dtype=dtype, num_workers=num_workers
        )  # (N, d)
        return torch.cat([own.new_zeros(1, own.shape[1]), own])
    bounds = shards(n, world_size)
    start, stop = bounds[rank]
    own = encode_item_rows(
        model, content, start + 1, stop + 1, batch_size=batch_size, device=device, dtype=dtype, num_workers=num_workers
    )  # (n_rank, d)
    longest = max(hi - lo for lo, hi in bounds)  # all_gather needs equal shapes: pad, then trim
    padded = torch.cat([own, own.new_zeros(longest - own.shape[0], own.shape[1])])
    gathered = [torch.empty_like(padded) for _ in range(world_size)]
    dist.all_gather(gathered, padded)
    parts = [part[: hi - lo] for part, (lo, hi) in zip(gathered, bounds)]
    return torch.cat([own.new_zeros(1, own.shape[1]), *parts])


@torch.no_grad()
def evaluate(
    model: nn.Module,
    item_table: Tensor,
    histories: Tensor,
    targets: Tensor,
    *,
    ks: Sequence[int] = (10,),
    user_batch: int = 1024,
    mask_history: bool = True,
    masked_items: Tensor | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    ties: str = "pessimistic",
    rank: int | None = None,
    world_size: int | None = None,
) -> dict[str, float | int]:
    """HR@K and NDCG@K (x100) of `targets` (U,) given left-padded `histories` (U, L), ranking all N items.

    The user vector is the last position of model.encode_users(item_table[histories], histories != 0); scores are one
    fp32 matmul per user batch against the whole table (encoders under autocast to `dtype`, None = fp32 as in
    models/precision.py; the scores stay fp32 because bf16 rounding would create ties). Item 0 never ranks; with
    `mask_history` (the published protocol) the user's history items are set to -inf, so a repeated target always
    misses; `repeat_share` says how often.
    `masked_items` (U, M), 0-padded, overrides which items are masked: pass the whole prefix before the target (the
    reference masks all of it, not only the last L items).
    `tie_share` is the share of users counted as a hit at max(ks) while their target ties another item's score: about
    0 for real-valued fp32 scores, 1 for a collapsed model whose scores are all equal (see metrics.ranks_from_scores).
    Users are sharded across ranks (default: the torch.distributed group) and the sums all-reduced; given an explicit
    rank/world_size without a process group, the result covers that rank's shard of users only.
    """
    device = torch.device(device) if device is not None else item_table.device
    rank, world_size, grouped = _world(rank, world_size)
    histories, targets = torch.as_tensor(histories), torch.as_tensor(targets)
    masked_items = histories if masked_items is None else torch.as_tensor(masked_items)
    if not histories.shape[0] == masked_items.shape[0] == targets.shape[0]:
        raise ValueError(
            f"{histories.shape[0]} histories, {masked_items.shape[0]} masked rows, {targets.shape[0]} targets"
        )
    lo, hi = shards(targets.shape[0], world_size)[rank]
    table = item_table.to(device, torch.float32)  # (N+1, d)
    # sums: hits per k, ndcg per k, then users, repeats, ties; float64 so millions of users add up exactly enough.
    sums = torch.zeros(2 * len(ks) + 3, dtype=torch.float64, device=device)
    with _eval_mode(model):
        for start in range(lo, hi, user_batch):
            history = histories[start : min(start + user_batch, hi)].to(device, torch.long)  # (B, L)
            target = targets[start : min(start + user_batch, hi)].to(device, torch.long)  # (B,)
            seen = masked_items[start : min(start + user_batch, hi)].to(device, torch.long)  # (B, M)
            with autocast(device, dtype):
                states = model.encode_users(table[history], history != 0)  # (B, L, d)
            scores = states[:, -1].float() @ table.T  # (B, N+1): left padding puts the newest item last
            scores[:, 0] = float("-inf")
            if mask_history:
                scores.scatter_(1, seen, float("-inf"))  # padding 0 is already -inf
            ranks = ranks_from_scores(scores, target, ties)  # (B,)
            for j, k in enumerate(ks):
                sums[j] += hits(ranks, k).sum()
                sums[len(ks) + j] += ndcg_gains(ranks, k).sum()
            sums[-3] += len(target)
            sums[-2] += (seen == target.view(-1, 1)).any(dim=1).sum()
            hit = (ranks <= max(ks)).nonzero().squeeze(1)  # only hits can be inflated by ties: count ties there only
            sums[-1] += (tied_items(scores[hit], target[hit]) > 0).sum()
    if grouped:
        dist.all_reduce(sums)
    users = int(sums[-3])
    mean = (lambda total: float(total) / users) if users else (lambda total: 0.0)
    result: dict[str, float | int] = {}
    for j, k in enumerate(ks):
        result[f"hr@{k}"] = 100.0 * mean(sums[j])
        result[f"ndcg@{k}"] = 100.0 * mean(sums[len(ks) + j])
    result.update(users=users, repeat_share=mean(sums[-2]), tie_share=mean(sums[-1]))
    return result
