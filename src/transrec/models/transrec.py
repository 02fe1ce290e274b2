"""TransRec: an item tower (models.item_tower) feeding a SASRec user encoder; scores are dot products."""

from __future__ import annotations

from torch import Tensor, nn

from transrec.models.item_tower import ItemTower, check_groups
from transrec.models.sasrec import SASRec
from transrec.models.sites import ITEM_MODALITY_TOWERS, Site, tower_sites

__all__ = ["TransRec", "check_groups", "count_parameters"]

ITEM_TOWERS = ("item", *ITEM_MODALITY_TOWERS)  # method towers of the item side: all of it, or one modality's backbone


class TransRec(nn.Module):
    """The end-to-end recommender: items -> (U, d) vectors, sequences of them -> (B, L, d) user states."""

    def __init__(self, item_encoder: ItemTower, user_encoder: SASRec):
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
        if tower not in ("item", "user"):
            raise ValueError(f"unknown tower {tower!r}; known: ['item', 'user']")
        return self.item_encoder if tower == "item" else self.user_encoder

    def sites(self, towers: tuple[str, ...], kinds: tuple[str, ...]) -> list[Site]:
        """Exact sites of `kinds` in `towers`: the user encoder's site map, the item tower's own sites."""
        found: list[Site] = []
        for tower in towers:
            if tower == "user":
                found += tower_sites(self, "user_encoder", self.user_encoder.model_type(), "user", tuple(kinds))
            elif tower in ITEM_TOWERS:
                found += self.item_encoder.sites(self, "item_encoder", tower, tuple(kinds))
            else:
                raise ValueError(f"unknown tower {tower!r}; known: ['item', 'user']")
        return found

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Every parameter by optimiser group: the item tower's groups (item_encoder, dtl, ...) and user_encoder."""
        groups = {**self.item_encoder.parameter_groups(), "user_encoder": list(self.user_encoder.parameters())}
        return check_groups(self, groups)


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) element counts, each shared tensor counted once."""
    params = {id(p): p for p in model.parameters()}.values()
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)
