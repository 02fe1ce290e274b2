"""Build one (dataset, encoder) hidden-state store in a work folder (resumable), then move it into place."""

from pathlib import Path

from transrec.features.store import build_feature_store
from transrec.logs import log_to_file

with log_to_file(snakemake.log[0]):  # library: build_feature_store(modality, encoder, items, content, out, work, ...)
    settings = snakemake.params.settings
    # The build resumes from the work folder after a kill; Snakemake would delete a half-built declared output.
    work = Path(snakemake.params.work_dir) / snakemake.wildcards.dataset / snakemake.wildcards.encoder
    build_feature_store(
        settings["modality"],
        snakemake.input.get("encoder", settings["path"]),  # a random-init encoder's saved folder, else its path
        snakemake.input.sequence_items,
        snakemake.input.content,
        snakemake.output.store,
        work,
        batch_size=settings["batch_size"],
        device=settings["device"],
    )
