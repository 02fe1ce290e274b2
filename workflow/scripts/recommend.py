"""Every user's top-k items from one finished run."""

from pathlib import Path

from transrec.logs import log_to_file
from transrec.recommend import recommend

with log_to_file(snakemake.log[0]):
    recommend(
        Path(snakemake.input.run).parent,
        snakemake.output.topk,
        k=snakemake.params.settings["k"],
        history=snakemake.params.settings["history"],
    )
