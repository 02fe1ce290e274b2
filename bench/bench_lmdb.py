"""Benchmark build_lmdb (draft decode, JPEG values, worker pool) against the reference way (full decode, pickles)."""

from __future__ import annotations

import argparse
import logging
import os
import pickle
import platform
import shutil
import tempfile
import time
from pathlib import Path

import lmdb
import numpy as np
import polars as pl
from PIL import Image

from transrec.data.images import build_lmdb, verify_lmdb
from transrec.data.synthetic.pictures import PALETTE, SHAPES, draw, encode_jpeg
from transrec.io import write_json

log = logging.getLogger("bench_lmdb")


def make_sources(
    folder: Path, n: int, width: int, height: int, noise: int = 2, distinct: int = 64, seed: int = 0
) -> pl.DataFrame:
    """Write `n` width x height JPEG sources in the H&M layout (`distinct` pictures, cycled); return the items table."""
    rng = np.random.default_rng(seed)
    pictures = [
        encode_jpeg(draw(rng, SHAPES[k % len(SHAPES)], PALETTE[k % len(PALETTE)], width, height, noise=noise), 90)
        for k in range(min(n, distinct))
    ]
    ids, keys = [], []
    for i in range(n):
        item_id = f"{100_000_000 + i * 7:010d}"
        key = f"images/{item_id[:3]}/{item_id}.jpg"
        path = folder / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pictures[i % len(pictures)])
        ids.append(item_id)
        keys.append(key)
    return pl.DataFrame({"item_id": ids, "image_key": keys})


def naive_build(items: pl.DataFrame, raw_dir: Path, lmdb_path: Path, size: int) -> int:
    """The reference's way: full decode without draft, resize, pickle the raw pixel array, one process."""
    env = lmdb.open(str(lmdb_path), map_size=1 << 36, readahead=False, meminit=False)
    with env.begin(write=True) as txn:
        for item_id, key in items.iter_rows():
            image = Image.open(raw_dir / key).convert("RGB").resize((size, size))
            txn.put(item_id.encode("utf-8"), pickle.dumps(np.asarray(image)))
    env.close()
    return len(items)


def store_bytes(lmdb_path: Path) -> int:
    """Bytes used by the LMDB pages (not the sparse map size)."""
    env = lmdb.open(str(lmdb_path), readonly=True, lock=False)
    stat, info = env.stat(), env.info()
    env.close()
    return (info["last_pgno"] + 1) * stat["psize"]


def main() -> None:
    """Parse arguments, run both builds on the same sources, print and save images/s."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--width", type=int, default=500)
    parser.add_argument("--height", type=int, default=750)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "bench_lmdb.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    work = Path(tempfile.mkdtemp(prefix="bench_lmdb_"))
    try:
        began = time.perf_counter()
        items = make_sources(work / "raw", args.images, args.width, args.height)
        items.write_parquet(work / "items.parquet")
        source_mb = sum(p.stat().st_size for p in (work / "raw").rglob("*.jpg")) / 2**20
        print(
            f"wrote {args.images} sources of {args.width}x{args.height} ({source_mb:.1f} MiB) "
            f"in {time.perf_counter() - began:.1f} s"
        )

        began = time.perf_counter()
        summary = build_lmdb(
            work / "items.parquet",
            work / "raw",
            work / "ours.lmdb",
            work / "report.tsv",
            size=args.size,
            workers=args.workers,
        )
        ours_s = time.perf_counter() - began
        verify_lmdb(work / "ours.lmdb", work / "verify.json", items["item_id"].to_list(), size=args.size)

        began = time.perf_counter()
        naive_build(items, work / "raw", work / "naive.lmdb", args.size)
        naive_s = time.perf_counter() - began

        result = {
            "images": args.images,
            "source_size": [args.width, args.height],
            "size": args.size,
            "workers": args.workers,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "ours_images_per_s": round(args.images / ours_s, 1),
            "naive_images_per_s": round(args.images / naive_s, 1),
            "speedup": round(naive_s / ours_s, 2),
            "ours_seconds": round(ours_s, 2),
            "naive_seconds": round(naive_s, 2),
            "ours_store_mib": round(store_bytes(work / "ours.lmdb") / 2**20, 1),
            "naive_store_mib": round(store_bytes(work / "naive.lmdb") / 2**20, 1),
            "ours_ok": summary["ok"],
        }
        print(
            f"ours : {result['ours_images_per_s']:8.1f} images/s ({args.workers} workers), "
            f"store {result['ours_store_mib']} MiB"
        )
        print(f"naive: {result['naive_images_per_s']:8.1f} images/s (1 process), store {result['naive_store_mib']} MiB")
        print(f"speedup: {result['speedup']}x")
        write_json(args.out, result)
        print(f"wrote {args.out}")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
