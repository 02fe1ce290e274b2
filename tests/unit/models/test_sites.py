"""The site map: exact module names per model type, one site per block and kind, loud failures."""

import pytest
import torch
from torch import nn
from transformers import (
    BertConfig,
    BertModel,
    RobertaConfig,
    RobertaModel,
    ViTConfig,
    ViTMAEConfig,
    ViTMAEModel,
    ViTModel,
)

from transrec.models.item_encoders import IdItemEncoder, ImageItemEncoder, TextItemEncoder
from transrec.models.sasrec import SASRec
from transrec.models.sites import SITE_KINDS, site_map, tower_sites
from transrec.models.transrec import TransRec

SMALL = dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=20)
VIT = dict(SMALL, image_size=16, patch_size=8)


def model_of(backbone: nn.Module, kind: str = "text") -> TransRec:
    cls = TextItemEncoder if kind == "text" else ImageItemEncoder
    return TransRec(cls(backbone, 16, nn.Linear(16, 8)), SASRec(d_model=8, max_len=4))


@pytest.fixture(scope="module")
def models() -> dict[str, TransRec]:
    torch.manual_seed(0)
    return {
        "bert": model_of(BertModel(BertConfig(vocab_size=30, **SMALL), add_pooling_layer=False)),
        "roberta": model_of(RobertaModel(RobertaConfig(vocab_size=30, **SMALL), add_pooling_layer=False)),
        "vit": model_of(ViTModel(ViTConfig(**VIT), add_pooling_layer=False), "image"),
        "vit_mae": model_of(ViTMAEModel(ViTMAEConfig(**VIT)), "image"),
    }


EXPECTED = {  # block-1 names per kind, written out by hand from the pinned transformers
    "bert": {
        "query": "encoder.layer.1.attention.self.query",
        "value": "encoder.layer.1.attention.self.value",
        "attention_output": "encoder.layer.1.attention.output.dense",
        "ffn_output": "encoder.layer.1.output.dense",
        "attention": "encoder.layer.1.attention",
        "ffn": "encoder.layer.1.intermediate",
    },
    "vit": {
        "query": "layers.1.attention.q_proj",
        "value": "layers.1.attention.v_proj",
        "attention_output": "layers.1.attention.o_proj",
        "ffn_output": "layers.1.mlp.fc2",
        "attention": "layers.1.attention",
        "ffn": "layers.1.mlp",
    },
}
EXPECTED["roberta"], EXPECTED["vit_mae"] = EXPECTED["bert"], EXPECTED["vit"]


@pytest.mark.parametrize("model_type", ["bert", "roberta", "vit", "vit_mae"])
def test_item_sites_are_exact(models, model_type):
    model = models[model_type]
    for kind, name in EXPECTED[model_type].items():
        sites = model.sites(("item",), (kind,))
        assert [s.layer for s in sites] == [0, 1]
        assert sites[1].name == f"item_encoder.backbone.{name}" and sites[1].tower == "item" and sites[1].kind == kind
        assert sites[1].module is model.get_submodule(sites[1].name)
    linear = {"query", "value", "attention_output", "ffn_output"}
    assert all(isinstance(s.module, nn.Linear) for s in model.sites(("item",), tuple(linear)))
    norms = model.sites(("item",), ("layer_norm",))
    all_norms = [m for m in model.item_encoder.backbone.modules() if isinstance(m, nn.LayerNorm)]
    assert {id(s.module) for s in norms} == {id(m) for m in all_norms}  # every LayerNorm, nothing else
    biased = model.sites(("item",), ("bias",))
    all_biases = {id(p) for n, p in model.item_encoder.backbone.named_parameters() if n.endswith(".bias")}
    assert {id(s.module.bias) for s in biased} == all_biases


def test_user_sites(models):
    model = models["bert"]
    names = [s.name for s in model.sites(("user",), ("query", "attention_output", "ffn_output"))]
    assert names == [
        "user_encoder.blocks.0.attention.query",
        "user_encoder.blocks.1.attention.query",
        "user_encoder.blocks.0.attention.output",
        "user_encoder.blocks.1.attention.output",
        "user_encoder.blocks.0.ffn.output",
        "user_encoder.blocks.1.ffn.output",
    ]
    norms = model.sites(("user",), ("layer_norm",))
    assert [s.name for s in norms][-1] == "user_encoder.input_norm" and norms[-1].layer == -1
    assert len(model.sites(("item", "user"), ("query",))) == 4


def test_unknown_or_missing_sites_fail_loudly(models):
    with pytest.raises(ValueError, match="'deberta'"):
        site_map("deberta")
    with pytest.raises(ValueError, match="unknown site kind"):
        models["bert"].sites(("item",), ("keys",))
    with pytest.raises(ValueError, match="unknown tower"):
        models["bert"].sites(("items",), ("query",))
    with pytest.raises(ValueError, match="ID table"):
        TransRec(IdItemEncoder(5, 8), SASRec(d_model=8, max_len=4)).sites(("item",), ("query",))
    bert = BertModel(BertConfig(vocab_size=30, **SMALL), add_pooling_layer=False)
    del bert.encoder.layer[1].attention.self.value  # as if a transformers upgrade renamed it
    with pytest.raises(ValueError, match="encoder.layer.1.attention.self.value"):
        tower_sites(nn.ModuleDict({"b": bert}), "b", "bert", "item", ("value",))


def test_site_replace(models):
    model = TransRec(models["bert"].item_encoder, SASRec(d_model=8, max_len=4))
    site = model.sites(("user",), ("value",))[0]
    old = site.module
    assert site.replace(nn.Identity()) is old and isinstance(site.module, nn.Identity)
    assert set(SITE_KINDS) >= {
        "query",
        "value",
        "attention_output",
        "ffn_output",
        "attention",
        "ffn",
        "layer_norm",
        "bias",
    }
