"""Frozen item encoder: the method trains nothing itself; `also_train` (dtl, user_encoder) says what trains."""

from __future__ import annotations

from typing import Literal

from torch import nn

from transrec.methods.base import MethodSpec, register


@register
class Frozen(MethodSpec):
    """Keep every loaded weight as it is."""

    kind: Literal["frozen"]

    def apply(self, model: nn.Module) -> dict[str, list[nn.Parameter]]:
        """Nothing to insert or unfreeze."""
        return {}
