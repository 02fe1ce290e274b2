"""CLI: `python -m transrec.train path/to/run.json [--resume/--no-resume]` (also under torchrun)."""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

from transrec.logs import log_to_file
from transrec.train.config import RunConfig
from transrec.train.loop import train


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, log to out_dir/train.log (rank 0) and stderr, train."""
    parser = argparse.ArgumentParser(prog="python -m transrec.train", description=__doc__)
    parser.add_argument("run", type=Path, help="the run.json written by the workflow")
    parser.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                        help="continue from out_dir/last.pt when present (default: yes)")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads (torch.set_num_threads); the workflow passes the rule's threads")
    args = parser.parse_args(argv)
    run = RunConfig.load(args.run)
    if args.threads:
        run = dataclasses.replace(run, train=dataclasses.replace(run.train, threads=args.threads))
    main_rank = int(os.environ.get("RANK", "0")) == 0
    # Append: a resumed run keeps the log of the attempt that was killed.
    with log_to_file(Path(run.out_dir) / "train.log" if main_rank else None, mode="a"):
        train(run, resume=args.resume)


if __name__ == "__main__":
    main()
