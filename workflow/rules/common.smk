"""Helpers shared by the rules: config validation, wildcard constraints, per-dataset inputs and settings."""

import sys

from snakemake.settings.types import DeploymentMethod
from snakemake.utils import validate

from transrec.studies import grid

# Defaults live in the schema only: validation fills them in, so nothing below falls back to a value of its own.
validate(config, "../schemas/config.schema.yaml")
grid.check_config(config)  # everything a run needs, before the first job

DATASETS = list(config["datasets"])
PRETRAIN_DIR = grid.RUN_DIRS["pretrain"]
ADAPT_DIR = grid.RUN_DIRS["adapt"]
BASELINE_DIR = grid.RUN_DIRS["baseline"]
# only configured study names: results/tables/runs.md stays the runs table's
STUDY_NAMES = "|".join(config["studies"]) or "(?!)"
# the download rule makes data/raw/<name> only for datasets whose source is download (a raw folder is never replaced)
DOWNLOADED = (
    "|".join(n for n, d in config["datasets"].items() if d["source"] == "download")
    or "(?!)"
)


wildcard_constraints:
    dataset="[a-z][a-z0-9_]*(@0\.[0-9]+)?",
    encoder="[a-z][a-z0-9_]*",
    objective="[a-z][a-z0-9_]*",
    method="[a-z][a-z0-9_]*",
    start="[a-z][a-z0-9_]*(@0\.[0-9]+)?",
    seed=r"\d+",
    fraction=r"0\.\d+|1\.0",
    study=STUDY_NAMES,


def dataset_config(wildcards):
    """This dataset's slice of config: a change reruns only its jobs."""
    return grid.canonical(config["datasets"][wildcards.dataset])


def dataset_format(wildcards):
    """The raw format of a dataset."""
    return dataset_config(wildcards)["format"]


def raw_dir(wildcards):
    """The raw files of a dataset: generated synthetic data, the downloaded release, or the configured folder."""
    settings = dataset_config(wildcards)
    if settings["source"] == "synthetic":
        return f"data/synthetic/{wildcards.dataset}"
    if settings["source"] == "download":  # rule download makes it
        return f"data/raw/{wildcards.dataset}"
    return settings["raw_dir"]


def download_settings(wildcards):
    """The download block of a `source: download` dataset."""
    return dataset_config(wildcards)["download"]


def recommend_settings(wildcards):
    """k and history of the recommend rule."""
    return config["recommend"]


def synthetic_settings(wildcards):
    """Format, scale and seed of a synthetic dataset."""
    settings = dataset_config(wildcards)
    return {
        "dataset_format": settings["format"],
        "scale": settings["synthetic_scale"],
        "seed": config["seed"],
    }


def ingest_options(wildcards):
    """Ingest options: the malformed-row limit, file names, and the format's own (history limit, duplicates)."""
    settings = dataset_config(wildcards)
    options = {
        "max_bad_fraction": settings["max_bad_fraction"],
        "files": settings["files"],
    }
    if settings["format"] == "mind":
        options["history_limit"] = settings["history_limit"]
    if settings["format"] in ("hm", "adressa", "amazon"):
        options["duplicates"] = settings["duplicates"]
    return options


def item_table(wildcards):
    """Items after translation when the dataset is translated, else straight from ingest."""
    if dataset_config(wildcards).get("translation"):
        return f"results/translate/{wildcards.dataset}/items.parquet"
    return f"results/ingest/{wildcards.dataset}/items.parquet"


def translation_settings(wildcards):
    """The translation block of a dataset."""
    settings = dataset_config(wildcards).get("translation")
    if not settings:
        raise ValueError(f"datasets.{wildcards.dataset} has no translation block")
    return settings


def image_report(wildcards):
    """The LMDB report, which the sequences stage reads to drop items without images (policy drop)."""
    settings = dataset_config(wildcards)
    if settings["modality"] in ("image", "multimodal"):
        return [f"results/images/{wildcards.dataset}/image_report.tsv"]
    return []


def sequence_settings(wildcards):
    """Filtering, sampling and truncation settings of a dataset."""
    settings = dataset_config(wildcards)
    return {
        "max_len": settings["max_len"],
        "min_interactions": settings["min_interactions"],
        "sample_users": settings["sample_users"],
        "seed": config["seed"],
        "lowercase_titles": settings["modality"] == "text",
        "drop_missing_images": settings["images"]["policy"] == "drop",
    }


def image_settings(wildcards):
    """LMDB image store settings of a dataset."""
    return dataset_config(wildcards)["images"]


def encoder_config(wildcards):
    """This encoder's slice of config."""
    return grid.canonical(config["encoders"][wildcards.encoder])


def random_encoder_spec(wildcards):
    """Kind, config fields (and tokenizer) of a randomly initialised encoder: only what shapes its weights, so that
    editing e.g. its max_tokens does not remake the weights and retrain every run on them.
    """
    spec = encoder_config(wildcards)
    return {
        key: spec[key] for key in ("kind", "random_init", "tokenizer") if key in spec
    }


def tokenizer_location(wildcards):
    """The tokenizer of a text encoder."""
    spec = encoder_config(wildcards)
    if spec["kind"] != "text":
        raise ValueError(f"encoders.{wildcards.encoder} is not a text encoder")
    return spec.get("tokenizer") or spec["path"]


