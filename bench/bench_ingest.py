"""Benchmark MIND ingest (wall time, peak RSS of a child process) against a naive per-line Python baseline.

    .venv/bin/python bench/bench_ingest.py [--scale mind_large] [--fallback-generator] [--naive-fraction 0.05]

The raw set comes from transrec.data.synthetic.generate("mind", ...) and is cached under bench/out/data/; with
--fallback-generator (or when that API is missing) a local numpy generator writes MIND-format files of the same
shape (MIND-large: ~2.23M train + 0.38M dev impression lines, ~33 history entries and ~37 impressions a line).
Each measurement runs in its own child process pinned to 2 CPUs (POLARS_MAX_THREADS=2). The naive baseline parses
line by line with str.split, datetime.strptime and dicts, as the released code does; on a slice (`--naive-fraction`,
default 5 % at mind_large) its time is extrapolated linearly, and its RSS is that of the slice (not extrapolated).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from transrec.io import write_json  # noqa: E402

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
FALLBACK_SHAPES = {  # (news, train users, train lines, dev users, dev lines)
    "tiny": (500, 200, 600, 80, 150),
    "small": (5_000, 2_000, 6_000, 800, 1_500),
    "medium": (30_000, 50_000, 150_000, 20_000, 30_000),
    "mind_large": (104_151, 711_222, 2_232_748, 255_990, 376_471),
}
log = logging.getLogger("bench_ingest")


def _mind_time(moment: datetime) -> str:
    """MIND's time format, `11/15/2019 8:55:22 AM` (no zero padding on month, day, hour)."""
    hour = moment.hour % 12 or 12
    return f"{moment.month}/{moment.day}/{moment.year} {hour}:{moment:%M:%S} {'AM' if moment.hour < 12 else 'PM'}"


