"""Expand a validated config into its runs: experiments and studies x seeds, fractions, sources; their paths."""

from __future__ import annotations

from dataclasses import asdict

from transrec.runs import NOPT, Run

VIEW = "@"  # "mind@0.25": the nested 25 % user subsample of mind (scaling studies); "mind" is all of it


def expand_runs(config: dict) -> list[Run]:
    """Every run of every experiment and study (each once), with the pre-training runs they start from."""
    runs: dict[Run, None] = {}
    for exp in config["experiments"].values():
        source = exp.get("source")
        for seed in exp["seeds"]:
            for baseline in exp["baselines"]:
                runs[Run("baseline", exp["target"], "none", "none", baseline, NOPT, seed)] = None
            for objective in exp["objectives"]:
                common = dict(encoder=exp["encoder"], objective=objective, seed=seed)
                for method in exp["methods"]:
                    runs[Run("adapt", exp["target"], method=method, start=source or NOPT, **common)] = None
                for method in exp["nopt_methods"]:
                    runs[Run("adapt", exp["target"], method=method, start=NOPT, **common)] = None
    for study in config["studies"]:
        runs.update(dict.fromkeys(study_runs(config, study)))
    for run in list(runs):  # every adaptation's source pre-training
        source = source_run(config, run)
        if source is not None:
            runs[source] = None
    order = {"pretrain": 0, "adapt": 1, "baseline": 2}
    return sorted(runs, key=lambda r: (order[r.stage], *(str(v) for v in asdict(r).values())))


def study_runs(config: dict, name: str) -> list[Run]:
    """The adaptation runs study `name` reads: experiments x encoders x objectives x methods x fractions x seeds."""
    study = config["studies"][name]
    runs: dict[Run, None] = {}
    for exp_name in study["experiments"]:
        exp = config["experiments"][exp_name]
        source = exp.get("source")
        for encoder in study["encoders"] or [exp["encoder"]]:
            for objective in study["objectives"] or exp["objectives"]:
                for seed in study["seeds"] or exp["seeds"]:
                    for target_fraction in study["target_fractions"]:
                        target = view(exp["target"], target_fraction)
                        for method in study["methods"]:
                            common = dict(encoder=encoder, objective=objective, method=method, seed=seed)
                            if source and study["pretrained"]:
                                for source_fraction in study["source_fractions"]:
                                    runs[Run("adapt", target, start=view(source, source_fraction), **common)] = None
                            if study["nopt"] or not source or not study["pretrained"]:
                                runs[Run("adapt", target, start=NOPT, **common)] = None
    return list(runs)


def study_metrics(config: dict, name: str) -> list[str]:
    """The metrics.json of every run of study `name`."""
    return [f"{run.out_dir}/metrics.json" for run in study_runs(config, name)]


def study_outputs(config: dict) -> list[str]:
    """The table or figure file of every study."""
    return [
        f"results/tables/{name}.md" if "table" in study else f"results/figures/{name}.png"
        for name, study in config["studies"].items()
    ]


def view(dataset: str, fraction: float) -> str:
    """The name of `fraction` of `dataset`'s users ("mind@0.25"); the whole dataset keeps its plain name."""
    return dataset if fraction >= 1 else f"{dataset}{VIEW}{fraction:g}"


def parse_view(name: str) -> tuple[str, float]:
    """("mind", 0.25) from "mind@0.25"; ("mind", 1.0) from "mind"."""
    dataset, _, fraction = name.partition(VIEW)
    return dataset, float(fraction) if fraction else 1.0


def split_path(name: str) -> str:
    """The split a run on dataset view `name` trains and evaluates on."""
    dataset, fraction = parse_view(name)
    if fraction >= 1:
        return f"results/split/{dataset}/split.parquet"
    return f"results/subsample/{dataset}/{fraction:g}/split.parquet"


def source_run(config: dict, run: Run) -> Run | None:
    """The source pre-training an adaptation starts from (None for NoPT and pre-training): the one pre-trained with
    `source_seed` when set (every adaptation seed shares it), else the one with the adaptation's own seed."""
    if run.stage != "adapt" or run.start == NOPT:
        return None
    seed = run.seed if config.get("source_seed") is None else config["source_seed"]
    return Run("pretrain", run.start, run.encoder, run.objective, "fta", NOPT, seed)


def init_checkpoint(config: dict, run: Run) -> str | None:
    """The best.pt of the source pre-training an adaptation starts from; None for NoPT and pre-training."""
    source = source_run(config, run)
    return None if source is None else f"{source.out_dir}/best.pt"


def metrics_targets(config: dict) -> list[str]:
    """The metrics.json of every run, in a stable order."""
    return [f"{run.out_dir}/metrics.json" for run in expand_runs(config)]
