"""Item encoders: a pretrained text/image backbone (or an ID table) followed by the DTL, giving (U, d) item vectors."""

from __future__ import annotations

import inspect
import logging
import os
from pathlib import Path

import torch
from torch import Tensor, nn

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGE_MODEL_TYPES = ("vit", "vit_mae")
LAYER_PATHS = ("encoder.layer", "encoder.layers", "layers", "layer")
FIXED_PARAMETERS = {"vit_mae": ("embeddings.position_embeddings",)}


class ItemEncoder(nn.Module):
    """Backbone -> first-token vector (U, h) -> DTL = Linear(h, d) + GELU -> (U, d)."""

    kind = ""

    def __init__(self, backbone: nn.Module, hidden_size: int, dtl: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.hidden_size = hidden_size
        self.dtl = dtl
        self.image_mean: tuple[float, ...] | None = None
        self.image_std: tuple[float, ...] | None = None

    def forward(self, inputs: dict[str, Tensor]) -> Tensor:
        """inputs: the content dict of U items, or their cached backbone outputs ("first_token") -> (U, d)."""
        features = inputs["first_token"] if "first_token" in inputs else self.first_token(inputs)  # (U, h)
        return self.dtl(features)

    def first_token(self, inputs: dict[str, Tensor]) -> Tensor:
        """inputs -> the backbone's last-layer first-token vector (U, h)."""
        raise NotImplementedError

    def layers(self) -> nn.ModuleList:
        """The backbone's transformer blocks, bottom first (FTN and adapters index these)."""
        for name in LAYER_PATHS:  # BERT/RoBERTa: encoder.layer; ViT/MAE: encoder.layer or layers (transformers >= 5.x)
            try:
                found = self.backbone.get_submodule(name)
            except AttributeError:
                continue
            if isinstance(found, nn.ModuleList):
                return found
        raise ValueError(f"no transformer blocks found in {type(self.backbone).__name__} (looked for {LAYER_PATHS})")

    def embeddings_module(self) -> nn.Module:
        """The backbone's input embedding module (prompt tuning / VPT hook here)."""
        return self.backbone.embeddings


class TextItemEncoder(ItemEncoder):
    """BERT/RoBERTa-style encoder; the item vector is last_hidden_state[:, 0] ([CLS] / <s>)."""

    kind = "text"

    def first_token(self, inputs: dict[str, Tensor]) -> Tensor:
        """input_ids (U, T), attention_mask (U, T) -> (U, h)."""
        out = self.backbone(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"].long())
        return out.last_hidden_state[:, 0]  # (U, h)


class ImageItemEncoder(ItemEncoder):
    """ViT (post-final-LN [CLS]) or ViT-MAE encoder; the item vector is last_hidden_state[:, 0]."""

    kind = "image"

    def first_token(self, inputs: dict[str, Tensor]) -> Tensor:
        """pixel_values (U, 3, S, S) -> (U, h)."""
        pixels = inputs["pixel_values"]
        if self.backbone.config.model_type != "vit_mae":
            return self.backbone(pixel_values=pixels).last_hidden_state[:, 0]  # (U, h)
        noise = None
        if self.backbone.config.mask_ratio == 0:
            # MAE shuffles patches by argsort(noise) even when nothing is masked; increasing noise keeps the
            # order, so evaluation is deterministic and no RNG is consumed
            n = self.backbone.embeddings.patch_embeddings.num_patches
            noise = torch.arange(n, device=pixels.device, dtype=torch.float32).expand(pixels.shape[0], n)
        return self.backbone(pixel_values=pixels, noise=noise).last_hidden_state[:, 0]  # (U, h)


class IdItemEncoder(ItemEncoder):
    """Classic SASRec ID embeddings (row 0 = padding); no DTL."""

    kind = "id"

    def __init__(self, num_items: int, d_model: int):
        super().__init__(nn.Embedding(num_items + 1, d_model, padding_idx=0), d_model, nn.Identity())
        nn.init.xavier_normal_(self.backbone.weight)
        with torch.no_grad():
            self.backbone.weight[0].zero_()

    def first_token(self, inputs: dict[str, Tensor]) -> Tensor:
        """item_idx (U,) -> (U, d)."""
        return self.backbone(inputs["item_idx"])

    def layers(self) -> nn.ModuleList:
        """An ID table has no transformer blocks."""
        return nn.ModuleList()

    def embeddings_module(self) -> nn.Module:
        """The ID table itself."""
        return self.backbone


def build_item_encoder(
    kind: str,
    path: str | None,
    d_model: int,
    num_items: int,
    *,
    image_mask_ratio: float = 0.0,
    attn_implementation: str = "sdpa",
) -> ItemEncoder:
    """Build the item encoder of `kind` (text, image, id) from a local directory or HF id."""
    if kind == "id":
        return IdItemEncoder(num_items, d_model)
    if kind not in ("text", "image"):
        raise ValueError(f"unknown item encoder kind {kind!r} (expected text, image or id)")
    if not path:
        raise ValueError(f"item encoder kind {kind!r} needs a model path")
    backbone = _load_backbone(kind, str(path), image_mask_ratio, attn_implementation)
    hidden = backbone.config.hidden_size
    dtl = nn.Sequential(nn.Linear(hidden, d_model), nn.GELU())
    if kind == "text":
        return TextItemEncoder(backbone, hidden, dtl)
    encoder = ImageItemEncoder(backbone, hidden, dtl)
    encoder.image_mean, encoder.image_std = _image_stats(str(path))
    return encoder


def _load_backbone(kind: str, path: str, image_mask_ratio: float, attn_implementation: str) -> nn.Module:
    """Load the HF model in fp32 without a pooler (its weights would count as parameters yet never train)."""
    from transformers import AutoConfig, ViTMAEModel, ViTModel
    from transformers.models.auto.modeling_auto import MODEL_MAPPING

    local = Path(path).is_dir() or os.environ.get("HF_HUB_OFFLINE") == "1"
    config = AutoConfig.from_pretrained(path, local_files_only=local)
    model_type = config.model_type
    if kind == "image" and model_type not in IMAGE_MODEL_TYPES:
        raise ValueError(f"image encoder must be one of {IMAGE_MODEL_TYPES}, got model_type {model_type!r}")
    if kind == "text" and model_type in IMAGE_MODEL_TYPES:
        raise ValueError(f"text encoder got an image model ({model_type!r})")
    if model_type == "vit_mae":
        config.mask_ratio = image_mask_ratio  # PROTOCOL.md §Model: the reference keeps 75 % masking on (a bug)
    cls = {"vit": ViTModel, "vit_mae": ViTMAEModel}.get(model_type) or MODEL_MAPPING[type(config)]
    kwargs = {"add_pooling_layer": False} if "add_pooling_layer" in inspect.signature(cls.__init__).parameters else {}
    # transformers' default already prefers model.safetensors; fp32 master weights, autocast does the rest
    backbone = cls.from_pretrained(
        path,
        config=config,
        local_files_only=local,
        dtype=torch.float32,
        attn_implementation=attn_implementation,
        **kwargs,
    )
    _fixed_parameters_to_buffers(backbone)
    return backbone


def _fixed_parameters_to_buffers(backbone: nn.Module) -> None:
    """Turn weights fixed by design (MAE's sin-cos positions) into buffers, so no method can train them.

    Older transformers kept them requires_grad=False after loading, transformers 5 does not; a buffer is explicit.
    """
    for name in FIXED_PARAMETERS.get(backbone.config.model_type, ()):
        owner_name, _, attr = name.rpartition(".")
        owner = backbone.get_submodule(owner_name)
        value = getattr(owner, attr).detach()
        delattr(owner, attr)
        owner.register_buffer(attr, value)


def _image_stats(path: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean/std of the encoder's own image processor (the reference's 0.5/0.5 is wrong for MAE)."""
    from transformers import AutoImageProcessor

    local = Path(path).is_dir() or os.environ.get("HF_HUB_OFFLINE") == "1"
    try:
        processor = AutoImageProcessor.from_pretrained(path, local_files_only=local)
        return tuple(float(x) for x in processor.image_mean), tuple(float(x) for x in processor.image_std)
    except (OSError, ValueError, AttributeError, TypeError) as err:
        log.warning("no image processor at %s (%s): using ImageNet mean/std", path, err)
        return IMAGENET_MEAN, IMAGENET_STD
