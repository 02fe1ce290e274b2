"""Expand the validated config into training runs, their paths and their run.json contents; validate it first."""

from __future__ import annotations

import copy
from dataclasses import asdict
from pathlib import Path
from typing import Any

from transrec.runs import NOPT, RUN_DIRS, Run  # noqa: F401 (RUN_DIRS: workflow/rules/common.smk reads grid.RUN_DIRS)
from transrec.train.config import OBJECTIVES as LOSSES  # the losses the trainer knows

MULTIMODAL = ("text", "image")  # the towers a multimodal encoder entry names
SCHEMA = Path(__file__).resolve().parents[3] / "workflow" / "schemas" / "config.schema.yaml"
HPARAM_KEYS = ("epochs", "patience", "min_delta", "max_steps_per_epoch", "batch_size", "lr", "dropout", "grad_clip")
VIEW = "@"  # "mind@0.25": the nested 25 % user subsample of mind (scaling studies); "mind" is all of it


def canonical(value: Any) -> Any:
    """`value` with every dict's keys sorted, so a rule's params do not change when only config key order does."""
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [canonical(item) for item in value]
    return value


def resolve_config(config: dict, schema: str | Path = SCHEMA) -> dict:
    """A copy of `config` validated against the schema with its defaults filled in, then checked as a whole."""
    from snakemake.utils import validate

    resolved = copy.deepcopy(config)
    validate(resolved, str(schema))
    check_config(resolved)
    return resolved


def check_config(config: dict) -> None:
    """Everything a run will need, checked before any job: references, objectives, encoders, methods, data keys.

    Errors name the config key. Expects schema defaults to be filled in (resolve_config, or Snakemake's validate).
    """
    facts: dict[str, dict[str, Any]] = {}
    for name, spec in config["encoders"].items():
        if spec["kind"] == "multimodal":
            _check_multimodal_encoder(config, name)
        elif ("path" in spec) == ("random_init" in spec) and spec["kind"] != "id":
            raise ValueError(f"encoders.{name}: give exactly one of path or random_init")
    model = config["model"]
    if model["d_model"] % model["n_heads"]:
        raise ValueError(f"model.n_heads: {model['n_heads']} does not divide model.d_model {model['d_model']}")
    for name, exp in config["experiments"].items():
        roles = ("source", "target") if "source" in exp else ("target",)
        for role in roles:
            if exp[role] not in config["datasets"]:
                raise ValueError(f"experiments.{name}.{role}: unknown dataset {exp[role]!r}")
        if exp["encoder"] not in config["encoders"]:
            raise ValueError(f"experiments.{name}.encoder: unknown encoder {exp['encoder']!r}")
        encoder = config["encoders"][exp["encoder"]]
        for role in roles:
            modality = config["datasets"][exp[role]]["modality"]
            # a multimodal dataset carries titles and images: a text or an image encoder reads its own half
            if encoder["kind"] not in (modality, "id") and not (
                modality == "multimodal" and encoder["kind"] in MULTIMODAL
            ):
                raise ValueError(
                    f"experiments.{name}: encoder {exp['encoder']!r} is {encoder['kind']}, "
                    f"dataset {exp[role]!r} is {modality}"
                )
        for objective in exp["objectives"]:
            objective_spec(config, objective, where=f"experiments.{name}.objectives")
        if exp["encoder"] not in facts:
            facts[exp["encoder"]] = _encoder_facts(config, exp["encoder"])
        if "source" in exp:  # IISAN reads the encoder's own frozen backbones (and their store), not a source's
            for method in exp["methods"]:
                if method in config["methods"] and config["methods"][method]["kind"] == "iisan":
                    raise ValueError(
                        f"experiments.{name}.methods: {method!r} is IISAN, which adapts the encoder's own "
                        "frozen backbones; list it under nopt_methods"
                    )
        for key in ("methods", "nopt_methods"):
            for method in exp[key]:
                if method not in config["methods"]:
                    raise ValueError(f"experiments.{name}.{key}: unknown method {method!r}")
                _check_method(config, method, facts[exp["encoder"]])
    for name, dataset in config["datasets"].items():
        if dataset["source"] == "raw" and not dataset.get("raw_dir"):
            raise ValueError(f"datasets.{name}.raw_dir: required when source is raw")
        _check_ingest_options(name, dataset)
    for name, study in config["studies"].items():
        _check_study(config, name, study, facts)


