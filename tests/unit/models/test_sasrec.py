"""SASRec: shapes, causal and padding masks, a hand-written reference forward, init and parameter count."""

import math

import pytest
import torch
from torch import nn

from transrec.models.sasrec import SASRec, attention_mask, sasrec_parameter_count
from transrec.models.transrec import count_parameters

D, L, HEADS = 12, 7, 2


@pytest.fixture
def model() -> SASRec:
    torch.manual_seed(0)
    return SASRec(d_model=D, max_len=L, n_blocks=2, n_heads=HEADS, dropout=0.1).eval()


def left_padded_mask(lengths: list[int], seq_len: int = L) -> torch.Tensor:
    return torch.stack([torch.arange(seq_len) >= seq_len - n for n in lengths])  # (B, L)


def test_shape_and_no_nan_on_padding_rows(model):
    emb = torch.randn(3, L, D)
    mask = left_padded_mask([7, 3, 0])  # an all-padding row too
    for train in (False, True):
        model.train(train)
        out = model(emb, mask)
        assert out.shape == (3, L, D)
        assert torch.isfinite(out).all()


def test_no_position_sees_the_future(model):
    emb = torch.randn(2, L, D)
    mask = left_padded_mask([7, 5])
    base = model(emb, mask)
    for t in range(L - 1):
        changed = emb.clone()
        changed[:, t + 1] += torch.randn(2, D)
        out = model(changed, mask)
        torch.testing.assert_close(out[:, : t + 1], base[:, : t + 1], rtol=0, atol=1e-6)
        assert not torch.allclose(out[1, t + 1], base[1, t + 1])  # the perturbation itself is seen


def test_padding_does_not_change_real_outputs(model):
    emb = torch.randn(1, L, D)
    mask = left_padded_mask([4])
    base = model(emb, mask)
    noisy = emb.clone()
    noisy[:, :3] = 100 * torch.randn(1, 3, D)  # garbage in the padding slots
    torch.testing.assert_close(model(noisy, mask)[:, 3:], base[:, 3:], rtol=0, atol=1e-6)
    # the same 4 items without padding: positions are right-aligned, so the states are identical
    torch.testing.assert_close(model(emb[:, 3:], mask[:, 3:]), base[:, 3:], rtol=0, atol=1e-5)


def reference_forward(model: SASRec, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The reference's formulation: additive -1e9 mask, explicit softmax, post-LN (eval mode)."""
    b, seq_len, d = emb.shape
    h = model.input_norm(emb + model.position_embedding.weight[-seq_len:])
    allowed = torch.ones(seq_len, seq_len).tril().bool() & mask[:, None, :]  # (B, L, L)
    for block in model.blocks:
        att = block.attention
        split = lambda x: x.view(b, seq_len, HEADS, d // HEADS).transpose(1, 2)  # noqa: E731
        q, k, v = split(att.query(h)), split(att.key(h)), split(att.value(h))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // HEADS)
        scores = scores.masked_fill(~allowed[:, None], -1e9)
        ctx = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, seq_len, d)
        h = block.attention_norm(h + att.output(ctx))
        h = block.ffn_norm(h + block.ffn.output(torch.relu(block.ffn.intermediate(h))))
    return h


def test_matches_reference_formulation_at_real_positions(model):
    emb = torch.randn(2, L, D)
    mask = left_padded_mask([7, 4])
    out, ref = model(emb, mask), reference_forward(model, emb, mask)
    torch.testing.assert_close(out[mask], ref[mask], rtol=1e-5, atol=1e-5)


def test_dropout_only_in_training(model):
    emb, mask = torch.randn(2, L, D), left_padded_mask([7, 7])
    torch.testing.assert_close(model(emb, mask), model(emb, mask), rtol=0, atol=0)
    model.train()
    assert not torch.allclose(model(emb, mask), model(emb, mask))


def test_too_long_sequence_raises(model):
    with pytest.raises(ValueError, match="max_len"):
        model(torch.randn(1, L + 1, D), torch.ones(1, L + 1, dtype=torch.bool))


def test_xavier_init_and_bias_free_qkvo():
    torch.manual_seed(0)
    model = SASRec()  # the paper's d = 64
    for block in model.blocks:
        for layer in (block.attention.query, block.attention.key, block.attention.value, block.attention.output):
            assert layer.bias is None
            assert abs(layer.weight.std().item() - math.sqrt(2 / (64 + 64))) < 0.01
        assert torch.all(block.ffn.intermediate.bias == 0) and torch.all(block.ffn.output.bias == 0)
        w = block.ffn.intermediate.weight
        assert abs(w.std().item() - math.sqrt(2 / (64 + 256))) < 0.01
        assert torch.all(block.ffn_norm.weight == 1) and block.ffn_norm.eps == 1e-6
    assert isinstance(model.blocks[0].ffn.activation, nn.ReLU)


@pytest.mark.parametrize("d, max_len, blocks", [(64, 20, 2), (12, 7, 3)])
def test_parameter_count_equals_formula(d, max_len, blocks):
    model = SASRec(d_model=d, max_len=max_len, n_blocks=blocks, n_heads=2)
    assert count_parameters(model) == (sasrec_parameter_count(d, max_len, blocks),) * 2
    # d=64, L=20, 2 blocks: 20*64 + 2*64 + 2*(12*64^2 + 9*64)
    assert sasrec_parameter_count(64, 20, 2) == 1280 + 128 + 2 * (12 * 4096 + 576)


def test_block_states_are_the_per_block_outputs(model):
    emb, mask = torch.randn(2, L, D), left_padded_mask([7, 4])
    states = model.block_states(emb, mask)
    assert len(states) == 3 and all(s.shape == (2, L, D) for s in states)
    torch.testing.assert_close(states[-1], model(emb, mask), rtol=0, atol=0)
    torch.testing.assert_close(states[1], model.blocks[0](states[0], attention_mask(mask)), rtol=0, atol=0)
