"""LayerNorm tuning and BitFit: unfreeze existing tensors (every LayerNorm / every bias) of the chosen towers."""

from __future__ import annotations

from typing import Literal

from torch import nn

from transrec.methods.base import AnyTowers, MethodSpec, check_transformer_item_tower, register
from transrec.methods.towers import model_towers
from transrec.models.sites import base_module


@register
class LNTuning(MethodSpec):
    """Train every LayerNorm (weight and bias) of `towers`, from the site map (block LNs + embedding/final LN)."""

    kind: Literal["ln_tuning"]
    towers: AnyTowers = ("item", "user")

    def check(self, encoder: dict) -> None:
        """Checks against encoder facts (no weights)."""
        check_transformer_item_tower(self.towers, encoder)

    def apply(self, model: nn.Module) -> dict[str, list[nn.Parameter]]:
        """Return the LayerNorms' parameters as group adapters."""
        self.check({})
        norms = [base_module(site.module) for site in model.sites(model_towers(model, self.towers), ("layer_norm",))]
        return {"adapters": [p for norm in norms for p in norm.parameters()]}


@register
class BitFit(MethodSpec):
    """Train every bias of `towers` (Linear and LayerNorm biases, from the site map; Ben Zaken et al., 2022)."""

    kind: Literal["bitfit"]
    towers: AnyTowers = ("item", "user")

    def check(self, encoder: dict) -> None:
        """Checks against encoder facts (no weights)."""
        check_transformer_item_tower(self.towers, encoder)

    def apply(self, model: nn.Module) -> dict[str, list[nn.Parameter]]:
        """Return the biases as group adapters."""
        self.check({})
        sites = model.sites(model_towers(model, self.towers), ("bias",))
        modules = [base_module(site.module) for site in sites]
        missing = [site.name for site, m in zip(sites, modules) if m.bias is None]
        if missing:
            raise ValueError(f"bitfit: the site map lists biased modules without a bias: {missing[:3]}")
        return {"adapters": [m.bias for m in modules]}
