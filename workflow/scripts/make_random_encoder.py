"""Save a randomly initialised encoder (no weights can be downloaded offline)."""

from transrec.logs import log_to_file
from transrec.models.random_encoder import save_random_encoder

with log_to_file(snakemake.log[0]):
    spec = snakemake.params.spec
    save_random_encoder(
        snakemake.output[0],
        spec["kind"],
        seed=snakemake.params.seed,
        tokenizer=spec.get("tokenizer"),
        **spec["random_init"],
    )
