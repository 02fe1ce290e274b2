"""IISAN: intra- and inter-modal side adapted networks over frozen backbones' hidden states (Fu et al., SIGIR 2024)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from transrec.models.blocks import BottleneckBlock, LowRankBlock, PHMBlock, phm_rules
from transrec.models.item_encoders import ItemEncoder, build_item_encoder
from transrec.models.item_tower import ItemTower
from transrec.models.sites import Site

BLOCK_KINDS = ("adapter", "phm", "low_rank")
MODALITIES = ("image", "text")  # fusion order: item = Linear(3d -> d)([image, text, mm]) (PROTOCOL.md §Methods)
REFERENCE_DEPTH = 12  # `layers` are hidden-state indices of a 12-layer backbone (BERT-base, ViT-base): 0..12
DEFAULT_LAYERS = (0, 2, 4, 6, 8, 10, 12)  # LayerDrop: keep every second hidden state (PROTOCOL.md §Methods)
GATE_TEMPERATURE = 0.1  # g = sigmoid(p / 0.1)
UNGATED_MIXES = ("sum", "half")  # without gates: the released code's plain sum, or this project's earlier fixed 0.5


@dataclass(frozen=True)
class IISANConfig:
    """The IISAN architecture and its ablations (paper tables 4-6); every default is the paper's setting."""

    layers: tuple[int, ...] = DEFAULT_LAYERS  # kept hidden states, 0..12 scale; all 13 = "without LayerDrop"
    block: str = "adapter"  # SANB type: adapter (bottleneck), phm, low_rank
    r: int = 64  # SANB bottleneck width
    gates: bool = True  # False: no learnable gate ("without gates"), mixing by `ungated_mix`
    ungated_mix: str = "sum"  # without gates: a + b as the released code (docs/fidelity.md), or "half": 0.5 a + 0.5 b
    intra: bool = True  # the per-modality side networks
    inter: bool = True  # the image-text side network (needs both modalities)
    phm_n: int = 4

    def __post_init__(self) -> None:
        if self.ungated_mix not in UNGATED_MIXES:
            raise ValueError(f"IISAN ungated_mix {self.ungated_mix!r} unknown; expected one of {UNGATED_MIXES}")
        if self.block not in BLOCK_KINDS:
            raise ValueError(f"IISAN block {self.block!r} unknown; expected one of {BLOCK_KINDS}")
        if not self.layers or any(not 0 <= k <= REFERENCE_DEPTH for k in self.layers):
            raise ValueError(f"IISAN layers {list(self.layers)} must be a non-empty list within 0..{REFERENCE_DEPTH}")
        if list(self.layers) != sorted(set(self.layers)):
            raise ValueError(f"IISAN layers {list(self.layers)} must be strictly increasing")
        if not (self.intra or self.inter):
            raise ValueError("IISAN needs the intra- or the inter-modal side network (or both)")
        if self.r < 1:
            raise ValueError(f"IISAN r must be >= 1, got {self.r}")


def select_layers(layers: Sequence[int], depths: Mapping[str, int]) -> dict[str, list[int]]:
    """Kept hidden-state indices per modality: `layers` (0..12 scale) scaled to each depth, then the same count for all.

    A backbone of depth n has n + 1 hidden states. Symmetric 12-layer backbones keep `layers` exactly; a shallower one
    keeps the scaled, de-duplicated indices, and when the modalities then differ in count every modality keeps the
    count of the smallest, evenly spaced among its own (grouped layer selection, IISAN-Versa), so block k of the
    inter-modal network always pairs the k-th kept state of each modality.
    """
    scaled = {m: sorted({round(k * n / REFERENCE_DEPTH) for k in layers}) for m, n in depths.items()}
    count = min(len(kept) for kept in scaled.values())
    picked = {}
    for m, kept in scaled.items():
        positions = torch.linspace(0, len(kept) - 1, count).round().long().tolist() if count > 1 else [len(kept) - 1]
        picked[m] = [kept[p] for p in positions]
    return picked


