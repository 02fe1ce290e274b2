"""K-Adapter: a side tower over chosen hidden states, concatenated with the last layer and projected back to h."""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import Field, NonNegativeInt, PositiveInt
from torch import Tensor, nn

from transrec.methods.base import FieldError, MethodSpec, Towers, check_transformer_item_tower, register
from transrec.methods.towers import tower_width
from transrec.models.sasrec import SASRecBlock, _init_weights, attention_mask


class KAdapterLayer(nn.Module):
    """x + up(blocks(down(x))): down d->r, `depth` transformer blocks at width r, up r->d (Wang et al., 2021)."""

    def __init__(self, d: int, r: int, depth: int, heads: int, dropout: float):
        super().__init__()
        self.down = nn.Linear(d, r)
        self.blocks = nn.ModuleList(SASRecBlock(r, heads, dropout) for _ in range(depth))
        self.up = nn.Linear(r, d)
        self.apply(_init_weights)

    def forward(self, x: Tensor, attn_mask: Tensor | None) -> Tensor:
        """x (B, T, d), attn_mask broadcastable to (B, 1, T, T) bool (True = may attend) -> (B, T, d)."""
        hidden = self.down(x)  # (B, T, r)
        for block in self.blocks:
            hidden = block(hidden, attn_mask)
        return x + self.up(hidden)


class KAdapterTower(nn.Module):
    """Adapter k reads hidden state layers[k] plus adapter k-1's output; out = project([last, side]).

    The projection starts as [I | 0], so the tower is a no-op at init and the source model's item/user vectors are
    kept until training moves it (a random projection would scramble them while DTL and SASRec stay frozen).
    """

    def __init__(self, d: int, r: int, layers: tuple[int, ...], depth: int, heads: int, dropout: float, causal: bool):
        super().__init__()
        self.layers = tuple(layers)  # the item encoder / SASRec keep these hidden states for us
        self.causal = causal  # user tower: position t must never see t+1 (the reference leaks the target)
        self.adapters = nn.ModuleList(KAdapterLayer(d, r, depth, heads, dropout) for _ in layers)
        self.project = nn.Linear(2 * d, d)
        with torch.no_grad():
            self.project.weight.zero_()
            self.project.weight[:, :d].copy_(torch.eye(d))
            self.project.bias.zero_()

    def forward(self, states: dict[int, Tensor], hidden: Tensor, mask: Tensor | None) -> Tensor:
        """states {k: (B, T, d)}, hidden (B, T, d) last layer, mask (B, T) bool or None -> (B, T, d)."""
        if self.causal:
            attn = attention_mask(mask)  # (B, 1, T, T): causal + key padding, as SASRec itself
        else:
            attn = None if mask is None else mask[:, None, None, :]  # (B, 1, 1, T): key padding only
        side = None
        for k, adapter in zip(self.layers, self.adapters):
            side = adapter(states[k] if side is None else states[k] + side, attn)  # (B, T, d)
        return self.project(torch.cat([hidden, side], dim=-1))


# The item side tower hangs on the item encoder's stages; a multimodal item has one stage stack per modality and
# its frozen-feature cache only sees stage modules of the item encoder itself, so this is refused, not half-done.
Layers = Annotated[tuple[NonNegativeInt, ...], Field(min_length=1)]  # hidden-state indices
MULTIMODAL_UNSUPPORTED = (
    "kadapter adds one side tower to a single item backbone; on multimodal items use "
    "towers [user], or houlsby / lora / bitfit / ln_tuning / compacter for both towers"
)


@register
class KAdapter(MethodSpec):
    """Side towers on the item encoder and/or SASRec.

    Hidden-state layers default to (0, depth - 1): 0 and 11 in BERT-base, scaled down for smaller encoders.
    """

    kind: Literal["kadapter"]
    r_item: PositiveInt = 64
    r_user: PositiveInt = 16
    layers_item: Layers | None = None
    layers_user: Layers | None = None
    depth: PositiveInt = 2  # transformer blocks inside each adapter
    heads: PositiveInt = 2
    dropout: float = 0.1
    towers: Towers = ("item", "user")

    def check(self, encoder: dict) -> None:
        """Field checks against encoder facts (no weights)."""
        check_transformer_item_tower(self.towers, encoder, multimodal=MULTIMODAL_UNSUPPORTED)
        depths = {"item": encoder.get("num_hidden_layers"), "user": encoder.get("user", {}).get("n_blocks")}
        for tower in self.towers:
            r, layers, count = getattr(self, f"r_{tower}"), getattr(self, f"layers_{tower}"), depths[tower]
            if r % self.heads:
                raise FieldError(f"r_{tower}", f"must be divisible by heads={self.heads}, got {r}")
            if layers is not None and count is not None and any(not 0 <= k <= count for k in layers):
                raise FieldError(
                    f"layers_{tower}", f"hidden states are 0..{count} in the {tower} tower, got {list(layers)}"
                )

    def apply(self, model: nn.Module) -> dict[str, list[nn.Parameter]]:
        """Attach one side tower per chosen tower; return its parameters."""
        self.check({"kind": getattr(model.item_encoder, "kind", None)})  # refuses a multimodal item tower by name
        added: list[nn.Parameter] = []
        for tower in self.towers:
            model.sites((tower,), ("attention",))  # fails early for a tower without a site map (ID items)
            encoder = model.tower(tower)
            depth = len(encoder.layers()) if tower == "item" else len(encoder.blocks)
            layers = self.layers_item if tower == "item" else self.layers_user
            layers = tuple(layers) if layers is not None else (0, max(depth - 1, 0))
            if any(not 0 <= k <= depth for k in layers):
                raise ValueError(f"kadapter: layers {list(layers)} outside the {tower} tower's states 0..{depth}")
            r = self.r_item if tower == "item" else self.r_user
            side = KAdapterTower(
                tower_width(model, tower), r, layers, self.depth, self.heads, self.dropout, causal=tower == "user"
            )
            encoder.side = side
            added += list(side.parameters())
        return {"adapters": added}
