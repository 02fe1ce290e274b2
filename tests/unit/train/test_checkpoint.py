"""Trainable-only checkpoints load strictly; RNG capture restores every generator."""

import random

import numpy as np
import pytest
import torch
from torch import nn

from transrec.train import checkpoint


def _model() -> nn.Module:
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    model[0].requires_grad_(False)
    return model


def test_best_holds_only_trainable_tensors_and_round_trips(tmp_path):
    torch.manual_seed(0)
    source = _model()
    checkpoint.save_best(
        tmp_path / "best.pt",
        source,
        {"base": "x", "init_checkpoint": None, "method": {"kind": "fta"}, "run_name": {"dataset": "d"}},
    )
    saved = checkpoint.load(tmp_path / "best.pt")
    assert set(saved["trainable"]) == {"2.weight", "2.bias"}
    assert saved["base"] == "x" and saved["method"] == {"kind": "fta"}
    target = _model()
    meta = checkpoint.load_init_checkpoint(target, tmp_path / "best.pt")
    assert torch.equal(target[2].weight, source[2].weight) and not torch.equal(target[0].weight, source[0].weight)
    assert "trainable" not in meta


def test_unknown_name_or_wrong_shape_raises():
    model = _model()
    with pytest.raises(KeyError, match="3.weight"):
        checkpoint.load_trainable(model, {"3.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="shape"):
        checkpoint.load_trainable(model, {"2.weight": torch.zeros(5, 5)})


def test_rng_state_restores_python_numpy_and_torch(tmp_path):
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    checkpoint.save(tmp_path / "rng.pt", {"rng": checkpoint.rng_state()})
    first = (random.random(), np.random.rand(), torch.rand(1).item(), np.random.randn())
    checkpoint.set_rng_state(checkpoint.load(tmp_path / "rng.pt")["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item(), np.random.randn()) == first
