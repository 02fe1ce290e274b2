"""LoRA on the query and value projections of both towers, wrapping the existing pretrained weights (via peft)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, PositiveFloat, PositiveInt
from torch import nn

from transrec.methods.base import AnyTowers, MethodSpec, check_transformer_item_tower, register
from transrec.methods.towers import model_towers, tower_rank

SITES = ("query", "value", "attention_output", "ffn_output")


@register
class LoRA(MethodSpec):
    """W x + (alpha / r) B A x on each site; B = 0 at init, so the model starts exactly as the base (Hu et al., 2021).

    peft's injection does the wrapping: it keeps each pretrained Linear as `base_layer` (the reference instead built
    fresh random Q/V layers and dropped the pretrained ones: PROTOCOL.md §Methods). Targets are the site map's exact
    module names, passed as one full-match pattern: peft matches a list by suffix, which would also catch a K-Adapter
    side tower's own attention in a [kadapter, lora] combo.
    The released code (loralib, lora_alpha = 1) scales by 1/r: the papers' recipe entries set alpha_item/alpha_user
    to 1; alpha None means alpha = r (scale 1).
    """

    kind: Literal["lora"]
    r_item: PositiveInt = 12
    r_user: PositiveInt = 4
    alpha_item: PositiveInt | PositiveFloat | None = None  # None: alpha = r (scale 1); an int stays one in run.json
    alpha_user: PositiveInt | PositiveFloat | None = None
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0
    sites: Annotated[tuple[Literal[SITES], ...], Field(min_length=1)] = ("query", "value")
    towers: AnyTowers = ("item", "user")

    def check(self, encoder: dict) -> None:
        """Checks against encoder facts (no weights)."""
        check_transformer_item_tower(self.towers, encoder)

    def apply(self, model: nn.Module) -> dict[str, list[nn.Parameter]]:
        """Inject LoRA into each tower (each backbone of a multimodal item) at its exact site names; return A/B."""
        from peft import LoraConfig, inject_adapter_in_model

        self.check({})
        added: list[nn.Parameter] = []
        for tower in model_towers(model, self.towers):
            sites = model.sites((tower,), self.sites)
            root_name = sites[0].prefix  # the tower's own root: peft injects there, with names relative to it
            prefix = root_name + "."
            targets = [site.name.removeprefix(prefix) for site in sites]
            r = tower_rank(tower, self.r_item, self.r_user)
            alpha = tower_rank(tower, self.alpha_item, self.alpha_user)
            pattern = "|".join(re.escape(t) for t in targets)  # a str is full-matched against each module name
            config = LoraConfig(
                r=r,
                lora_alpha=r if alpha is None else alpha,
                lora_dropout=self.dropout,
                target_modules=pattern,
                bias="none",
            )
            root = model.get_submodule(root_name)
            inject_adapter_in_model(config, root)
            stray = sorted(n for n, m in root.named_modules() if hasattr(m, "lora_A") and n not in targets)
            if stray:
                raise ValueError(f"lora: peft wrapped modules outside the site map under {root_name}: {stray}")
            for target in targets:
                layer = root.get_submodule(target)  # now peft's LoRA Linear, the pretrained one as base_layer
                if not hasattr(layer, "lora_A"):
                    raise ValueError(f"lora: peft did not wrap {prefix}{target}")
                added += [*layer.lora_A.parameters(), *layer.lora_B.parameters()]
        return {"adapters": added}
