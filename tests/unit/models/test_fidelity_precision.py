"""One precision policy for training and evaluation: fp32 means no autocast on every device, bf16 means bf16."""

import contextlib

import pytest
import torch
from torch import nn

from transrec.eval.ranking import evaluate
from transrec.models.precision import autocast, autocast_dtype
from transrec.train import loop

CPU, CUDA = torch.device("cpu"), torch.device("cuda")  # a device object needs no GPU


@pytest.mark.parametrize(
    ("setting", "device", "want"),
    [
        ("auto", CUDA, torch.bfloat16),
        ("auto", CPU, None),
        ("fp32", CUDA, None),
        ("fp32", CPU, None),
        ("bf16", CUDA, torch.bfloat16),
        ("bf16", CPU, torch.bfloat16),
    ],
)
def test_autocast_dtype_per_setting_and_device(setting, device, want):
    assert autocast_dtype(setting, device) is want


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="fp16"):
        autocast_dtype("fp16", CPU)


@pytest.mark.parametrize("device", [CPU, CUDA])
def test_none_means_fp32_on_every_device(device):
    # the bug: evaluation read None as "bf16 on CUDA" while training read it as fp32
    assert isinstance(autocast(device, None), contextlib.nullcontext)
    assert isinstance(autocast(device, torch.float32), contextlib.nullcontext)


def test_bf16_autocasts_on_the_device():
    block = autocast(CPU, torch.bfloat16)
    assert isinstance(block, torch.autocast) and block.fast_dtype == torch.bfloat16


def test_trainer_and_evaluation_share_the_policy(monkeypatch):
    seen = []
    monkeypatch.setattr(
        "transrec.eval.ranking.autocast", lambda device, dtype: seen.append(dtype) or autocast(device, dtype)
    )
    monkeypatch.setattr(
        "transrec.train.loop.autocast", lambda device, dtype: seen.append(dtype) or autocast(device, dtype)
    )
    loop.autocast(CPU, None)  # the trainer's name for the policy (train/loop.py calls it in its step and eval)
    model = _RecordingUsers()
    table = torch.randn(4, 3)
    evaluate(model, table, torch.tensor([[1, 2]]), torch.tensor([3]), device=CPU, dtype=None)
    evaluate(model, table, torch.tensor([[1, 2]]), torch.tensor([3]), device=CPU, dtype=torch.bfloat16)
    assert seen == [None, None, torch.bfloat16]
    assert model.autocast == [False, True]  # fp32 users under None, bf16 autocast only when asked


class _RecordingUsers(nn.Module):
    """encode_users returns its input and records whether autocast was on."""

    def __init__(self) -> None:
        super().__init__()
        self.autocast: list[bool] = []

    def encode_users(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        self.autocast.append(torch.is_autocast_enabled("cpu"))
        return emb
