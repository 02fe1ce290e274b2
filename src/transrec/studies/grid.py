"""The workflow's view of a study config (common.smk calls `grid.<name>`): validation, run expansion, run plans.

The work lives in three modules, one job each: config_check (schema defaults + references, before any job),
expand (a config's runs and their paths) and plan (one run's rule inputs and run.json).
"""

from transrec.runs import NOPT, RUN_DIRS, Run  # noqa: F401 (common.smk reads grid.RUN_DIRS and grid.Run)
from transrec.studies.config_check import SCHEMA, check_config, objective_spec, resolve_config  # noqa: F401
from transrec.studies.expand import (  # noqa: F401
    expand_runs,
    init_checkpoint,
    metrics_targets,
    parse_view,
    source_run,
    split_path,
    study_metrics,
    study_outputs,
    study_runs,
    view,
)
from transrec.studies.plan import (  # noqa: F401
    Plan,
    baseline_config,
    canonical,
    content_path,
    encoder_location,
    feature_stores,
    hyper_parameters,
    plan,
    run_config,
)
