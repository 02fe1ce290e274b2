"""Compacter: PHM bottleneck adapters (n = 4, rank-1 slow weights, rule matrices shared across layers) + skip."""

from __future__ import annotations

from typing import Literal

from pydantic import PositiveInt
from torch import nn

from transrec.methods.base import AnyTowers, FieldError, MethodSpec, check_transformer_item_tower, register
from transrec.methods.towers import model_towers, rank_field, tower_facts, tower_rank, tower_width
from transrec.methods.wrappers import wrap_site
from transrec.models.blocks import PHMBlock, phm_rules


@register
class Compacter(MethodSpec):
    """PHM down (d->r), GELU, PHM up (r->d) + skip at the Houlsby positions (Karimi Mahabadi et al., 2021).

    The reference has no skip, so it replaces the sub-layer output (PROTOCOL.md §Methods): ours keeps it.
    One set of rule matrices per tower is shared by every layer of that tower (per backbone of a multimodal item).
    """

    kind: Literal["compacter"]
    r_item: PositiveInt = 64
    r_user: PositiveInt = 16
    n: PositiveInt = 4
    towers: AnyTowers = ("item", "user")

    def check(self, encoder: dict) -> None:
        """Field checks: r and the width of every covered tower (each backbone of a multimodal item) divisible by n."""
        check_transformer_item_tower(self.towers, encoder)
        for tower, facts in tower_facts(self.towers, encoder).items():
            r_name = rank_field(tower)
            r, width = getattr(self, r_name), facts.get("hidden_size")
            if r % self.n:
                raise FieldError(r_name, f"must be divisible by n={self.n}, got {r}")
            if width is not None and width % self.n:
                raise FieldError("n", f"the {tower} tower's width {width} is not divisible by n={self.n}")

    def apply(self, model: nn.Module) -> dict[str, list[nn.Parameter]]:
        """Wrap both Houlsby positions of each tower with PHM blocks sharing the tower's rules."""
        self.check({})
        added: list[nn.Parameter] = []
        for tower in model_towers(model, self.towers):
            d, r = tower_width(model, tower), tower_rank(tower, self.r_item, self.r_user)
            rules = phm_rules(self.n)
            added.append(rules)
            for site in model.sites((tower,), ("attention_output", "ffn_output")):
                block = PHMBlock(d, r, self.n, rules)
                wrap_site(model, site, block, parallel=False)
                added += [p for p in block.parameters() if p is not rules]
        return {"adapters": added}
