"""Objectives against hand-computed values: SASRec BCE, CPC BCE,
in-batch softmax with masking and logQ, full softmax."""

import math

import pytest
import torch

from transrec.models.objectives import cpc_bce, full_softmax, inbatch_softmax, last_valid, sasrec_bce, slot_counts


def sp(x: float) -> float:
    """softplus = -log sigmoid(-x)."""
    return math.log1p(math.exp(x))


def col(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).view(1, -1, 1)  # (1, L, 1): d = 1 makes dot products scalars


def test_sasrec_bce_hand_computed():
    user, pos, neg = col(1.0, 2.0, 5.0), col(1.0, -1.0, 9.0), col(0.0, 0.5, 9.0)
    valid = torch.tensor([[True, True, False]])
    # positions 0, 1: pos scores 1, -2 -> -log sig = sp(-1), sp(2); neg scores 0, 1 -> -log(1 - sig) = sp(0), sp(1)
    expected = (sp(-1) + sp(2)) / 2 + (sp(0) + sp(1)) / 2
    assert math.isclose(sasrec_bce(user, pos, neg, valid).item(), expected, rel_tol=1e-6)


def test_sasrec_bce_is_stable_for_large_scores():
    loss = sasrec_bce(col(100.0), col(-100.0), col(100.0), torch.tensor([[True]]))
    assert math.isclose(loss.item(), 2 * 10000.0, rel_tol=1e-6)


def test_cpc_bce_uses_last_valid_position_only():
    user, pos, neg = (
        col(1.0, 2.0, 3.0).repeat(2, 1, 1),
        col(1.0, 1.0, 1.0).repeat(2, 1, 1),
        col(0.0, 0.0, 1.0).repeat(2, 1, 1),
    )
    valid = torch.tensor([[False, True, True], [True, True, False]])
    assert last_valid(valid).tolist() == [[False, False, True], [False, True, False]]
    expected = (sp(-3) + sp(-2)) / 2 + (sp(3) + sp(0)) / 2
    assert math.isclose(cpc_bce(user, pos, neg, valid).item(), expected, rel_tol=1e-6)


def test_last_valid_of_empty_row_is_empty():
    assert not last_valid(torch.zeros(1, 4, dtype=torch.bool)).any()


def test_inbatch_softmax_masks_own_items_but_the_positive_and_corrects_logq():
    table = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0]])  # U = 4
    user = torch.tensor([[[1.0, 2.0], [0.5, 0.5]]])  # (1, 2, 2)
    log_q = torch.tensor([0.0, math.log(0.5), 0.0, math.log(0.25)])
    own = torch.tensor([[True, True, False, False]])  # items 0 and 1 are in the user's sequence
    pos = torch.tensor([[1, 4]])  # the second position is padding: its slot is U, out of range
    valid = torch.tensor([[True, False]])
    # position 0: logits 1, 2, 3, 2 minus log q -> 1, 2+log2, 3, 2+log4; column 0 masked (own item), column 1 kept
    logits = [2 + math.log(2), 3, 2 + math.log(4)]
    expected = -logits[0] + math.log(sum(math.exp(x) for x in logits))
    loss = inbatch_softmax(user, pos, table, log_q, own, valid)
    assert math.isclose(loss.item(), expected, rel_tol=1e-6)
    # uniform log q shifts every logit equally: no change
    plain = inbatch_softmax(user, pos, table, torch.zeros(4), own, valid)
    assert math.isclose(
        inbatch_softmax(user, pos, table, torch.full((4,), -3.0), own, valid).item(), plain.item(), rel_tol=1e-6
    )


def test_slot_counts_count_non_padding_slots_per_unique_item():
    slots = torch.tensor([[3, 0, 1, 1], [0, 2, 1, 3]])  # U = 3: slot value 3 is padding
    assert slot_counts(slots, 3).tolist() == [2, 3, 1]


