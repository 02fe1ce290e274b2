"""Filter, sample, truncate and re-index one dataset's user sequences."""

from transrec.data.sequences import build_sequences
from transrec.logs import log_to_file

with log_to_file(snakemake.log[0]):
    settings = dict(snakemake.params.settings)
    drop = settings.pop("drop_missing_images") and snakemake.input.image_report
    build_sequences(
        snakemake.input.item_table,
        snakemake.input.interaction_table,
        drop_items=snakemake.input.image_report[0] if drop else None,
        **settings,
        **dict(snakemake.output.items()),
    )