def fallback_generate(out_dir: Path, scale: str, seed: int = 0) -> dict:
    """Write MIND-format train/ and dev/ folders (news.tsv, behaviors.tsv) of the given scale with numpy."""
    n_news, n_train_users, n_train, n_dev_users, n_dev = FALLBACK_SHAPES[scale]
    rng = np.random.default_rng(seed)
    news_ids = [f"N{i}" for i in rng.permutation(np.arange(1, n_news + 1))]
    popularity = 1.0 / (np.arange(n_news) + 50.0)  # long-tailed, few repeats within a user, like MIND
    popularity /= popularity.sum()
    negative = [f"{n}-0" for n in news_ids]
    positive = [f"{n}-1" for n in news_ids]
    n_users = n_train_users + n_dev_users // 4  # a quarter of dev users are new
    lengths = np.minimum(rng.lognormal(3.0, 1.0, n_users).astype(np.int64), 500)
    lengths[rng.random(n_users) < 0.03] = 0
    flat = rng.choice(n_news, int(lengths.sum()), p=popularity)
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    histories = [" ".join([news_ids[i] for i in flat[bounds[u] : bounds[u + 1]]]) for u in range(n_users)]
    (out_dir / "train").mkdir(parents=True, exist_ok=True)
    (out_dir / "dev").mkdir(parents=True, exist_ok=True)
    news_lines = "".join(
        f"{n}\tnews\tnewsworld\tSynthetic headline number {n}\tAn abstract for {n}.\thttps://example.org/{n}.html\t[]\t[]\n"
        for n in news_ids
    )
    for split in ("train", "dev"):
        (out_dir / split / "news.tsv").write_text(news_lines, encoding="utf-8")
    start = {"train": datetime(2019, 11, 9), "dev": datetime(2019, 11, 15)}
    span = {"train": 6 * 86400, "dev": 86400}
    plan = {
        "train": rng.integers(0, n_train_users, n_train),
        "dev": np.concatenate([rng.integers(n_train_users - 3 * n_dev_users // 4, n_users, n_dev)]),
    }
    impression_id = 0
    for split, users in plan.items():
        seconds = np.sort(rng.integers(0, span[split], len(users)))
        sizes = rng.integers(5, 70, len(users))
        with open(out_dir / split / "behaviors.tsv", "w", encoding="utf-8") as handle:
            for begin in range(0, len(users), 100_000):
                block = []
                shown = rng.choice(n_news, int(sizes[begin : begin + 100_000].sum()), p=popularity)
                clicked = rng.random(len(shown)) < 0.04
                offset = 0
                for row in range(begin, min(begin + 100_000, len(users))):
                    size = sizes[row]
                    picks, labels = shown[offset : offset + size], clicked[offset : offset + size]
                    labels[rng.integers(0, size)] = True
                    offset += size
                    impressions = " ".join([positive[p] if c else negative[p] for p, c in zip(picks, labels)])
                    impression_id += 1
                    moment = _mind_time(start[split] + timedelta(seconds=int(seconds[row])))
                    block.append(f"{impression_id}\tU{users[row]}\t{moment}\t{histories[users[row]]}\t{impressions}\n")
                handle.write("".join(block))
    return {"news": n_news, "train_lines": n_train, "dev_lines": n_dev, "users": n_users}


def raw_set(scale: str, fallback: bool) -> tuple[Path, str]:
    """The cached raw MIND set for `scale` (generated on first use) and the name of the generator used."""
    generator = "fallback"
    if not fallback:
        try:
            from transrec.data.synthetic import generate  # noqa: PLC0415

            generator = "synthetic"
        except ImportError:
            log.warning("transrec.data.synthetic.generate not importable: using the fallback generator")
    out_dir = OUT / "data" / f"mind_{scale}_{generator}"
    marker = out_dir / ".complete"
    if not marker.exists():
        started = time.perf_counter()
        counts = (
            generate("mind", out_dir, scale=scale) if generator == "synthetic" else fallback_generate(out_dir, scale)
        )
        marker.write_text(json.dumps(counts, default=str))
        log.info("generated %s in %.0f s: %s", out_dir, time.perf_counter() - started, counts)
    return out_dir, generator


def naive_ingest(raw_dir: Path, fraction: float, history_limit: int = 23) -> dict:
    """Per-line Python MIND parsing with dicts (the released code's way), same output semantics as ours."""
    titles: dict[str, str] = {}
    events: dict[str, list[tuple[int, int, int, str]]] = {}
    lines_read = 0
    fixed = 0.0  # news reading and line counting: paid once whatever the fraction
    for split in sorted(p for p in raw_dir.iterdir() if p.is_dir()):
        started = time.perf_counter()
        with open(split / "news.tsv", encoding="utf-8") as handle:
            for line in handle:
                fields = line.rstrip("\n").split("\t")
                titles.setdefault(fields[0], fields[3])
        with open(split / "behaviors.tsv", "rb") as handle:
            total = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 24), b""))
        limit = int(total * fraction)
        fixed += time.perf_counter() - started
        with open(split / "behaviors.tsv", encoding="utf-8") as handle:
            for number, line in enumerate(handle):
                if number >= limit:
                    break
                lines_read += 1
                _, user, when, history, impressions = line.rstrip("\n").split("\t")
                ts = int((datetime.strptime(when, "%m/%d/%Y %I:%M:%S %p") - datetime(1970, 1, 1)).total_seconds())
                mine = events.setdefault(user, [])
                items = history.split()
                for pos, item in enumerate(items):
                    if item in titles:
                        mine.append((ts - (len(items) - pos), 0, pos, item))
                for pos, token in enumerate(impressions.split()):
                    item, _, label = token.rpartition("-")
                    if label == "1" and item in titles:
                        mine.append((ts, 1, pos, item))
    n_rows = 0
    for user, mine in events.items():
        mine.sort()
        seen: set[str] = set()
        sequence = [e for e in mine if not (e[3] in seen or seen.add(e[3]))]
        n_rows += len(sequence[-history_limit:])
    return {"lines_read": lines_read, "interactions": n_rows, "users": len(events), "fixed_s": fixed}


