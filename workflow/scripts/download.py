"""Download one dataset's release into its raw folder."""

from transrec.download import download_dataset
from transrec.logs import log_to_file

with log_to_file(snakemake.log[0]):
    download_dataset(
        snakemake.params.settings,
        snakemake.output.raw_dir,
        report=snakemake.output.report,
        image_failures=snakemake.output.image_failures,
        cache_dir=snakemake.params.cache_dir,
    )
