"""Build a dataset's LMDB image store in a work folder (resumable), then move it into place."""

from transrec.data.images import build_lmdb_via_work_dir
from transrec.logs import log_to_file

with log_to_file(snakemake.log[0]):
    build_lmdb_via_work_dir(  # resumable work folder in data/interim, one per output, locked; then moved into place
        snakemake.input.item_table,
        snakemake.input.raw_dir,
        snakemake.output.lmdb,
        snakemake.output.report,
        snakemake.params.work_dir,
        workers=snakemake.threads,
        **snakemake.params.settings,
    )