def child(kind: str, raw_dir: Path, fraction: float) -> None:
    """Run one measurement in this (child) process and print wall time and peak RSS as JSON."""
    started = time.perf_counter()
    if kind == "ingest":
        from transrec.data.ingest import ingest  # noqa: PLC0415

        target = OUT / "ingest_mind"
        result = ingest(
            "mind",
            raw_dir,
            item_table=target / "items.parquet",
            interaction_table=target / "interactions.parquet",
            quarantine=target / "quarantine.tsv",
            report=target / "ingest_report.json",
        )
        result = {k: result[k] for k in ("users", "items", "interactions", "rows_read_total", "quarantined", "counts")}
    else:
        result = naive_ingest(raw_dir, fraction)
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    load = os.getloadavg()[0]
    print(
        json.dumps(
            {
                "kind": kind,
                "wall_s": wall,
                "cpu_s": usage.ru_utime + usage.ru_stime,
                "peak_rss_mb": usage.ru_maxrss / 1024,
                "load_avg_1min": load,
                "fraction": fraction,
                "result": result,
            }
        )
    )


def measure(kind: str, raw_dir: Path, fraction: float = 1.0) -> dict:
    """Run `child` in a fresh process on 2 CPUs and return its JSON line."""
    env = {**os.environ, "POLARS_MAX_THREADS": "2", "PYTHONPATH": str(HERE.parent / "src")}
    cpus = sorted(os.sched_getaffinity(0))[:2] if hasattr(os, "sched_getaffinity") else None
    preexec = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    command = [sys.executable, __file__, "--child", kind, "--raw-dir", str(raw_dir), "--naive-fraction", str(fraction)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, preexec_fn=preexec, check=False)
    if done.returncode:
        raise RuntimeError(f"{kind} child failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    """Parse arguments, prepare the raw set, measure both readers and write bench/out/bench_ingest_<scale>.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="mind_large", choices=sorted(FALLBACK_SHAPES))
    parser.add_argument("--fallback-generator", action="store_true")
    parser.add_argument("--naive-fraction", type=float, default=None)
    parser.add_argument("--child", choices=["ingest", "naive"], help=argparse.SUPPRESS)
    parser.add_argument("--raw-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.raw_dir, args.naive_fraction or 1.0)
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    raw_dir, generator = raw_set(args.scale, args.fallback_generator)
    fraction = args.naive_fraction or (0.05 if args.scale == "mind_large" else 1.0)
    ours = measure("ingest", raw_dir)
    log.info(
        "ingest: %.1f s wall, %.1f s CPU, peak RSS %.0f MB (load %.1f)",
        ours["wall_s"],
        ours["cpu_s"],
        ours["peak_rss_mb"],
        ours["load_avg_1min"],
    )
    naive = measure("naive", raw_dir, fraction)
    fixed = naive["result"]["fixed_s"]
    naive["wall_s_extrapolated"] = fixed + (naive["wall_s"] - fixed) / fraction
    log.info(
        "naive (%.0f %% of lines): %.1f s -> %.1f s extrapolated",
        100 * fraction,
        naive["wall_s"],
        naive["wall_s_extrapolated"],
    )
    size = sum(p.stat().st_size for p in raw_dir.rglob("*.tsv"))
    summary = {
        "scale": args.scale,
        "generator": generator,
        "raw_dir": str(raw_dir),
        "raw_bytes": size,
        "ingest": ours,
        "naive": naive,
        "speedup": naive["wall_s_extrapolated"] / ours["wall_s"],
        "cpus": 2,
        "machine_cpus": os.cpu_count(),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    target = OUT / f"bench_ingest_{args.scale}_{generator}.json"
    write_json(target, summary)
    print(
        json.dumps(
            {k: summary[k] for k in ("scale", "generator", "raw_bytes", "speedup")}
            | {
                "ingest_s": ours["wall_s"],
                "ingest_cpu_s": ours["cpu_s"],
                "ingest_rss_mb": ours["peak_rss_mb"],
                "naive_s_extrapolated": naive["wall_s_extrapolated"],
            }
        )
    )


if __name__ == "__main__":
    main()