class Gate(nn.Module):
    """Mixes two inputs: g a + (1 - g) b with a learnable g = sigmoid(p / 0.1), p = 0 at init (g = 0.5).

    Without gates (`learnable` False) the mix is fixed: a + b (`ungated_mix` "sum", the released code) or 0.5 a + 0.5 b.
    """

    def __init__(self, learnable: bool, ungated_mix: str = "sum") -> None:
        super().__init__()
        self.logit = nn.Parameter(torch.zeros(())) if learnable else None
        self.ungated_mix = ungated_mix

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        """a, b (U, h) -> (U, h)."""
        if self.logit is None:
            return a + b if self.ungated_mix == "sum" else 0.5 * a + 0.5 * b
        g = torch.sigmoid(self.logit / GATE_TEMPERATURE)
        return g * a + (1 - g) * b


def make_block(kind: str, width: int, r: int, rules: nn.Parameter | None = None) -> nn.Module:
    """One side-adapted-network block (SANB) of `kind`: residual, width -> width."""
    if kind == "adapter":
        return BottleneckBlock(width, r)
    if kind == "phm":
        return PHMBlock(width, r, n=rules.shape[0], rules=rules) if rules is not None else PHMBlock(width, r)
    if kind == "low_rank":
        return LowRankBlock(width, r)
    raise ValueError(f"IISAN block {kind!r} unknown; expected one of {BLOCK_KINDS}")


class IntraSideNetwork(nn.Module):
    """One modality: state = g_k h_k + (1 - g_k) state; state = SANB_k(state); state starts at 0."""

    def __init__(self, width: int, n_blocks: int, config: IISANConfig, rules: nn.Parameter | None) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(make_block(config.block, width, config.r, rules) for _ in range(n_blocks))
        self.gates = nn.ModuleList(Gate(config.gates, config.ungated_mix) for _ in range(n_blocks))

    def forward(self, states: Tensor) -> Tensor:
        """states (U, K, h) kept first-token hidden states, bottom first -> (U, h)."""
        out = states.new_zeros(states.shape[0], states.shape[2])  # (U, h)
        for k, (block, gate) in enumerate(zip(self.blocks, self.gates)):
            out = block(gate(states[:, k], out))
        return out


class InterSideNetwork(nn.Module):
    """Image and text: mm = SANB_k(mm + g_k h_image_k + (1 - g_k) h_text_k); mm starts at 0."""

    def __init__(self, width: int, n_blocks: int, config: IISANConfig, rules: nn.Parameter | None) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(make_block(config.block, width, config.r, rules) for _ in range(n_blocks))
        self.gates = nn.ModuleList(Gate(config.gates, config.ungated_mix) for _ in range(n_blocks))

    def forward(self, image: Tensor, text: Tensor) -> Tensor:
        """image, text (U, K, h) -> (U, h)."""
        out = image.new_zeros(image.shape[0], image.shape[2])  # (U, h)
        for k, (block, gate) in enumerate(zip(self.blocks, self.gates)):
            out = block(out + gate(image[:, k], text[:, k]))
        return out


