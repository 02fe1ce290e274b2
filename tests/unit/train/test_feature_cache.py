"""Frozen backbones: features computed once equal the live encoder's, and the trainer uses them only when frozen."""

import numpy as np
import pytest
import torch
from run_dicts import full_run
from transformers import BertConfig, BertModel

from test_loop import N_ITEMS, tiny_run
from transrec.data.content import TextContent
from transrec.features.cache import backbone_is_frozen, cache_first_tokens
from transrec.methods.base import build_method, prepare_trainable
from transrec.models.item_encoders import build_item_encoder
from transrec.models.sasrec import SASRec
from transrec.models.transrec import TransRec
from transrec.train import checkpoint
from transrec.train.config import RunConfig
from transrec.train.loop import train


@pytest.fixture
def text_assets(tmp_path):
    """A tiny random BERT saved like a pretrained one, and a token cache of N_ITEMS titles."""
    torch.manual_seed(0)
    config = BertConfig(vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37)
    BertModel(config, add_pooling_layer=False).save_pretrained(tmp_path / "bert")
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 9, N_ITEMS + 1)
    ids = rng.integers(5, 60, (N_ITEMS + 1, 8)) * (np.arange(8)[None, :] < lengths[:, None])
    ids[:, 0] = 2  # a [CLS]-like first token
    ids[0] = 0  # row 0: padding item
    np.savez(tmp_path / "tokens.npz", input_ids=ids.astype(np.int32), attention_mask=(ids != 0).astype(np.uint8))
    return tmp_path / "bert", tmp_path / "tokens.npz"


def _model(bert, method):
    encoder = build_item_encoder("text", str(bert), 16, N_ITEMS)
    model = TransRec(encoder, SASRec(16, 10, 1, 2, 0.1))
    prepare_trainable(model, build_method({"kind": method}), ["dtl", "user_encoder"])
    return model


def test_cached_features_equal_the_live_backbone(text_assets):
    bert, tokens = text_assets
    model = _model(bert, "frozen")
    assert backbone_is_frozen(model.item_encoder)
    assert not backbone_is_frozen(_model(bert, "fta").item_encoder)
    content = TextContent(tokens)
    cached = cache_first_tokens(model.item_encoder, content, batch_size=7, device=torch.device("cpu"), dtype=None)
    assert cached.features.shape == (N_ITEMS + 1, 32) and not cached.features[0].any()
    model.eval()
    idx = torch.tensor([3, 1, 40, 17])
    live = model.encode_items(content(idx))
    torch.testing.assert_close(model.encode_items(cached(idx)), live)
    assert model.item_encoder.training is False  # restored to what it was


def _text_run(tmp_path, bert, tokens, method, **train):
    run = tiny_run(tmp_path / method)
    run.update(
        name={**run["name"], "encoder": "bert", "method": method},
        data={**run["data"], "content": {"kind": "text", "path": str(tokens)}},
        encoder={"kind": "text", "path": str(bert)},
        method={"kind": method},
        also_train=["dtl", "user_encoder"],
        train={"epochs": 2, "batch_size": 4, "threads": 1, "device": "cpu", "max_steps_per_epoch": 2, **train},
    )
    return full_run(run)


def test_trainer_caches_only_a_frozen_backbone_and_leaves_it_untouched(tmp_path, text_assets):
    bert, tokens = text_assets
    frozen = train(RunConfig.from_dict(_text_run(tmp_path, bert, tokens, "frozen")))
    assert frozen["cached_item_features"] is True
    best = checkpoint.load(tmp_path / "frozen" / "run" / "best.pt")
    assert not any(name.startswith("item_encoder.backbone.") for name in best["trainable"])
    live = train(RunConfig.from_dict(_text_run(tmp_path, bert, tokens, "fta")))
    assert live["cached_item_features"] is False
    off = train(RunConfig.from_dict(_text_run(tmp_path / "off", bert, tokens, "frozen", cache_frozen_features=False)))
    assert off["cached_item_features"] is False
