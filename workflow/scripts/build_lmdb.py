"""Build a dataset's LMDB image store in a work folder (resumable), then move it into place."""

import os
import shutil
from pathlib import Path

from transrec.data.images import build_lmdb
from transrec.logs import log_to_file

with log_to_file(snakemake.log[0]):
    # The build resumes from the work folder after a kill; Snakemake would delete a half-built declared output.
    work = Path(snakemake.params.work_dir) / f"{snakemake.wildcards.dataset}.lmdb"
    build_lmdb(
        snakemake.input.item_table,
        snakemake.input.raw_dir,
        work,
        snakemake.output.report,
        workers=snakemake.threads,
        **snakemake.params.settings,
    )
    shutil.rmtree(snakemake.output.lmdb, ignore_errors=True)
    os.replace(work, snakemake.output.lmdb)
