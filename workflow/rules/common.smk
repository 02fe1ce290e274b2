"""Helpers shared by the rules: config validation, wildcard constraints, per-dataset inputs and settings."""

import sys

from snakemake.settings.types import DeploymentMethod
from snakemake.utils import validate

from transrec.studies import grid

validate(config, "../schemas/config.schema.yaml")
grid.check_references(config)

RUNS = grid.expand_runs(config)
DATASETS = list(config["datasets"])


wildcard_constraints:
    dataset="[a-z][a-z0-9_]*",
    encoder="[a-z][a-z0-9_]*",
    objective="sasrec|cpc|inbatch",
    method="[a-z][a-z0-9_]*",
    start="[a-z][a-z0-9_]*",
    seed=r"\d+",
    fraction=r"0\.\d+|1\.0",


def dataset_config(wildcards):
    """This dataset's slice of config: a change reruns only its jobs."""
    return grid.canonical(config["datasets"][wildcards.dataset])


def dataset_format(wildcards):
    """The raw format of a dataset."""
    return dataset_config(wildcards)["format"]


def raw_dir(wildcards):
    """The raw files of a dataset: generated synthetic data or the configured folder."""
    settings = dataset_config(wildcards)
    if settings.get("source", "synthetic") == "synthetic":
        return f"data/synthetic/{wildcards.dataset}"
    return settings["raw_dir"]


def synthetic_settings(wildcards):
    """Format, scale and seed of a synthetic dataset."""
    settings = dataset_config(wildcards)
    return {
        "dataset_format": settings["format"],
        "scale": settings.get("synthetic_scale", "tiny"),
        "seed": config.get("seed", 42),
    }


def ingest_options(wildcards):
    """Format-specific ingest options."""
    settings = dataset_config(wildcards)
    if settings["format"] == "mind":
        return {"history_limit": settings.get("history_limit", 23)}
    return {}


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
    if settings["modality"] == "image":
        return [f"results/images/{wildcards.dataset}/image_report.tsv"]
    return []


def sequence_settings(wildcards):
    """Filtering, sampling and truncation settings of a dataset."""
    settings = dataset_config(wildcards)
    return {
        "max_len": settings["max_len"],
        "min_interactions": settings.get("min_interactions", 5),
        "sample_users": settings.get("sample_users"),
        "seed": config.get("seed", 42),
        "lowercase_titles": settings["modality"] == "text",
        "drop_missing_images": settings.get("images", {}).get("policy") == "drop",
    }


def image_settings(wildcards):
    """LMDB image store settings of a dataset."""
    return dataset_config(wildcards).get("images", {})


def encoder_config(wildcards):
    """This encoder's slice of config."""
    return grid.canonical(config["encoders"][wildcards.encoder])


def random_encoder_fields(wildcards):
    """ViTConfig fields of a randomly initialised image encoder."""
    return encoder_config(wildcards)["random_init"]


def tokenizer_location(wildcards):
    """The tokenizer of a text encoder."""
    spec = encoder_config(wildcards)
    if spec["kind"] != "text":
        raise ValueError(f"encoders.{wildcards.encoder} is not a text encoder")
    return spec["path"]


def data_targets(wildcards):
    """Every dataset's split and verified content, and the scaling subsamples of every experiment's datasets."""
    targets = []
    for dataset, settings in config["datasets"].items():
        targets.append(f"results/split/{dataset}/split.parquet")
        if settings["modality"] == "image":
            targets.append(f"results/images/{dataset}/verify.json")
        for fraction in config.get("subsample", {}).get("fractions", []):
            targets.append(f"results/subsample/{dataset}/{fraction}/split.parquet")
    return targets


def run_of(wildcards, stage):
    """The grid.Run named by a rule's wildcards."""
    return grid.Run(
        stage=stage,
        dataset=wildcards.dataset,
        encoder=wildcards.encoder,
        objective=wildcards.objective,
        method=getattr(wildcards, "method", "fta"),
        start=getattr(wildcards, "start", grid.NOPT),
        seed=int(wildcards.seed),
    )


def pretrain_run_config(wildcards):
    """The run.json contents of a pre-training run."""
    return grid.run_config(config, run_of(wildcards, "pretrain"))


def adapt_run_config(wildcards):
    """The run.json contents of an adaptation run."""
    return grid.run_config(config, run_of(wildcards, "adapt"))


def training_inputs(wildcards):
    """Split, items, item content and encoder weights a run reads."""
    inputs = {
        "split": f"results/split/{wildcards.dataset}/split.parquet",
        "sequence_items": f"results/sequences/{wildcards.dataset}/items.parquet",
    }
    content = grid.content_path(config, wildcards.dataset, wildcards.encoder)
    if content:
        inputs["content"] = content
    if "random_init" in config["encoders"][wildcards.encoder]:
        inputs["encoder"] = f"results/encoders/{wildcards.encoder}"
    return inputs


def source_checkpoint(wildcards):
    """The source run's best checkpoint an adaptation starts from (none for NoPT)."""
    source = grid.init_checkpoint(run_of(wildcards, "adapt"))
    return [source] if source else []


def python_executable():
    """The env's `python` under --use-conda, else the interpreter running Snakemake (an unactivated venv works)."""
    if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
        return "python"
    return sys.executable


def train_launcher(wildcards, threads):
    """`python -m` on one device, torchrun (DDP) when train.gpus > 1.

    Takes `threads` so Snakemake resolves it at job time and does not record it: moving the venv reruns nothing.
    """
    gpus = config.get("train", {}).get("gpus", 1)
    python = python_executable()
    if gpus > 1:
        return f"{python} -m torch.distributed.run --standalone --nproc_per_node {gpus} -m transrec.train"
    return f"{python} -m transrec.train"


def training_gpus(wildcards):
    """GPUs a training job asks the scheduler for."""
    return config.get("train", {}).get("gpus", 1)


def all_metrics(wildcards):
    """metrics.json of every run of every experiment."""
    return grid.metrics_targets(config)
