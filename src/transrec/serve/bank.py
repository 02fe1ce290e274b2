"""Serve many targets from one process: the base model in memory once, each target's trainable tensors per request."""

from __future__ import annotations

import os
from pathlib import Path

from torch import Tensor, nn

from transrec.serve.model import catalogue_table, load_items, load_run
from transrec.serve.recommender import Recommender
from transrec.train import checkpoint
from transrec.train.config import RunConfig

SHARED = ("encoder", "model", "method", "also_train", "init_checkpoint", "objective")  # what the targets must share


class AdapterBank:
    """Targets adapted from one base (same encoder, source checkpoint, method and shape) share one model; a request
    for a target copies its trainable tensors (best.pt holds only those) into that model, then ranks its catalogue."""

    def __init__(self) -> None:
        self.model: nn.Module | None = None
        self.spec: dict | None = None
        self.targets: dict[str, Recommender] = {}
        self.tensors: dict[str, dict[str, Tensor]] = {}
        self.active: str | None = None

    def add(self, name: str, run_dir: str | os.PathLike, base_dir: str | os.PathLike = ".") -> None:
        """Register the finished run `run_dir` as target `name` (the first one builds the shared model)."""
        run_dir = Path(run_dir)
        run = RunConfig.load(run_dir / "run.json")
        spec = {key: value for key, value in run.to_dict().items() if key in SHARED}
        if self.model is None:
            _, self.model = load_run(run_dir, base_dir)
            self.spec = spec
        elif spec != self.spec:
            differing = sorted(k for k in SHARED if spec[k] != self.spec[k])
            raise ValueError(f"{run_dir}: cannot share the bank's model; run.json differs in {differing}")
        self.tensors[name] = checkpoint.load(run_dir / "best.pt")["trainable"]
        self._activate(name)
        table = catalogue_table(run, self.model, base_dir)
        self.targets[name] = Recommender(run, self.model, load_items(Path(base_dir) / run.data.items), table)

    def top_k(self, name: str, histories: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """(scores, item_idx) of target `name` for left-padded histories of its item_idx."""
        self._activate(name)
        return self.targets[name].top_k(histories, k)

    def _activate(self, name: str) -> None:
        if name not in self.tensors:
            raise KeyError(f"unknown target {name!r}; the bank holds {sorted(self.tensors)}")
        if self.active != name:
            checkpoint.load_trainable(self.model, self.tensors[name], source=f"target {name}")
            self.active = name

    def memory_bytes(self) -> dict[str, int]:
        """Tensor bytes held: the bank (one model + each target's tensors and item table) against one full model
        per target (each with its own copy of every weight, and its table)."""
        model = tensor_bytes(list(self.model.parameters()) + list(self.model.buffers()))
        tables = sum(tensor_bytes([r.table]) for r in self.targets.values())
        own = sum(tensor_bytes(list(t.values())) for t in self.tensors.values())
        return {
            "targets": len(self.targets),
            "model": model,
            "bank": model + own + tables,
            "full_models": len(self.targets) * model + tables,
        }


def tensor_bytes(tensors: list[Tensor]) -> int:
    """Bytes of distinct tensors (a tensor shared by two modules counted once)."""
    seen = {}
    for t in tensors:
        seen[(t.data_ptr(), t.numel(), t.dtype)] = t.numel() * t.element_size()
    return sum(seen.values())
