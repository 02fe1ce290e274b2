"""Typed run settings: the run.json the workflow writes, as nested frozen dataclasses (unknown keys raise)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Literal

from transrec.io import read_json
from transrec.typed import build, plain

KINDS = ("text", "image", "id", "multimodal")
OBJECTIVES = ("sasrec", "cpc", "inbatch", "inbatch_slots", "softmax")  # inbatch_slots: the released in-batch form


@dataclass(frozen=True)
class NameConfig:
    """The run's coordinates in the study (copied into metrics.json)."""

    dataset: str
    encoder: str
    objective: str
    method: str
    start: str = "nopt"
    seed: int = 0


@dataclass(frozen=True)
class ContentConfig:
    """Where the item content lives: token npz (text), LMDB dir (image) or nothing (id); multimodal: `paths` of both.

    `stores` {modality: results/features/<dataset>/<encoder>}: hidden-state stores the run reads instead of running
    a backbone (the frozen baseline, cached IISAN); empty = none.
    """

    kind: Literal["text", "image", "id", "multimodal"] = "id"
    path: str | None = None
    paths: dict[str, str] = field(default_factory=dict)
    stores: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DataConfig:
    """The split table, the sequences item table and the item content."""

    split: str
    items: str
    content: ContentConfig = field(default_factory=ContentConfig)


@dataclass(frozen=True)
class EncoderConfig:
    """The item encoder backbone: HF id, local folder or `package:<module>`; none for `id`; multimodal: `paths`."""

    kind: Literal["text", "image", "id", "multimodal"] = "id"
    path: str | None = None
    paths: dict[str, str] = field(default_factory=dict)  # multimodal: {"text": ..., "image": ...}
    image_mask_ratio: float = 0.0


@dataclass(frozen=True)
class ModelConfig:
    """SASRec user encoder shape (PROTOCOL.md §Model)."""

    d_model: int = 64
    max_len: int = 20
    n_blocks: int = 2
    n_heads: int = 2
    dropout: float = 0.1


@dataclass(frozen=True)
class OptimConfig:
    """Adam: one learning rate per optimiser group, by group name."""

    lr: dict[str, float] = field(
        default_factory=lambda: {"item_encoder": 5e-5, "dtl": 1e-4, "user_encoder": 1e-4, "adapters": 1e-4}
    )
    weight_decay: float = 0.0
    grad_clip: float | None = None


@dataclass(frozen=True)
class TrainConfig:
    """Epochs, batching, early stopping and the hardware knobs."""

    epochs: int = 10
    batch_size: int = 32  # per process under torchrun
    patience: int = 3
    min_delta: float = 0.0  # relative margin a validation NDCG@10 must beat the best by to reset patience
    num_workers: int = 0
    threads: int = 2
    seed: int = 42
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    max_steps_per_epoch: int | None = None
    compile: bool = False
    cache_frozen_features: bool = True  # a frozen backbone runs once per run (eval mode), not at every step
    tensorboard: bool = False  # scalars per epoch to <out_dir>/tensorboard


@dataclass(frozen=True)
class EvalConfig:
    """Full-ranking evaluation (PROTOCOL.md §Evaluation); model selection uses NDCG@10."""

    ks: tuple[int, ...] = (10,)
    user_batch: int = 1024
    item_batch: int = 256
    mask_history: bool = True


@dataclass(frozen=True)
class RunConfig:
    """One training run: everything the trainer reads."""

    stage: Literal["pretrain", "adapt"]
    name: NameConfig
    data: DataConfig
    out_dir: str
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    objective: Literal["sasrec", "cpc", "inbatch", "inbatch_slots", "softmax"] = "sasrec"
    method: dict[str, Any] = field(default_factory=lambda: {"kind": "fta"})
    also_train: tuple[str, ...] = ()
    init_checkpoint: str | None = None
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        """Build from a plain dict (run.json); unknown or missing keys and bad values raise ValueError."""
        run = build(cls, d, "run config")
        _check(run)
        return run

    @classmethod
    def load(cls, path: str | os.PathLike) -> RunConfig:
        """Read a run.json."""
        return cls.from_dict(read_json(path))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (round-trips through from_dict)."""
        return plain(dataclasses.asdict(self))


def _check(run: RunConfig) -> None:
    """Cross-field rules the types cannot say."""
    if "kind" not in run.method:
        raise ValueError("run config: 'method.kind' is required")
    if 10 not in run.eval.ks:
        raise ValueError("run config: 'eval.ks' must contain 10 (model selection uses NDCG@10)")
    if run.encoder.kind != run.data.content.kind:
        raise ValueError(
            f"run config: encoder.kind {run.encoder.kind!r} != data.content.kind {run.data.content.kind!r}"
        )
    if run.encoder.kind == "multimodal":
        for section in ("encoder", "data.content"):
            paths = run.encoder.paths if section == "encoder" else run.data.content.paths
            if sorted(paths) != ["image", "text"]:
                raise ValueError(f"run config: '{section}.paths' must name text and image for a multimodal encoder")
    elif run.encoder.kind != "id" and not run.encoder.path:
        raise ValueError(f"run config: 'encoder.path' is required for a {run.encoder.kind} encoder")
    positive = {
        "train.epochs": run.train.epochs,
        "train.batch_size": run.train.batch_size,
        "train.patience": run.train.patience,
        "train.threads": run.train.threads,
        "model.max_len": run.model.max_len,
        "eval.user_batch": run.eval.user_batch,
        "eval.item_batch": run.eval.item_batch,
    }
    for path, value in positive.items():
        if value < 1:
            raise ValueError(f"run config: {path!r} must be >= 1, got {value}")
    if run.train.min_delta < 0:
        raise ValueError(f"run config: 'train.min_delta' must be >= 0, got {run.train.min_delta}")
    if run.train.max_steps_per_epoch is not None and run.train.max_steps_per_epoch < 1:
        raise ValueError("run config: 'train.max_steps_per_epoch' must be >= 1 or null")
