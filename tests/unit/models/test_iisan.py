"""IISAN: layer selection, side-network recurrences, gates, cached == uncached, no backbone when cached, counts."""

import pytest
import torch
from run_dicts import full_run
from torch import nn
from transformers import BertConfig, BertModel, ViTConfig, ViTModel

from multimodal_assets import IMAGE_DEPTH, IMAGE_WIDTH, N_ITEMS, TEXT_DEPTH, TEXT_WIDTH, write_assets
from transrec.data.content import build_multimodal_content
from transrec.features.content import build_store_content
from transrec.features.store import build_feature_store
from transrec.methods.base import build_method, prepare_trainable
from transrec.models import item_encoders
from transrec.models.iisan import (
    IISAN,
    IISANConfig,
    IISANItemEncoder,
    build_iisan_item_encoder,
    iisan_parameter_count,
    select_layers,
)
from transrec.models.sasrec import SASRec
from transrec.models.transrec import TransRec

D = 8


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return write_assets(tmp_path_factory.mktemp("iisan"))


def test_layer_selection_symmetric_is_the_config_and_asymmetric_is_grouped():
    assert select_layers((0, 2, 4, 6, 8, 10, 12), {"text": 12, "image": 12}) == {
        "text": [0, 2, 4, 6, 8, 10, 12],
        "image": [0, 2, 4, 6, 8, 10, 12],
    }
    # MiniLM (6 layers) keeps all 7 states, a 2-layer ViT only 3: both keep 3, evenly spaced
    assert select_layers((0, 2, 4, 6, 8, 10, 12), {"text": 6, "image": 2}) == {"text": [0, 3, 6], "image": [0, 1, 2]}
    assert select_layers(tuple(range(13)), {"text": 6}) == {"text": [0, 1, 2, 3, 4, 5, 6]}  # without LayerDrop
    assert select_layers((6, 12), {"text": 12, "image": 12}) == {"text": [6, 12], "image": [6, 12]}  # 2 blocks


@pytest.mark.parametrize(
    "widths, depths",
    [({"text": 24, "image": 24}, {"text": 12, "image": 12}), ({"text": 24, "image": 16}, {"text": 6, "image": 2})],
)
def test_side_network_shapes_symmetric_and_asymmetric(widths, depths):
    side = IISAN(widths, depths, D, IISANConfig(r=4))
    k = len(side.kept["text"])
    assert len(side.kept["image"]) == k == len(side.intra["text"].blocks) == len(side.inter.blocks)
    assert side.width == 24 and side.branches == ("image", "text", "inter")
    assert isinstance(side.align["text"], nn.Identity)
    assert isinstance(side.align["image"], nn.Identity if widths["image"] == 24 else nn.Linear)
    stacks = {m: torch.randn(5, k, w) for m, w in widths.items()}
    assert side(stacks).shape == (5, D)
    assert side.fusion.in_features == 3 * D


def test_gates_start_at_one_half_and_the_recurrences_follow_the_paper():
    torch.manual_seed(0)
    side = IISAN({"text": 6, "image": 6}, {"text": 12, "image": 12}, D, IISANConfig(layers=(0, 6, 12), r=3))
    gates = [g.logit for net in (side.intra["text"], side.intra["image"], side.inter) for g in net.gates]
    assert all(float(p) == 0.0 for p in gates) and len(gates) == 9  # p = 0: g = sigmoid(0) = 0.5
    with torch.no_grad():
        side.inter.gates[1].logit.fill_(0.1)  # g = sigmoid(0.1 / 0.1) = sigmoid(1)
    text, image = torch.randn(4, 3, 6), torch.randn(4, 3, 6)
    state = torch.zeros(4, 6)
    for k in range(3):  # state = g h_k + (1 - g) state; state = block(state)
        state = side.intra["text"].blocks[k](0.5 * text[:, k] + 0.5 * state)
    torch.testing.assert_close(side.intra["text"](text), state)
    mm = torch.zeros(4, 6)
    for k, g in enumerate([0.5, torch.sigmoid(torch.tensor(1.0)), 0.5]):  # mm = block(mm + g h_image + (1 - g) h_text)
        mm = side.inter.blocks[k](mm + g * image[:, k] + (1 - g) * text[:, k])
    torch.testing.assert_close(side.inter(image, text), mm)


def test_without_gates_the_released_plain_sum_and_the_half_mix_on_request():
    torch.manual_seed(0)
    config = IISANConfig(layers=(0, 6, 12), r=3, gates=False)
    side = IISAN({"text": 6, "image": 6}, {"text": 12, "image": 12}, D, config)
    assert not any("logit" in n for n, _ in side.named_parameters())
    text, image = torch.randn(4, 3, 6), torch.randn(4, 3, 6)
    state, mm = torch.zeros(4, 6), torch.zeros(4, 6)
    for k in range(3):  # released: state = block(h_k + state); mm = block(mm + h_image + h_text), inputs at full scale
        state = side.intra["text"].blocks[k](text[:, k] + state)
        mm = side.inter.blocks[k](mm + image[:, k] + text[:, k])
    torch.testing.assert_close(side.intra["text"](text), state)
    torch.testing.assert_close(side.inter(image, text), mm)
    half = IISAN({"text": 6}, {"text": 12}, D, IISANConfig(layers=(0, 6, 12), r=3, gates=False, ungated_mix="half"))
    state = torch.zeros(4, 6)
    for k in range(3):
        state = half.intra["text"].blocks[k](0.5 * text[:, k] + 0.5 * state)
    torch.testing.assert_close(half.intra["text"](text), state)
    with pytest.raises(ValueError, match="ungated_mix 'mean' unknown"):
        IISANConfig(gates=False, ungated_mix="mean")


