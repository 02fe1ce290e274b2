"""Leave-one-out split of one dataset's sequences."""

from transrec.data.split import split_leave_one_out
from transrec.logs import log_to_file

with log_to_file(snakemake.log[0]):
    split_leave_one_out(
        snakemake.input.sequences, snakemake.output.out_split, snakemake.output.stats, max_len=snakemake.params.max_len
    )
