"""Plan one run from the validated config: the training rule's inputs and its run.json, from one set of paths."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from transrec.methods.base import build_method
from transrec.runs import NOPT, Run
from transrec.studies.config_check import MULTIMODAL, method_spec, objective_spec
from transrec.studies.expand import init_checkpoint, parse_view, split_path
from transrec.train.config import RunConfig

BACKBONE_TRAINING = ("fta", "ftn")  # method kinds that train the item backbone's own weights

HPARAM_KEYS = (
    "epochs",
    "patience",
    "min_delta",
    "min_epochs",
    "max_steps_per_epoch",
    "timing_only",
    "batch_size",
    "lr",
    "dropout",
    "grad_clip",
)


def canonical(value: Any) -> Any:
    """`value` with every dict's keys sorted, so a rule's params do not change when only config key order does."""
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [canonical(item) for item in value]
    return value


@dataclass(frozen=True)
class Plan:
    """What a pre-training or adaptation run needs: the training rule's inputs and its run.json."""

    inputs: dict[str, str]  # split, sequence items, content, generated encoder weights, hidden-state stores
    run_json: dict[str, Any]  # the rule's params, written as run.json: canonical, every key RunConfig reads

    @property
    def run(self) -> RunConfig:
        """The run.json as the trainer reads it."""
        return RunConfig.from_dict(self.run_json)


def plan(config: dict, run: Run) -> Plan:
    """The inputs and run.json of pre-training or adaptation `run` (baselines: baseline_config)."""
    if run.stage == "baseline":
        raise ValueError(f"{run.out_dir}: a baseline is planned by baseline_config, it has no training run.json")
    base = parse_view(run.dataset)[0]
    encoder = config["encoders"][run.encoder]
    split, items = split_path(run.dataset), f"results/sequences/{base}/items.parquet"
    content = content_path(config, base, run.encoder)
    towers = content_paths(config, base, run.encoder) if encoder["kind"] == "multimodal" else {}
    stores = feature_stores(config, run)

    inputs = {"split": split, "sequence_items": items}
    if content:
        inputs["content"] = content
    if "random_init" in encoder:
        inputs["encoder"] = f"results/encoders/{run.encoder}"
    for modality, path in towers.items():  # each tower's content and, for a random-init tower, its saved weights
        inputs[f"{modality}_content"] = path
        if "random_init" in config["encoders"][encoder[modality]]:
            inputs[f"{modality}_encoder"] = f"results/encoders/{encoder[modality]}"
    inputs.update({f"{modality}_store": store for modality, store in stores.items()})

    hp = hyper_parameters(config, run)
    if run.stage == "pretrain":
        method, also_train = {"kind": "fta"}, ["item_encoder", "dtl", "user_encoder"]
    else:
        method, also_train = method_spec(config["methods"][run.method]), config["methods"][run.method]["also_train"]
    train = config["train"]
    run_json = {
        "stage": run.stage,
        "name": run.name.model_dump(),
        "data": {
            "split": split,
            "items": items,
            "content": {
                "kind": encoder["kind"],
                "path": content,
                "paths": towers,
                "stores": stores,
            },
        },
        "encoder": {
            "kind": encoder["kind"],
            "path": encoder_location(config, run.encoder),
            "paths": {m: encoder_location(config, encoder[m]) for m in towers},
            "image_mask_ratio": encoder["image_mask_ratio"],
        },
        "model": {**config["model"], "dropout": hp["dropout"], "max_len": config["datasets"][base]["max_len"]},
        "objective": objective_spec(config, run.objective)["loss"],
        "method": method,
        "also_train": also_train,
        "init_checkpoint": init_checkpoint(config, run),
        "optim": {"lr": hp["lr"], "weight_decay": train["weight_decay"], "grad_clip": hp["grad_clip"]},
        "train": {
            "epochs": hp["epochs"],
            "batch_size": hp["batch_size"][run.stage],
            "patience": hp["patience"],
            "min_delta": hp["min_delta"],
            "min_epochs": hp["min_epochs"],
            "num_workers": train["num_workers"],
            "threads": train["threads"],  # the rule passes its threads to the trainer, which uses those instead
            "seed": run.seed,
            "device": train["device"],
            "precision": train["precision"],
            "max_steps_per_epoch": hp["max_steps_per_epoch"],
            "timing_only": hp["timing_only"],
            "compile": train["compile"],
            "cache_frozen_features": train["cache_frozen_features"],
            "tensorboard": train["tensorboard"],
        },
        "eval": {
            "ks": train["ks"],
            "user_batch": train["eval_user_batch"],
            "item_batch": train["eval_item_batch"],
            "mask_history": train["mask_history"],
        },
        "out_dir": run.out_dir,
    }
    return Plan(inputs=inputs, run_json=canonical(run_json))