def test_ablations_change_the_branches():
    widths, depths = {"text": 6, "image": 6}, {"text": 12, "image": 12}
    assert IISAN(widths, depths, D, IISANConfig(inter=False, r=2)).branches == ("image", "text")
    assert IISAN(widths, depths, D, IISANConfig(intra=False, r=2)).branches == ("inter",)
    assert IISAN({"text": 6}, {"text": 12}, D, IISANConfig(r=2)).branches == ("text",)  # text-only IISAN
    for block in ("phm", "low_rank"):  # PHM needs widths divisible by n = 4
        side = IISAN({"text": 8, "image": 8}, depths, D, IISANConfig(block=block, r=4))
        assert side({m: torch.randn(2, 7, 8) for m in widths}).shape == (2, D)
    with pytest.raises(ValueError, match="block"):
        IISANConfig(block="lora")
    with pytest.raises(ValueError, match="increasing"):
        IISANConfig(layers=(4, 2))


def _stores(assets, root):
    return {
        "text": build_feature_store(
            "text",
            str(assets["bert"]),
            assets["items"],
            assets["tokens"],
            root / "text",
            root / "work_text",
            batch_size=4,
        ),
        "image": build_feature_store(
            "image",
            str(assets["vit"]),
            assets["items"],
            assets["lmdb"],
            root / "image",
            root / "work_image",
            batch_size=4,
        ),
    }


def test_cached_and_uncached_iisan_give_the_same_item_vectors(assets, tmp_path, monkeypatch):
    config = IISANConfig(r=4)
    torch.manual_seed(1)
    uncached = build_iisan_item_encoder(D, config, paths={"text": str(assets["bert"]), "image": str(assets["vit"])})
    assert uncached.side.kept == {"text": [0, 1, 2], "image": [0, 2, 3]}  # 3 kept from 3 and 4 hidden states
    stores = _stores(assets, tmp_path)

    def no_backbone(*args, **kwargs):
        raise AssertionError("a cached IISAN run constructed a backbone")

    monkeypatch.setattr(item_encoders, "_load_backbone", no_backbone)
    monkeypatch.setattr(BertModel, "__init__", no_backbone)
    monkeypatch.setattr(ViTModel, "__init__", no_backbone)
    cached = build_iisan_item_encoder(
        D, config, shapes={"text": (TEXT_DEPTH, TEXT_WIDTH), "image": (IMAGE_DEPTH, IMAGE_WIDTH)}
    )
    assert len(cached.backbones) == 0
    cached.side.load_state_dict(uncached.side.state_dict())
    live = build_multimodal_content(
        assets["tokens"], assets["lmdb"], assets["items"], uncached.image_mean, uncached.image_std, 32
    )
    stored = build_store_content(stores, assets["items"], uncached.side.kept)
    idx = torch.tensor([3, 12, 1, 5])
    inputs = stored(idx)
    assert set(inputs) == {"text_states", "image_states"} and inputs["text_states"].dtype == torch.float16
    uncached.train()  # training mode: the backbones still run in eval mode, as the store was built
    assert not any(m.training for m in uncached.backbones.modules())
    with torch.no_grad():
        torch.testing.assert_close(cached(inputs), uncached(live(idx)), atol=5e-3, rtol=5e-3)
    text_only = build_iisan_item_encoder(D, config, shapes={"text": (TEXT_DEPTH, TEXT_WIDTH)})  # IISAN-text, cached
    text_inputs = build_store_content({"text": stores["text"]}, assets["items"], text_only.side.kept)(idx)
    assert text_only(text_inputs).shape == (4, D) and text_only.side.branches == ("text",)


def test_uncached_backbones_build_no_graph_and_only_side_heads_fusion_sasrec_train(assets):
    torch.manual_seed(0)
    encoder = build_iisan_item_encoder(D, IISANConfig(r=4), paths={"text": str(assets["bert"])})  # text-only IISAN
    model = TransRec(encoder, SASRec(D, 5, 1, 2, 0.0))
    groups = prepare_trainable(model, build_method({"kind": "iisan", "r": 4}), ["dtl", "fusion", "user_encoder"])
    assert sorted(groups) == ["adapters", "dtl", "fusion", "user_encoder"]
    assert not any(p.requires_grad for p in encoder.backbones.parameters())
    from transrec.data.content import TextContent

    out = model.encode_items(TextContent(assets["tokens"])(torch.arange(1, N_ITEMS + 1)))
    out.sum().backward()
    assert all(p.grad is None for p in encoder.backbones.parameters())
    assert all(p.grad is not None for p in groups["adapters"] + groups["fusion"] + groups["dtl"])