def _check_ingest_options(name: str, dataset: dict) -> None:
    """File roles and limits against the dataset's raw format (e.g. an H&M role on a MIND dataset)."""
    from transrec.data.ingest import resolve_options

    try:
        resolve_options(dataset["format"], {"files": dataset["files"], "max_bad_fraction": dataset["max_bad_fraction"]})
    except ValueError as err:
        raise ValueError(f"datasets.{name}: {err}") from err


def _check_study(config: dict, name: str, study: dict, facts: dict[str, dict[str, Any]]) -> None:
    """A study's references: experiments, encoders (matching each experiment's modalities), objectives, methods."""
    where = f"studies.{name}"
    for exp_name in study["experiments"]:
        if exp_name not in config["experiments"]:
            raise ValueError(f"{where}.experiments: unknown experiment {exp_name!r}")
        exp = config["experiments"][exp_name]
        for encoder in study["encoders"]:
            if encoder not in config["encoders"]:
                raise ValueError(f"{where}.encoders: unknown encoder {encoder!r}")
            kind = config["encoders"][encoder]["kind"]
            for role in ("source", "target"):
                modality = config["datasets"][exp[role]]["modality"] if role in exp else kind
                if kind not in (modality, "id") and not (modality == "multimodal" and kind in MULTIMODAL):
                    raise ValueError(f"{where}.encoders: {encoder!r} is {kind}, experiment {exp_name!r} is {modality}")
        for encoder in study["encoders"] or [exp["encoder"]]:
            if encoder not in facts:
                facts[encoder] = _encoder_facts(config, encoder)
            for method in study["methods"]:
                if method not in config["methods"]:
                    raise ValueError(f"{where}.methods: unknown method {method!r}")
                _check_method(config, method, facts[encoder])
                if config["methods"][method]["kind"] == "iisan" and "source" in exp and study["pretrained"]:
                    raise ValueError(
                        f"{where}.methods: {method!r} is IISAN, which adapts the encoder's own frozen "
                        f"backbones; experiment {exp_name!r} has a source (set pretrained: false)"
                    )
    for objective in study["objectives"]:
        objective_spec(config, objective, where=f"{where}.objectives")


def _check_multimodal_encoder(config: dict, name: str) -> None:
    """A multimodal encoder names an existing text encoder and image encoder."""
    spec = config["encoders"][name]
    for m in MULTIMODAL:
        if m not in spec:
            raise ValueError(f"encoders.{name}.{m}: a multimodal encoder names its {m} encoder")
        if spec[m] not in config["encoders"] or config["encoders"][spec[m]]["kind"] != m:
            raise ValueError(f"encoders.{name}.{m}: {spec[m]!r} is not an encoder of kind {m} in `encoders`")


def _encoder_facts(config: dict, name: str) -> dict[str, Any]:
    """encoder_facts of an encoder; a multimodal one gives its text tower's facts with kind multimodal
    and each tower's."""
    from transrec.models.encoder_facts import encoder_facts

    spec = config["encoders"][name]
    if spec["kind"] != "multimodal":
        return encoder_facts(spec, f"encoders.{name}")
    towers = {m: encoder_facts(config["encoders"][spec[m]], f"encoders.{spec[m]}") for m in MULTIMODAL}
    return {**towers["text"], "kind": "multimodal", "towers": towers}


