"""Bottleneck adapters (Houlsby, Pfeiffer, FFN-only, "++", parallel): presets of one configurable method."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, PositiveInt, StrictBool
from torch import nn

from transrec.methods.base import AnyTowers, MethodSpec, check_transformer_item_tower, register
from transrec.methods.towers import model_towers, tower_rank, tower_width
from transrec.methods.wrappers import wrap_site
from transrec.models.blocks import ACTIVATIONS, BottleneckBlock

POSITIONS = ("attention", "ffn")


def _distinct(positions: tuple[str, ...]) -> tuple[str, ...]:
    if not positions or len(set(positions)) != len(positions):
        raise ValueError(f"must be a non-empty list of distinct positions, got {list(positions)}")
    return positions


Positions = Annotated[tuple[Literal[POSITIONS], ...], AfterValidator(_distinct)]


@register
class Bottleneck(MethodSpec):
    """down(d->r), activation, up(r->d) + skip after the chosen sub-layers' output, in every block of `towers`."""

    kind: Literal["bottleneck"]
    positions: Positions = ("attention", "ffn")  # Houlsby: both
    r_item: PositiveInt = 64  # PROTOCOL.md §Methods: 64 in BERT/ViT
    r_user: PositiveInt = 16  # and 16 in SASRec
    r_multiplier: PositiveInt = 1  # "++" adapters double r
    parallel: StrictBool = False  # adapter(sub-layer input) added to the sub-layer output instead of after it
    activation: Literal[tuple(ACTIVATIONS)] = "relu"
    # AdaT_all; ("item",) = AdaT_item, ("user",) = AdaT_user; a multimodal item: "item" = both towers, each at its
    # own width (item_text / item_image: one of them)
    towers: AnyTowers = ("item", "user")

    def check(self, encoder: dict) -> None:
        """Checks against encoder facts (no weights)."""
        check_transformer_item_tower(self.towers, encoder)

    def apply(self, model: nn.Module) -> dict[str, list[nn.Parameter]]:
        """Wrap each chosen sub-layer output of each tower (backbone); return the new blocks' parameters."""
        self.check({})
        added: list[nn.Parameter] = []
        for tower in model_towers(model, self.towers):
            d = tower_width(model, tower)  # each backbone of a multimodal item has its own width
            r = tower_rank(tower, self.r_item, self.r_user) * self.r_multiplier
            for site in model.sites((tower,), tuple(f"{p}_output" for p in self.positions)):
                block = BottleneckBlock(d, r, self.activation)
                wrap_site(model, site, block, self.parallel)
                added += list(block.parameters())
        return {"adapters": added}


@register
class Houlsby(Bottleneck):
    """After attention output and after FFN output (Houlsby et al., 2019)."""

    kind: Literal["houlsby"]


@register
class Pfeiffer(Bottleneck):
    """After attention output only: Pfeiffer as Adapter4Rec ran it."""

    kind: Literal["pfeiffer"]
    positions: Positions = ("attention",)


@register
class FFNAdapter(Bottleneck):
    """After FFN output only."""

    kind: Literal["ffn_adapter"]
    positions: Positions = ("ffn",)


@register
class HoulsbyPlus(Bottleneck):
    """Houlsby "++": both positions, r doubled."""

    kind: Literal["houlsby_plus"]
    r_multiplier: PositiveInt = 2


@register
class ParallelBottleneck(Bottleneck):
    """Houlsby positions, each adapter parallel to its sub-layer."""

    kind: Literal["parallel_adapter"]
    parallel: StrictBool = True
