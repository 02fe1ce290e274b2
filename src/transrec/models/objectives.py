"""Training objectives: SASRec BCE, CPC BCE (last position), IISAN's in-batch softmax with logQ, a full softmax."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def sasrec_bce(user_states: Tensor, pos_emb: Tensor, neg_emb: Tensor, valid: Tensor) -> Tensor:
    """(B, L, d) x3, valid (B, L) bool -> mean BCE(pos=1) + mean BCE(neg=0) over valid positions."""
    with _fp32(user_states):
        user = user_states.float()
        pos_logits = (user * pos_emb.float()).sum(-1)  # (B, L)
        neg_logits = (user * neg_emb.float()).sum(-1)  # (B, L)
        weight = valid.float()
        count = weight.sum().clamp(min=1.0)  # an all-padding batch gives 0, not NaN
        pos_loss = -(F.logsigmoid(pos_logits) * weight).sum() / count  # -log sigmoid(s)
        neg_loss = -(F.logsigmoid(-neg_logits) * weight).sum() / count  # -log(1 - sigmoid(s))
        return pos_loss + neg_loss


def cpc_bce(user_states: Tensor, pos_emb: Tensor, neg_emb: Tensor, valid: Tensor) -> Tensor:
    """The SASRec BCE at the last valid position of each row only (with left padding: position L-1)."""
    return sasrec_bce(user_states, pos_emb, neg_emb, last_valid(valid))


def last_valid(valid: Tensor) -> Tensor:
    """valid (B, L) bool -> (B, L) bool with only the right-most True of each row kept."""
    l = valid.shape[1]
    index = torch.arange(l, device=valid.device).expand_as(valid)
    last = torch.where(valid, index, -1).max(dim=1, keepdim=True).values  # (B, 1), -1 if the row is empty
    return index == last


def inbatch_softmax(
    user_states: Tensor,
    pos_slots: Tensor,
    table: Tensor,
    log_q: Tensor,
    own_items: Tensor,
    valid: Tensor,
    slot_counts: Tensor | None = None,
) -> Tensor:
    """Cross-entropy over the U in-batch items, logits - log_q, columns of the user's own items masked but the positive.

    user_states (B, L, d), pos_slots (B, L) long in 0..U-1 where valid, table (U, d), log_q (U,) = log p(item),
    own_items (B, U) bool, valid (B, L) bool -> scalar mean over valid positions.
    slot_counts (U,): None counts each distinct item once; given, the released form (loss `inbatch_slots`), where
    every sequence slot is a column: an item in c slots weighs c in the denominator, i.e. + log c on its negative
    logits. The positive stays one column: the user's own items are masked, so its other slots never count.
    """
    with _fp32(user_states):
        logits = user_states.float() @ table.float().T - log_q.float()  # (B, L, U)
        u = table.shape[0]
        target = torch.where(valid, pos_slots, 0)  # padding slots may hold U (the padding row): keep them in range
        positive = F.one_hot(target, u).bool()  # (B, L, U)
        if slot_counts is not None:
            logits = logits + torch.where(positive, 0.0, slot_counts.float().clamp(min=1).log())
        blocked = own_items[:, None, :] & ~positive  # (B, L, U)
        logits = logits.masked_fill(blocked, float("-inf"))
        loss = F.cross_entropy(logits.flatten(0, 1), target.flatten(), reduction="none")  # (B*L,)
        weight = valid.flatten().float()
        return (loss * weight).sum() / weight.sum().clamp(min=1.0)


def slot_counts(slots: Tensor, n_unique: int) -> Tensor:
    """slots (B, L+1) long in 0..U (U = padding) -> (U,) how many non-padding sequence slots hold each unique item."""
    return torch.bincount(slots[slots < n_unique], minlength=n_unique)


def full_softmax(user_states: Tensor, targets: Tensor, table: Tensor, own_items: Tensor | None, valid: Tensor) -> Tensor:
    """Cross-entropy over every item of the catalogue (no sampling, so no logQ), own items masked but the positive.

    user_states (B, L, d), targets (B, L) long item_idx in 1..N where valid, table (N+1, d) with row 0 the padding
    item (never a class), own_items (B, M) long item_idx of the user's window, 0-padded (masked as evaluation masks
    the history), or None; valid (B, L) bool -> scalar mean over valid positions.
    """
    with _fp32(user_states):
        rows = valid.nonzero(as_tuple=True)  # only valid positions are scored: (B, L, N+1) logits would be half padding
        target = targets[rows].long()  # (V,)
        logits = user_states[rows].float() @ table.float().T  # (V, N+1)
        if own_items is not None:
            own = own_items[rows[0]].long()  # (V, M)
            own = torch.where(own == target[:, None], 0, own)  # the positive is never masked
            logits.scatter_(1, own, float("-inf"))  # in place: mm's backward does not need its output
        logits[:, 0] = float("-inf")  # padding is not an item
        return F.cross_entropy(logits, target, reduction="sum") / max(target.numel(), 1)


def _fp32(tensor: Tensor) -> torch.autocast:
    """Autocast off on the tensor's device: the losses stay in fp32 under bf16 training."""
    return torch.autocast(device_type=tensor.device.type, enabled=False)