def data_targets(wildcards):
    """Every dataset's split and verified content, and the scaling subsamples of every experiment's datasets."""
    targets = []
    for dataset, settings in config["datasets"].items():
        targets.append(f"results/split/{dataset}/split.parquet")
        if settings["modality"] in ("image", "multimodal"):
            targets.append(f"results/images/{dataset}/verify.json")
        for fraction in config["subsample"]["fractions"]:
            targets.append(f"results/subsample/{dataset}/{fraction}/split.parquet")
    return targets


def pretrain_run_config(wildcards):
    """The run.json contents of a pre-training run."""
    return grid.plan(config, grid.Run.from_wildcards("pretrain", wildcards)).run_json


def adapt_run_config(wildcards):
    """The run.json contents of an adaptation run."""
    return grid.plan(config, grid.Run.from_wildcards("adapt", wildcards)).run_json


def baseline_run_config(wildcards):
    """What an untrained baseline reads."""
    return grid.baseline_config(config, grid.Run.from_wildcards("baseline", wildcards))


def baseline_inputs(wildcards):
    """The target's split and items a baseline ranks."""
    return {
        "split": f"results/split/{wildcards.dataset}/split.parquet",
        "sequence_items": f"results/sequences/{wildcards.dataset}/items.parquet",
    }


def training_inputs(wildcards):
    """Split, items, item content, encoder weights and hidden-state stores a run reads."""
    stage = "adapt" if hasattr(wildcards, "method") else "pretrain"
    return grid.plan(config, grid.Run.from_wildcards(stage, wildcards)).inputs


def feature_store_inputs(wildcards):
    """What a hidden-state store is computed from: the sequence items, their content, a random encoder's weights."""
    inputs = {
        "sequence_items": f"results/sequences/{wildcards.dataset}/items.parquet",
        "content": grid.content_path(config, wildcards.dataset, wildcards.encoder),
    }
    if "random_init" in config["encoders"][wildcards.encoder]:
        inputs["encoder"] = f"results/encoders/{wildcards.encoder}"
    return inputs


def feature_store_settings(wildcards):
    """The encoder's modality and location, the batch size and the device of a store build."""
    spec = encoder_config(wildcards)
    if spec["kind"] not in ("text", "image"):
        raise ValueError(
            f"encoders.{wildcards.encoder}: a hidden-state store is built per text or image encoder"
        )
    return {
        "modality": spec["kind"],
        "path": grid.encoder_location(config, wildcards.encoder),
        "batch_size": config["train"]["store_batch_size"],
        "device": config["train"]["device"],
    }


def source_checkpoint(wildcards):
    """The source run's best checkpoint an adaptation starts from (none for NoPT)."""
    source = grid.init_checkpoint(config, grid.Run.from_wildcards("adapt", wildcards))
    return [source] if source else []


def python_executable():
    """The env's `python` under --use-conda, else the interpreter running Snakemake (an unactivated venv works)."""
    if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
        return "python"
    return sys.executable


def train_launcher(wildcards, threads):
    """`python -m` on one device (through the warm-start server unless train.warm_start is off: docs/warm_start.md),
    torchrun (DDP) when train.gpus > 1.

    Takes `threads` so Snakemake resolves it at job time and does not record it: moving the venv reruns nothing.
    """
    gpus = config["train"]["gpus"]
    python = python_executable()
    if gpus > 1:
        return f"{python} -m torch.distributed.run --standalone --nproc_per_node {gpus} -m transrec.train"
    if config["train"]["warm_start"]:
        return f"{python} -m transrec.train.warm"
    return f"{python} -m transrec.train"


def training_threads(wildcards):
    """CPU threads of a training job (train.threads): 1 lets tiny runs train side by side on a small machine."""
    return config["train"]["threads"]


def training_gpus(wildcards):
    """GPUs a training job asks the scheduler for."""
    return config["train"]["gpus"]


def all_metrics(wildcards):
    """metrics.json of every run of every experiment."""
    return grid.metrics_targets(config)


def study_metrics(wildcards):
    """metrics.json of every run of one study."""
    return grid.study_metrics(config, wildcards.study)


def study_spec(wildcards):
    """One study's config entry (its caption, layout and what it varies)."""
    return grid.canonical(config["studies"][wildcards.study])


def method_kinds(wildcards):
    """The plug-in kind of each method the study lists."""
    return {
        m: config["methods"][m]["kind"]
        for m in config["studies"][wildcards.study]["methods"]
    }


def encoder_modalities(wildcards):
    """What each encoder's items are made of (its kind: text, image, multimodal, id)."""
    return grid.canonical(
        {name: spec["kind"] for name, spec in config["encoders"].items()}
    )


def study_targets(wildcards):
    """The table or figure of every study."""
    return grid.study_outputs(config)


def summary_experiments(wildcards):
    """The experiments whose findings the summary tests."""
    return grid.canonical(config["experiments"])


def summary_methods(wildcards):
    """The method entries (kind and fields) the summary reads."""
    return grid.canonical(config["methods"])


def summary_encoders(wildcards):
    """The encoder entries: the summary tells random initialisations from pre-trained backbones."""
    return grid.canonical(config["encoders"])
