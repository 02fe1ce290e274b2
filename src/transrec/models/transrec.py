"""TransRec: an item encoder (backbone + DTL) feeding a SASRec user encoder; scores are dot products."""

from __future__ import annotations

from torch import Tensor, nn

from transrec.models.item_encoders import ItemEncoder

GROUPS = ("item_encoder", "dtl", "user_encoder")


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
        seen: dict[int, str] = {}
        for group, params in groups.items():
            for p in params:
                if id(p) in seen:
                    raise ValueError(f"a parameter is in both groups {seen[id(p)]!r} and {group!r}")
                seen[id(p)] = group
        stray = [name for name, p in self.named_parameters() if id(p) not in seen]
        if stray:
            raise ValueError(f"parameters outside every group {GROUPS}: {stray[:5]}")
        return groups


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) element counts, each shared tensor counted once."""
    params = {id(p): p for p in model.parameters()}.values()
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)
