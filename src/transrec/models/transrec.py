"""TransRec: an item encoder (backbone + DTL) feeding a SASRec user encoder; scores are dot products."""

from __future__ import annotations

from torch import Tensor, nn

from transrec.models.item_encoders import ItemEncoder
from transrec.models.sites import Site, tower_sites

GROUPS = ("item_encoder", "dtl", "user_encoder")
TOWERS = {"item": "item_encoder.backbone", "user": "user_encoder"}


class TransRec(nn.Module):
    """The end-to-end recommender: items -> (U, d) vectors, sequences of them -> (B, L, d) user states."""

    def __init__(self, item_encoder: ItemEncoder, user_encoder: nn.Module):
        super().__init__()
        self.item_encoder = item_encoder
        self.user_encoder = user_encoder

    def encode_items(self, inputs: dict[str, Tensor]) -> Tensor:
        """Content of U items -> (U, d)."""
        return self.item_encoder(inputs)

    def encode_users(self, item_emb: Tensor, mask: Tensor) -> Tensor:
        """item_emb (B, L, d), mask (B, L) bool, True = real item -> (B, L, d)."""
        return self.user_encoder(item_emb, mask)

    def tower(self, tower: str) -> nn.Module:
        """The module of `tower` (item: the item encoder, user: the user encoder)."""
        if tower not in TOWERS:
            raise ValueError(f"unknown tower {tower!r}; known: {sorted(TOWERS)}")
        return self.item_encoder if tower == "item" else self.user_encoder

    def sites(self, towers: tuple[str, ...], kinds: tuple[str, ...]) -> list[Site]:
        """Exact sites of `kinds` in `towers` from each tower's site map; a tower without one raises."""
        found = []
        for tower in towers:
            encoder = self.tower(tower)
            if not hasattr(encoder, "model_type"):
                raise ValueError(f"the {tower} tower ({type(encoder).__name__}) has no site map")
            model_type = encoder.model_type()
            if tower == "item" and model_type == "id":
                raise ValueError("the item tower is an ID table: it has no transformer sites")
            found += tower_sites(self, TOWERS[tower], model_type, tower, tuple(kinds))
        return found

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Every parameter by optimiser group: item_encoder (all of the item tower but the DTL), dtl, user_encoder."""
        dtl = list(self.item_encoder.dtl.parameters())
        dtl_ids = {id(p) for p in dtl}
        groups = {
            # modules a method hangs on the item tower (e.g. a side network) count as item_encoder
            "item_encoder": [p for p in self.item_encoder.parameters() if id(p) not in dtl_ids],
            "dtl": dtl,
            "user_encoder": list(self.user_encoder.parameters()),
        }
        return check_groups(self, groups)


def check_groups(model: nn.Module, groups: dict[str, list[nn.Parameter]]) -> dict[str, list[nn.Parameter]]:
    """`groups` if every parameter of `model` is in exactly one of them; else a ValueError naming the culprit."""
    seen: dict[int, str] = {}
    for group, params in groups.items():
        for p in params:
            if id(p) in seen:
                raise ValueError(f"a parameter is in both groups {seen[id(p)]!r} and {group!r}")
            seen[id(p)] = group
    stray = [name for name, p in model.named_parameters() if id(p) not in seen]
    if stray:
        raise ValueError(f"parameters outside every group {sorted(groups)}: {stray[:5]}")
    return groups


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) element counts, each shared tensor counted once."""
    params = {id(p): p for p in model.parameters()}.values()
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)
