"""Generate one synthetic dataset in its genuine raw format."""

from transrec.data.synthetic import generate
from transrec.logs import log_to_file

with log_to_file(snakemake.log[0]):
    generate(out_dir=snakemake.output[0], **snakemake.params.settings)