def test_released_inbatch_form_counts_every_slot_of_a_repeated_item():
    # U = 4 distinct items; d = 4 with an identity table makes the logits the user vector itself
    table = torch.eye(4)
    user = torch.tensor([[[2.0, 1.0, 0.5, -1.0]]])  # (1, 1, 4)
    log_q = torch.tensor([0.0, 0.0, math.log(0.5), 0.0])
    own = torch.tensor([[True, False, False, True]])  # the positive (0) and item 3 are the user's own items
    pos, valid = torch.tensor([[0]]), torch.tensor([[True]])
    counts = torch.tensor([3, 2, 4, 5])  # item 0 in 3 slots of the batch, item 1 in 2, item 2 in 4, item 3 in 5
    # released: every slot a column; own items masked except the positive's own slot -> columns
    # positive 2 (once), item 1: 1 (twice), item 2: 0.5 - log 0.5 (four times); item 3 masked
    released = -2.0 + math.log(math.exp(2.0) + 2 * math.exp(1.0) + 4 * math.exp(0.5 - math.log(0.5)))
    distinct = -2.0 + math.log(math.exp(2.0) + math.exp(1.0) + math.exp(0.5 - math.log(0.5)))
    got = inbatch_softmax(user, pos, table, log_q, own, valid, slot_counts=counts)
    assert math.isclose(got.item(), released, rel_tol=1e-6)
    assert math.isclose(inbatch_softmax(user, pos, table, log_q, own, valid).item(), distinct, rel_tol=1e-6)
    # no repeated item: both forms agree
    ones = inbatch_softmax(user, pos, table, log_q, own, valid, slot_counts=torch.ones(4, dtype=torch.long))
    assert math.isclose(ones.item(), distinct, rel_tol=1e-6)


