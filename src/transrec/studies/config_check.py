"""Validate a study config before any job: the schema (which fills the defaults), then references and methods."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from transrec.train.config import OBJECTIVES as LOSSES  # the losses the trainer knows

MULTIMODAL = ("text", "image")  # the towers a multimodal encoder entry names
SCHEMA = Path(__file__).resolve().parents[3] / "workflow" / "schemas" / "config.schema.yaml"


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
    _check_timing_probes(config)


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
    _check_published(where, study.get("table"))


def _check_published(where: str, table: dict | None) -> None:
    """Published rows belong to a table without columns and give only values the table shows."""
    if not table or not table.get("published"):
        return
    if table.get("columns"):
        raise ValueError(f"{where}.table.published: a table with columns takes no published rows")
    for i, entry in enumerate(table["published"]):
        extra = sorted(set(entry["values"]) - set(table["values"]))
        if extra:
            raise ValueError(f"{where}.table.published[{i}]: {extra} not among the table's values {table['values']}")


def _check_timing_probes(config: dict) -> None:
    """A run whose merged hyper-parameters say timing_only also caps its steps: they are the steps the probe times."""
    from transrec.studies.expand import expand_runs
    from transrec.studies.plan import hyper_parameters  # plan builds on this module: imported when called

    for run in expand_runs(config):
        if run.stage == "baseline":
            continue
        hparams = hyper_parameters(config, run)
        if hparams["timing_only"] and hparams["max_steps_per_epoch"] is None:
            where = f"methods.{run.method}.hparams" if run.stage == "adapt" else f"encoders.{run.encoder}.pretrain"
            raise ValueError(
                f"{where}: timing_only needs max_steps_per_epoch, the steps a timing probe times (run {run.out_dir})"
            )


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
    from transrec.methods.base import FieldError, build_method, validate_method

    entry = config["methods"][name]
    spec = method_spec(entry)
    user = {"n_blocks": config["model"]["n_blocks"], "d_model": config["model"]["d_model"]}
    where = f"methods.{name}"
    validate_method(spec, {**encoder, "user": user}, where)
    method = build_method(spec)
    if hasattr(method, "check_also_train"):  # a plug-in whose new modules need base groups to train (IISAN)
        try:
            method.check_also_train(tuple(entry.get("also_train", ())))
        except FieldError as err:
            raise ValueError(f"{where}.{err.field}: {err.message}") from None


def method_spec(entry: dict[str, Any]) -> dict[str, Any]:
    """A `methods` entry without the trainer's settings (also_train, hparams): the plug-in's kind and fields."""
    return {key: value for key, value in entry.items() if key not in ("also_train", "hparams")}


def objective_spec(config: dict, name: str, *, where: str = "objective") -> dict[str, Any]:
    """{"loss": ..., "hparams": {...}} of a named objective; a bare loss name stands for that loss alone."""
    named = config.get("objectives", {})
    if name in named:
        return {"hparams": {}, **named[name]}
    if name in LOSSES:
        return {"loss": name, "hparams": {}}
    raise ValueError(f"{where}: unknown objective {name!r}; define it under `objectives` or use one of {list(LOSSES)}")
