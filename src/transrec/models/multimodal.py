"""Multimodal items: one item tower per modality (backbone + DTL) and a fusion Linear([image, text] -> d)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from transrec.models.item_encoders import ItemEncoder, build_item_encoder
from transrec.models.item_tower import ItemTower
from transrec.models.sites import ITEM_MODALITY_TOWERS, Site, tower_sites

MODALITIES = ("image", "text")  # fusion input order, as IISAN's [image, text, mm]
TOWER_KEYS = {"text": ("input_ids", "attention_mask"), "image": ("pixel_values",)}


class MultimodalItemEncoder(ItemTower):
    """Image and text towers, each backbone -> first token -> DTL (U, d); item = fusion([image, text]) (U, d)."""

    kind = "multimodal"

    def __init__(self, towers: Mapping[str, ItemEncoder], d_model: int) -> None:
        super().__init__()
        if set(towers) != set(MODALITIES):
            raise ValueError(f"a multimodal item encoder needs towers {MODALITIES}, got {sorted(towers)}")
        self.towers = nn.ModuleDict({m: towers[m] for m in MODALITIES})
        self.fusion = nn.Linear(len(MODALITIES) * d_model, d_model)
        self.image_mean = towers["image"].image_mean
        self.image_std = towers["image"].image_std

    def forward(self, inputs: dict[str, Tensor]) -> Tensor:
        """inputs: both modalities' content (tokens and pixels), or cached "<modality>_first_token" (U, h_m)
        -> (U, d)."""
        vectors = [self.towers[m](tower_inputs(m, inputs)) for m in MODALITIES]  # (U, d) each
        return self.fusion(torch.cat(vectors, dim=-1))  # (U, d)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """item_encoder (both backbones), dtl (both DTLs) and fusion."""
        dtl = [p for m in MODALITIES for p in self.towers[m].dtl.parameters()]
        dtl_ids = {id(p) for p in dtl}
        backbones = [p for m in MODALITIES for p in self.towers[m].parameters() if id(p) not in dtl_ids]
        return {"item_encoder": backbones, "dtl": dtl, "fusion": list(self.fusion.parameters())}

    def pretrained_backbones(self) -> dict[str, nn.Module]:
        """Each tower's backbone, in fusion order."""
        return {m: tower.backbone for m, tower in self.modality_towers().items()}

    def modality_towers(self) -> dict[str, ItemEncoder]:
        """Its two towers, in fusion order (image, text)."""
        return {m: self.towers[m] for m in MODALITIES}

    def sites(self, root: nn.Module, prefix: str, tower: str, kinds: tuple[str, ...]) -> list[Site]:
        """Tower "item" = both backbones (text, then image), each site labelled with its own tower (item_text /
        item_image, also selectable alone) so a method sizes it by that backbone's width."""
        if tower != "item" and tower not in ITEM_MODALITY_TOWERS:
            raise ValueError(f"unknown tower {tower!r}; known: {sorted(['item', 'user', *ITEM_MODALITY_TOWERS])}")
        modalities = tuple(ITEM_MODALITY_TOWERS.values()) if tower == "item" else (ITEM_MODALITY_TOWERS[tower],)
        found: list[Site] = []
        for m in modalities:
            encoder = self.towers[m]
            found += tower_sites(root, f"{prefix}.towers.{m}.backbone", encoder.model_type(), f"item_{m}", tuple(kinds))
        return found

    def tower_inputs(self, modality: str, inputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """The part of a multimodal content dict that modality's tower reads."""
        return tower_inputs(modality, inputs)

    def feature_key(self, modality: str) -> str:
        """Each tower's precomputed first token has its own key."""
        return f"{modality}_first_token"

    def layers(self) -> nn.ModuleList:
        """Top-n fine-tuning has no single layer stack here: name a tower instead."""
        raise ValueError("a multimodal item encoder has one layer stack per tower (towers.text, towers.image)")


def tower_inputs(modality: str, inputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The part of a multimodal content dict that modality's tower reads."""
    cached = f"{modality}_first_token"
    if cached in inputs:
        return {"first_token": inputs[cached]}
    missing = [k for k in TOWER_KEYS[modality] if k not in inputs]
    if missing:
        raise ValueError(f"multimodal inputs lack {missing} for the {modality} tower (have {sorted(inputs)})")
    return {k: inputs[k] for k in TOWER_KEYS[modality]}


def build_multimodal_item_encoder(
    paths: Mapping[str, str], d_model: int, *, image_mask_ratio: float = 0.0
) -> MultimodalItemEncoder:
    """One tower per modality, loaded from `paths` {"text": ..., "image": ...}, and a fresh fusion layer."""
    towers = {m: build_item_encoder(m, paths[m], d_model, 0, image_mask_ratio=image_mask_ratio) for m in MODALITIES}
    return MultimodalItemEncoder(towers, d_model)