def test_parameter_counts_match_the_formulas_for_bert_base_and_vit_base():
    with torch.device("meta"):
        bert = BertModel(BertConfig(), add_pooling_layer=False)
        vit = ViTModel(ViTConfig(), add_pooling_layer=False)
        side = IISAN({"text": 768, "image": 768}, {"text": 12, "image": 12}, 64, IISANConfig())
        encoder = IISANItemEncoder(side, {"text": bert, "image": vit})
    h, f = 768, 3072
    layer = 4 * (h * h + h) + (h * f + f) + (f * h + h) + 2 * 2 * h  # Q, K, V, O; FFN; two LayerNorms
    bert_count = (30522 + 512 + 2) * h + 2 * h + 12 * layer  # word, position, type embeddings + LN
    vit_count = h + 197 * h + (3 * 16 * 16 * h + h) + 12 * layer + 2 * h  # CLS, positions, patch conv, final LN
    assert sum(p.numel() for p in bert.parameters()) == bert_count == 108_891_648
    assert sum(p.numel() for p in vit.parameters()) == vit_count == 85_798_656
    block = 2 * h * 64 + 64 + h  # adapter SANB, r = 64
    side_count = 3 * (7 * block + 7) + 3 * (h * h + h + h * 64 + 64) + (3 * 64 * 64 + 64)
    assert sum(p.numel() for p in side.parameters()) == side_count == 4_013_653
    assert iisan_parameter_count({"text": h, "image": h}, 7, 64, IISANConfig()) == side_count
    groups = encoder.parameter_groups()
    assert sum(p.numel() for p in groups["item_encoder"]) == bert_count + vit_count
    assert sum(p.numel() for p in groups["fusion"]) == 3 * 64 * 64 + 64


def _run(assets, root, stores, method, also_train, kind="multimodal"):
    """A run.json dict training on N_ITEMS items with the tiny multimodal assets."""
    import polars as pl

    from transrec.data.split import split_frame

    sequences = [[(3 * u + j) % N_ITEMS + 1 for j in range(7)] for u in range(8)]
    root.mkdir(parents=True, exist_ok=True)
    split_frame(pl.DataFrame({"user_idx": range(8), "sequence": sequences}), max_len=5).write_parquet(
        root / "split.parquet"
    )
    content = {
        "kind": kind,
        "path": None,
        "paths": {"text": str(assets["tokens"]), "image": str(assets["lmdb"])},
        "stores": {m: str(p) for m, p in stores.items()},
    }
    return full_run(
        {
            "stage": "adapt",
            "name": {
                "dataset": "tiny",
                "encoder": "mm",
                "objective": "inbatch",
                "method": method["kind"],
                "start": "nopt",
                "seed": 0,
            },
            "data": {"split": str(root / "split.parquet"), "items": str(assets["items"]), "content": content},
            "encoder": {"kind": kind, "paths": {"text": str(assets["bert"]), "image": str(assets["vit"])}},
            "model": {"d_model": D, "max_len": 5, "n_blocks": 1, "n_heads": 2, "dropout": 0.0},
            "objective": "inbatch",
            "method": method,
            "also_train": also_train,
            "optim": {
                "lr": {"adapters": 1e-3, "dtl": 1e-3, "fusion": 1e-3, "user_encoder": 1e-3, "item_encoder": 1e-4}
            },
            "train": {"epochs": 1, "batch_size": 4, "threads": 1, "device": "cpu", "max_steps_per_epoch": 2},
            "eval": {"ks": [10], "user_batch": 4, "item_batch": 5},
            "out_dir": str(root / "run"),
        }
    )


def test_trainer_runs_cached_iisan_from_the_store_alone_and_the_frozen_baseline_reads_it(assets, tmp_path, monkeypatch):
    from transrec.train.config import RunConfig
    from transrec.train.loop import train

    stores = _stores(assets, tmp_path)
    iisan = {"kind": "iisan", "r": 4}

    def no_backbone(*args, **kwargs):
        raise AssertionError("a store-backed run constructed a backbone")

    monkeypatch.setattr(item_encoders, "_load_backbone", no_backbone)
    monkeypatch.setattr(BertModel, "__init__", no_backbone)
    monkeypatch.setattr(ViTModel, "__init__", no_backbone)
    cached = train(
        RunConfig.from_dict(
            _run(assets, tmp_path / "c", stores, {**iisan, "cached": True}, ["dtl", "fusion", "user_encoder"])
        )
    )
    assert cached["cached_item_features"] is True
    assert cached["trainable_parameters"] == cached["total_parameters"]  # the model holds no backbone at all
    monkeypatch.undo()
    frozen = train(
        RunConfig.from_dict(_run(assets, tmp_path / "f", stores, {"kind": "frozen"}, ["dtl", "fusion", "user_encoder"]))
    )
    assert frozen["cached_item_features"] is True
