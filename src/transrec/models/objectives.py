"""Training objectives: SASRec BCE, CPC BCE (last position), IISAN's in-batch softmax with logQ, a full softmax.

OBJECTIVES maps each objective name to its loss on one encoded step and to what the training loader must put in a
batch (fresh negatives, in-batch log q); StepLoss is a training step's loss as a module (what DDP wraps).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from transrec.data.loader import last_valid

if TYPE_CHECKING:
    from transrec.data.content import Content
    from transrec.data.loader import Batch
    from transrec.models.transrec import TransRec


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


def full_softmax(
    user_states: Tensor, targets: Tensor, table: Tensor, own_items: Tensor | None, valid: Tensor
) -> Tensor:
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


@dataclass
class EncodedStep:
    """One training step, encoded: what every objective's loss reads."""

    batch: Batch
    model: TransRec
    table: Tensor  # (U, d): the batch's distinct items
    padded: Tensor  # (U+1, d): row U is padding
    emb: Tensor  # (B, L+1, d): padded[batch.slots]
    states: Tensor  # (B, L, d): the users' states at the input positions
    catalogue: dict[str, Tensor] | None = None  # content of item_idx 1..N, catalogue objectives only


@dataclass(frozen=True)
class Objective:
    """A training objective: its loss, and what the training loader must put in each batch."""

    loss: Callable[[EncodedStep], Tensor]
    negatives: bool = False  # one fresh uniform negative per (user, position): TrainingSet(negatives=True)
    last_negative_only: bool = False  # the loss reads the last valid position's negative only: encode no other
    inbatch: bool = False  # log q of the batch's items and the users' own items: TrainingSet(inbatch=True)
    catalogue: bool = False  # every item through the item encoder at every step: ID or precomputed-feature content


def _bce(loss: Callable[..., Tensor]) -> Callable[[EncodedStep], Tensor]:
    """A BCE objective on the positive (next item) and the drawn negative of every position."""

    def step_loss(step: EncodedStep) -> Tensor:
        return loss(step.states, step.emb[:, 1:], step.padded[step.batch.negative_slots], step.batch.valid)

    return step_loss


def _inbatch(per_slot: bool) -> Callable[[EncodedStep], Tensor]:
    """The in-batch softmax: each distinct item one column, or (per_slot) weighed by the slots it fills."""

    def step_loss(step: EncodedStep) -> Tensor:
        batch, table = step.batch, step.table
        counts = slot_counts(batch.slots, table.shape[0]) if per_slot else None
        return inbatch_softmax(
            step.states, batch.slots[:, 1:], table, batch.log_q, batch.own_items, batch.valid, counts
        )

    return step_loss


def _full_softmax(step: EncodedStep) -> Tensor:
    """The full softmax: the whole catalogue encoded, the window's items masked."""
    batch = step.batch
    every = step.model.encode_items(step.catalogue)  # (N, d)
    every = torch.cat([every.new_zeros(1, every.shape[1]), every])  # (N+1, d): row 0 is padding
    ids = torch.cat([batch.unique_items, batch.unique_items.new_zeros(1)])[batch.slots]  # (B, L+1), 0 = padding
    return full_softmax(step.states, ids[:, 1:], every, ids, batch.valid)


OBJECTIVES: dict[str, Objective] = {
    "sasrec": Objective(_bce(sasrec_bce), negatives=True),
    "cpc": Objective(_bce(cpc_bce), negatives=True, last_negative_only=True),
    "inbatch": Objective(_inbatch(per_slot=False), inbatch=True),
    "inbatch_slots": Objective(_inbatch(per_slot=True), inbatch=True),  # the released in-batch form
    "softmax": Objective(_full_softmax, catalogue=True),
}


def objective(name: str) -> Objective:
    """The registered objective `name`."""
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}; expected one of {sorted(OBJECTIVES)}")
    return OBJECTIVES[name]


class StepLoss(nn.Module):
    """A training step's loss as a forward pass, so DDP sees a forward: encode the U items once, then gather by slot."""

    def __init__(self, model: TransRec, objective_name: str, content: Content | None = None) -> None:
        super().__init__()
        self.model = model
        self.objective = objective_name
        self.spec = objective(objective_name)
        self.catalogue: dict[str, Tensor] | None = None
        if self.spec.catalogue:  # every item through the item encoder at every step: an ID table or cached features
            if content is None or content.kind not in ("id", "features"):
                raise ValueError(
                    f"objective {objective_name!r} encodes every item at every step: it needs an ID "
                    "encoder or cached frozen features (train.cache_frozen_features); use 'inbatch' for "
                    "a trained backbone"
                )
            device = next(model.parameters()).device
            every = torch.arange(1, content.num_items + 1)
            self.catalogue = {key: value.to(device) for key, value in content(every).items()}

    def forward(self, batch: Batch) -> Tensor:
        """Batch -> scalar loss."""
        table = self.model.encode_items(batch.item_inputs)  # (U, d)
        padded = torch.cat([table, table.new_zeros(1, table.shape[1])])  # (U+1, d): row U is padding
        emb = padded[batch.slots]  # (B, L+1, d)
        states = self.model.encode_users(emb[:, :-1], batch.slots[:, :-1] < table.shape[0])  # (B, L, d)
        return self.spec.loss(EncodedStep(batch, self.model, table, padded, emb, states, self.catalogue))