def _check_method(config: dict, name: str, encoder: dict[str, Any]) -> None:
    """The method's own fields against its plug-in and the encoder it runs on, without building a model."""
    from transrec.methods import base

    spec = {k: v for k, v in config["methods"][name].items() if k not in ("also_train", "hparams")}
    user = {"n_blocks": config["model"]["n_blocks"], "d_model": config["model"]["d_model"]}
    where = f"methods.{name}"
    if hasattr(base, "validate_method"):
        base.validate_method(spec, {**encoder, "user": user}, where)
        method = base.build_method(spec)
        if hasattr(method, "check_also_train"):  # a plug-in whose new modules need base groups to train (IISAN)
            try:
                method.check_also_train(tuple(config["methods"][name].get("also_train", ())))
            except base.FieldError as err:
                raise ValueError(f"{where}.{err.field}: {err.message}") from None
        return
    try:
        method = base.build_method(spec)
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from err
    if spec["kind"] == "ftn" and not 0 <= method.n <= encoder["num_hidden_layers"]:
        raise ValueError(f"{where}.n: {method.n}, but the encoder has {encoder['num_hidden_layers']} layers")


def objective_spec(config: dict, name: str, *, where: str = "objective") -> dict[str, Any]:
    """{"loss": ..., "hparams": {...}} of a named objective; a bare loss name stands for that loss alone."""
    named = config.get("objectives", {})
    if name in named:
        return {"hparams": {}, **named[name]}
    if name in LOSSES:
        return {"loss": name, "hparams": {}}
    raise ValueError(f"{where}: unknown objective {name!r}; define it under `objectives` or use one of {list(LOSSES)}")


def expand_runs(config: dict) -> list[Run]:
    """Every run of every experiment and study (each once), with the pre-training runs they start from."""
    runs: dict[Run, None] = {}
    for exp in config["experiments"].values():
        source = exp.get("source")
        for seed in exp["seeds"]:
            for baseline in exp["baselines"]:
                runs[Run("baseline", exp["target"], "none", "none", baseline, NOPT, seed)] = None
            for objective in exp["objectives"]:
                common = dict(encoder=exp["encoder"], objective=objective, seed=seed)
                for method in exp["methods"]:
                    runs[Run("adapt", exp["target"], method=method, start=source or NOPT, **common)] = None
                for method in exp["nopt_methods"]:
                    runs[Run("adapt", exp["target"], method=method, start=NOPT, **common)] = None
    for study in config["studies"]:
        runs.update(dict.fromkeys(study_runs(config, study)))
    for run in list(runs):  # every adaptation's source pre-training
        source = source_run(config, run)
        if source is not None:
            runs[source] = None
    order = {"pretrain": 0, "adapt": 1, "baseline": 2}
    return sorted(runs, key=lambda r: (order[r.stage], *(str(v) for v in asdict(r).values())))


def study_runs(config: dict, name: str) -> list[Run]:
    """The adaptation runs study `name` reads: experiments x encoders x objectives x methods x fractions x seeds."""
    study = config["studies"][name]
    runs: dict[Run, None] = {}
    for exp_name in study["experiments"]:
        exp = config["experiments"][exp_name]
        source = exp.get("source")
        for encoder in study["encoders"] or [exp["encoder"]]:
            for objective in study["objectives"] or exp["objectives"]:
                for seed in study["seeds"] or exp["seeds"]:
                    for target_fraction in study["target_fractions"]:
                        target = view(exp["target"], target_fraction)
                        for method in study["methods"]:
                            common = dict(encoder=encoder, objective=objective, method=method, seed=seed)
                            if source and study["pretrained"]:
                                for source_fraction in study["source_fractions"]:
                                    runs[Run("adapt", target, start=view(source, source_fraction), **common)] = None
                            if study["nopt"] or not source or not study["pretrained"]:
                                runs[Run("adapt", target, start=NOPT, **common)] = None
    return list(runs)


def study_metrics(config: dict, name: str) -> list[str]:
    """The metrics.json of every run of study `name`."""
    return [f"{run.out_dir}/metrics.json" for run in study_runs(config, name)]


def study_outputs(config: dict) -> list[str]:
    """The table or figure file of every study."""
    return [
        f"results/tables/{name}.md" if "table" in study else f"results/figures/{name}.png"
        for name, study in config["studies"].items()
    ]


def view(dataset: str, fraction: float) -> str:
    """The name of `fraction` of `dataset`'s users ("mind@0.25"); the whole dataset keeps its plain name."""
    return dataset if fraction >= 1 else f"{dataset}{VIEW}{fraction:g}"


