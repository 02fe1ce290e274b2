"""Prove the CUDA/bf16 training path end to end: runs the trainer CLI on the tiny pipeline's outputs on a GPU.

Usage (in a folder holding a finished default run's results/ data stages):
    PYTHONPATH=src python bench/gpu_train.py --workdir DIR [--out OUT]
Builds run.json files with transrec.studies.grid from config/config.yaml (plus a randomly initialised BERT-base text
encoder, since no weights can be downloaded), runs `python -m transrec.train` for a text run, an image pre-training and
an adaptation from its checkpoint, and the same text run under torchrun (DDP, nccl), then prints their metrics.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml
from transformers import BertConfig, BertModel

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from transrec.studies import grid  # noqa: E402


def runs_to_do(config: dict) -> list[tuple[grid.Run, bool]]:
    """(run, under torchrun) pairs, in dependency order."""
    return [
        (grid.Run("adapt", "adressa", "bert_base_random", "sasrec", "fta", "nopt", 42), False),
        (grid.Run("pretrain", "hm", "vit_tiny", "sasrec", "fta", "nopt", 42), False),
        (grid.Run("adapt", "amazon", "vit_tiny", "sasrec", "frozen", "hm", 42), False),
        (grid.Run("adapt", "adressa", "bert_base_random", "sasrec", "frozen", "nopt", 42), True),
    ]


def main() -> None:
    """Write run.json files, train each on CUDA, print and save their metrics."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--device", default="cuda", help="cpu only to smoke-test this script")
    parser.add_argument("--bert-layers", type=int, default=12, help="fewer only to smoke-test this script")
    args = parser.parse_args()
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    bert_dir = args.workdir / "results/encoders/bert_base_random"
    if not bert_dir.exists():
        torch.manual_seed(0)
        BertModel(BertConfig(num_hidden_layers=args.bert_layers), add_pooling_layer=False).save_pretrained(bert_dir)
    config["encoders"]["bert_base_random"] = {"kind": "text", "path": "results/encoders/bert_base_random"}
    config["train"].update(
        device=args.device,
        precision="bf16" if args.device == "cuda" else "fp32",
        epochs=args.epochs,
        max_steps_per_epoch=None,
    )
    # the token cache was built with MiniLM's tokenizer, whose vocabulary is BERT-base-uncased's
    tokens = args.workdir / "results/tokens/adressa"
    shutil.copy(tokens / "minilm.npz", tokens / "bert_base_random.npz")
    summary = []
    for run, distributed in runs_to_do(config):
        spec = grid.plan(config, run).run_json
        spec["out_dir"] = spec["out_dir"] + ("_ddp" if distributed else "")
        path = args.workdir / spec["out_dir"] / "run.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(spec, indent=2))
        launcher = (
            [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1"]
            if distributed
            else [sys.executable]
        )
        started = time.perf_counter()
        subprocess.run(
            [*launcher, "-m", "transrec.train", str(path.relative_to(args.workdir))], cwd=args.workdir, check=True
        )
        metrics = json.loads((args.workdir / spec["out_dir"] / "metrics.json").read_text())
        row = {
            "run": spec["out_dir"],
            "ddp": distributed,
            "wall_s": round(time.perf_counter() - started, 1),
            "device": metrics.get("device"),
            "precision": metrics.get("precision"),
            "world_size": metrics.get("world_size"),
            "seconds_per_epoch": metrics["seconds_per_epoch"],
            "peak_memory_gb": metrics["peak_memory_gb"],
            "trainable_parameters": metrics["trainable_parameters"],
            "test": metrics["test"],
        }
        summary.append(row)
        print(json.dumps(row), flush=True)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "gpu_train.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
