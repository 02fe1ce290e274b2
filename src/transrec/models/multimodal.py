"""Multimodal items: one item tower per modality (backbone + DTL) and a fusion Linear([image, text] -> d)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from transrec.models.item_encoders import ItemEncoder, build_item_encoder
from transrec.models.sites import ITEM_MODALITY_TOWERS, Site, tower_sites
from transrec.models.transrec import TransRec, check_groups

MODALITIES = ("image", "text")  # fusion input order, as IISAN's [image, text, mm]
TOWER_KEYS = {"text": ("input_ids", "attention_mask"), "image": ("pixel_values",)}


class MultimodalItemEncoder(nn.Module):
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

    def first_token(self, inputs: dict[str, Tensor]) -> dict[str, Tensor]:
        """Each tower's backbone output: {"<modality>_first_token": (U, h_m)} (what a frozen-feature store holds)."""
        return {f"{m}_first_token": self.towers[m].first_token(tower_inputs(m, inputs)) for m in MODALITIES}

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """item_encoder (both backbones), dtl (both DTLs) and fusion."""
        dtl = [p for m in MODALITIES for p in self.towers[m].dtl.parameters()]
        dtl_ids = {id(p) for p in dtl}
        backbones = [p for m in MODALITIES for p in self.towers[m].parameters() if id(p) not in dtl_ids]
        return {"item_encoder": backbones, "dtl": dtl, "fusion": list(self.fusion.parameters())}

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


class GroupedTransRec(TransRec):
    """TransRec whose item encoder names its own optimiser groups (multimodal: fusion; IISAN: side_networks, fusion)."""

    def sites(self, towers: tuple[str, ...], kinds: tuple[str, ...]) -> list[Site]:
        """Sites of `kinds`; "item" on a multimodal item = both backbones (text, then image), each site labelled with
        its own tower (item_text / item_image, also selectable alone) so a method sizes it by that backbone's width."""
        found: list[Site] = []
        for tower in towers:
            if tower != "item" and tower not in ITEM_MODALITY_TOWERS:
                found += super().sites((tower,), kinds)
            elif hasattr(self.item_encoder, "towers"):
                modalities = ("text", "image") if tower == "item" else (ITEM_MODALITY_TOWERS[tower],)
                for m in modalities:
                    encoder = self.item_encoder.towers[m]
                    found += tower_sites(
                        self, f"item_encoder.towers.{m}.backbone", encoder.model_type(), f"item_{m}", tuple(kinds)
                    )
            else:
                raise ValueError(f"a {self.item_encoder.kind} item encoder keeps its backbones frozen: no item sites")
        return found

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """The item encoder's groups plus user_encoder; every parameter in exactly one group."""
        groups = {**self.item_encoder.parameter_groups(), "user_encoder": list(self.user_encoder.parameters())}
        return check_groups(self, groups)
