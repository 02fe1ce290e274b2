"""Full ranking on tiny fake models: hand-computed ranks, masking, batching, sharding and a real 2-process group."""

import math

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from transrec.data.content import IdContent
from transrec.eval.ranking import compute_item_table, encode_item_rows, evaluate, shards
from transrec.models.sasrec import SASRec


class Stub(nn.Module):
    """Item i -> row i of a fixed table; the user vector is the last real item's vector. Dropout exposes train mode."""

    def __init__(self, table: torch.Tensor, user_encoder: nn.Module | None = None):
        super().__init__()
        self.embedding = nn.Embedding.from_pretrained(table.clone(), freeze=False)
        self.dropout = nn.Dropout(0.5)
        self.user_encoder = user_encoder
        self.encoded_items = 0

    def encode_items(self, inputs):
        self.encoded_items += len(inputs["item_idx"])
        return self.dropout(self.embedding(inputs["item_idx"]))

    def encode_users(self, item_emb, mask):
        if self.user_encoder is not None:
            return self.user_encoder(item_emb, mask)
        return self.dropout(item_emb * mask[..., None])


# item 0 = padding with a huge vector: it must never rank (its column is -inf) nor leak into users (masked out)
TABLE = torch.tensor([[100.0, 100.0], [1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.8, 0.1], [-1.0, 0.0]])
HISTORIES = torch.tensor([[0, 0, 1], [0, 2, 3], [1, 2, 4]])
TARGETS = torch.tensor([4, 4, 1])  # user 2's target is a repeat of its first item


def test_hand_computed_ranks_with_history_masking():
    # scores: user 0 = item1 vector (1,0): [1, 0, .5, .8, -1], item 1 masked -> target 4 first
    # user 1 = item3 (.5,.5): [.5, .5, .5, .45, -.5], items 2,3 masked -> target 4 behind item 1: rank 2
    # user 2 = item4 (.8,.1): target 1 is in the history -> masked -> miss
    result = evaluate(Stub(TABLE), TABLE, HISTORIES, TARGETS, ks=(1, 10))
    assert result["users"] == 3
    assert result["hr@1"] == pytest.approx(100 / 3)
    assert result["hr@10"] == pytest.approx(200 / 3)
    assert result["ndcg@10"] == pytest.approx(100 * (1 + 1 / math.log2(3)) / 3)
    assert result["repeat_share"] == pytest.approx(1 / 3)
    assert result["tie_share"] == 0.0


def test_without_masking_the_repeat_target_can_hit():
    # user 0: item 1 (1.0) beats target 4 (.8): rank 2; user 1: items 1,2,3 (.5) beat .45: rank 4; user 2: rank 1
    result = evaluate(Stub(TABLE), TABLE, HISTORIES, TARGETS, ks=(10,), mask_history=False)
    assert result["hr@10"] == pytest.approx(100.0)
    assert result["ndcg@10"] == pytest.approx(100 * (1 / math.log2(3) + 1 / math.log2(5) + 1) / 3)
    assert result["repeat_share"] == pytest.approx(1 / 3)


def test_masked_items_override_the_history():
    # user 0 also masks item 5 and nothing else changes; user 1 no longer masks 2 and 3, so its target falls to rank 4
    masked = torch.tensor([[1, 5], [0, 0], [0, 1]])
    result = evaluate(Stub(TABLE), TABLE, HISTORIES, TARGETS, ks=(1, 10), masked_items=masked)
    assert result["hr@1"] == pytest.approx(100 / 3)
    assert result["ndcg@10"] == pytest.approx(100 * (1 + 1 / math.log2(5)) / 3)


def test_padding_item_zero_is_never_a_hit():
    # user = item 1 (1, 0); item 1 is masked, target 3 (.5) ranks behind item 4 (.8) only; item 0 (100) does not count
    result = evaluate(Stub(TABLE), TABLE, torch.tensor([[0, 0, 1]]), torch.tensor([3]), ks=(1, 2))
    assert (result["hr@1"], result["hr@2"]) == (0.0, 100.0)


def test_collapsed_table_is_reported_as_ties():
    flat = torch.ones(6, 2)
    result = evaluate(Stub(flat), flat, HISTORIES[:2], TARGETS[:2], ks=(10,))
    assert result["tie_share"] == 1.0
    assert evaluate(Stub(flat), flat, HISTORIES[:2], TARGETS[:2], ties="pessimistic")["hr@10"] == 100.0  # 3 items left


def _random_case(users=16, items=50, d=8, length=6, seed=0):
    generator = torch.Generator().manual_seed(seed)
    table = torch.randn(items + 1, d, generator=generator)
    table[0] = 0
    histories = torch.randint(1, items + 1, (users, length), generator=generator)
    pad = torch.randint(0, length, (users,), generator=generator)
    histories[torch.arange(length) < pad[:, None]] = 0  # left padding
    targets = torch.randint(1, items + 1, (users,), generator=generator)
    targets[:5] = histories[:5, -1]  # some repeats
    torch.manual_seed(seed)
    model = Stub(table, SASRec(d_model=d, max_len=length, n_blocks=2, n_heads=2, dropout=0.3))
    return model, table, histories, targets


def _naive(model, table, histories, targets, k):
    """The reference: per-user loop, full argsort."""
    model.eval()
    hit = ndcg = 0.0
    with torch.no_grad():
        for history, target in zip(histories, targets):
            user = model.encode_users(table[history][None], (history != 0)[None])[0, -1]
            scores = table @ user
            scores[0] = float("-inf")
            scores[history] = float("-inf")
            if scores[target] == float("-inf"):
                continue
            rank = int((torch.argsort(scores, descending=True) == target).nonzero()) + 1
            hit += rank <= k
            ndcg += 1 / math.log2(rank + 1) if rank <= k else 0.0
    return 100 * hit / len(targets), 100 * ndcg / len(targets)