class IISAN(nn.Module):
    """Kept hidden-state stacks per modality -> (U, d): alignment, side networks, a head per branch, linear fusion."""

    def __init__(self, widths: Mapping[str, int], depths: Mapping[str, int], d_model: int, config: IISANConfig) -> None:
        super().__init__()
        unknown = sorted(set(widths) - set(MODALITIES))
        if unknown or not widths or set(widths) != set(depths):
            raise ValueError(
                f"IISAN modalities must be among {MODALITIES} with a width and depth each, got {dict(widths)}"
            )
        self.config = config
        self.modalities = tuple(m for m in MODALITIES if m in widths)
        self.kept = select_layers(config.layers, depths)
        n_blocks = len(self.kept[self.modalities[0]])
        self.width = max(widths.values())  # side networks run at the wider backbone's width (IISAN-Versa)
        # a per-modality linear brings a narrower backbone to the common width; symmetric backbones need none
        self.align = nn.ModuleDict(
            {m: nn.Linear(w, self.width) if w != self.width else nn.Identity() for m, w in widths.items()}
        )
        # Compacter shares one set of rule matrices across all PHM layers of a model
        self.phm_rules = phm_rules(config.phm_n) if config.block == "phm" else None
        branches = []
        self.intra = nn.ModuleDict()
        if config.intra:
            for m in self.modalities:
                self.intra[m] = IntraSideNetwork(self.width, n_blocks, config, self.phm_rules)
                branches.append(m)
        self.inter = None
        if config.inter and len(self.modalities) == 2:
            self.inter = InterSideNetwork(self.width, n_blocks, config, self.phm_rules)
            branches.append("inter")
        if not branches:
            raise ValueError("IISAN with one modality needs the intra-modal side network (inter needs two)")
        self.branches = tuple(branches)
        self.heads = nn.ModuleDict(
            {b: nn.Sequential(nn.Linear(self.width, self.width), nn.Linear(self.width, d_model)) for b in branches}
        )
        self.fusion = nn.Linear(len(branches) * d_model, d_model)

    def forward(self, stacks: Mapping[str, Tensor]) -> Tensor:
        """stacks[m] (U, K, w_m) the kept first-token hidden states of modality m -> (U, d)."""
        aligned = {m: self.align[m](stacks[m].to(self.fusion.weight.dtype)) for m in self.modalities}  # (U, K, h)
        out = {m: self.intra[m](aligned[m]) for m in self.intra}  # (U, h) each
        if self.inter is not None:
            out["inter"] = self.inter(aligned["image"], aligned["text"])
        vectors = [self.heads[b](out[b]) for b in self.branches]  # (U, d) each
        return self.fusion(torch.cat(vectors, dim=-1))  # (U, d)

    def side_parameters(self) -> list[nn.Parameter]:
        """Everything but heads and fusion: alignment, side-network blocks, gates, PHM rules."""
        skip = {id(p) for p in [*self.heads.parameters(), *self.fusion.parameters()]}
        return [p for p in self.parameters() if id(p) not in skip]


def iisan_parameter_count(widths: Mapping[str, int], n_blocks: int, d_model: int, config: IISANConfig) -> int:
    """Closed form of IISAN's trainable parameters (adapter blocks, gates on or off), for tests and tables."""
    if config.block != "adapter":
        raise ValueError("closed form given for adapter blocks only")
    h = max(widths.values())
    align = sum(w * h + h for w in widths.values() if w != h)
    networks = (len(widths) if config.intra else 0) + (1 if config.inter and len(widths) == 2 else 0)
    block = 2 * h * config.r + config.r + h
    gates = n_blocks if config.gates else 0
    heads = networks * (h * h + h + h * d_model + d_model)
    fusion = networks * d_model * d_model + d_model
    return align + networks * (n_blocks * block + gates) + heads + fusion


def first_token_stack(modality: str, backbone: nn.Module, inputs: Mapping[str, Tensor]) -> Tensor:
    """First-token vector of every hidden state and of the output: (U, n + 2, w) for a backbone of n layers.

    Rows 0..n are the HF hidden states (embeddings, then each layer); row n + 1 is last_hidden_state[:, 0], the item
    encoder's own output (for ViT after the final LayerNorm, which hidden state n is not), which the frozen baseline
    reads from the same store.
    """
    if modality == "text":
        out = backbone(
            input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"].long(), output_hidden_states=True
        )
    elif modality == "image":
        pixels = inputs["pixel_values"]
        kwargs = {}
        if backbone.config.model_type == "vit_mae":  # keep patch order (see ImageItemEncoder.first_token)
            n = backbone.embeddings.patch_embeddings.num_patches
            kwargs["noise"] = torch.arange(n, device=pixels.device, dtype=torch.float32).expand(pixels.shape[0], n)
        out = backbone(pixel_values=pixels, output_hidden_states=True, **kwargs)
    else:
        raise ValueError(f"unknown modality {modality!r}; expected one of {MODALITIES}")
    return torch.stack([*(h[:, 0] for h in out.hidden_states), out.last_hidden_state[:, 0]], dim=1)  # (U, n+2, w)


