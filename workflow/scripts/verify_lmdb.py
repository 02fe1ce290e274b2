"""Check that every key of an LMDB image store decodes."""

from transrec.data.images import verify_lmdb
from transrec.logs import log_to_file

with log_to_file(snakemake.log[0]):
    verify_lmdb(snakemake.input.lmdb, snakemake.output.out_json)
