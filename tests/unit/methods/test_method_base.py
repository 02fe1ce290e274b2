"""Method contract: registry and build_method errors, lists as combos, freeze, prepare_trainable."""

from dataclasses import dataclass
from typing import Literal

import pytest
import torch
from torch import nn
from transformers import BertConfig, BertModel

from transrec.methods.base import MethodSpec, build_method, freeze, prepare_trainable, register
from transrec.models.item_encoders import build_item_encoder
from transrec.models.sasrec import SASRec
from transrec.models.transrec import TransRec


@register
class TupleHolder(MethodSpec):
    kind: Literal["test_tuple_holder"]
    towers: tuple[str, ...] = ("item",)

    def apply(self, model):
        return {}


@dataclass(frozen=True)
class Returns:
    """A test method returning whatever `pick(model)` gives."""

    pick: object

    def apply(self, model):
        return self.pick(model)


@pytest.fixture
def model() -> TransRec:
    torch.manual_seed(0)
    return TransRec(build_item_encoder("id", None, 8, 9), SASRec(d_model=8, max_len=5))


@pytest.fixture(scope="module")
def tiny_bert_model(tmp_path_factory) -> TransRec:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("bert")
    BertModel(
        BertConfig(
            vocab_size=50,
            hidden_size=32,
            num_hidden_layers=3,
            num_attention_heads=2,
            intermediate_size=37,
            max_position_embeddings=16,
        )
    ).save_pretrained(path)
    return TransRec(build_item_encoder("text", str(path), 8, 9), SASRec(d_model=8, max_len=5))


def test_build_method_known_kinds_and_list_to_tuple():
    assert type(build_method({"kind": "frozen"})).__name__ == "Frozen"
    assert build_method({"kind": "ftn", "n": 2}).n == 2
    assert build_method({"kind": "test_tuple_holder", "towers": ["item", "user"]}).towers == ("item", "user")


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"kind": "houlsbyy"}, "houlsbyy"),
        ({"n": 2}, "kind"),
        ({"kind": "fta", "r": 4}, "'r': unknown key"),
        ({"kind": "ftn"}, "'n': missing key"),
        ({"kind": "houlsby", "r_item": 0}, "'r_item': Input should be greater than 0"),
        ({"kind": "lora", "towers": ["item", "item"]}, "'towers': .*distinct"),
        ({"kind": "combo", "methods": [{"kind": "houlsby", "r_user": "8"}]}, r"'methods\[0\].r_user'"),
    ],
)
def test_build_method_errors_name_the_culprit(spec, message):
    with pytest.raises(ValueError, match=message):
        build_method(spec)


def test_register_requires_a_method_spec_with_a_kind():
    with pytest.raises(TypeError):
        register(dataclass(type("NotASpec", (), {})))
    with pytest.raises(TypeError):
        register(type("NoKind", (MethodSpec,), {}))


def test_freeze(model):
    assert freeze(model) is model
    assert not any(p.requires_grad for p in model.parameters())


def test_a_list_is_a_combo():
    combo = build_method([{"kind": "houlsby"}, {"kind": "ln_tuning", "towers": ["item"]}])
    assert type(combo).__name__ == "Combo" and len(combo.methods) == 2
    bitfit = build_method({"kind": "bitfit"})
    assert build_method({"kind": "combo", "methods": [{"kind": "bitfit"}]}).methods == (bitfit,)


def test_prepare_trainable_method_grouping_wins_over_also_train(model):
    block = lambda m: {"adapters": list(m.user_encoder.blocks[0].parameters())}  # noqa: E731
    groups = prepare_trainable(model, Returns(block), ["user_encoder", "item_encoder"])
    assert set(groups) == {"adapters", "user_encoder", "item_encoder"}
    ids = [id(p) for params in groups.values() for p in params]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    assert all(p.requires_grad for p in model.parameters())


def test_prepare_trainable_freezes_first_and_drops_empty_groups(model):
    groups = prepare_trainable(model, build_method({"kind": "frozen"}), ["dtl"])  # ID model: empty DTL
    assert groups == {}
    assert not any(p.requires_grad for p in model.parameters())


def test_prepare_trainable_errors(model):
    with pytest.raises(ValueError, match="fusion"):
        prepare_trainable(model, build_method({"kind": "frozen"}), ["fusion"])
    with pytest.raises(ValueError, match="not in the model"):
        prepare_trainable(model, Returns(lambda m: {"adapters": [nn.Parameter(torch.zeros(1))]}), [])
    twice = lambda m: {"a": [m.item_encoder.backbone.weight], "b": [m.item_encoder.backbone.weight]}  # noqa: E731
    with pytest.raises(ValueError, match="twice"):
        prepare_trainable(model, Returns(twice), [])
