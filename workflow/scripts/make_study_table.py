"""One study's table: mean ± std over seeds as CSV, Markdown and LaTeX."""

from transrec.logs import log_to_file
from transrec.studies.study_table import write_study_table

with log_to_file(snakemake.log[0]):
    write_study_table(
        snakemake.input.metrics,
        snakemake.params.study,
        name=snakemake.wildcards.study,
        method_kinds=snakemake.params.method_kinds,
        modalities=snakemake.params.modalities,
        **dict(snakemake.output.items()),
    )
