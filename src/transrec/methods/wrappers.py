"""Wrappers that put an adapter block at a site while keeping the wrapped (pretrained) module and its weights."""

from __future__ import annotations

from torch import Tensor, nn

from transrec.models.sites import Site


class SerialAdapter(nn.Module):
    """adapter(base(x)): the block sits after the sub-layer's output Linear, before the residual (Houlsby)."""

    def __init__(self, base: nn.Module, adapter: nn.Module):
        super().__init__()
        self.base = base
        self.adapter = adapter

    def forward(self, x: Tensor) -> Tensor:
        """x (..., d_in) -> (..., d)."""
        return self.adapter(self.base(x))


class ParallelAdapter(nn.Module):
    """base(x) + adapter.delta(sub-layer input): the block reads the input of the whole sub-layer (He et al., 2022).

    The sub-layer's input is only visible at its own module, so a forward pre-hook there keeps it for this call.
    """

    def __init__(self, base: nn.Module, adapter: nn.Module, sub_layer: nn.Module):
        super().__init__()
        self.base = base
        self.adapter = adapter
        self._input: Tensor | None = None
        sub_layer.register_forward_pre_hook(self._keep_input, with_kwargs=True)

    def _keep_input(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        """Pre-hook on the sub-layer: remember its hidden-state input."""
        self._input = args[0] if args else kwargs["hidden_states"]

    def forward(self, x: Tensor) -> Tensor:
        """x (..., d_in) -> base(x) + delta(sub-layer input) (..., d)."""
        if self._input is None:
            raise RuntimeError("parallel adapter ran without its sub-layer's input (was the sub-layer bypassed?)")
        source, self._input = self._input, None
        return self.base(x) + self.adapter.delta(source)


def wrap_site(model: nn.Module, site: Site, block: nn.Module, parallel: bool) -> None:
    """Wrap the output Linear at `site` (kind *_output) with `block`, serially or in parallel to its sub-layer."""
    if not parallel:
        site.replace(SerialAdapter(site.module, block))
        return
    sub_kind = site.kind.removesuffix("_output")
    [sub_layer] = [s for s in model.sites((site.tower,), (sub_kind,)) if s.layer == site.layer]
    site.replace(ParallelAdapter(site.module, block, sub_layer.module))
