"""Save a randomly initialised image encoder (no weights can be downloaded offline)."""

from transrec.logs import log_to_file
from transrec.models.random_encoder import save_random_vit

with log_to_file(snakemake.log[0]):
    save_random_vit(snakemake.output[0], seed=snakemake.params.seed, **snakemake.params.fields)
