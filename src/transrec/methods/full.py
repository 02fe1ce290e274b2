"""Full fine-tuning (FTA: everything) and top-n fine-tuning (FTN: the top n item-encoder layers)."""

from __future__ import annotations

from typing import Literal

from pydantic import NonNegativeInt
from torch import nn

from transrec.methods.base import FieldError, MethodSpec, register, unfreeze


@register
class FTA(MethodSpec):
    """Fine-tune all: item encoder, DTL and user encoder, each in its own optimiser group."""

    kind: Literal["fta"]

    def apply(self, model: nn.Module) -> dict[str, list[nn.Parameter]]:
        """Unfreeze every group of the model and return them all."""
        return {name: unfreeze(params) for name, params in model.parameter_groups().items()}


@register
class FTN(MethodSpec):
    """Fine-tune the top `n` transformer blocks of the item encoder; DTL and SASRec come from `also_train`."""

    kind: Literal["ftn"]
    n: NonNegativeInt

    def check(self, encoder: dict) -> None:
        """n must be within the encoder's layers (no weights needed)."""
        layers = encoder.get("num_hidden_layers")
        if encoder.get("kind") == "id":
            raise FieldError("n", "an ID item encoder has no layers to fine-tune")
        if encoder.get("kind") == "multimodal":
            raise FieldError(
                "n",
                "a multimodal item has one layer stack per modality tower: top-n fine-tuning is "
                "not defined on it (use fta, or an adapter / lora / bitfit method)",
            )
        if layers is not None and self.n > layers:
            raise FieldError("n", f"must be <= the encoder's {layers} layers, got {self.n}")

    def apply(self, model: nn.Module) -> dict[str, list[nn.Parameter]]:
        """Unfreeze the top n blocks and return them as group item_encoder."""
        layers = model.item_encoder.layers()
        if not 0 <= self.n <= len(layers):
            raise ValueError(f"ftn n={self.n} but the item encoder has {len(layers)} layers")
        top = layers[len(layers) - self.n :]
        return {"item_encoder": unfreeze(p for layer in top for p in layer.parameters())}
