"""metrics.json as a typed record shared by the trainer, the baselines and the tables: a renamed key fails loudly."""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict

from transrec.io import read_json, write_json
from transrec.runs import Run
from transrec.validation import validate_plain


class Record(BaseModel):
    """A part of metrics.json: frozen, unknown keys refused, strict types (an int is a float, nothing else converts)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, ser_json_inf_nan="constants")  # NaN stays NaN


class EpochRecord(Record):
    """One epoch of training: mean loss, validation metrics, and where its time went."""

    epoch: int
    loss: float
    valid: dict[str, float]  # "hr@10", "ndcg@10", ...
    train_seconds: float
    eval_seconds: float


class RunMetrics(Record):
    """Everything a run reports; valid/test hold "hr@K" / "ndcg@K" x100 at the best epoch (empty for a timing probe,
    which is timed, not trained: see `timed_steps`)."""

    run: Run  # its coordinates (stage, dataset, encoder, objective, method, start, seed)
    valid: dict[str, float]
    test: dict[str, float]
    repeat_share: dict[str, float]  # share of repeated valid / test targets (they always miss under history masking)
    best_epoch: int | None = None  # None for an untrained baseline
    curve: tuple[EpochRecord, ...] = ()
    trainable_parameters: int = 0
    total_parameters: int = 0
    trainable_share: float = 0.0
    # median training seconds per epoch (the t of TPME), evaluation excluded; a timing probe's is extrapolated: the
    # median of its timed steps x full_epoch_steps
    seconds_per_epoch: float | None = None
    eval_seconds_per_epoch: float | None = None  # median seconds of the per-epoch validation
    setup_seconds: float = 0.0  # one-off costs: building the model, loading checkpoints, caching frozen features
    test_seconds: float = 0.0
    peak_memory_gb: float | None = None  # GiB on the device after the model is on it; None on CPU
    device: str = "cpu"
    precision: str = "fp32"
    world_size: int = 1
    cached_item_features: bool = False
    timed_steps: int | None = None  # steps a timing probe (train.timing_only) timed; None for a trained run
    full_epoch_steps: int | None = None  # a timing probe's steps of one full epoch (its loader's length)
    step_seconds: tuple[float, ...] = ()  # a timing probe's timed steps, in order (their median makes its s/epoch)

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, source: str = "metrics") -> RunMetrics:
        """Build from metrics.json content; unknown or missing keys and bad values raise ValueError naming them."""
        if not isinstance(d, dict):
            raise ValueError(f"{source}: expected an object, got {type(d).__name__}")
        return validate_plain(cls, d, source)  # JSON mode: strict, yet `run` may be a plain object

    @classmethod
    def load(cls, path: str | os.PathLike) -> RunMetrics:
        """Read and check a metrics.json."""
        return cls.from_dict(read_json(path), source=str(path))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (round-trips through from_dict)."""
        return self.model_dump(mode="json")

    def save(self, path: str | os.PathLike) -> None:
        """Write metrics.json atomically."""
        write_json(path, self.to_dict())
