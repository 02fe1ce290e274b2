"""Dropout on a CPU: torch's nn.Dropout (Bernoulli mask) against transrec's FastDropout, forward + backward.

Run: PYTHONPATH=src python bench/bench_dropout.py [--threads 1] [--repeats 300]
Shapes are the embedded default's: SASRec states (64 users x 10 x 64 and its 4x FFN), and a text batch's item tokens
(about 380 titles x 10 tokens x 64). Prints JSON: microseconds per call of each and the ratio.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch import nn

from transrec.models.dropout import FastDropout

SHAPES = {"sasrec_states": (64, 10, 64), "sasrec_ffn": (64, 10, 256), "title_tokens": (380, 10, 64)}


def microseconds(module: nn.Module, shape: tuple[int, ...], repeats: int) -> float:
    """Mean of `repeats` forward + backward passes (after 20 warm-up calls)."""
    x = torch.randn(shape, requires_grad=True)
    for _ in range(20):
        module(x).sum().backward()
    started = time.perf_counter()
    for _ in range(repeats):
        module(x).sum().backward()
    return (time.perf_counter() - started) / repeats * 1e6


def main() -> None:
    """Time both on every shape and print the JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    report = {}
    for name, shape in SHAPES.items():
        naive = microseconds(nn.Dropout(0.1).train(), shape, args.repeats)
        fast = microseconds(FastDropout(0.1).train(), shape, args.repeats)
        ratio = round(naive / fast, 2)
        report[name] = {"shape": shape, "torch_us": round(naive), "fast_us": round(fast), "ratio": ratio}
    print(json.dumps({"threads": args.threads, "p": 0.1, "cases": report}, indent=1))


if __name__ == "__main__":
    main()
