"""One run's identity: its coordinates in a study and its folder (grid, rules, trainer, metrics and tables share it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

NOPT = "nopt"
# One path pattern per stage; the rules use these patterns, so a run's folder is spelled in exactly one place.
RUN_DIRS = {
    "pretrain": "results/runs/pretrain/{dataset}/{encoder}/{objective}/{seed}",
    "adapt": "results/runs/adapt/{dataset}/{encoder}/{objective}/{method}/{start}/{seed}",
    "baseline": "results/runs/baseline/{dataset}/{method}/{seed}",
}


class RunName(BaseModel):
    """A training run's coordinates (run.json's `name`, copied into metrics.json): a Run without its stage."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str
    encoder: str
    objective: str
    method: str
    start: str
    seed: int


@dataclass(frozen=True)
class Run:
    """One run: pre-training (method "fta", start "nopt"), adaptation, or an untrained baseline."""

    stage: Literal["pretrain", "adapt", "baseline"]
    dataset: str
    encoder: str
    objective: str
    method: str
    start: str
    seed: int

    @property
    def name(self) -> RunName:
        """The run's coordinates without its stage (run.json's `name`)."""
        return RunName(**{k: v for k, v in asdict(self).items() if k != "stage"})

    @property
    def out_dir(self) -> str:
        """The run's folder under results/runs."""
        return RUN_DIRS[self.stage].format(**asdict(self))

    @classmethod
    def from_wildcards(cls, stage: str, wildcards: Any) -> Run:
        """The run a rule's wildcards name (fields a stage's path lacks take that stage's fixed values)."""
        fixed = (
            {
                "pretrain": {"method": "fta", "start": NOPT},
                "baseline": {"encoder": "none", "objective": "none", "start": NOPT},
            }[stage]
            if stage != "adapt"
            else {}
        )
        values = {f.name: fixed.get(f.name, getattr(wildcards, f.name, None)) for f in fields(cls) if f.name != "stage"}
        values["seed"] = int(values["seed"])
        return cls(stage=stage, **values)
