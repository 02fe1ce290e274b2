"""Table of every run's metrics (csv + markdown)."""

from transrec.logs import log_to_file
from transrec.studies.tables import write_runs_table

with log_to_file(snakemake.log[0]):
    write_runs_table(snakemake.input.metrics, snakemake.output.out_csv, snakemake.output.out_md)
