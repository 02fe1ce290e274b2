"""Item encoders: a pretrained text/image backbone (or an ID table) followed by the DTL, giving (U, d) item vectors."""

from __future__ import annotations

import inspect
import logging
import os
from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor, nn

from transrec.models.item_tower import IMAGE_MODEL_TYPES, ItemTower
from transrec.models.sites import Site, tower_sites

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LAYER_PATHS = ("encoder.layer", "encoder.layers", "layers", "layer")
FIXED_PARAMETERS = {"vit_mae": ("embeddings.position_embeddings",)}


class Encoded(NamedTuple):
    """The stages' result: final token states, their key mask, the kept hidden states and the item token's index."""

    hidden: Tensor  # (U, T, h) after the last block (and the final LayerNorm where the backbone has one)
    mask: Tensor | None  # (U, T) bool, True = real token; None = every token is real
    states: dict[int, Tensor]  # hidden state k (U, T, h): 0 = embedding output, k = output of block k
    first: int  # index of the item token ([CLS]; after prepended prompts it moves right)


class ItemEncoder(ItemTower):
    """Backbone -> first-token vector (U, h) -> DTL = Linear(h, d) + GELU -> (U, d): one modality's item tower.

    The backbone runs in explicit stages (embeddings -> blocks -> final norm -> first token) so methods can hook in:
    `prompt` (prepends tokens after the embeddings, extends the mask) and `side` (a side tower reading chosen hidden
    states, e.g. K-Adapter). Stages below the lowest trainable one run without an autograd graph.
    """

    kind = ""  # set by each subclass: text, image, id

    def __init__(self, backbone: nn.Module, hidden_size: int, dtl: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.hidden_size = hidden_size
        self.dtl = dtl
        self.prompt: nn.Module | None = None  # (hidden, mask) -> (hidden, mask, first); set by prompt tuning / VPT
        self.side: nn.Module | None = None  # (states, hidden, mask) -> hidden; has `.layers`; set by K-Adapter
        self.image_mean: tuple[float, ...] | None = None
        self.image_std: tuple[float, ...] | None = None

    def forward(self, inputs: dict[str, Tensor]) -> Tensor:
        """inputs: the content dict of U items, or their cached backbone outputs ("first_token") -> (U, d)."""
        features = inputs["first_token"] if "first_token" in inputs else self.first_token(inputs)  # (U, h)
        return self.dtl(features)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """item_encoder (all but the DTL: modules a method hangs on the tower, e.g. a side network, count too), dtl."""
        dtl = list(self.dtl.parameters())
        dtl_ids = {id(p) for p in dtl}
        return {"item_encoder": [p for p in self.parameters() if id(p) not in dtl_ids], "dtl": dtl}

    def pretrained_backbones(self) -> dict[str, nn.Module]:
        """Its one backbone, under its modality."""
        return {self.kind: self.backbone}

    def modality_towers(self) -> dict[str, ItemEncoder]:
        """Itself: one modality, one tower."""
        return {self.kind: self}

    def sites(self, root: nn.Module, prefix: str, tower: str, kinds: tuple[str, ...]) -> list[Site]:
        """The backbone's sites from its model type's site map; "item" is its only tower."""
        check_single_tower(tower)
        return tower_sites(root, f"{prefix}.backbone", self.model_type(), "item", tuple(kinds))

    def first_token(self, inputs: dict[str, Tensor]) -> Tensor:
        """inputs -> the item token's last-layer vector (U, h), after any prompt or side tower."""
        encoded = self.encode(inputs)
        return encoded.hidden[:, encoded.first]  # (U, h)

    def hidden_states(self, inputs: dict[str, Tensor], layers: tuple[int, ...]) -> Tensor:
        """inputs -> first-token vectors of hidden states `layers` (0 = embeddings, k = block k's output): (U, K, h).

        These are the blocks' raw outputs (before ViT's final LayerNorm), as HF's output_hidden_states gives them.
        """
        encoded = self.encode(inputs, keep=tuple(layers))
        return torch.stack([encoded.states[k][:, encoded.first] for k in layers], dim=1)  # (U, K, h)

    def encode(self, inputs: dict[str, Tensor], keep: tuple[int, ...] = ()) -> Encoded:
        """Run the stages: embeddings, prompt, blocks (keeping hidden states `keep`), final norm, side tower."""
        blocks = self.layers()
        keep = set(keep) | set(getattr(self.side, "layers", ()))
        bad = sorted(k for k in keep if not 0 <= k <= len(blocks))
        if bad:
            raise ValueError(f"hidden state(s) {bad} do not exist: the backbone has states 0..{len(blocks)}")
        grad = torch.is_grad_enabled()
        start = self.graph_start() if grad else 0
        with torch.set_grad_enabled(grad and start == 0):
            hidden, mask = self.embed(inputs)  # (U, T, h), (U, T) or None
        first = 0
        if self.prompt is not None:
            hidden, mask, first = self.prompt(hidden, mask)  # (U, n+T, h)
        attention = self.block_mask(hidden, mask)
        states = {0: hidden} if 0 in keep else {}
        for i, block in enumerate(blocks):
            with torch.set_grad_enabled(grad and i + 1 >= start):
                hidden = block(hidden, attention)  # (U, T, h)
            if i + 1 in keep:
                states[i + 1] = hidden
        hidden = self.final_norm(hidden)
        if self.side is not None:
            hidden = self.side(states, hidden, mask)  # (U, T, h)
        return Encoded(hidden, mask, states, first)

    def embed(self, inputs: dict[str, Tensor]) -> tuple[Tensor, Tensor | None]:
        """inputs -> token embeddings (U, T, h) and key mask (U, T) bool (None: all real)."""
        raise NotImplementedError

    def block_mask(self, hidden: Tensor, mask: Tensor | None) -> Tensor | None:
        """The blocks' attention mask in the backbone's own format (SDPA/eager) for key mask (U, T)."""
        from transformers.masking_utils import create_bidirectional_mask

        return create_bidirectional_mask(
            config=self.backbone.config, inputs_embeds=hidden, attention_mask=None if mask is None else mask.long()
        )

    def final_norm(self, hidden: Tensor) -> Tensor:
        """The backbone's final LayerNorm where it has one (ViT/MAE), else the identity."""
        norm = getattr(self.backbone, "layernorm", None)
        return norm(hidden) if norm is not None else hidden

    def graph_start(self) -> int:
        """First stage needing an autograd graph: 0 = embeddings, i+1 = block i, len(blocks)+1 = none of them."""
        if any(p.requires_grad for p in self.backbone.embeddings.parameters()):
            return 0
        if self.prompt is not None and any(p.requires_grad for p in self.prompt.parameters()):
            return 1  # gradients must flow back through every block to the prompt
        for i, block in enumerate(self.layers()):
            if any(p.requires_grad for p in block.parameters()):
                return i + 1
        return len(self.layers()) + 1

    def layers(self) -> nn.ModuleList:
        """The backbone's transformer blocks, bottom first (FTN and adapters index these)."""
        for name in LAYER_PATHS:  # BERT/RoBERTa: encoder.layer; ViT/MAE: layers (transformers >= 5.x)
            try:
                found = self.backbone.get_submodule(name)
            except AttributeError:
                continue
            if isinstance(found, nn.ModuleList):
                return found
        raise ValueError(f"no transformer blocks found in {type(self.backbone).__name__} (looked for {LAYER_PATHS})")

    def embeddings_module(self) -> nn.Module:
        """The backbone's input embedding module."""
        return self.backbone.embeddings

    def model_type(self) -> str:
        """The backbone's HF model_type (the site map's key)."""
        return self.backbone.config.model_type


class TextItemEncoder(ItemEncoder):
    """BERT/RoBERTa-style encoder; the item vector is the last hidden state at [CLS] / <s>."""

    kind = "text"

    def embed(self, inputs: dict[str, Tensor]) -> tuple[Tensor, Tensor | None]:
        """input_ids (U, T), attention_mask (U, T) -> embeddings (U, T, h), key mask (U, T) bool."""
        return self.backbone.embeddings(input_ids=inputs["input_ids"]), inputs["attention_mask"].bool()


class ImageItemEncoder(ItemEncoder):
    """ViT (post-final-LN [CLS]) or ViT-MAE encoder; the item vector is the last hidden state at [CLS]."""

    kind = "image"

    def embed(self, inputs: dict[str, Tensor]) -> tuple[Tensor, Tensor | None]:
        """pixel_values (U, 3, S, S) -> [CLS] + patch embeddings (U, 1+P, h); no mask."""
        embeddings = self.backbone.embeddings
        pixels = inputs["pixel_values"].to(embeddings.patch_embeddings.projection.weight.dtype)
        if self.model_type() != "vit_mae":
            return embeddings(pixels), None
        noise = None
        if self.backbone.config.mask_ratio == 0:
            # MAE shuffles patches by argsort(noise) even when nothing is masked; increasing noise keeps the
            # order, so evaluation is deterministic and no RNG is consumed
            n = embeddings.patch_embeddings.num_patches
            noise = torch.arange(n, device=pixels.device, dtype=torch.float32).expand(pixels.shape[0], n)
        return embeddings(pixels, noise=noise)[0], None


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

    def encode(self, inputs: dict[str, Tensor], keep: tuple[int, ...] = ()) -> Encoded:
        """An ID table has no stages: methods that need hidden states do not apply to it."""
        raise ValueError("an ID item encoder has no transformer stages or hidden states")

    def model_type(self) -> str:
        """Not an HF model: no site map."""
        return "id"

    def pretrained_backbones(self) -> dict[str, nn.Module]:
        """An ID table is trained from scratch: no pretrained backbone."""
        return {}

    def modality_towers(self) -> dict[str, ItemEncoder]:
        """No pretrained tower whose first token could be precomputed."""
        return {}

    def sites(self, root: nn.Module, prefix: str, tower: str, kinds: tuple[str, ...]) -> list[Site]:
        """An ID table has no transformer sites."""
        check_single_tower(tower)
        raise ValueError("the item tower is an ID table: it has no transformer sites")


def check_single_tower(tower: str) -> None:
    """A single-backbone item has one method tower, "item" (methods name the user tower "user")."""
    if tower != "item":
        raise ValueError(f"unknown tower {tower!r}; known: ['item', 'user']")


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
        # a silent fallback would normalise with statistics the backbone was never trained on (docs/fidelity.md)
        raise ValueError(
            f"image encoder {path}: its image processor (preprocessor_config.json) cannot be loaded ({err}); save "
            f"the one it was trained with beside the weights, e.g. ViTImageProcessor(image_mean={list(IMAGENET_MEAN)}, "
            f"image_std={list(IMAGENET_STD)}).save_pretrained(path) to state ImageNet statistics explicitly"
        ) from err
