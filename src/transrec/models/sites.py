"""The site map: per model type, the exact modules methods attach to (query, value, sub-layer outputs, LNs, biases)."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

# Site kinds a method may ask for. Sub-layer kinds ("attention", "ffn") name the module whose first input is the
# sub-layer input (parallel adapters read it); "*_output" kinds name the Linear whose output is the sub-layer output
# before the residual (serial adapters wrap it).
SITE_KINDS = ("query", "value", "attention_output", "ffn_output", "attention", "ffn", "layer_norm", "bias")
# A multimodal item has one backbone per modality; each is a tower of its own for methods (item = both of them)
ITEM_MODALITY_TOWERS = {"item_text": "text", "item_image": "image"}

_BERT = {
    "blocks": "encoder.layer",
    "query": ("attention.self.query",),
    "value": ("attention.self.value",),
    "attention_output": ("attention.output.dense",),  # post-LN: the residual is added inside BertSelfOutput
    "ffn_output": ("output.dense",),
    "attention": ("attention",),
    "ffn": ("intermediate",),
    "layer_norm": ("attention.output.LayerNorm", "output.LayerNorm"),
    "bias": (
        "attention.self.query",
        "attention.self.key",
        "attention.self.value",
        "attention.output.dense",
        "intermediate.dense",
        "output.dense",
        "attention.output.LayerNorm",
        "output.LayerNorm",
    ),
    "tower": {"layer_norm": ("embeddings.LayerNorm",), "bias": ("embeddings.LayerNorm",)},
}
_VIT = {
    "blocks": "layers",
    "query": ("attention.q_proj",),
    "value": ("attention.v_proj",),
    "attention_output": ("attention.o_proj",),  # pre-LN: the residual is added in the layer, after this
    "ffn_output": ("mlp.fc2",),
    "attention": ("attention",),  # its input is layernorm_before(x)
    "ffn": ("mlp",),  # its input is layernorm_after(x)
    "layer_norm": ("layernorm_before", "layernorm_after"),
    "bias": (
        "attention.q_proj",
        "attention.k_proj",
        "attention.v_proj",
        "attention.o_proj",
        "mlp.fc1",
        "mlp.fc2",
        "layernorm_before",
        "layernorm_after",
    ),
    "tower": {"layer_norm": ("layernorm",), "bias": ("embeddings.patch_embeddings.projection", "layernorm")},
}
_SASREC = {
    "blocks": "blocks",
    "query": ("attention.query",),
    "value": ("attention.value",),
    "attention_output": ("attention.output",),
    "ffn_output": ("ffn.output",),
    "attention": ("attention",),
    "ffn": ("ffn",),
    "layer_norm": ("attention_norm", "ffn_norm"),
    "bias": ("ffn.intermediate", "ffn.output", "attention_norm", "ffn_norm"),  # Q/K/V/O are bias-free
    "tower": {"layer_norm": ("input_norm",), "bias": ("input_norm",)},
}
SITE_MAPS = {"bert": _BERT, "roberta": _BERT, "vit": _VIT, "vit_mae": _VIT, "sasrec": _SASREC}


def site_map(model_type: str) -> dict:
    """The map of `model_type`; an unknown type raises naming it and the known ones."""
    if model_type not in SITE_MAPS:
        raise ValueError(f"no site map for model type {model_type!r}; known: {sorted(SITE_MAPS)}")
    return SITE_MAPS[model_type]


@dataclass(frozen=True)
class Site:
    """One module a method attaches to: its tower, block (-1 = outside the blocks), kind and dotted name from `root`.

    `prefix` is the dotted name of the tower's own root (e.g. item_encoder.towers.text.backbone): LoRA injects there.
    """

    tower: str
    layer: int
    kind: str
    name: str
    root: nn.Module = field(repr=False, compare=False)
    prefix: str = ""

    @property
    def module(self) -> nn.Module:
        """The module now at this site."""
        return self.root.get_submodule(self.name)

    def replace(self, new: nn.Module) -> nn.Module:
        """Put `new` at this site and return the module it replaced."""
        parent_name, _, child = self.name.rpartition(".")
        parent = self.root.get_submodule(parent_name) if parent_name else self.root
        old = parent._modules[child]
        setattr(parent, child, new)
        return old


def tower_sites(root: nn.Module, prefix: str, model_type: str, tower: str, kinds: tuple[str, ...]) -> list[Site]:
    """Sites of `kinds` in the tower at `prefix` of `root` (a model of `model_type`), bottom block first.

    A missing module raises naming it: the map is the contract, so a renamed module in a new transformers is loud.
    """
    unknown = sorted(set(kinds) - set(SITE_KINDS))
    if unknown:
        raise ValueError(f"unknown site kind(s) {unknown}; known: {list(SITE_KINDS)}")
    spec = site_map(model_type)
    blocks = _get(root, f"{prefix}.{spec['blocks']}", model_type)
    found = []
    for kind in kinds:
        for i in range(len(blocks)):
            for rel in spec[kind]:
                name = f"{prefix}.{spec['blocks']}.{i}.{rel}"
                _get(root, name, model_type)
                found.append(Site(tower, i, kind, name, root, prefix))
        for rel in spec["tower"].get(kind, ()):
            name = f"{prefix}.{rel}"
            _get(root, name, model_type)
            found.append(Site(tower, -1, kind, name, root, prefix))
    return found


def _get(root: nn.Module, name: str, model_type: str) -> nn.Module:
    """root.get_submodule(name), with an error naming the site map."""
    try:
        return root.get_submodule(name)
    except AttributeError as err:
        raise ValueError(f"site map of {model_type!r} names {name!r}, which this model lacks") from err


def base_module(module: nn.Module) -> nn.Module:
    """The original module under any wrappers (ours keep it as `base`, peft's LoRA as `base_layer`)."""
    while True:
        inner = getattr(module, "base_layer", None) or getattr(module, "base", None)
        if not isinstance(inner, nn.Module):
            return module
        module = inner