def parse_view(name: str) -> tuple[str, float]:
    """("mind", 0.25) from "mind@0.25"; ("mind", 1.0) from "mind"."""
    dataset, _, fraction = name.partition(VIEW)
    return dataset, float(fraction) if fraction else 1.0


def split_path(name: str) -> str:
    """The split a run on dataset view `name` trains and evaluates on."""
    dataset, fraction = parse_view(name)
    if fraction >= 1:
        return f"results/split/{dataset}/split.parquet"
    return f"results/subsample/{dataset}/{fraction:g}/split.parquet"


def source_run(config: dict, run: Run) -> Run | None:
    """The source pre-training an adaptation starts from (None for NoPT and pre-training): the one pre-trained with
    `source_seed` when set (every adaptation seed shares it), else the one with the adaptation's own seed."""
    if run.stage != "adapt" or run.start == NOPT:
        return None
    seed = run.seed if config.get("source_seed") is None else config["source_seed"]
    return Run("pretrain", run.start, run.encoder, run.objective, "fta", NOPT, seed)


def init_checkpoint(config: dict, run: Run) -> str | None:
    """The best.pt of the source pre-training an adaptation starts from; None for NoPT and pre-training."""
    source = source_run(config, run)
    return None if source is None else f"{source.out_dir}/best.pt"


def metrics_targets(config: dict) -> list[str]:
    """The metrics.json of every run, in a stable order."""
    return [f"{run.out_dir}/metrics.json" for run in expand_runs(config)]


def run_inputs(config: dict, run: Run) -> dict[str, str]:
    """Split, items, item content and generated encoder weights a run reads (the training rules' inputs)."""
    base = parse_view(run.dataset)[0]
    inputs = {"split": split_path(run.dataset), "sequence_items": f"results/sequences/{base}/items.parquet"}
    if run.stage == "baseline":
        return inputs
    content = content_path(config, base, run.encoder)
    if content:
        inputs["content"] = content
    spec = config["encoders"][run.encoder]
    if "random_init" in spec:
        inputs["encoder"] = f"results/encoders/{run.encoder}"
    if spec["kind"] == "multimodal":  # each tower's content and, for a random-init tower, its saved weights
        for modality, path in content_paths(config, base, run.encoder).items():
            inputs[f"{modality}_content"] = path
            if "random_init" in config["encoders"][spec[modality]]:
                inputs[f"{modality}_encoder"] = f"results/encoders/{spec[modality]}"
    # adaptation: the hidden-state stores it reads (cached IISAN, frozen baseline)
    inputs.update({f"{modality}_store": store for modality, store in feature_stores(config, run).items()})
    return inputs


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
    from transrec.methods.base import build_method

    method = {k: v for k, v in config["methods"][run.method].items() if k not in ("also_train", "hparams")}
    kind = method["kind"]
    if not (
        (kind == "iisan" and build_method(method).cached)
        or (kind == "frozen" and config["train"]["cache_frozen_features"])
    ):
        return {}
    names = {m: spec[m] for m in MULTIMODAL} if spec["kind"] == "multimodal" else {spec["kind"]: run.encoder}
    return {m: f"results/features/{parse_view(run.dataset)[0]}/{name}" for m, name in names.items()}


def _multimodal_content(config: dict, run: Run) -> dict[str, Any]:
    """run.json's data.content keys beyond kind and path, present only when set
    (other runs' params stay as they were)."""
    extra: dict[str, Any] = {}
    if config["encoders"][run.encoder]["kind"] == "multimodal":
        extra["paths"] = content_paths(config, parse_view(run.dataset)[0], run.encoder)
    stores = feature_stores(config, run)
    if stores:
        extra["stores"] = stores
    return extra


def run_modality(config: dict, run: Run) -> str:
    """What the run's items are made of: its encoder's kind (text, image, multimodal), or the dataset's for ID items."""
    kind = config["encoders"][run.encoder]["kind"]
    return config["datasets"][parse_view(run.dataset)[0]]["modality"] if kind == "id" else kind


