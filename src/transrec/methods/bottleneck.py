"""Bottleneck adapters (Houlsby, Pfeiffer, FFN-only, "++", parallel): presets of one configurable method."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from transrec.methods.base import (
    ALL_TOWERS,
    FieldError,
    check_positive,
    check_towers,
    check_transformer_item_tower,
    register,
)
from transrec.methods.towers import model_towers, tower_rank, tower_width
from transrec.methods.wrappers import wrap_site
from transrec.models.blocks import ACTIVATIONS, BottleneckBlock

POSITIONS = ("attention", "ffn")


@register("bottleneck")
@dataclass(frozen=True)
class Bottleneck:
    """down(d->r), activation, up(r->d) + skip after the chosen sub-layers' output, in every block of `towers`."""

    positions: tuple[str, ...] = ("attention", "ffn")  # Houlsby: both
    r_item: int = 64  # PROTOCOL.md §Methods: 64 in BERT/ViT
    r_user: int = 16  # and 16 in SASRec
    r_multiplier: int = 1  # "++" adapters double r
    parallel: bool = False  # adapter(sub-layer input) added to the sub-layer output instead of after it
    activation: str = "relu"
    # AdaT_all; ("item",) = AdaT_item, ("user",) = AdaT_user; a multimodal item: "item" = both towers, each at its
    # own width (item_text / item_image: one of them)
    towers: tuple[str, ...] = ("item", "user")

    def check(self, encoder: dict) -> None:
        """Field checks against encoder facts (no weights)."""
        check_towers(self.towers, ALL_TOWERS)
        check_transformer_item_tower(self.towers, encoder)
        for name in ("r_item", "r_user", "r_multiplier"):
            check_positive(name, getattr(self, name))
        positions = self.positions
        if not positions or any(p not in POSITIONS for p in positions) or len(set(positions)) != len(positions):
            raise FieldError(
                "positions",
                f"must be a non-empty list of distinct positions from {list(POSITIONS)}, got {list(self.positions)}",
            )
        if not isinstance(self.parallel, bool):
            raise FieldError("parallel", f"must be true or false, got {self.parallel!r}")
        if self.activation not in ACTIVATIONS:
            raise FieldError("activation", f"unknown activation {self.activation!r}; known: {sorted(ACTIVATIONS)}")

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


@register("houlsby")
@dataclass(frozen=True)
class Houlsby(Bottleneck):
    """After attention output and after FFN output (Houlsby et al., 2019)."""


@register("pfeiffer")
@dataclass(frozen=True)
class Pfeiffer(Bottleneck):
    """After attention output only: Pfeiffer as Adapter4Rec ran it."""

    positions: tuple[str, ...] = ("attention",)


@register("ffn_adapter")
@dataclass(frozen=True)
class FFNAdapter(Bottleneck):
    """After FFN output only."""

    positions: tuple[str, ...] = ("ffn",)


@register("houlsby_plus")
@dataclass(frozen=True)
class HoulsbyPlus(Bottleneck):
    """Houlsby "++": both positions, r doubled."""

    r_multiplier: int = 2


@register("parallel_adapter")
@dataclass(frozen=True)
class ParallelBottleneck(Bottleneck):
    """Houlsby positions, each adapter parallel to its sub-layer."""

    parallel: bool = True
