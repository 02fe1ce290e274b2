"""One study's figure: mean with a ± std band over seeds, as PNG and PDF."""

from transrec.logs import log_to_file
from transrec.studies.study_figure import plot_study_figure

with log_to_file(snakemake.log[0]):
    plot_study_figure(
        snakemake.input.metrics,
        snakemake.params.study,
        name=snakemake.wildcards.study,
        method_kinds=snakemake.params.method_kinds,
        modalities=snakemake.params.modalities,
        **dict(snakemake.output.items()),
    )
