"""Expand the validated config into training runs, their paths and their run.json contents."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

NOPT = "nopt"
PRETRAIN_DIR = "results/runs/pretrain/{dataset}/{encoder}/{objective}/{seed}"
ADAPT_DIR = "results/runs/adapt/{dataset}/{encoder}/{objective}/{method}/{start}/{seed}"


@dataclass(frozen=True)
class Run:
    """One training run: pre-training (method "fta", start "nopt") or adaptation."""

    stage: str
    dataset: str
    encoder: str
    objective: str
    method: str
    start: str
    seed: int

    @property
    def out_dir(self) -> str:
        """The run's folder under results/runs."""
        template = PRETRAIN_DIR if self.stage == "pretrain" else ADAPT_DIR
        return template.format(**asdict(self))


def canonical(value: Any) -> Any:
    """`value` with every dict's keys sorted, so a rule's params do not change when only config key order does."""
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [canonical(item) for item in value]
    return value


def check_references(config: dict) -> None:
    """Fail with a message naming the key when an experiment names an unknown dataset, encoder or method."""
    for name, exp in config["experiments"].items():
        for role in ("source", "target"):
            if exp[role] not in config["datasets"]:
                raise ValueError(f"experiments.{name}.{role}: unknown dataset {exp[role]!r}")
        encoder = config["encoders"].get(exp["encoder"])
        if encoder is None:
            raise ValueError(f"experiments.{name}.encoder: unknown encoder {exp['encoder']!r}")
        for role in ("source", "target"):
            modality = config["datasets"][exp[role]]["modality"]
            if encoder["kind"] not in (modality, "id"):
                raise ValueError(
                    f"experiments.{name}: encoder {exp['encoder']!r} is {encoder['kind']}, "
                    f"dataset {exp[role]!r} is {modality}"
                )
        for key in ("methods", "nopt_methods"):
            for method in exp.get(key, []):
                if method not in config["methods"]:
                    raise ValueError(f"experiments.{name}.{key}: unknown method {method!r}")
    for name, spec in config["encoders"].items():
        if ("path" in spec) == ("random_init" in spec) and spec["kind"] != "id":
            raise ValueError(f"encoders.{name}: give exactly one of path or random_init")


def expand_runs(config: dict) -> list[Run]:
    """Every run of every experiment: source pre-training, then adaptation from it and from scratch (NoPT)."""
    runs: dict[Run, None] = {}
    for exp in config["experiments"].values():
        for objective in exp.get("objectives", ["sasrec"]):
            for seed in exp.get("seeds", [config.get("seed", 42)]):
                common = dict(encoder=exp["encoder"], objective=objective, seed=seed)
                runs[Run("pretrain", exp["source"], method="fta", start=NOPT, **common)] = None
                for method in exp["methods"]:
                    runs[Run("adapt", exp["target"], method=method, start=exp["source"], **common)] = None
                for method in exp.get("nopt_methods", []):
                    runs[Run("adapt", exp["target"], method=method, start=NOPT, **common)] = None
    return list(runs)


def init_checkpoint(run: Run) -> str | None:
    """The best.pt of the source pre-training an adaptation starts from; None for NoPT and pre-training."""
    if run.start == NOPT:
        return None
    source = Run("pretrain", run.start, run.encoder, run.objective, "fta", NOPT, run.seed)
    return f"{source.out_dir}/best.pt"


def metrics_targets(config: dict) -> list[str]:
    """The metrics.json of every run, in a stable order."""
    return [f"{run.out_dir}/metrics.json" for run in expand_runs(config)]


def content_path(config: dict, dataset: str, encoder: str) -> str | None:
    """Where the item content of `dataset` for `encoder` lives (token cache, LMDB, or nothing for ids)."""
    kind = config["encoders"][encoder]["kind"]
    if kind == "text":
        return f"results/tokens/{dataset}/{encoder}.npz"
    if kind == "image":
        return f"results/images/{dataset}/images.lmdb"
    return None


def encoder_location(config: dict, encoder: str) -> str | None:
    """The encoder's weights: its configured path, or the folder rule make_random_encoder writes."""
    spec = config["encoders"][encoder]
    if spec["kind"] == "id":
        return None
    return spec.get("path") or f"results/encoders/{encoder}"


def run_config(config: dict, run: Run) -> dict[str, Any]:
    """The run.json of `run`: the trainer's only input (transrec.train.config.RunConfig)."""
    dataset = config["datasets"][run.dataset]
    encoder = config["encoders"][run.encoder]
    modality = config.get("modalities", {}).get(dataset["modality"], {})
    method = dict(config["methods"][run.method])
    also_train = method.pop("also_train", ["dtl", "user_encoder"])
    if run.stage == "pretrain":
        also_train = ["item_encoder", "dtl", "user_encoder"]
    train = dict(config.get("train", {}))
    batch_size = modality.get("batch_size", {}).get(run.stage, 32)
    return canonical({
        "stage": run.stage,
        "name": {k: v for k, v in asdict(run).items() if k != "stage"},
        "data": {
            "split": f"results/split/{run.dataset}/split.parquet",
            "items": f"results/sequences/{run.dataset}/items.parquet",
            "content": {"kind": encoder["kind"], "path": content_path(config, run.dataset, run.encoder)},
        },
        "encoder": {
            "kind": encoder["kind"],
            "path": encoder_location(config, run.encoder),
            "image_mask_ratio": encoder.get("image_mask_ratio", 0.0),
        },
        "model": {**config.get("model", {}), "max_len": dataset["max_len"]},
        "objective": run.objective,
        "method": method,
        "also_train": also_train,
        "init_checkpoint": init_checkpoint(run),
        "optim": {"lr": modality.get("lr", {}), "weight_decay": 0.0, "grad_clip": train.get("grad_clip")},
        "train": {
            "epochs": train.get("epochs", 10),
            "batch_size": batch_size,
            "patience": train.get("patience", 3),
            "num_workers": train.get("num_workers", 0),
            "seed": run.seed,
            "device": train.get("device", "auto"),
            "precision": train.get("precision", "auto"),
            "max_steps_per_epoch": train.get("max_steps_per_epoch"),
            "compile": train.get("compile", False),
            "cache_frozen_features": train.get("cache_frozen_features", True),
        },
        "eval": {"ks": train.get("ks", [10]), "mask_history": train.get("mask_history", True)},
        "out_dir": run.out_dir,
    })
