"""A combination of methods (e.g. Houlsby + LN tuning): each is applied in order and their groups are merged."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from transrec.methods.base import FieldError, build_method, merge_groups, register


@register("combo")
@dataclass(frozen=True)
class Combo:
    """`methods`: a list of method specs; a config may also give the plain list instead of {kind: combo, ...}."""

    methods: tuple[dict, ...]

    def check(self, encoder: dict) -> None:
        """Every member must build and pass its own checks; errors name the member's index."""
        if not self.methods:
            raise FieldError("methods", "must list at least one method")
        kinds = []
        for i, spec in enumerate(self.methods):
            try:
                method = build_method(spec)
                kinds.append(spec.get("kind"))
                if hasattr(method, "check"):
                    method.check(encoder)
            except FieldError as err:
                raise FieldError(f"methods[{i}].{err.field}", err.message) from None
            except ValueError as err:
                raise FieldError(f"methods[{i}]", str(err)) from None
        if any(k in ("fta", "combo") for k in kinds):
            raise FieldError("methods", "fta and nested combos cannot be combined")

    def apply(self, model: nn.Module) -> dict[str, list[nn.Parameter]]:
        """Apply each member in order (selections of existing tensors see through earlier wrappers)."""
        self.check({})
        return merge_groups(*(build_method(spec).apply(model) for spec in self.methods))
