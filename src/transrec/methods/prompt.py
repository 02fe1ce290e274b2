"""Prompt tuning (text) and VPT (images): learned tokens inserted after the embeddings; content tokens stay intact."""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import PositiveInt
from torch import Tensor, nn

from transrec.methods.base import FieldError, MethodSpec, register


class TextPrompt(nn.Module):
    """n vectors prepended to the token embeddings; the mask grows by n; the item token ([CLS]) moves to index n."""

    def __init__(self, vectors: Tensor):
        super().__init__()
        self.vectors = nn.Parameter(vectors)  # (n, h)

    def forward(self, hidden: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor | None, int]:
        """hidden (U, T, h), mask (U, T) -> (U, n+T, h), (U, n+T), index of [CLS]."""
        u, n = hidden.shape[0], self.vectors.shape[0]
        prompt = self.vectors.to(hidden.dtype).expand(u, n, -1)  # (U, n, h)
        if mask is not None:
            mask = torch.cat([mask.new_ones(u, n), mask], dim=1)
        # PROTOCOL.md §Methods: prepend, never overwrite title tokens (the reference overwrites the first 30)
        return torch.cat([prompt, hidden], dim=1), mask, n


class VisualPrompt(nn.Module):
    """VPT-shallow: n tokens between [CLS] and the patches; [CLS] stays at index 0 (Jia et al., 2022)."""

    def __init__(self, vectors: Tensor):
        super().__init__()
        self.vectors = nn.Parameter(vectors)  # (n, h)

    def forward(self, hidden: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor | None, int]:
        """hidden (U, 1+P, h) -> (U, 1+n+P, h), no mask, index of [CLS]."""
        prompt = self.vectors.to(hidden.dtype).expand(hidden.shape[0], -1, -1)  # (U, n, h)
        return torch.cat([hidden[:, :1], prompt, hidden[:, 1:]], dim=1), mask, 0


def _check_kind(method: str, expected: str, encoder: dict) -> None:
    """Prompt tuning needs a text encoder, VPT an image encoder."""
    kind = encoder.get("kind")
    if kind is not None and kind != expected:
        raise FieldError("kind", f"{method} applies to {expected} item encoders, this one is {kind!r}")


@register
class PromptTuning(MethodSpec):
    """n learned vectors, initialised as the embeddings of n sampled vocabulary tokens (Lester et al., 2021)."""

    kind: Literal["prompt"]
    n: PositiveInt = 10

    def check(self, encoder: dict) -> None:
        """Checks against encoder facts (no weights)."""
        _check_kind("prompt", "text", encoder)

    def apply(self, model: nn.Module) -> dict[str, list[nn.Parameter]]:
        """Attach the prompt to the item encoder; return it."""
        self.check({"kind": model.item_encoder.kind})
        embeddings = model.item_encoder.backbone.embeddings
        vocab = embeddings.word_embeddings.num_embeddings
        with torch.no_grad():
            tokens = torch.randint(0, vocab, (1, self.n), device=embeddings.word_embeddings.weight.device)
            vectors = embeddings(input_ids=tokens)[0].float().clone()  # (n, h) at the scale the blocks expect
        model.item_encoder.prompt = TextPrompt(vectors)
        return {"adapters": [model.item_encoder.prompt.vectors]}


@register
class VPT(MethodSpec):
    """n learned tokens after the patch embeddings, uniform(-v, v), v = sqrt(6 / (patch fan-in + h)) as in VPT."""

    kind: Literal["vpt"]
    n: PositiveInt = 10

    def check(self, encoder: dict) -> None:
        """Checks against encoder facts (no weights)."""
        _check_kind("vpt", "image", encoder)

    def apply(self, model: nn.Module) -> dict[str, list[nn.Parameter]]:
        """Attach the visual prompt to the item encoder; return it."""
        self.check({"kind": model.item_encoder.kind})
        projection = model.item_encoder.backbone.embeddings.patch_embeddings.projection  # Conv2d(3, h, p, p)
        fan_in = projection.in_channels * math.prod(projection.kernel_size)
        h = model.item_encoder.hidden_size
        bound = math.sqrt(6.0 / (fan_in + h))
        model.item_encoder.prompt = VisualPrompt(torch.empty(self.n, h).uniform_(-bound, bound))
        return {"adapters": [model.item_encoder.prompt.vectors]}
