"""The popularity baseline against hand-computed counts and ranks: masked histories, pessimistic ties, repeats."""

import math

import polars as pl
import pytest

from transrec.data.split import split_frame
from transrec.eval.popularity import evaluate_popularity, item_counts

# 5 items; per user: train = sequence[:-2], valid target = sequence[-2], test target = sequence[-1]
SEQUENCES = pl.DataFrame({"user_idx": [1, 2, 3], "sequence": [[1, 2, 3, 1, 4], [2, 3, 2, 5, 2], [3, 4, 5, 3]]})
G2, G3 = 1 / math.log2(3), 1 / math.log2(4)  # NDCG gains of ranks 2 and 3


def split(max_len: int) -> pl.DataFrame:
    return split_frame(SEQUENCES, max_len)


def test_counts_use_training_items_for_valid_and_add_valid_targets_for_test():
    assert item_counts(split(2), 5, "valid").tolist() == [0, 1, 3, 3, 1, 0]  # [1,2,3] [2,3,2] [3,4]
    assert item_counts(split(2), 5, "test").tolist() == [0, 2, 3, 3, 1, 2]  # [1,2,3,1] [2,3,2,5] [3,4,5]


def test_counts_reject_unknown_step_and_items_outside_the_catalogue():
    with pytest.raises(ValueError, match="which"):
        item_counts(split(2), 5, "train")
    with pytest.raises(ValueError, match="outside 1..4"):
        item_counts(split(2), 4, "test")  # item 5 is user 2's validation target


def test_hand_computed_ranks_with_masked_history_and_pessimistic_ties():
    got = evaluate_popularity(split(2), 5, 2, ks=(1, 2, 3))
    # valid, counts 1:1 2:3 3:3 4:1 5:0, histories = last 2 train items (masked):
    #   user 1: target 1, masks 2, 3 -> 1 ties with 4 -> rank 2;  user 2: target 5, masks 3, 2 -> 1, 4 above -> rank 3
    #   user 3: target 5, masks 3, 4 -> 2, 1 above -> rank 3
    valid = got["valid"]
    assert valid["hr@1"] == 0.0
    assert valid["hr@2"] == pytest.approx(100 / 3)
    assert valid["hr@3"] == pytest.approx(100.0)
    assert valid["ndcg@3"] == pytest.approx(100 * (G2 + 2 * G3) / 3)
    # test, counts 1:2 2:3 3:3 4:1 5:2, histories = the last 2 items before the test target:
    #   user 1: target 4, masks 3, 1 -> 2, 5 above -> rank 3;  user 2: target 2 is in its history [2, 5] -> miss
    #   user 3: target 3, masks 4, 5 -> ties with 2 (count 3) -> rank 2
    test = got["test"]
    assert test["hr@1"] == 0.0
    assert test["hr@2"] == pytest.approx(100 / 3)
    assert test["hr@3"] == pytest.approx(200 / 3)
    assert test["ndcg@3"] == pytest.approx(100 * (G3 + G2) / 3)
    assert test["repeat_share"] == pytest.approx(1 / 3)
    assert test["users"] == 3


def test_only_the_last_max_len_items_are_masked():
    # max_len 1: user 1's test history is [1] only, so 2, 3 (count 3) and 5 (count 2) stay above target 4: rank 4;
    # user 2's history is [5], so its repeat target 2 is not masked: tied with 3 -> rank 2; user 3: rank 2 as before
    test = evaluate_popularity(split(1), 5, 1, ks=(3, 4))["test"]
    assert (test["hr@3"], test["hr@4"], test["repeat_share"]) == (pytest.approx(200 / 3), 100.0, 0.0)
    # max_len 4: user 1's history [1, 2, 3, 1] masks 1, 2, 3: 4 is behind 5 only -> rank 2
    assert evaluate_popularity(split(4), 5, 4, ks=(2,))["test"]["hr@2"] == pytest.approx(100 / 3)


def test_without_history_masking_repeats_can_hit():
    # user 2's test target 2 is the most popular item (tied with 3) -> rank 2 when nothing is masked
    test = evaluate_popularity(split(2), 5, 2, ks=(2,), mask_history=False)["test"]
    # user 1: target 4 (count 1) behind 2, 3, 1, 5 -> miss; user 3: target 3 tied with 2 -> rank 2
    assert test["hr@2"] == pytest.approx(200 / 3)
