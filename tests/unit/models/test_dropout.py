"""FastDropout: nn.Dropout's distribution and scaling, deterministic under torch's seed, replaced everywhere."""

import torch
from torch import nn

from transrec.models.dropout import KEEP_LEVELS, FastDropout, keep_mask, use_fast_dropout
from transrec.models.sasrec import SASRec


def test_mask_keeps_one_minus_p_and_scales_the_survivors():
    torch.manual_seed(0)
    x = torch.full((1000, 1000), 2.0, requires_grad=True)
    out = FastDropout(0.1).train()(x)
    kept = out != 0
    assert abs(kept.float().mean().item() - 0.9) < 0.002  # 1e6 draws: 5 standard errors is 0.0015
    assert torch.allclose(out[kept], torch.tensor(2.0 / 0.9))
    out.sum().backward()  # the gradient is the same mask and scale
    assert torch.allclose(x.grad, kept.float() / 0.9)


def test_p_is_rounded_to_the_16_bit_grid():
    torch.manual_seed(1)
    share = 1 - keep_mask((4_000_000,), 0.1).float().mean().item()
    assert abs(share - round(0.1 * KEEP_LEVELS) / KEEP_LEVELS) < 0.0008


def test_same_torch_seed_same_mask_and_evaluation_is_identity():
    x = torch.randn(64, 10, 64)
    drop = FastDropout(0.3).train()
    torch.manual_seed(5)
    a = drop(x)
    torch.manual_seed(5)
    b = drop(x)
    assert torch.equal(a, b)
    assert not torch.equal(a, drop(x))  # the next mask is a fresh one
    assert torch.equal(drop.eval()(x), x)


def test_every_plain_dropout_is_replaced_and_nothing_else_changes():
    torch.manual_seed(0)
    model = SASRec(d_model=16, max_len=5, n_blocks=2, n_heads=2, dropout=0.2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    plain = sum(type(m) is nn.Dropout for m in model.modules())
    assert use_fast_dropout(model) == plain > 0
    assert not any(type(m) is nn.Dropout for m in model.modules())
    assert all(m.p == 0.2 for m in model.modules() if isinstance(m, FastDropout))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
