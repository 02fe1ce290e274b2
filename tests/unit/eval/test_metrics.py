"""Ranks and HR/NDCG against hand-computed values: ties, masked repeats, NaN and the padding column."""

import math

import pytest
import torch

from transrec.eval.metrics import MISS, hr_at_k, ndcg_at_k, ranks_from_scores, tied_items

NEG = float("-inf")


def test_rank_is_one_plus_strictly_higher_scores():
    scores = torch.tensor([[NEG, 0.1, 0.5, 0.3, 0.9], [NEG, 0.4, 0.3, 0.2, 0.1]])
    # row 0: target 3 (0.3) is beaten by 0.5 and 0.9; row 1: target 1 is the best
    assert ranks_from_scores(scores, torch.tensor([3, 1])).tolist() == [3, 1]


def test_ties_pessimistic_by_default_and_optimistic_on_request():
    scores = torch.tensor([[NEG, 0.5, 0.5, 0.5, 0.1, 0.9]])
    target = torch.tensor([2])
    assert ranks_from_scores(scores, target, ties="optimistic").tolist() == [2]  # only 0.9 is strictly higher
    assert ranks_from_scores(scores, target).tolist() == [4]  # behind both tied items
    assert tied_items(scores, target).tolist() == [2]
    with pytest.raises(ValueError):
        ranks_from_scores(scores, target, ties="random")


def test_collapsed_model_hits_under_optimistic_ties_and_misses_under_pessimistic():
    scores = torch.zeros(1, 50)
    scores[:, 0] = NEG
    assert ranks_from_scores(scores, torch.tensor([7]), ties="optimistic").item() == 1
    assert ranks_from_scores(scores, torch.tensor([7])).item() == 49


def test_masked_target_always_misses_even_with_fewer_items_than_k():
    scores = torch.tensor([[NEG, 0.2, NEG, 0.1]])  # item 2 masked as a history item
    ranks = ranks_from_scores(scores, torch.tensor([2]))
    assert ranks.item() == MISS
    assert hr_at_k(ranks, 10) == 0.0 and ndcg_at_k(ranks, 10) == 0.0


def test_nan_target_score_misses_instead_of_ranking_first():
    scores = torch.tensor([[NEG, float("nan"), 0.3]])
    assert ranks_from_scores(scores, torch.tensor([1])).item() == MISS


def test_padding_column_at_minus_inf_never_beats_a_target():
    scores = torch.tensor([[NEG, -5.0, -7.0]])
    assert ranks_from_scores(scores, torch.tensor([2])).item() == 2


def test_hr_and_ndcg_hand_computed():
    ranks = torch.tensor([1, 2, 10, 11, MISS])
    assert hr_at_k(ranks, 10) == pytest.approx(100 * 3 / 5)
    expected = 100 * (1 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(11)) / 5
    assert ndcg_at_k(ranks, 10) == pytest.approx(expected)
    assert hr_at_k(ranks, 1) == pytest.approx(20.0)
    assert ndcg_at_k(ranks, 1) == pytest.approx(20.0)


def test_no_users_give_zero():
    empty = torch.zeros(0, dtype=torch.long)
    assert hr_at_k(empty, 10) == 0.0 and ndcg_at_k(empty, 10) == 0.0
