"""State each paper finding with this run's numbers and whether it reproduces."""

from transrec.logs import log_to_file
from transrec.studies.summary import write_summary

with log_to_file(snakemake.log[0]):
    write_summary(
        snakemake.input.metrics,
        snakemake.params.experiments,
        snakemake.params.methods,
        snakemake.output.out_md,
        encoders=snakemake.params.encoders,
    )
