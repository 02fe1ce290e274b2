"""Transferable, parameter-efficient sequential recommendation: from raw data to the papers' tables and figures."""

from transrec.config_file import check_config_file
from transrec.scheduling import drop_local_rate_limit

# The embedded default, unless --configfile names the configuration (a given file replaces it, never merges into it).
# A YAML error in it names file, line and column (Snakemake's own message names none).
if not workflow.overwrite_configfiles:
    check_config_file(f"{workflow.basedir}/config/config.yaml")

    configfile: f"{workflow.basedir}/config/config.yaml"


report: "workflow/report/workflow.rst"


onstart:
    drop_local_rate_limit(workflow)


include: "workflow/rules/common.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/translate.smk"
include: "workflow/rules/sequences.smk"
include: "workflow/rules/images.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/studies.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/recommend.smk"


rule all:
    default_target: True
    input:
        data_targets,
        "results/tables/runs.md",
        "results/tables/summary.md",
        "results/figures/learning_curves.png",
        study_targets,


rule data:
    input:
        data_targets,
