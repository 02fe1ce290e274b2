"""Evaluate an untrained baseline (popularity) on a target and write its metrics.json."""

from transrec.logs import log_to_file
from transrec.train.baseline import run_baseline

with log_to_file(snakemake.log[0]):
    run_baseline(snakemake.params.spec)
