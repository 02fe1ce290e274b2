"""The workflow as a user drives it: dry runs of every shipped config, lint, config rejection, the default DAG."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from transrec.config_file import load_config_files

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run snakemake on the repo's Snakefile in `workdir`; return the finished process."""
    proc = subprocess.run(
        [*SNAKEMAKE, "--directory", str(workdir), *args], capture_output=True, text=True, cwd=REPO, timeout=1800
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def planned_jobs(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run, as {rule: count}."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("job ")) + 2
    jobs = {}
    for line in lines[start:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit() or parts[0] == "total":
            break
        jobs[parts[0]] = int(parts[1])
    return jobs


def test_default_config_dry_run_plans_every_stage(tmp_path):
    out = snakemake(tmp_path, "-n", "--cores", "2").stdout
    jobs = planned_jobs(out)
    for rule in (
        "generate_synthetic",
        "ingest",
        "translate_titles",
        "build_sequences",
        "split_leave_one_out",
        "subsample_users",
        "build_lmdb",
        "verify_lmdb",
        "tokenize_titles",
        "pretrain",
        "adapt",
        "make_table",
        "plot_learning_curves",
    ):
        assert jobs.get(rule, 0) >= 1, rule
    assert jobs["generate_synthetic"] == 4 and jobs["pretrain"] >= 2
    for rule in ("make_study_table", "plot_study_figure", "build_feature_store", "evaluate_baseline"):
        assert jobs.get(rule, 0) >= 1, rule


def test_paper_config_dry_run(tmp_path, paper_hub_cache):
    for name in ("mind", "adressa", "hm", "amazon_clothing"):
        (tmp_path / "data" / "raw" / name).mkdir(parents=True)
    out = snakemake(tmp_path, "-n", "--cores", "2", "--configfile", str(REPO / "config/paper.yaml")).stdout
    jobs = planned_jobs(out)
    assert "generate_synthetic" not in jobs
    studies = yaml.safe_load((REPO / "config/paper.yaml").read_text())["studies"]
    assert jobs["make_study_table"] == sum("table" in s for s in studies.values())
    assert jobs["plot_study_figure"] == sum("figure" in s for s in studies.values())
    assert jobs["pretrain"] >= 2 and jobs["adapt"] > 100


def test_a_given_configfile_replaces_the_default_instead_of_merging(tmp_path):
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["datasets"] = {name: config["datasets"][name] for name in ("mind", "adressa")}
    config["experiments"] = {"text": config["experiments"]["text"]}
    config["studies"] = {}
    own = tmp_path / "own.yaml"
    own.write_text(yaml.safe_dump(config))
    jobs = planned_jobs(snakemake(tmp_path, "-n", "--cores", "1", "--configfile", str(own)).stdout)
    assert jobs["generate_synthetic"] == 2 and "build_lmdb" not in jobs


def test_slurm_profile_dry_run(tmp_path):
    out = snakemake(tmp_path, "-n", "--profile", str(REPO / "profiles/slurm")).stdout
    jobs = planned_jobs(out)
    assert jobs["pretrain"] >= 2 and jobs["make_study_table"] >= 1


def test_lint_passes(tmp_path):
    snakemake(tmp_path, "--lint")


def test_bad_config_key_fails_before_any_job_naming_the_key(tmp_path):
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["datasets"]["mind"]["max_length"] = 20
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    proc = snakemake(tmp_path, "-n", "--cores", "1", "--configfile", str(bad), check=False)
    assert proc.returncode != 0
    assert "max_length" in proc.stdout + proc.stderr


SMOKE = ("--configfile", str(REPO / "config/config.yaml"), str(REPO / "config/smoke.yaml"))


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """The whole default DAG at smoke size (config/smoke.yaml: tiny data, capped runs),
    run once in a fresh directory."""
    workdir = tmp_path_factory.mktemp("default_run")
    snakemake(workdir, "--cores", "2", *SMOKE)
    return workdir


@pytest.mark.slow
def test_default_run_ends_in_table_and_figure(default_run):
    table = (default_run / "results/tables/runs.md").read_text()
    assert "adressa" in table and "amazon" in table
    assert (default_run / "results/figures/learning_curves.png").stat().st_size > 1000
    assert (default_run / "results/figures/learning_curves.pdf").exists()
    assert (default_run / "results/images/amazon/verify.json").exists()
    assert (default_run / "results/subsample/adressa/0.25/split.parquet").exists()


@pytest.mark.slow
def test_default_run_is_complete_and_a_method_edit_reruns_only_its_runs(default_run, tmp_path):
    assert "Nothing to be done" in snakemake(default_run, "-n", "--cores", "2", *SMOKE).stdout
    config = load_config_files(REPO / "config" / "config.yaml", REPO / "config" / "smoke.yaml")
    config["methods"]["prompt"]["hparams"] = {"dropout": 0.2}  # one method's own setting
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(config))
    jobs = planned_jobs(snakemake(default_run, "-n", "--cores", "2", "--configfile", str(edited)).stdout)
    # prompt's runs, the runs table, curves and summary, and the studies that list prompt (a4r_table3_text)
    from transrec.studies import grid

    runs = [r for r in grid.expand_runs(grid.resolve_config(config)) if r.method == "prompt"]
    using = [name for name, study in config["studies"].items() if "prompt" in study["methods"]]
    assert runs and using
    tables = sum("table" in config["studies"][name] for name in using)
    expected = {
        "write_adapt_config": len(runs),
        "adapt": len(runs),
        "make_table": 1,
        "plot_learning_curves": 1,
        "make_summary": 1,
        "all": 1,
        "make_study_table": tables,
        "plot_study_figure": len(using) - tables,
    }
    assert jobs == {rule: n for rule, n in expected.items() if n}


@pytest.mark.slow
def test_default_run_builds_every_study_table_and_figure(default_run):
    import polars as pl

    config = load_config_files(REPO / "config" / "config.yaml", REPO / "config" / "smoke.yaml")
    assert config["studies"], "the embedded default has studies"
    for name, study in config["studies"].items():
        if "figure" in study:
            for suffix in ("png", "pdf"):
                assert (default_run / f"results/figures/{name}.{suffix}").stat().st_size > 1000, name
            continue
        csv = pl.read_csv(default_run / f"results/tables/{name}.csv")
        rows = {tuple(str(row[key]) for key in study["table"]["rows"]) for row in csv.iter_rows(named=True)}
        assert len(rows) == csv.height > 0, name
        if study["table"]["rows"] == ["method"]:
            assert set(csv["method"]) == set(study["methods"]), name
        means = [c for c in csv.columns if c.endswith(" mean") and "memory" not in c]  # no GPU: memory is n/a
        probes = config["methods"]  # a timing probe (train.timing_only) is timed, not trained: no accuracy
        timed = pl.Series([probes.get(m, {}).get("hparams", {}).get("timing_only", False) for m in csv["method"]])
        accuracy = [c for c in means if c.startswith(("HR@", "NDCG@"))]
        assert means and all(csv.filter(~timed)[c].null_count() == 0 for c in means), name
        assert all(not csv[c].is_nan().any() for c in means), name
        assert all(csv.filter(timed)[c].null_count() == timed.sum() for c in accuracy), name
        assert all(csv.filter(timed)[c].null_count() == 0 for c in means if c not in accuracy), name
        md = (default_run / f"results/tables/{name}.md").read_text()
        assert study["caption"] in md and "Mean ± std over seeds" in md
        assert r"\toprule" in (default_run / f"results/tables/{name}.tex").read_text()
        if len(study.get("seeds", [])) > 1:
            stds = [c for c in csv.columns if c.endswith(" std") and "memory" not in c]
            assert all(csv[c].null_count() == 0 for c in stds), f"{name}: several seeds give a std"


@pytest.mark.slow
def test_report_bundles_the_studies(default_run):
    snakemake(default_run, "--report", "results/report.html", *SMOKE)
    html = (default_run / "results/report.html").read_text(errors="replace")
    assert "Studies" in html and "a4r_table2" in html
