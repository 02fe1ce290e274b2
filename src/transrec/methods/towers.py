"""Method towers: which backbones a `towers` entry covers (a multimodal item has two), their widths and facts."""

from __future__ import annotations

from torch import nn

from transrec.models.sites import ITEM_MODALITY_TOWERS


def is_multimodal(model: nn.Module) -> bool:
    """True when the model's item encoder holds one tower per modality."""
    return getattr(model.item_encoder, "kind", "") == "multimodal"


def expand_towers(towers: tuple[str, ...], multimodal: bool) -> tuple[str, ...]:
    """Configured towers -> the backbones they cover: "item" of a multimodal item = item_text + item_image.

    item_text / item_image select one tower of a multimodal item; on a single-backbone item they raise.
    """
    found: list[str] = []
    for tower in towers:
        if tower == "item" and multimodal:
            parts = tuple(ITEM_MODALITY_TOWERS)
        elif tower in ITEM_MODALITY_TOWERS and not multimodal:
            raise ValueError(
                f"tower {tower!r} selects one tower of a multimodal item; this item encoder has a "
                "single backbone: use 'item'"
            )
        else:
            parts = (tower,)
        found += [p for p in parts if p not in found]
    return tuple(found)


def model_towers(model: nn.Module, towers: tuple[str, ...]) -> tuple[str, ...]:
    """The backbones of `model` that `towers` covers (see expand_towers)."""
    return expand_towers(towers, is_multimodal(model))


def tower_width(model: nn.Module, tower: str) -> int:
    """Hidden size of one backbone: item (single backbone), item_text / item_image, or user (SASRec's d_model)."""
    if tower == "user":
        return model.user_encoder.d_model
    if tower in ITEM_MODALITY_TOWERS:
        return model.item_encoder.towers[ITEM_MODALITY_TOWERS[tower]].hidden_size
    return model.item_encoder.hidden_size


def tower_rank(tower: str, r_item: int, r_user: int) -> int:
    """The bottleneck / LoRA rank of a backbone: r_user in SASRec, r_item in every item backbone."""
    return r_user if tower == "user" else r_item


def rank_field(tower: str) -> str:
    """The method field holding that backbone's rank."""
    return "r_user" if tower == "user" else "r_item"


def tower_facts(towers: tuple[str, ...], encoder: dict) -> dict[str, dict]:
    """Per covered backbone, its facts {model_type, num_hidden_layers, hidden_size} from the encoder facts.

    `encoder` is validate_method's facts (a multimodal one carries "towers": {text, image}); facts that are not
    given (e.g. {} when a method checks itself at apply time) give empty dicts, so checks needing them are skipped.
    """
    kind = encoder.get("kind")
    multimodal = kind == "multimodal"
    found: dict[str, dict] = {}
    for tower in expand_towers(towers, multimodal) if kind is not None else towers:
        if tower == "user":
            user = encoder.get("user", {})
            facts = {
                "model_type": "sasrec",
                "num_hidden_layers": user.get("n_blocks"),
                "hidden_size": user.get("d_model"),
            }
        elif tower in ITEM_MODALITY_TOWERS:
            facts = encoder.get("towers", {}).get(ITEM_MODALITY_TOWERS[tower], {})
        else:
            facts = encoder
        found[tower] = {
            k: v for k, v in facts.items() if k in ("model_type", "num_hidden_layers", "hidden_size") and v is not None
        }
    return found
