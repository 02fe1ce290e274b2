"""Typed run settings: the run.json the workflow writes, as frozen pydantic models (the schema has the defaults)."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveInt,
    StrictBool,
    model_validator,
)

from transrec.io import read_json
from transrec.methods.base import error_path, method_union
from transrec.models.objectives import OBJECTIVES as REGISTERED_OBJECTIVES
from transrec.runs import RunName
from transrec.validation import validate_plain

KINDS = ("text", "image", "id", "multimodal")
OBJECTIVES = tuple(REGISTERED_OBJECTIVES)  # the losses the trainer knows: the registry's names, in its order
Kind = Literal[KINDS]
Method = method_union()  # a discriminated union on `kind` over the registered methods


class Settings(BaseModel):
    """A part of run.json: frozen, every key required, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ContentConfig(Settings):
    """Where the item content lives: token npz (text), LMDB dir (image) or nothing (id); multimodal: `paths` of both.

    `stores` {modality: results/features/<dataset>/<encoder>}: hidden-state stores the run reads instead of running
    a backbone (the frozen baseline, cached IISAN); empty = none.
    """

    kind: Kind
    path: str | None
    paths: dict[str, str]
    stores: dict[str, str]


class DataConfig(Settings):
    """The split table, the sequences item table and the item content."""

    split: str
    items: str
    content: ContentConfig


class EncoderConfig(Settings):
    """The item encoder backbone: HF id, local folder or `package:<module>`; none for `id`; multimodal: `paths`."""

    kind: Kind
    path: str | None
    paths: dict[str, str]  # multimodal: {"text": ..., "image": ...}
    image_mask_ratio: float


class ModelConfig(Settings):
    """SASRec user encoder shape (PROTOCOL.md §Model)."""

    d_model: PositiveInt
    max_len: PositiveInt
    n_blocks: PositiveInt
    n_heads: PositiveInt
    dropout: float


class OptimConfig(Settings):
    """Adam: one learning rate per optimiser group, by group name."""

    lr: dict[str, float]
    weight_decay: float
    grad_clip: float | None


class TrainConfig(Settings):
    """Epochs, batching, early stopping and the hardware knobs."""

    epochs: PositiveInt
    batch_size: PositiveInt  # per process under torchrun
    patience: PositiveInt
    min_delta: NonNegativeFloat  # relative margin a validation NDCG@10 must beat the best by to reset patience
    min_epochs: PositiveInt  # early stopping never ends a run before this many epochs
    num_workers: NonNegativeInt
    threads: PositiveInt
    seed: int
    device: str  # auto | cpu | cuda | cuda:N
    precision: Literal["auto", "fp32", "bf16"]
    max_steps_per_epoch: PositiveInt | None
    timing_only: StrictBool  # a timing probe: max_steps_per_epoch timed steps, no validation or test (loop.py)
    compile: StrictBool
    cache_frozen_features: StrictBool  # a frozen backbone runs once per run (eval mode), not at every step
    tensorboard: StrictBool  # scalars per epoch to <out_dir>/tensorboard


class EvalConfig(Settings):
    """Full-ranking evaluation (PROTOCOL.md §Evaluation); model selection uses NDCG@10."""

    ks: tuple[PositiveInt, ...]
    user_batch: PositiveInt
    item_batch: PositiveInt
    mask_history: StrictBool


class RunConfig(Settings):
    """One training run: everything the trainer reads."""

    stage: Literal["pretrain", "adapt"]
    name: RunName
    data: DataConfig
    out_dir: str
    encoder: EncoderConfig
    model: ModelConfig
    objective: Literal[OBJECTIVES]
    method: Method
    also_train: tuple[str, ...]
    init_checkpoint: str | None
    optim: OptimConfig
    train: TrainConfig
    eval: EvalConfig

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        """Build from a plain dict (run.json); unknown or missing keys and bad values raise ValueError naming them."""
        return validate_plain(cls, d, "run config", strict=True, locate=error_path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> RunConfig:
        """Read a run.json."""
        return cls.from_dict(read_json(path))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (round-trips through from_dict); a method holds only the fields its spec set."""
        return self.model_dump(mode="json", exclude_unset=True)

    @model_validator(mode="after")
    def _check(self) -> RunConfig:
        """Cross-field rules the types cannot say."""
        if 10 not in self.eval.ks:
            raise ValueError("'eval.ks' must contain 10 (model selection uses NDCG@10)")
        if self.train.timing_only and self.train.max_steps_per_epoch is None:
            method = self.name.method
            raise ValueError(
                f"method {method!r}: 'train.timing_only' needs 'train.max_steps_per_epoch', the steps a timing probe "
                f"times (set max_steps_per_epoch beside timing_only, e.g. methods.{method}.hparams)"
            )
        encoder, content = self.encoder, self.data.content
        if encoder.kind != content.kind:
            raise ValueError(f"encoder.kind {encoder.kind!r} != data.content.kind {content.kind!r}")
        if encoder.kind == "multimodal":
            for section, paths in (("encoder", encoder.paths), ("data.content", content.paths)):
                if sorted(paths) != ["image", "text"]:
                    raise ValueError(f"'{section}.paths' must name text and image for a multimodal encoder")
        elif encoder.kind != "id" and not encoder.path:
            raise ValueError(f"'encoder.path' is required for a {encoder.kind} encoder")
        return self
