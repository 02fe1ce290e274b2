"""Training batches and evaluation histories from a hand-written split."""

import polars as pl
import pytest
import torch

from transrec.data.content import IdContent
from transrec.data.loader import TrainingSet, sample_negatives
from transrec.data.split import eval_histories, left_pad, split_frame

SEQUENCES = [[1, 2, 3, 4, 5, 6, 7], [8, 9, 3, 10, 11], [2, 12, 13, 14, 15, 16, 17, 18, 19]]
N = 30


def _split(sequences=SEQUENCES) -> pl.DataFrame:
    return split_frame(pl.DataFrame({"user_idx": range(len(sequences)), "sequence": sequences}), max_len=100)


def _dataset(max_len=4, **kwargs) -> TrainingSet:
    return TrainingSet(_split(), IdContent(N), N, max_len, seed=7, **kwargs)


def test_left_pad_keeps_the_last_items():
    lists = pl.Series([[1, 2, 3], [4], [], [5, 6, 7, 8, 9]])
    assert left_pad(lists, 3).tolist() == [[1, 2, 3], [0, 0, 4], [0, 0, 0], [7, 8, 9]]
    assert left_pad(lists, None).shape == (4, 5)


def test_slots_reconstruct_the_left_padded_train_window():
    batch = _dataset().collate([0, 1, 2])
    table = torch.cat([batch.unique_items, torch.zeros(1, dtype=torch.long)])  # row U = padding
    assert table[batch.slots].tolist() == [[1, 2, 3, 4, 5], [0, 0, 8, 9, 3], [13, 14, 15, 16, 17]]
    assert batch.valid.tolist() == [[True] * 4, [False, False, True, True], [True] * 4]
    assert batch.item_inputs["item_idx"].tolist() == batch.unique_items.tolist()


def test_unique_items_are_distinct_and_never_padding():
    batch = _dataset().collate([0, 1, 2])
    items = batch.unique_items.tolist()
    assert 0 not in items and len(items) == len(set(items))
    used = set(batch.slots[batch.slots < len(items)].tolist()) | set(batch.negative_slots[batch.valid].tolist())
    assert used == set(range(len(items)))  # every unique item is used by some slot


def test_negatives_avoid_the_whole_sequence_and_sit_on_valid_positions_only():
    data = _dataset()
    for epoch in range(5):
        data.set_epoch(epoch)
        batch = data.collate([0, 1, 2])
        u = len(batch.unique_items)
        assert (batch.negative_slots[~batch.valid] == u).all()
        negatives = batch.unique_items[batch.negative_slots.clamp(max=u - 1)]
        for row, seq in enumerate(SEQUENCES):  # valid and test targets included
            assert not set(negatives[row][batch.valid[row]].tolist()) & set(seq)


def test_rejection_sampling_with_a_nearly_full_catalogue():
    seq = torch.arange(1, 10).view(1, 9)  # items 1..9 taken, only 10 is allowed
    draw = sample_negatives(seq, 10, 50, torch.Generator().manual_seed(0))
    assert (draw == 10).all()


def test_negatives_are_deterministic_per_epoch_and_change_across_epochs():
    a, b = _dataset(), _dataset()
    a.set_epoch(3)
    b.set_epoch(3)
    assert torch.equal(a.epoch_negatives, b.epoch_negatives)
    b.set_epoch(4)
    assert not torch.equal(a.epoch_negatives, b.epoch_negatives)


def test_inbatch_extras():
    data = _dataset(negatives=False, inbatch=True)
    batch = data.collate([0, 1])
    u = len(batch.unique_items)
    assert (batch.negative_slots == u).all()  # no negatives drawn for the in-batch objective
    own = batch.own_items
    assert own.shape == (2, u)
    items = batch.unique_items.tolist()
    assert {items[i] for i in own[0].nonzero().flatten().tolist()} == {1, 2, 3, 4, 5}
    assert {items[i] for i in own[1].nonzero().flatten().tolist()} == {8, 9, 3}
    counts = {1: 1, 2: 2, 3: 2, 4: 1, 5: 1, 8: 1, 9: 1}  # item 2 and 3 occur twice in the train lists
    total = sum(len(s) - 2 for s in SEQUENCES)
    expected = torch.log(torch.tensor([counts[i] / total for i in items]))
    assert torch.allclose(batch.log_q, expected)


def test_batch_to_moves_every_tensor():
    batch = _dataset(inbatch=True).collate([0]).to("cpu")
    assert batch.own_items is not None and batch.item_inputs["item_idx"].device.type == "cpu"


def test_eval_histories_valid_and_test():
    split = _split()
    hist, targets = eval_histories(split, "valid", 4)
    assert hist.tolist() == [[2, 3, 4, 5], [0, 8, 9, 3], [14, 15, 16, 17]]
    assert targets.tolist() == [6, 10, 18]
    hist, targets = eval_histories(split, "test", 4)
    assert hist.tolist() == [[3, 4, 5, 6], [8, 9, 3, 10], [15, 16, 17, 18]]  # includes the validation item
    assert targets.tolist() == [7, 11, 19]
    with pytest.raises(ValueError):
        eval_histories(split, "train", 4)


def test_last_negative_only_encodes_the_last_valid_positions_negative_and_keeps_the_cpc_loss():
    from transrec.models.objectives import cpc_bce

    every, last = _dataset(), _dataset(last_negative_only=True)
    full, short = every.collate([0, 1, 2]), last.collate([0, 1, 2])
    u = len(short.unique_items)
    drawn = short.negative_slots != u
    assert drawn.sum(1).tolist() == [1, 1, 1] and drawn[:, -1].all()  # left padding: the last position is valid
    assert len(short.unique_items) < len(full.unique_items)  # fewer items through the item encoder
    vectors = torch.randn(N + 1, 4, generator=torch.Generator().manual_seed(0))  # one vector per item_idx
    states = torch.randn(3, 4, 4, generator=torch.Generator().manual_seed(1))

    def loss(batch):
        table = torch.cat([vectors[batch.unique_items], torch.zeros(1, 4)])  # row U = padding
        return cpc_bce(states, table[batch.slots][:, 1:], table[batch.negative_slots], batch.valid)

    assert torch.allclose(loss(short), loss(full))  # the same draws: only unread negatives are dropped
