"""Frozen item encoder: the method trains nothing itself; `also_train` (dtl, user_encoder) says what trains."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from transrec.methods.base import register


@register("frozen")
@dataclass(frozen=True)
class Frozen:
    """Keep every loaded weight as it is."""

    def apply(self, model: nn.Module) -> dict[str, list[nn.Parameter]]:
        """Nothing to insert or unfreeze."""
        return {}
