"""Ingest one dataset's raw files into items and interactions tables."""

from transrec.data.ingest import ingest
from transrec.logs import log_to_file

with log_to_file(snakemake.log[0]):
    ingest(
        snakemake.params.dataset_format,
        snakemake.input.raw_dir,
        options=snakemake.params.options,
        **dict(snakemake.output.items()),
    )
