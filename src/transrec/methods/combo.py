"""A combination of methods (e.g. Houlsby + LN tuning): each is applied in order and their groups are merged."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, model_validator
from torch import nn

from transrec.methods.base import FieldError, MethodSpec, merge_groups, register

if TYPE_CHECKING:  # the registry's union, bound by base.method_union once every plug-in is registered
    from transrec.methods.base import MethodSpec as MethodUnion


@register
class Combo(MethodSpec):
    """`methods`: a list of method specs; a config may also give the plain list instead of {kind: combo, ...}."""

    kind: Literal["combo"]
    methods: Annotated[tuple[MethodUnion, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _flat(self) -> Combo:
        if any(method.kind in ("fta", "combo") for method in self.methods):
            raise ValueError("fta and nested combos cannot be combined")
        return self

    def check(self, encoder: dict) -> None:
        """Every member's own checks against encoder facts; errors name the member's index."""
        for i, method in enumerate(self.methods):
            try:
                if hasattr(method, "check"):
                    method.check(encoder)
            except FieldError as err:
                raise FieldError(f"methods[{i}].{err.field}", err.message) from None

    def apply(self, model: nn.Module) -> dict[str, list[nn.Parameter]]:
        """Apply each member in order (selections of existing tensors see through earlier wrappers)."""
        return merge_groups(*(method.apply(model) for method in self.methods))
