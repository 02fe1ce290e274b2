"""Build a dataset's LMDB image store in a work folder (resumable), then move it into place."""

from pathlib import Path

from transrec.data.images import build_lmdb
from transrec.io import replace_dir
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
    replace_dir(work, snakemake.output.lmdb)  # copy + rename when data/ and results/ are on different filesystems
