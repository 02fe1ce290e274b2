"""Training batches (deduplicated items, slots, fresh negatives) from the split table."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl
import torch
from torch import Tensor
from torch.utils.data import Dataset

from transrec.data.content import Content
from transrec.data.split import left_pad, read_split

CHUNK_USERS = 65_536  # users per rejection-sampling chunk: bounds the (users, L, S) membership test
MAX_REJECTION_ROUNDS = 1_000


@dataclass
class Batch:
    """One training batch (docs/interfaces.md §Training batch); slot U (= len(unique_items)) is the padding row."""

    unique_items: Tensor  # (U,) item_idx, distinct, never 0
    item_inputs: dict[str, Tensor]  # content of unique_items
    slots: Tensor  # (B, L+1) long in 0..U
    negative_slots: Tensor  # (B, L) long in 0..U; U where the position is not valid (or no negatives are drawn)
    valid: Tensor  # (B, L) bool: real input and real target
    log_q: Tensor | None = None  # (U,) log train popularity, inbatch objective only
    own_items: Tensor | None = None  # (B, U) bool: unique item u occurs in user b's window, inbatch objective only

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        """A copy with every tensor on `device`."""
        return self._map(lambda t: t.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> Batch:
        """A copy in pinned memory (called by DataLoader(pin_memory=True))."""
        return self._map(lambda t: t.pin_memory())

    def _map(self, fn: Callable[[Tensor], Tensor]) -> Batch:
        changes = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        changes = {k: (fn(v) if isinstance(v, Tensor) else v) for k, v in changes.items()}
        changes["item_inputs"] = {k: fn(v) for k, v in self.item_inputs.items()}
        return Batch(**changes)


class TrainingSet(Dataset):
    """Users of the split; `collate(users)` builds a Batch. Call `set_epoch(e)` before each epoch (fresh negatives)."""

    def __init__(
        self,
        split: pl.DataFrame | str | os.PathLike,
        content: Content,
        num_items: int,
        max_len: int,
        *,
        seed: int,
        negatives: bool = True,
        last_negative_only: bool = False,
        inbatch: bool = False,
    ) -> None:
        frame = read_split(split)
        self.content = content
        self.num_items = num_items
        self.max_len = max_len
        self.seed = seed
        self.negatives = negatives
        self.last_negative_only = last_negative_only  # CPC: the other positions' negatives are never encoded
        self.inbatch = inbatch
        self.windows = left_pad(frame["train"], max_len + 1)  # (N_users, L+1): last L+1 train items
        self.sequences = left_pad(frame["sequence"], None)  # (N_users, S): full sequence, for negative rejection
        if int(self.sequences.max()) > num_items:
            raise ValueError(f"split holds item_idx {int(self.sequences.max())} > num_items {num_items}")
        train_items = torch.from_numpy(frame["train"].explode().drop_nulls().to_numpy().astype(np.int64))
        counts = torch.bincount(train_items, minlength=num_items + 1).double()  # (N+1,) train popularity
        self.log_popularity = torch.log(counts.clamp(min=1.0) / counts[1:].sum().clamp(min=1.0)).float()
        self.epoch_negatives = torch.zeros(len(frame), max_len, dtype=torch.long)
        self.set_epoch(0)

    def __len__(self) -> int:
        return self.windows.shape[0]

    def __getitem__(self, user: int) -> int:
        return user

    def set_epoch(self, epoch: int) -> None:
        """Draw this epoch's negatives for every user, seeded by seed + epoch (identical on every rank and resume)."""
        if self.negatives:
            generator = torch.Generator().manual_seed(self.seed + epoch)
            self.epoch_negatives = sample_negatives(self.sequences, self.num_items, self.max_len, generator)

    def collate(self, users: list[int]) -> Batch:
        """The Batch of these users: dedupe items, index them by slot, fetch their content once."""
        index = torch.as_tensor(users, dtype=torch.long)
        window = self.windows[index]  # (B, L+1)
        valid = (window[:, :-1] != 0) & (window[:, 1:] != 0)  # (B, L)
        wanted = last_valid(valid) if self.last_negative_only else valid
        negatives = (
            torch.where(wanted, self.epoch_negatives[index], 0)
            if self.negatives
            else torch.zeros_like(valid, dtype=torch.long)
        )
        ids = torch.cat([window.flatten(), negatives.flatten()])  # (B*(2L+1),)
        unique, inverse = torch.unique(ids, sorted=True, return_inverse=True)
        if unique.numel() and unique[0] == 0:  # padding is not an item: it becomes the extra row U
            unique, inverse = unique[1:], inverse - 1
        n_unique = unique.numel()
        inverse = torch.where(inverse < 0, n_unique, inverse)
        b, width = window.shape
        slots = inverse[: b * width].view(b, width)  # (B, L+1)
        negative_slots = inverse[b * width :].view(b, width - 1)  # (B, L)
        batch = Batch(unique, self.content(unique), slots, negative_slots, valid)
        if self.inbatch:
            batch.log_q = self.log_popularity[unique]  # (U,)
            own = torch.zeros(b, n_unique + 1, dtype=torch.bool)
            own.scatter_(1, slots, True)
            batch.own_items = own[:, :n_unique]  # (B, U)
        return batch


def last_valid(valid: Tensor) -> Tensor:
    """valid (B, L) bool -> (B, L) bool with only the right-most True of each row kept."""
    seq_len = valid.shape[1]
    index = torch.arange(seq_len, device=valid.device).expand_as(valid)
    last = torch.where(valid, index, -1).max(dim=1, keepdim=True).values  # (B, 1), -1 if the row is empty
    return index == last


def sample_negatives(sequences: Tensor, num_items: int, length: int, generator: torch.Generator) -> Tensor:
    """Uniform item_idx in 1..N per (user, position), none in the user's row of `sequences` (N_users, S):
    rejection sampling."""
    out = torch.empty(sequences.shape[0], length, dtype=torch.long)
    for start in range(0, sequences.shape[0], CHUNK_USERS):
        seq = sequences[start : start + CHUNK_USERS]  # (C, S)
        draw = torch.randint(1, num_items + 1, (seq.shape[0], length), generator=generator)  # (C, L)
        for _ in range(MAX_REJECTION_ROUNDS):
            bad = (draw[:, :, None] == seq[:, None, :]).any(-1)  # (C, L)
            n_bad = int(bad.sum())
            if not n_bad:
                break
            draw[bad] = torch.randint(1, num_items + 1, (n_bad,), generator=generator)
        else:
            raise ValueError("cannot draw negatives: some user's sequence covers (almost) every item")
        out[start : start + seq.shape[0]] = draw
    return out