def hyper_parameters(config: dict, run: Run) -> dict[str, Any]:
    """The run's hyper-parameters: train < modalities.<m> < objectives.<o> < encoders.<e> < then, by stage,
    encoders.<e>.pretrain (source pre-training) or methods.<m> (adaptation); later wins."""
    train = config["train"]
    merged: dict[str, Any] = {key: copy.deepcopy(train[key]) for key in HPARAM_KEYS if key in train}
    merged["dropout"] = config["model"]["dropout"]
    encoder = config["encoders"][run.encoder]
    layers = [
        config["modalities"].get(run_modality(config, run), {}),
        objective_spec(config, run.objective)["hparams"],
        encoder.get("hparams", {}),
        encoder.get("pretrain", {}) if run.stage == "pretrain" else {},
    ]
    if run.stage == "adapt":
        layers.append(config["methods"][run.method].get("hparams", {}))
    for layer in layers:
        for key, value in layer.items():
            merged[key] = {**merged[key], **value} if isinstance(value, dict) else value
    return merged


def run_config(config: dict, run: Run) -> dict[str, Any]:
    """The run.json of `run`: the trainer's only input (transrec.train.config.RunConfig)."""
    if run.stage == "baseline":
        return baseline_config(config, run)
    base = parse_view(run.dataset)[0]
    dataset = config["datasets"][base]
    encoder = config["encoders"][run.encoder]
    hp = hyper_parameters(config, run)
    if run.stage == "pretrain":
        method, also_train = {"kind": "fta"}, ["item_encoder", "dtl", "user_encoder"]
    else:
        method = {k: v for k, v in config["methods"][run.method].items() if k not in ("also_train", "hparams")}
        also_train = config["methods"][run.method]["also_train"]
    train = config["train"]
    return canonical(
        {
            "stage": run.stage,
            "name": {k: v for k, v in asdict(run).items() if k != "stage"},
            "data": {
                "split": split_path(run.dataset),
                "items": f"results/sequences/{base}/items.parquet",
                "content": {
                    "kind": encoder["kind"],
                    "path": content_path(config, base, run.encoder),
                    **_multimodal_content(config, run),
                },
            },
            "encoder": {
                "kind": encoder["kind"],
                "path": encoder_location(config, run.encoder),
                **(
                    {"paths": {m: encoder_location(config, encoder[m]) for m in MULTIMODAL}}
                    if encoder["kind"] == "multimodal"
                    else {}
                ),
                "image_mask_ratio": encoder["image_mask_ratio"],
            },
            "model": {**config["model"], "dropout": hp["dropout"], "max_len": dataset["max_len"]},
            "objective": objective_spec(config, run.objective)["loss"],
            "method": method,
            "also_train": also_train,
            "init_checkpoint": init_checkpoint(config, run),
            "optim": {"lr": hp["lr"], "weight_decay": 0.0, "grad_clip": hp["grad_clip"]},
            "train": {
                "epochs": hp["epochs"],
                "batch_size": hp["batch_size"][run.stage],
                "patience": hp["patience"],
                "min_delta": hp["min_delta"],
                "num_workers": train["num_workers"],
                "seed": run.seed,
                "device": train["device"],
                "precision": train["precision"],
                "max_steps_per_epoch": hp["max_steps_per_epoch"],
                "compile": train["compile"],
                "cache_frozen_features": train["cache_frozen_features"],
                **({"tensorboard": True} if train["tensorboard"] else {}),  # absent when off: no run's params change
            },
            "eval": {"ks": train["ks"], "mask_history": train["mask_history"]},
            "out_dir": run.out_dir,
        }
    )


def baseline_config(config: dict, run: Run) -> dict[str, Any]:
    """What an untrained baseline reads: the target's split and items, L, and the evaluation settings."""
    return canonical(
        {
            "baseline": run.method,
            "name": {k: v for k, v in asdict(run).items() if k != "stage"},
            "split": split_path(run.dataset),
            "items": f"results/sequences/{parse_view(run.dataset)[0]}/items.parquet",
            "max_len": config["datasets"][parse_view(run.dataset)[0]]["max_len"],
            "ks": config["train"]["ks"],
            "mask_history": config["train"]["mask_history"],
            "out_dir": run.out_dir,
        }
    )
