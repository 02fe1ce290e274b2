"""Keep a seeded, nested fraction of a dataset's users."""

from transrec.data.subsample import subsample_users
from transrec.logs import log_to_file

with log_to_file(snakemake.log[0]):
    subsample_users(
        snakemake.input.split,
        snakemake.output.out_split,
        fraction=float(snakemake.wildcards.fraction),
        seed=snakemake.params.seed,
    )