def test_losses_run_in_fp32_under_bf16_autocast():
    torch.manual_seed(0)
    user, pos, neg = (torch.randn(2, 3, 4).bfloat16() for _ in range(3))
    table = torch.randn(5, 4).bfloat16()
    valid = torch.ones(2, 3, dtype=torch.bool)
    slots, own, log_q = torch.randint(0, 5, (2, 3)), torch.zeros(2, 5, dtype=torch.bool), torch.zeros(5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = (sasrec_bce(user, pos, neg, valid), inbatch_softmax(user, slots, table, log_q, own, valid))
    want = (
        sasrec_bce(user.float(), pos.float(), neg.float(), valid),
        inbatch_softmax(user.float(), slots, table.float(), log_q, own, valid),
    )
    for g, w in zip(got, want):
        assert g.dtype == torch.float32
        torch.testing.assert_close(g, w, rtol=1e-6, atol=1e-6)


def test_gradients_are_finite_with_masked_columns():
    user = torch.randn(1, 2, 3, requires_grad=True)
    table = torch.randn(3, 3, requires_grad=True)
    own = torch.tensor([[True, True, True]])
    loss = inbatch_softmax(user, torch.tensor([[0, 3]]), table, torch.zeros(3), own, torch.tensor([[True, False]]))
    loss.backward()
    assert loss.item() == 0.0  # every other column is the user's own item: the positive is certain
    assert torch.isfinite(user.grad).all() and torch.isfinite(table.grad).all()


def lse(*logits: float) -> float:
    return math.log(sum(math.exp(x) for x in logits))


def test_full_softmax_over_every_item_hand_computed():
    table = torch.tensor([[9.0, 9.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # N = 3, row 0 = padding (never a class)
    user = torch.tensor([[[1.0, 2.0], [2.0, 0.0]], [[0.0, 1.0], [5.0, 5.0]]])  # (2, 2, 2)
    targets = torch.tensor([[2, 3], [1, 0]])
    valid = torch.tensor([[True, True], [True, False]])
    # logits of items 1, 2, 3: user (0,0) -> 1, 2, 3; (0,1) -> 2, 0, 2; (1,0) -> 0, 1, 1; (1,1) is padding
    expected = ((lse(1, 2, 3) - 2) + (lse(2, 0, 2) - 2) + (lse(0, 1, 1) - 0)) / 3
    loss = full_softmax(user, targets, table, None, valid)
    assert math.isclose(loss.item(), expected, rel_tol=1e-6)


def test_full_softmax_masks_own_items_but_the_positive():
    table = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    user = torch.tensor([[[1.0, 2.0], [2.0, 0.0]]])  # (1, 2, 2)
    targets = torch.tensor([[2, 3]])
    own = torch.tensor([[1, 2, 3, 0]])  # items 1, 2, 3 are all in the user's window (0 = padding)
    loss = full_softmax(user, targets, table, own, torch.tensor([[True, True]]))
    assert loss.item() == 0.0  # every other item is the user's own: each positive is certain
    own = torch.tensor([[0, 2, 0, 0]])  # item 2 only: masked at position 1, the positive at position 0
    expected = ((lse(1, 2, 3) - 2) + (lse(2, 2) - 2)) / 2
    loss = full_softmax(user, targets, table, own, torch.tensor([[True, True]]))
    assert math.isclose(loss.item(), expected, rel_tol=1e-6)


def test_full_softmax_gradients_reach_every_item_row_but_padding():
    user = torch.randn(2, 3, 4, requires_grad=True)
    table = torch.randn(6, 4, requires_grad=True)
    targets = torch.tensor([[1, 2, 3], [4, 5, 0]])
    valid = torch.tensor([[True, True, True], [True, True, False]])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = full_softmax(user, targets, table, None, valid)
    loss.backward()
    assert loss.dtype == torch.float32
    assert torch.isfinite(user.grad).all() and (table.grad[1:].abs().sum(-1) > 0).all()
    assert (table.grad[0] == 0).all()


def _step(objective: str, content):
    """One training step's loss of a tiny ID SASRec on 3 users over 8 items, through the trainer's StepLoss."""
    import polars as pl

    from transrec.data.loader import TrainingSet
    from transrec.data.split import split_frame
    from transrec.models.item_encoders import build_item_encoder
    from transrec.models.objectives import StepLoss
    from transrec.models.sasrec import SASRec
    from transrec.models.transrec import TransRec

    torch.manual_seed(0)
    split = split_frame(
        pl.DataFrame({"user_idx": [0, 1, 2], "sequence": [[1, 2, 3, 4], [2, 3, 5, 6], [1, 5, 2, 3]]}), 3
    )
    model = TransRec(build_item_encoder("id", None, 8, 8), SASRec(8, 3, 1, 2, 0.0))
    dataset = TrainingSet(split, content, 8, 3, seed=0, negatives=False, inbatch=objective.startswith("inbatch"))
    return model, StepLoss(model, objective, content)(dataset.collate([0, 1, 2]))


def test_trainer_softmax_scores_the_whole_id_table():
    from transrec.data.content import IdContent

    model, loss = _step("softmax", IdContent(8))
    loss.backward()
    grad = model.item_encoder.backbone.weight.grad  # (9, 8)
    assert (
        grad[1:].abs().sum(-1) > 0
    ).all()  # items 7 and 8 occur in no sequence, yet they are scored (and pushed down)
    assert (grad[0] == 0).all()
    model, loss = _step("inbatch", IdContent(8))
    loss.backward()
    assert (model.item_encoder.backbone.weight.grad[7:] == 0).all()  # in-batch: only the batch's items are scored


def test_trainer_released_inbatch_form_differs_only_with_repeated_items():
    from transrec.data.content import IdContent

    _, distinct = _step("inbatch", IdContent(8))
    _, released = _step("inbatch_slots", IdContent(8))
    # items 1, 2, 3 and 5 fill several slots of the 3 users' windows: more negative mass, a larger loss
    assert released.item() > distinct.item()


def test_trainer_softmax_refuses_raw_content():
    class RawText:
        kind, num_items = "text", 8

    with pytest.raises(ValueError, match="softmax.*ID encoder or cached"):
        _step("softmax", RawText())
