"""Check that every key of an LMDB image store decodes, and that the store holds exactly the expected items."""

from transrec.data.images import expected_keys, verify_lmdb
from transrec.logs import log_to_file

with log_to_file(snakemake.log[0]):
    verify_lmdb(
        snakemake.input.lmdb,
        snakemake.output.out_json,
        expected_keys(snakemake.input.item_table, snakemake.input.report),
        size=snakemake.params.settings.get("size", 224),
    )