def test_batched_equals_unbatched_and_the_naive_reference():
    model, table, histories, targets = _random_case(users=16)
    model.train()
    results = [evaluate(model, table, histories, targets, user_batch=b) for b in (1, 5, 1024)]
    assert model.training  # the caller's mode comes back
    for result in results[1:]:
        assert result == pytest.approx(results[0])  # the same ranks; sums may differ in the last bit
    hr, ndcg = _naive(model, table, histories, targets, 10)
    assert results[0]["hr@10"] == pytest.approx(hr) and results[0]["ndcg@10"] == pytest.approx(ndcg)
    assert 0 < results[0]["hr@10"] < 100


def test_item_table_rows_match_the_model_in_eval_mode():
    table = torch.randn(8, 3)
    model = Stub(table).train()
    item_table = compute_item_table(model, IdContent(7), batch_size=3)
    assert item_table.shape == (8, 3) and item_table.dtype == torch.float32
    assert torch.equal(item_table[0], torch.zeros(3))
    assert torch.equal(item_table[1:], table[1:])  # dropout off
    assert model.training and model.encoded_items == 7  # each item once, padding never


def test_item_table_with_dataloader_workers_equals_in_process():
    table = torch.randn(20, 4)
    single = compute_item_table(Stub(table), IdContent(19), batch_size=4)
    assert torch.equal(compute_item_table(Stub(table), IdContent(19), batch_size=4, num_workers=2), single)


def test_shards_cover_the_range_in_near_equal_parts():
    assert shards(10, 3) == [(0, 4), (4, 7), (7, 10)]
    assert shards(2, 4) == [(0, 1), (1, 2), (2, 2), (2, 2)]
    assert shards(5, 1) == [(0, 5)]
    with pytest.raises(ValueError):
        shards(5, 0)


def test_sharded_results_sum_to_the_full_result():
    model, table, histories, targets = _random_case(users=23)
    full = evaluate(model, table, histories, targets, ks=(5, 10))
    parts = [evaluate(model, table, histories, targets, ks=(5, 10), rank=r, world_size=3) for r in range(3)]
    assert [p["users"] for p in parts] == [8, 8, 7]
    for key in ("hr@5", "ndcg@5", "hr@10", "ndcg@10", "repeat_share"):
        assert sum(p[key] * p["users"] for p in parts) / 23 == pytest.approx(full[key])
    rows = [encode_item_rows(model, IdContent(50), lo + 1, hi + 1) for lo, hi in shards(50, 3)]
    assert torch.equal(torch.cat(rows), compute_item_table(model, IdContent(50))[1:])


def _worker(rank, world_size, init_file, out_dir):
    torch.set_num_threads(1)  # two processes on a small box: no thread oversubscription
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        model, table, histories, targets = _random_case(users=23)
        item_table = compute_item_table(model, IdContent(50), batch_size=8)
        result = evaluate(model, item_table, histories, targets, ks=(5, 10), user_batch=4)
        torch.save({"table": item_table, "result": result, "encoded": model.encoded_items}, f"{out_dir}/{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_process_gloo_group_matches_one_process(tmp_path):
    # fork, not spawn: the children skip re-importing torch (seconds each) and never touch CUDA
    mp.start_processes(_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, start_method="fork")
    model, table, histories, targets = _random_case(users=23)
    expected = evaluate(model, compute_item_table(model, IdContent(50)), histories, targets, ks=(5, 10))
    for rank in range(2):
        out = torch.load(tmp_path / f"{rank}.pt")
        assert torch.equal(out["table"], table)  # all-gathered whole table on every rank
        assert out["encoded"] == 25  # each rank encoded only its half of the items
        assert out["result"]["users"] == 23
        for key in ("hr@5", "hr@10", "ndcg@5", "ndcg@10", "repeat_share"):
            assert out["result"][key] == pytest.approx(expected[key])


class _Titles:
    """Text-like content: item i has a title of lengths[i] tokens (token = item_idx); batches trimmed to the longest."""

    kind = "text"

    def __init__(self, lengths: list[int]):
        self.lengths = torch.tensor([0, *lengths])
        self.num_items = len(lengths)
        self.widths: list[int] = []

    def __call__(self, idx):
        width = int(self.lengths[idx].max())
        self.widths.append(width)
        mask = (torch.arange(width)[None] < self.lengths[idx][:, None]).long()
        return {"input_ids": idx[:, None] * mask, "attention_mask": mask}


class _MeanOfTokens(nn.Module):
    def encode_items(self, inputs):  # (B, 2): the item_idx back and the real-token count, whatever the padding
        mask = inputs["attention_mask"].float()
        ids = (inputs["input_ids"].float() * mask).sum(1) / mask.sum(1)
        return torch.stack([ids, mask.sum(1)], dim=1)


def test_titles_are_encoded_shortest_first_and_returned_in_item_order():
    lengths = [30, 3, 4, 30, 3, 5, 30, 4, 3]
    content = _Titles(lengths)
    rows = encode_item_rows(_MeanOfTokens(), content, 1, 10, batch_size=3)
    assert rows[:, 0].tolist() == list(range(1, 10))  # item order, as if unsorted
    assert rows[:, 1].tolist() == lengths
    assert content.widths == [3, 5, 30]  # sorted batches [3, 3, 3], [4, 4, 5], [30, 30, 30]; in item order 30, 30, 30