class IISANItemEncoder(ItemTower):
    """Items -> (U, d) through IISAN: frozen backbones run under no_grad (uncached), or none at all (cached store)."""

    kind = "iisan"

    def __init__(self, side: IISAN, backbones: Mapping[str, nn.Module] | None = None) -> None:
        super().__init__()
        self.side = side
        self.backbones = nn.ModuleDict(dict(backbones or {}))  # empty when the run reads a hidden-state store
        self.image_mean: tuple[float, ...] | None = None
        self.image_std: tuple[float, ...] | None = None

    def forward(self, inputs: dict[str, Tensor]) -> Tensor:
        """inputs: per modality either its content (tokens, pixels) or its kept states "<modality>_states" -> (U, d)."""
        stacks = {}
        for m in self.side.modalities:
            if f"{m}_states" in inputs:
                stacks[m] = inputs[f"{m}_states"]  # (U, K, w): the store content already holds only the kept rows
                continue
            if m not in self.backbones:
                raise ValueError(f"IISAN has no {m} backbone and the inputs hold no {m}_states")
            with torch.no_grad():  # decoupled: no activation graph through the backbone
                stacks[m] = first_token_stack(m, self.backbones[m], inputs)[:, self.side.kept[m]]  # (U, K, w)
        return self.side(stacks)

    def train(self, mode: bool = True) -> IISANItemEncoder:
        """Train the side networks; the frozen backbones stay in eval mode (no dropout), as the store was built."""
        super().train(mode)
        self.backbones.eval()
        return self

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """item_encoder (frozen backbones), side_networks, dtl (the per-branch heads) and fusion."""
        return {
            "item_encoder": list(self.backbones.parameters()),
            "side_networks": self.side.side_parameters(),
            "dtl": list(self.side.heads.parameters()),
            "fusion": list(self.side.fusion.parameters()),
        }

    def pretrained_backbones(self) -> dict[str, nn.Module]:
        """The frozen backbones it runs (uncached); none when it reads a hidden-state store."""
        return dict(self.backbones)

    def modality_towers(self) -> dict[str, ItemEncoder]:
        """None: its backbones feed the side networks, no first token -> DTL tower."""
        return {}

    def sites(self, root: nn.Module, prefix: str, tower: str, kinds: tuple[str, ...]) -> list[Site]:
        """Its backbones stay frozen and untouched: methods attach nothing to them."""
        raise ValueError(f"a {self.kind} item encoder keeps its backbones frozen: no item sites")

    def store_layers(self) -> dict[str, list[int]]:
        """The kept hidden states of each modality (the side networks' inputs)."""
        return {m: list(kept) for m, kept in self.side.kept.items()}


def build_iisan_item_encoder(
    d_model: int,
    config: IISANConfig,
    *,
    paths: Mapping[str, str] | None = None,
    shapes: Mapping[str, tuple[int, int]] | None = None,
) -> IISANItemEncoder:
    """Uncached: load each modality's backbone from `paths`; cached: `shapes` {modality: (depth, width)} of the stores.

    A cached encoder never constructs a backbone: its shapes come from the hidden-state stores' metadata.
    """
    if (paths is None) == (shapes is None):
        raise ValueError("build_iisan_item_encoder needs exactly one of paths (uncached) or shapes (cached)")
    backbones: dict[str, nn.Module] = {}
    image_stats = (None, None)
    if paths is not None:
        for m, path in paths.items():
            loaded = build_item_encoder(m, path, d_model, 0)  # its DTL is dropped: IISAN's heads take that role
            backbones[m] = loaded.backbone.requires_grad_(False)
            if m == "image":
                image_stats = (loaded.image_mean, loaded.image_std)
        shapes = {m: (b.config.num_hidden_layers, b.config.hidden_size) for m, b in backbones.items()}
    depths = {m: depth for m, (depth, _) in shapes.items()}
    widths = {m: width for m, (_, width) in shapes.items()}
    encoder = IISANItemEncoder(IISAN(widths, depths, d_model, config), backbones)
    encoder.image_mean, encoder.image_std = image_stats  # what image content normalises with (uncached)
    return encoder