def run_config(config: dict, run: Run) -> RunConfig:
    """The typed run.json of pre-training or adaptation `run`: what the trainer reads."""
    return plan(config, run).run


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
    if spec["kind"] in ("id", "multimodal"):  # a multimodal encoder's towers have their own entries
        return None
    return spec.get("path") or f"results/encoders/{encoder}"


def content_paths(config: dict, dataset: str, encoder: str) -> dict[str, str]:
    """A multimodal encoder's content by modality: its text encoder's token cache and the dataset's LMDB images."""
    spec = config["encoders"][encoder]
    return {m: content_path(config, dataset, spec[m]) for m in MULTIMODAL}


def feature_stores(config: dict, run: Run) -> dict[str, str]:
    """Hidden-state stores {modality: folder} `run` reads instead of running its backbones; {} when it reads none.

    A store holds the outputs of the encoder's own weights, so only runs that keep exactly those weights frozen read
    one: a cached IISAN and the frozen baseline trained from scratch (a source-trained frozen backbone is cached per
    run instead).
    """
    spec = config["encoders"][run.encoder]
    if run.stage != "adapt" or run.start != NOPT or spec["kind"] == "id":
        return {}
    method = build_method(method_spec(config["methods"][run.method]))
    if not (
        (method.kind == "iisan" and method.cached)
        or (method.kind == "frozen" and config["train"]["cache_frozen_features"])
    ):
        return {}
    names = {m: spec[m] for m in MULTIMODAL} if spec["kind"] == "multimodal" else {spec["kind"]: run.encoder}
    return {m: f"results/features/{parse_view(run.dataset)[0]}/{name}" for m, name in names.items()}


def run_modality(config: dict, run: Run) -> str:
    """What the run's items are made of: its encoder's kind (text, image, multimodal), or the dataset's for ID items."""
    kind = config["encoders"][run.encoder]["kind"]
    return config["datasets"][parse_view(run.dataset)[0]]["modality"] if kind == "id" else kind


def hyper_parameters(config: dict, run: Run) -> dict[str, Any]:
    """The run's hyper-parameters: train < modalities.<m> < objectives.<o> < encoders.<e> < encoders.<e>.pretrain
    (a backbone trained from its random initialisation: `from_random_weights`) < methods.<m> (adaptation); later
    wins."""
    train = config["train"]
    merged: dict[str, Any] = {key: copy.deepcopy(train[key]) for key in HPARAM_KEYS if key in train}
    merged["dropout"] = config["model"]["dropout"]
    encoder = config["encoders"][run.encoder]
    layers = [
        config["modalities"].get(run_modality(config, run), {}),
        objective_spec(config, run.objective)["hparams"],
        encoder.get("hparams", {}),
        encoder.get("pretrain", {}) if from_random_weights(config, run) else {},
    ]
    if run.stage == "adapt":
        layers.append(config["methods"][run.method].get("hparams", {}))
    for layer in layers:
        for key, value in layer.items():
            merged[key] = {**merged[key], **value} if isinstance(value, dict) else value
    return merged


def from_random_weights(config: dict, run: Run) -> bool:
    """Whether the run trains its backbone from the encoder's random initialisation: source pre-training, or an
    adaptation from scratch (NoPT) that trains the backbone (FTA, top-n) of a `random_init` encoder. Both sit on a
    popularity plateau before they take off, so both take the encoder's `pretrain` schedule."""
    if run.stage == "pretrain":
        return True
    encoder = config["encoders"][run.encoder]
    kind = config["methods"][run.method]["kind"]
    return run.start == NOPT and "random_init" in encoder and kind in BACKBONE_TRAINING


def baseline_config(config: dict, run: Run) -> dict[str, Any]:
    """What an untrained baseline reads: the target's split and items, L, and the evaluation settings."""
    return canonical(
        {
            "baseline": run.method,
            "name": run.name.model_dump(),
            "split": split_path(run.dataset),
            "items": f"results/sequences/{parse_view(run.dataset)[0]}/items.parquet",
            "max_len": config["datasets"][parse_view(run.dataset)[0]]["max_len"],
            "ks": config["train"]["ks"],
            "mask_history": config["train"]["mask_history"],
            "out_dir": run.out_dir,
        }
    )
