"""Ranking metrics: the target's rank among all scores, HR@K and NDCG@K (x100, averaged over users)."""

from __future__ import annotations

import torch
from torch import Tensor

MISS = torch.iinfo(torch.int64).max  # rank of a masked (-inf) target: beyond every K


def ranks_from_scores(scores: Tensor, targets: Tensor, ties: str = "pessimistic") -> Tensor:
    """1-based rank of each target among its row of `scores` (U, N+1): 1 + items scored strictly higher.

    Ties: "pessimistic" (default) gives a target tied with others the worst tied place, "optimistic" the best; the
    reference's argsort breaks them arbitrarily. fp32 scores of real embeddings almost never tie, so the choice only
    matters for a collapsed model (all scores equal), where "optimistic" would report a hit for every user; the
    default makes such a model score 0. evaluate() also reports `tie_share`. A target whose score is -inf (masked
    because it occurs in the history, PROTOCOL.md §Evaluation) gets rank MISS, so a repeated target always misses
    even when fewer than K items are left unmasked. A NaN target score is also MISS (NaN compares false, which
    would otherwise give rank 1).
    """
    if ties not in ("optimistic", "pessimistic"):
        raise ValueError(f"ties must be 'optimistic' or 'pessimistic', not {ties!r}")
    target_scores = scores.gather(1, targets.long().view(-1, 1))  # (U, 1)
    ranks = (scores > target_scores).sum(dim=1) + 1  # (U,): no sort, one comparison pass
    if ties == "pessimistic":
        ranks = ranks + tied_items(scores, targets)
    target_scores = target_scores.squeeze(1)
    missed = (target_scores == float("-inf")) | target_scores.isnan()
    return torch.where(missed, torch.full_like(ranks, MISS), ranks)


def tied_items(scores: Tensor, targets: Tensor) -> Tensor:
    """Number of other items scored exactly like the target, (U,) long."""
    target_scores = scores.gather(1, targets.long().view(-1, 1))  # (U, 1)
    return (scores == target_scores).sum(dim=1) - 1


def hits(ranks: Tensor, k: int) -> Tensor:
    """Per-user hit at K: 1.0 if rank <= k else 0.0, (U,)."""
    return (ranks <= k).double()


def ndcg_gains(ranks: Tensor, k: int) -> Tensor:
    """Per-user NDCG at K with one relevant item: 1 / log2(rank + 1) if rank <= k else 0, (U,)."""
    inside = ranks <= k
    safe = torch.where(inside, ranks, torch.ones_like(ranks)).double()  # keeps log2 finite for MISS ranks
    return torch.where(inside, 1.0 / torch.log2(safe + 1.0), torch.zeros_like(safe))


def hr_at_k(ranks: Tensor, k: int) -> float:
    """HR@K x 100 averaged over users (0.0 for no users)."""
    return 100.0 * float(hits(torch.as_tensor(ranks), k).mean()) if len(ranks) else 0.0


def ndcg_at_k(ranks: Tensor, k: int) -> float:
    """NDCG@K x 100 averaged over users (0.0 for no users)."""
    return 100.0 * float(ndcg_gains(torch.as_tensor(ranks), k).mean()) if len(ranks) else 0.0
