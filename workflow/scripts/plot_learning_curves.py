"""Validation NDCG@10 per epoch, one line per run."""

from transrec.logs import log_to_file
from transrec.studies.figures import plot_learning_curves

with log_to_file(snakemake.log[0]):
    plot_learning_curves(snakemake.input.metrics, snakemake.output.out_png, snakemake.output.out_pdf)
