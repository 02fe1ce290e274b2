"""Step benchmark at the reference shapes with the issue's targets: FTA, Houlsby, LoRA (ours and the naive way) and
cached IISAN-text, ms/step and peak memory in one run, each target checked and written to one JSON report.

Reference shapes: BERT-base (random weights), batch 32, L 20, 30-token titles, SASRec BCE (bench/bench_step.py's
catalogue, batches and step). Cached IISAN reads a (N+1, 7, 768) fp16 store of first-token states on the device (the
kept hidden states 0, 2, ..., 12) instead of running BERT. `--smoke` runs every case on a tiny BERT on the CPU in
seconds, so the script cannot rot; its numbers mean nothing and no target is judged.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_step  # noqa: E402
from transrec.methods.base import build_method, prepare_trainable  # noqa: E402
from transrec.models.iisan import IISANConfig, build_iisan_item_encoder  # noqa: E402
from transrec.models.objectives import sasrec_bce  # noqa: E402
from transrec.models.sasrec import SASRec  # noqa: E402
from transrec.models.transrec import TransRec  # noqa: E402

# issue 15: the step benchmark's targets at batch 32 on one GPU
TARGETS = {"fta": {"ms": 45.0, "gib": 10.0}, "houlsby": {"ms": 40.0, "gib": 6.0}}
IISAN_SPEEDUP = 20.0  # cached IISAN at least 20x faster than FTA
IISAN_LR = {"side_networks": 1e-4, "adapters": 1e-4, "dtl": 1e-4, "fusion": 1e-4, "user_encoder": 1e-4}


def time_cached_iisan(args: argparse.Namespace, encoder_config, cat: bench_step.Catalogue) -> dict:
    """ms/step and peak memory of cached IISAN-text on the same catalogue and batches as bench_step's `ours`."""
    device = args.device
    depth, width = encoder_config.num_hidden_layers, encoder_config.hidden_size
    torch.manual_seed(0)
    item_encoder = build_iisan_item_encoder(args.d_model, IISANConfig(), shapes={"text": (depth, width)})
    model = TransRec(item_encoder, SASRec(args.d_model, args.max_len)).to(device)
    groups = prepare_trainable(
        model, build_method({"kind": "iisan", "cached": True}), ["dtl", "fusion", "user_encoder"]
    )
    optimiser = torch.optim.Adam(
        [{"params": p, "lr": IISAN_LR[g]} for g, p in groups.items()], fused=device == "cuda" or None
    )
    kept = item_encoder.side.kept["text"]
    store = torch.randn(len(cat.lengths), len(kept), width, dtype=torch.float16, device=device)  # (N+1, K, w)
    rng = np.random.default_rng(args.seed + args.batch[0])
    raws = [bench_step.make_batch(cat, args.batch[0], args.max_len, rng) for _ in range(args.batches)]
    batches = []
    for raw in raws:
        batch = bench_step.ours_inputs(cat, raw, device)
        unique = torch.unique(
            torch.cat([raw["items"][raw["items"] != 0], raw["negatives"][:, :-1][batch["valid"].cpu()]])
        )
        batch["text_states"] = store[unique.to(device)]  # (U, K, w): what the store content serves
        batches.append(batch)
    model.train()

    def one_step(i: int) -> None:
        batch = batches[i % len(batches)]
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device == "cuda"):
            items = model.encode_items({"text_states": batch["text_states"]})  # (U, d)
            table = torch.cat([items, items.new_zeros(1, items.shape[1])])
            seq = table[batch["slots"]]
            states = model.encode_users(seq[:, :-1], batch["valid"])
            loss = sasrec_bce(states, seq[:, 1:], table[batch["negative_slots"]], batch["valid"])
        loss.backward()
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)

    for i in range(max(args.warmup, args.batches)):
        one_step(i)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(args.steps):
        t0 = time.perf_counter()
        one_step(i)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(1000 * (time.perf_counter() - t0))
    return {
        "method": "iisan_cached",
        "batch": args.batch[0],
        "variant": "ours",
        "ms_per_step": statistics.median(times),
        "peak_mem_gib": torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None,
        "trainable_params": sum(p.numel() for ps in groups.values() for p in ps),
    }


def judge(rows: list[dict]) -> list[dict]:
    """One verdict per target: the measured value, the bound, and whether it holds."""
    ours = {r["method"]: r for r in rows if r["variant"] == "ours"}
    verdicts = []
    for method, bound in TARGETS.items():
        row = ours[method]
        verdicts.append(
            {
                "target": f"{method} ms/step <= {bound['ms']:g}",
                "value": row["ms_per_step"],
                "met": row["ms_per_step"] <= bound["ms"],
            }
        )
        memory = row["peak_mem_gib"]
        verdicts.append(
            {
                "target": f"{method} peak GiB <= {bound['gib']:g}",
                "value": memory,
                "met": memory is not None and memory <= bound["gib"],
            }
        )
    speedup = ours["fta"]["ms_per_step"] / ours["iisan_cached"]["ms_per_step"]
    verdicts.append(
        {
            "target": f"cached IISAN >= {IISAN_SPEEDUP:g}x faster than FTA",
            "value": speedup,
            "met": speedup >= IISAN_SPEEDUP,
        }
    )
    return verdicts


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny BERT on the CPU, 1 step per case: a CI check")
    parser.add_argument("--out", type=Path, required=True)
    ours, rest = parser.parse_known_args(argv)
    shape = (
        [
            "--device",
            "cpu",
            "--size",
            "tiny",
            "--num-items",
            "300",
            "--steps",
            "1",
            "--warmup",
            "1",
            "--batches",
            "1",
            "--batch",
            "4",
            "--max-tokens",
            "8",
            "--max-len",
            "5",
        ]
        if ours.smoke
        else ["--device", "cuda", "--size", "base", "--batch", "32", "--max-len", "20", "--max-tokens", "30"]
    )
    step_args = [
        *shape,
        "--methods",
        "fta",
        "houlsby",
        "lora",
        "--variants",
        "ours",
        "naive",
        "--out",
        str(ours.out.with_name(ours.out.stem + "_bench_step.json")),
        *rest,
    ]
    rows = bench_step.main(step_args)
    args = bench_step.parse_args(step_args)
    encoder_config = bench_step.BertConfig(**bench_step.SIZES[args.size])
    cat = bench_step.make_catalogue(args.num_items, args.max_tokens, encoder_config.vocab_size, args.zipf, args.seed)
    rows.append(time_cached_iisan(args, encoder_config, cat))
    report = {
        "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
        "smoke": ours.smoke,
        "args": step_args,
        "results": rows,
        "targets": None if ours.smoke else judge(rows),
    }
    ours.out.parent.mkdir(parents=True, exist_ok=True)
    ours.out.write_text(json.dumps(report, indent=2, default=str))
    for verdict in report["targets"] or []:
        print(f"{'MET ' if verdict['met'] else 'MISS'} {verdict['target']}: {verdict['value']}")
    print(f"cached IISAN: {rows[-1]['ms_per_step']:.2f} ms/step; wrote {ours.out}")
    return report


if __name__ == "__main__":
    main()
