"""TransRec: encoding shapes, parameter groups cover every parameter once, parameter counting."""

import pytest
import torch
from torch import nn

from transrec.models.item_encoders import build_item_encoder
from transrec.models.sasrec import SASRec, sasrec_parameter_count
from transrec.models.transrec import TransRec, count_parameters


@pytest.fixture
def model() -> TransRec:
    torch.manual_seed(0)
    return TransRec(build_item_encoder("id", None, 8, 9), SASRec(d_model=8, max_len=5))


def test_encode_items_and_users(model):
    items = model.encode_items({"item_idx": torch.tensor([3, 1, 9])})
    assert items.shape == (3, 8)
    users = model.encode_users(torch.randn(2, 5, 8), torch.ones(2, 5, dtype=torch.bool))
    assert users.shape == (2, 5, 8)


def test_parameter_groups_partition_the_model(model):
    groups = model.parameter_groups()
    assert set(groups) == {"item_encoder", "dtl", "user_encoder"}
    assert groups["dtl"] == []  # ID tables have no DTL
    ids = [id(p) for params in groups.values() for p in params]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    assert sum(p.numel() for p in groups["item_encoder"]) == 10 * 8
    assert sum(p.numel() for p in groups["user_encoder"]) == sasrec_parameter_count(8, 5, 2)


def test_stray_parameter_raises(model):
    model.extra = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="extra"):
        model.parameter_groups()


def test_module_added_to_item_tower_counts_as_item_encoder(model):
    model.item_encoder.side = nn.Linear(2, 2)  # e.g. a K-Adapter side network
    assert sum(p.numel() for p in model.parameter_groups()["item_encoder"]) == 80 + 6


def test_count_parameters_counts_shared_once(model):
    total = 80 + sasrec_parameter_count(8, 5, 2)
    assert count_parameters(model) == (total, total)
    model.user_encoder.requires_grad_(False)
    assert count_parameters(model) == (80, total)
    shared = nn.Sequential(nn.Linear(3, 3, bias=False))
    shared.append(shared[0])
    assert count_parameters(shared) == (9, 9)
