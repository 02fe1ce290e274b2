"""Multimodal items: one tower per modality, a fusion layer in its own group, content passed through unchanged."""

import pytest
import torch

from multimodal_assets import N_ITEMS, write_assets
from transrec.data.content import build_multimodal_content
from transrec.data.loader import TrainingSet
from transrec.features.cache import backbone_is_frozen, cache_first_tokens
from transrec.features.content import build_store_content
from transrec.features.store import build_feature_store
from transrec.methods.base import build_method, prepare_trainable
from transrec.models.multimodal import build_multimodal_item_encoder
from transrec.models.sasrec import SASRec
from transrec.models.transrec import TransRec

D = 8


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return write_assets(tmp_path_factory.mktemp("mm"))


def _model(assets, method, also_train):
    torch.manual_seed(0)
    encoder = build_multimodal_item_encoder({"text": str(assets["bert"]), "image": str(assets["vit"])}, D)
    model = TransRec(encoder, SASRec(D, 5, 1, 2, 0.0))
    return model, prepare_trainable(model, build_method({"kind": method}), also_train)


def test_fusion_is_its_own_group_and_fta_trains_every_group(assets):
    model, groups = _model(assets, "fta", [])
    assert sorted(groups) == ["dtl", "fusion", "item_encoder", "user_encoder"]
    assert [id(p) for p in groups["fusion"]] == [id(p) for p in model.item_encoder.fusion.parameters()]
    assert model.item_encoder.fusion.in_features == 2 * D
    frozen, groups = _model(assets, "frozen", ["dtl", "fusion", "user_encoder"])
    assert sorted(groups) == ["dtl", "fusion", "user_encoder"] and backbone_is_frozen(frozen.item_encoder)


def test_item_vector_is_the_fusion_of_image_and_text_towers(assets):
    model, _ = _model(assets, "fta", [])
    encoder = model.item_encoder.eval()
    content = build_multimodal_content(
        assets["tokens"], assets["lmdb"], assets["items"], encoder.image_mean, encoder.image_std, 32
    )
    inputs = content(torch.tensor([2, 9]))
    assert set(inputs) == {"input_ids", "attention_mask", "pixel_values"}
    image = encoder.towers["image"]({"pixel_values": inputs["pixel_values"]})
    text = encoder.towers["text"]({k: inputs[k] for k in ("input_ids", "attention_mask")})
    torch.testing.assert_close(encoder(inputs), encoder.fusion(torch.cat([image, text], -1)))


def test_frozen_multimodal_reads_the_store_and_batches_carry_both_modalities(assets, tmp_path):
    model, _ = _model(assets, "frozen", ["dtl", "fusion", "user_encoder"])
    encoder = model.item_encoder.eval()
    stores = {
        m: build_feature_store(
            m,
            str(assets["bert" if m == "text" else "vit"]),
            assets["items"],
            assets["tokens" if m == "text" else "lmdb"],
            tmp_path / m,
            tmp_path / f"w{m}",
        )
        for m in ("text", "image")
    }
    stored = build_store_content(stores, assets["items"])
    live = build_multimodal_content(
        assets["tokens"], assets["lmdb"], assets["items"], encoder.image_mean, encoder.image_std, 32
    )
    idx = torch.arange(1, N_ITEMS + 1)
    with torch.no_grad():
        torch.testing.assert_close(encoder(stored(idx)), encoder(live(idx)), atol=5e-3, rtol=5e-3)
        # without a store (a source-trained backbone): each tower's outputs are encoded once per run instead
        cached = cache_first_tokens(encoder, live, batch_size=5, device=torch.device("cpu"), dtype=None)
        assert set(cached(idx)) == {"text_first_token", "image_first_token"}
        torch.testing.assert_close(encoder(cached(idx)), encoder(live(idx)))
    import polars as pl

    split = pl.DataFrame(
        {"user_idx": [0, 1], "train": [[1, 2, 3], [4, 5, 6, 7]], "sequence": [[1, 2, 3, 8, 9], [4, 5, 6, 7, 10, 11]]}
    )
    batch = TrainingSet(split, live, N_ITEMS, 4, seed=0, inbatch=True).collate([0, 1])
    assert (
        batch.item_inputs["pixel_values"].shape[0] == batch.item_inputs["input_ids"].shape[0] == len(batch.unique_items)
    )


def _config(assets, **experiment):
    return {
        "datasets": {
            "hm": {"format": "hm", "modality": "multimodal"},
            "amazon": {"format": "amazon", "modality": "multimodal"},
        },
        "encoders": {
            "bert": {"kind": "text", "path": str(assets["bert"])},
            "vit": {"kind": "image", "path": str(assets["vit"])},
            "mm": {"kind": "multimodal", "text": "bert", "image": "vit"},
        },
        "methods": {
            "fta": {"kind": "fta", "also_train": ["item_encoder", "dtl", "user_encoder"]},
            "frozen": {"kind": "frozen", "also_train": ["dtl", "fusion", "user_encoder"]},
            "iisan_cached": {"kind": "iisan", "cached": True, "also_train": ["dtl", "fusion", "user_encoder"]},
        },
        "experiments": {
            "mm": {
                "source": "hm",
                "target": "amazon",
                "encoder": "mm",
                "objectives": ["inbatch"],
                "methods": ["fta"],
                "nopt_methods": ["iisan_cached", "frozen"],
                **experiment,
            }
        },
    }


def test_grid_gives_multimodal_runs_both_contents_and_the_stores_they_read(assets):
    from transrec.studies import grid
    from transrec.train.config import RunConfig

    config = grid.resolve_config(_config(assets))
    cached = grid.plan(config, grid.Run("adapt", "amazon", "mm", "inbatch", "iisan_cached", "nopt", 42)).run_json
    assert cached["data"]["content"] == {
        "kind": "multimodal",
        "path": None,
        "paths": {"image": "results/images/amazon/images.lmdb", "text": "results/tokens/amazon/bert.npz"},
        "stores": {"image": "results/features/amazon/vit", "text": "results/features/amazon/bert"},
    }
    assert cached["encoder"]["paths"] == {"image": str(assets["vit"]), "text": str(assets["bert"])}
    RunConfig.from_dict({**cached, "out_dir": "x"})
    frozen = grid.plan(config, grid.Run("adapt", "amazon", "mm", "inbatch", "frozen", "nopt", 42)).run_json
    assert set(frozen["data"]["content"]["stores"]) == {"image", "text"}  # the frozen baseline reads the same stores
    fta = grid.plan(config, grid.Run("adapt", "amazon", "mm", "inbatch", "fta", "hm", 42)).run_json
    assert fta["data"]["content"]["stores"] == {}  # runs that train a backbone read none
    with pytest.raises(ValueError, match=r"experiments\.mm\.methods: 'iisan_cached' is IISAN.*nopt_methods"):
        grid.resolve_config(_config(assets, methods=["iisan_cached"]))
    broken = _config(assets)
    broken["encoders"]["mm"]["image"] = "bert"
    with pytest.raises(ValueError, match=r"encoders\.mm\.image: 'bert' is not an encoder of kind image"):
        grid.resolve_config(broken)
