"""Typed run settings: the run.json the workflow writes, as nested frozen dataclasses (unknown keys raise)."""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin

from transrec.io import read_json

KINDS = ("text", "image", "id")
OBJECTIVES = ("sasrec", "cpc", "inbatch")


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
    """Where the item content lives: token npz (text), LMDB dir (image) or nothing (id)."""

    kind: Literal["text", "image", "id"] = "id"
    path: str | None = None


@dataclass(frozen=True)
class DataConfig:
    """The split table, the sequences item table and the item content."""

    split: str
    items: str
    content: ContentConfig = field(default_factory=ContentConfig)


@dataclass(frozen=True)
class EncoderConfig:
    """The item encoder backbone: HF id, local folder or `package:<module>`; none for `id`."""

    kind: Literal["text", "image", "id"] = "id"
    path: str | None = None
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
    num_workers: int = 0
    threads: int = 2
    seed: int = 42
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    max_steps_per_epoch: int | None = None
    compile: bool = False
    cache_frozen_features: bool = True  # a frozen backbone runs once per run (eval mode), not at every step


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
    objective: Literal["sasrec", "cpc", "inbatch"] = "sasrec"
    method: dict[str, Any] = field(default_factory=lambda: {"kind": "fta"})
    also_train: tuple[str, ...] = ()
    init_checkpoint: str | None = None
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        """Build from a plain dict (run.json); unknown or missing keys and bad values raise ValueError."""
        run = _build(cls, d, "")
        _check(run)
        return run

    @classmethod
    def load(cls, path: str | os.PathLike) -> RunConfig:
        """Read a run.json."""
        return cls.from_dict(read_json(path))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (round-trips through from_dict)."""
        return _plain(dataclasses.asdict(self))


def _build(cls: type, d: Any, where: str) -> Any:
    """Recursively build dataclass `cls` from dict `d`; `where` is the key path for error messages."""
    if not isinstance(d, dict):
        raise ValueError(f"run config {where or '<root>'}: expected an object, got {type(d).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - set(fields))
    if unknown:
        raise ValueError(f"run config: unknown key {_join(where, unknown[0])!r} (known: {sorted(fields)})")
    values = {}
    for name, f in fields.items():
        path = _join(where, name)
        if name not in d:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ValueError(f"run config: missing key {path!r}")
            continue
        values[name] = _convert(hints[name], d[name], path)
    return cls(**values)


def _convert(hint: Any, value: Any, path: str) -> Any:
    """Check `value` against the type hint and convert lists to tuples and nested dicts to dataclasses."""
    origin = get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, path)
    if origin in (typing.Union, types.UnionType):
        args = get_args(hint)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(arg, value, path)
            except ValueError as err:
                errors.append(str(err))
        raise ValueError(errors[0] if errors else f"run config: {path!r} must not be null")
    if origin is Literal:
        if value not in get_args(hint):
            raise ValueError(f"run config: {path!r} = {value!r}; expected one of {list(get_args(hint))}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"run config: {path!r} must be a list, got {value!r}")
        item = get_args(hint)[0]
        return tuple(_convert(item, v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"run config: {path!r} must be an object, got {value!r}")
        _, item = get_args(hint)
        return {str(k): _convert(item, v, _join(path, str(k))) for k, v in value.items()}
    if hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, bool) or not isinstance(value, hint):
        raise ValueError(f"run config: {path!r} must be {hint.__name__}, got {value!r}")
    return value


def _check(run: RunConfig) -> None:
    """Cross-field rules the types cannot say."""
    if "kind" not in run.method:
        raise ValueError("run config: 'method.kind' is required")
    if 10 not in run.eval.ks:
        raise ValueError("run config: 'eval.ks' must contain 10 (model selection uses NDCG@10)")
    if run.encoder.kind != run.data.content.kind:
        raise ValueError(f"run config: encoder.kind {run.encoder.kind!r} != data.content.kind {run.data.content.kind!r}")
    if run.encoder.kind != "id" and not run.encoder.path:
        raise ValueError(f"run config: 'encoder.path' is required for a {run.encoder.kind} encoder")
    positive = {"train.epochs": run.train.epochs, "train.batch_size": run.train.batch_size,
                "train.patience": run.train.patience, "train.threads": run.train.threads,
                "model.max_len": run.model.max_len, "eval.user_batch": run.eval.user_batch,
                "eval.item_batch": run.eval.item_batch}
    for path, value in positive.items():
        if value < 1:
            raise ValueError(f"run config: {path!r} must be >= 1, got {value}")
    if run.train.max_steps_per_epoch is not None and run.train.max_steps_per_epoch < 1:
        raise ValueError("run config: 'train.max_steps_per_epoch' must be >= 1 or null")


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
