"""CLI: `python -m transrec.train path/to/run.json [--resume/--no-resume]` (also under torchrun)."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
from pathlib import Path

from transrec.logs import log_to_file
from transrec.train.config import RunConfig
from transrec.train.loop import train
from transrec.train.run_lock import exit_with_owner, run_lock


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, log to out_dir/train.log (rank 0) and stderr, train."""
    parser = argparse.ArgumentParser(prog="python -m transrec.train", description=__doc__)
    parser.add_argument("run", type=Path, help="the run.json written by the workflow")
    parser.add_argument(
        "--resume",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="continue from out_dir/last.pt when present (default: yes)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads (torch.set_num_threads); the workflow passes the rule's threads",
    )
    args = parser.parse_args(argv)
    run = RunConfig.load(args.run)
    if args.threads:
        run = run.model_copy(update={"train": run.train.model_copy(update={"threads": args.threads})})
    main_rank = int(os.environ.get("RANK", "0")) == 0
    log_path = Path(run.out_dir) / "train.log"
    stamp = f"run config {config_digest(run)}"
    # One writer per run folder, taken before train.log is touched; rank 0 writes every file, so it holds the lock.
    with run_lock(run.out_dir) if main_rank else contextlib.nullcontext(), exit_with_owner():
        # Append when resuming the same configuration (the killed attempt's log stays); a changed config starts afresh.
        mode = "a" if args.resume and _first_line(log_path) == stamp else "w"
        with log_to_file(log_path if main_rank else None, mode=mode):
            if main_rank and mode == "w":
                logging.getLogger(__name__).info(stamp)
            train(run, resume=args.resume)


def config_digest(run: RunConfig) -> str:
    """A short hash of the run's configuration."""
    return hashlib.sha256(json.dumps(run.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def _first_line(path: Path) -> str:
    """The message of the log's first line ('' when there is no log)."""
    try:
        with path.open(encoding="utf-8") as handle:
            line = handle.readline()
    except FileNotFoundError:
        return ""
    return line.rstrip("\n").partition(": ")[2]  # logs.FORMAT: "<time> <level> <logger>: <message>"


if __name__ == "__main__":
    main()
