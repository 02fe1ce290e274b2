"""Shared residual blocks: shapes, closed-form sizes, init near identity, shared PHM rules, PHM = Kronecker sum."""

import pytest
import torch

from transrec.models.blocks import (
    BottleneckBlock,
    LowRankBlock,
    PHMBlock,
    PHMLinear,
    bottleneck_parameter_count,
    phm_parameter_count,
    phm_rules,
)


def _count(module):
    return sum(p.numel() for p in module.parameters())


def test_bottleneck_init_and_count():
    torch.manual_seed(0)
    block = BottleneckBlock(32, 8)
    assert _count(block) == bottleneck_parameter_count(32, 8) == 32 * 8 + 8 + 8 * 32 + 32
    assert torch.all(block.down.bias == 0) and torch.all(block.up.bias == 0)
    assert abs(block.down.weight.std().item() - 1e-2) < 3e-3
    x = torch.randn(5, 7, 32)
    out = block(x)
    assert out.shape == x.shape
    torch.testing.assert_close(out, x + block.up(torch.relu(block.down(x))))
    assert (out - x).abs().max() < 1e-2  # N(0, 1e-2) weights: the block starts near the identity


def test_bottleneck_rejects_bad_sizes_and_activation():
    with pytest.raises(ValueError, match="r >= 1"):
        BottleneckBlock(32, 0)
    with pytest.raises(ValueError, match="unknown activation"):
        BottleneckBlock(32, 4, activation="swish9")


def test_phm_linear_is_kronecker_sum():
    torch.manual_seed(0)
    layer = PHMLinear(8, 12, n=4)
    expected = sum(torch.kron(layer.rule[i], layer.left[i] @ layer.right[i]) for i in range(4))
    torch.testing.assert_close(layer.weight(), expected)
    x = torch.randn(3, 8)
    torch.testing.assert_close(layer(x), x @ expected + layer.bias)
    assert layer.left.numel() + layer.right.numel() + layer.bias.numel() == 4 * (2 + 3) + 12


def test_phm_block_shares_rules_and_counts():
    rules = phm_rules(4)
    blocks = torch.nn.ModuleList([PHMBlock(32, 8, 4, rules), PHMBlock(32, 8, 4, rules)])
    assert blocks[0].down.rule is blocks[1].up.rule is rules
    assert _count(blocks) == 2 * phm_parameter_count(32, 8, 4) + 4**3  # rules counted once
    x = torch.randn(2, 32)
    assert blocks[0](x).shape == x.shape
    with pytest.raises(ValueError, match="divisible"):
        PHMLinear(30, 8, n=4)


def test_low_rank_block():
    block = LowRankBlock(16, 2)
    assert _count(block) == 16 * 2 + 2 * 16 + 16
    x = torch.randn(4, 16)
    torch.testing.assert_close(block(x), x + block.up(block.down(x)))
