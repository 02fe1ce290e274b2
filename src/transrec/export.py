"""Export a finished run as a folder others load with one call: `Recommender.from_pretrained(folder)`.

python -m transrec.export <run dir> <folder> [--full] [--base-dir .]
The folder: config.json (the run's model, encoder and method spec), trainable.safetensors (+ init.safetensors, the
source run's tensors an adaptation started from), catalogue.safetensors (the item table), items.parquet (the item id
map), tokenizer/ (text), README.md (a model card with the run's metrics and data); with --full also encoder/, the base
encoder's own files, so nothing outside the folder is needed.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
from pathlib import Path

from transrec.io import read_json, write_json
from transrec.models.hub import resolve_model_path
from transrec.serve.recommender import Recommender

log = logging.getLogger(__name__)


def export(
    run_dir: str | os.PathLike, folder: str | os.PathLike, *, full: bool = False, base_dir: str | os.PathLike = "."
) -> Path:
    """Write the export folder of the finished run `run_dir`; return it."""
    run_dir, folder = Path(run_dir), Path(folder)
    recommender = Recommender.from_run(run_dir, base_dir)
    staging = folder.with_name(f".{folder.name}.exporting")
    shutil.rmtree(staging, ignore_errors=True)
    recommender.save_pretrained(staging)
    if full:
        _bundle_base(staging, base_dir)
    metrics = read_json(run_dir / "metrics.json") if (run_dir / "metrics.json").is_file() else None
    (staging / "README.md").write_text(model_card(recommender, metrics), encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(staging, folder)
    log.info("exported %s to %s%s", run_dir, folder, " (base encoder included)" if full else "")
    return folder


def _bundle_base(folder: Path, base_dir: str | os.PathLike) -> None:
    """Copy the base encoder(s) into folder/encoder/<kind> and point config.json at them."""
    from huggingface_hub import snapshot_download

    config = read_json(folder / "config.json")
    encoder = config["run"]["encoder"]
    paths = encoder.get("paths") or ({encoder["kind"]: encoder["path"]} if encoder.get("path") else {})
    moved = {}
    for modality, path in paths.items():
        source = Path(base_dir) / resolve_model_path(path)
        if not source.is_dir():  # a hub id: its files from the local Hugging Face cache
            source = Path(snapshot_download(resolve_model_path(path), local_files_only=True))
        shutil.copytree(source, folder / "encoder" / modality)
        moved[modality] = f"encoder/{modality}"
    if encoder.get("paths"):
        encoder["paths"] = moved
    elif moved:
        encoder["path"] = moved[encoder["kind"]]
    write_json(folder / "config.json", config)


def model_card(recommender: Recommender, metrics: dict | None) -> str:
    """README.md of an export: what the model is, what it was trained on, how well it did, how to load it."""
    run = recommender.run
    name = run.name
    lines = [
        "---",
        "library_name: transrec",
        "tags: [recommendation, sequential-recommendation, transrec]",
        "---",
        "",
        f"# transrec {name.method} on {name.dataset}",
        "",
        f"A TransRec sequential recommender: {run.encoder.kind} item encoder "
        f"`{run.encoder.path or run.encoder.paths or 'id table'}` + SASRec user encoder (d {run.model.d_model}, "
        f"L {run.model.max_len}), method `{run.method}` ({run.stage}, start `{name.start}`, objective "
        f"`{run.objective}`, seed {name.seed}). Catalogue: {recommender.items.height} items.",
        "",
    ]
    if metrics:
        rows = [
            f"| {split} | {metrics[split].get('hr@10', float('nan')):.2f} | "
            f"{metrics[split].get('ndcg@10', float('nan')):.2f} |"
            for split in ("valid", "test")
        ]
        lines += [
            "| split | HR@10 | NDCG@10 |",
            "|---|---:|---:|",
            *rows,
            "",
            f"Full ranking over every item, history masked; best epoch {metrics.get('best_epoch')}; "
            f"{metrics.get('trainable_parameters')} trainable parameters.",
            "",
        ]
    lines += [
        "```python",
        "from transrec.serve.recommender import Recommender",
        'model = Recommender.from_pretrained("<this folder or hub id>")',
        "model.recommend_history(item_ids=[...], k=10)",
        "```",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m transrec.export", description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", help="a finished run: results/runs/<...> holding run.json and best.pt")
    parser.add_argument("folder", help="the export folder to write (replaced if present)")
    parser.add_argument("--full", action="store_true", help="also bundle the base encoder's files")
    parser.add_argument("--base-dir", default=".", help="the workflow's working directory (run.json's paths)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    export(args.run_dir, args.folder, full=args.full, base_dir=args.base_dir)


if __name__ == "__main__":
    main()
