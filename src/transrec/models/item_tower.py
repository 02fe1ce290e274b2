"""The item-tower interface: what every item encoder (ID, text, image, multimodal, IISAN) tells the code above it."""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from torch import Tensor, nn

if TYPE_CHECKING:
    from transrec.models.item_encoders import ItemEncoder
    from transrec.models.sites import Site

IMAGE_MODEL_TYPES = ("vit", "vit_mae")
DEFAULT_IMAGE_SIZE = 224  # the LMDB store's own size (docs/architecture.md, stage 7)


class ItemTower(nn.Module, metaclass=ABCMeta):
    """Items' content -> (U, d) item vectors, plus the facts the trainer, the methods and the feature code read.

    Every item encoder implements it, so nothing above `models` asks an encoder what it is: its optimiser groups, its
    pretrained backbones and towers (backbone -> first token -> DTL, by modality), the image preprocessing its content
    needs, the sites methods attach to, and which hidden states it reads from a store.
    """

    kind: ClassVar[str]  # id, text, image, multimodal, iisan (the encoder's kind in config, or the method's)
    image_mean: tuple[float, ...] | None  # the image backbone's own normalisation; None: the tower reads no pixels
    image_std: tuple[float, ...] | None

    @abstractmethod
    def forward(self, inputs: dict[str, Tensor]) -> Tensor:
        """The content (or precomputed features) of U items -> (U, d)."""

    @abstractmethod
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Every parameter of the tower, each in exactly one optimiser group (item_encoder, dtl, fusion, ...)."""

    @abstractmethod
    def pretrained_backbones(self) -> dict[str, nn.Module]:
        """The pretrained backbones by modality (text, image); none for an ID table or a store-reading IISAN."""

    @abstractmethod
    def modality_towers(self) -> dict[str, ItemEncoder]:
        """The backbone -> first token -> DTL towers by modality, whose first tokens can be precomputed.

        A text or image encoder is its own one tower, a multimodal one has two; an ID table and IISAN (whose backbones
        feed side networks, not a first token) have none.
        """

    @abstractmethod
    def sites(self, root: nn.Module, prefix: str, tower: str, kinds: tuple[str, ...]) -> list[Site]:
        """Sites of `kinds` in the method tower `tower` (item, item_text, item_image); this module is `prefix` in
        `root`. A tower without transformer sites raises, saying why."""

    def tower_inputs(self, modality: str, inputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """The part of a content dict that the tower of `modality` reads (one tower: all of it)."""
        return dict(inputs)

    def feature_key(self, modality: str) -> str:
        """The content key holding the precomputed first token of the tower of `modality`."""
        return "first_token"

    def store_layers(self) -> dict[str, list[int]] | None:
        """The hidden states it reads from a hidden-state store, by modality; None: the store's output row."""
        return None

    def image_size(self) -> int:
        """The pixel size its image backbone was built for (images are resized to it); 224 without one."""
        for backbone in self.pretrained_backbones().values():
            if backbone.config.model_type in IMAGE_MODEL_TYPES:
                return int(backbone.config.image_size)
        return DEFAULT_IMAGE_SIZE


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
