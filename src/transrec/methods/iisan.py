"""IISAN as a method: the side networks train; backbones stay frozen (the trainer builds the IISAN item encoder)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from pydantic import model_validator
from torch import nn

from transrec.methods.base import FieldError, MethodSpec, register
from transrec.models.iisan import DEFAULT_LAYERS, IISANConfig

REQUIRED_ALSO_TRAIN = ("dtl", "fusion")


@register
class IISANMethod(MethodSpec):
    """IISAN (Fu et al., SIGIR 2024); `cached` runs read the hidden-state store instead of the backbones."""

    kind: Literal["iisan"]
    layers: tuple[int, ...] = DEFAULT_LAYERS
    block: str = "adapter"
    r: int = 64
    gates: bool = True
    ungated_mix: str = "sum"  # without gates: the released plain sum (or "half")
    intra: bool = True
    inter: bool = True
    phm_n: int = 4
    cached: bool = False

    @model_validator(mode="after")
    def _architecture(self) -> IISANMethod:
        self.config()  # a bad block kind, layer list or width raises here, before any job
        return self

    def check(self, encoder: dict) -> None:
        """IISAN needs transformer backbones: text, image or multimodal (an ID table has no hidden states)."""
        if encoder["kind"] not in ("text", "image", "multimodal"):
            raise FieldError("kind", f"IISAN needs a text, image or multimodal encoder, not {encoder['kind']!r}")

    def check_also_train(self, also_train: tuple[str, ...]) -> None:
        """IISAN's heads (dtl) and fusion start random: an entry that leaves them frozen trains under random heads."""
        missing = [group for group in REQUIRED_ALSO_TRAIN if group not in also_train]
        if missing:
            raise FieldError(
                "also_train",
                f"IISAN's per-branch heads and fusion layer are new and random: they must "
                f"train, add {missing} (got {list(also_train)})",
            )

    def config(self) -> IISANConfig:
        """The architecture part of the method (everything but `cached`)."""
        return IISANConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(IISANConfig)})

    def apply(self, model: nn.Module) -> dict[str, list[nn.Parameter]]:
        """The side networks (alignment, SANBs, gates) as group adapters; heads (dtl) and fusion come via also_train."""
        if getattr(model.item_encoder, "kind", "") != "iisan":
            raise ValueError("method iisan needs an IISAN item encoder (the trainer builds one for method kind iisan)")
        return {"adapters": model.item_encoder.side.side_parameters()}
