"""Write a run's run.json: the trainer's only input."""

from transrec.io import write_json
from transrec.logs import log_to_file

with log_to_file(snakemake.log[0]):
    write_json(snakemake.output.run, snakemake.params.run)
