"""Tokenise a dataset's titles once per tokenizer into an array file."""

from transrec.data.tokens import build_token_cache
from transrec.logs import log_to_file
from transrec.models.hub import resolve_model_path

with log_to_file(snakemake.log[0]):
    build_token_cache(
        snakemake.input.item_table,
        snakemake.output.out_npz,
        tokenizer_path=resolve_model_path(snakemake.params.tokenizer),
        max_tokens=snakemake.params.max_tokens,
    )
