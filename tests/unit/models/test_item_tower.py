"""The item-tower contract, for every kind of item encoder: id, text, image, multimodal, IISAN cached and uncached."""

import pytest
import torch
from torch import nn

from multimodal_assets import IMAGE_DEPTH, IMAGE_WIDTH, TEXT_DEPTH, TEXT_WIDTH, write_assets
from transrec.features.cache import backbone_is_frozen
from transrec.models.iisan import IISANConfig, build_iisan_item_encoder
from transrec.models.item_encoders import ItemEncoder, build_item_encoder
from transrec.models.item_tower import ItemTower, check_groups
from transrec.models.multimodal import build_multimodal_item_encoder
from transrec.models.sasrec import SASRec
from transrec.models.transrec import TransRec

D = 8
KINDS = ("id", "text", "image", "multimodal", "iisan_uncached", "iisan_cached")
# per kind: pretrained backbones, first-token towers, item groups, query sites of tower "item" (or why none)
EXPECTED = {
    "id": ((), (), {"item_encoder", "dtl"}, "ID table"),
    "text": (("text",), ("text",), {"item_encoder", "dtl"}, TEXT_DEPTH),
    "image": (("image",), ("image",), {"item_encoder", "dtl"}, IMAGE_DEPTH),
    "multimodal": (("image", "text"), ("image", "text"), {"item_encoder", "dtl", "fusion"}, TEXT_DEPTH + IMAGE_DEPTH),
    "iisan_uncached": (
        ("image", "text"),
        (),
        {"item_encoder", "side_networks", "dtl", "fusion"},
        "keeps its backbones frozen",
    ),
    "iisan_cached": ((), (), {"item_encoder", "side_networks", "dtl", "fusion"}, "keeps its backbones frozen"),
}


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return write_assets(tmp_path_factory.mktemp("tower"))


def build(kind: str, assets) -> ItemTower:
    """A fresh item encoder of `kind` on the tiny assets."""
    torch.manual_seed(0)
    paths = {"text": str(assets["bert"]), "image": str(assets["vit"])}
    if kind in ("id", "text", "image"):
        return build_item_encoder(kind, paths.get(kind), D, 12)
    if kind == "multimodal":
        return build_multimodal_item_encoder(paths, D)
    if kind == "iisan_uncached":
        return build_iisan_item_encoder(D, IISANConfig(r=4), paths=paths)
    shapes = {"text": (TEXT_DEPTH, TEXT_WIDTH), "image": (IMAGE_DEPTH, IMAGE_WIDTH)}
    return build_iisan_item_encoder(D, IISANConfig(r=4), shapes=shapes)


@pytest.mark.parametrize("kind", KINDS)
def test_every_item_encoder_implements_the_item_tower(kind, assets):
    tower = build(kind, assets)
    backbones, towers, groups, _ = EXPECTED[kind]
    assert isinstance(tower, ItemTower) and tower.kind == kind.removesuffix("_uncached").removesuffix("_cached")
    assert sorted(tower.pretrained_backbones()) == sorted(backbones)
    assert all(isinstance(b, nn.Module) for b in tower.pretrained_backbones().values())
    assert list(tower.modality_towers()) == list(towers)
    assert all(isinstance(t, ItemEncoder) for t in tower.modality_towers().values())
    assert set(tower.parameter_groups()) == groups
    reads_pixels = "image" in backbones
    assert (tower.image_mean is not None, tower.image_std is not None) == (reads_pixels, reads_pixels)
    assert tower.image_size() == (32 if reads_pixels else 224)  # the tiny ViT's own size; 224 without one
    assert (tower.store_layers() is not None) == kind.startswith("iisan")


@pytest.mark.parametrize("kind", KINDS)
def test_parameter_groups_cover_every_parameter_exactly_once(kind, assets):
    tower = build(kind, assets)
    groups = tower.parameter_groups()
    check_groups(tower, groups)  # raises on a parameter in two groups or in none
    ids = [id(p) for params in groups.values() for p in params]
    assert len(ids) == len(set(ids)) == len({id(p) for p in tower.parameters()})
    model = TransRec(tower, SASRec(D, 5, 1, 2, 0.0))
    assert set(model.parameter_groups()) == set(groups) | {"user_encoder"}


@pytest.mark.parametrize("kind", KINDS)
def test_sites_of_the_item_tower_or_a_reason_there_are_none(kind, assets):
    model = TransRec(build(kind, assets), SASRec(D, 5, 1, 2, 0.0))
    expected = EXPECTED[kind][3]
    if isinstance(expected, str):
        with pytest.raises(ValueError, match=expected):
            model.sites(("item",), ("query",))
    else:
        sites = model.sites(("item",), ("query",))
        assert len(sites) == expected and all(s.kind == "query" for s in sites)
        assert all(s.module is model.get_submodule(s.name) for s in sites)
    assert len(model.sites(("user",), ("query",))) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_only_towers_with_a_first_token_can_be_frozen_features(kind, assets):
    tower = build(kind, assets).requires_grad_(False)
    assert backbone_is_frozen(tower) == bool(EXPECTED[kind][1])  # ID tables and IISAN never cache first tokens
    for modality, part in tower.modality_towers().items():
        assert tower.feature_key(modality) == ("first_token" if part is tower else f"{modality}_first_token")
