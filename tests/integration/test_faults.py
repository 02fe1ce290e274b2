"""Issue 6 proof, as a user meets it under Snakemake: bad raw files named by the stage that reads them, disk faults
named, and a training run killed at every phase (or with Snakemake itself) resuming to identical metrics."""

from __future__ import annotations

import errno
import gzip
import json
import os
import re
import runpy
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import lmdb
import polars as pl
import pytest
import yaml

from transrec.config_file import load_config_files
from transrec.data import images
from transrec.data.ingest import ingest
from transrec.io import DiskFullError
from transrec.studies import grid

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "raw"
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]


def snakemake(workdir: Path, config: Path, *args: str, kill_at: str | None = None) -> subprocess.CompletedProcess:
    """Run snakemake in `workdir` with `config`; TRANSREC_KILL_AT=kill_at makes the trainer SIGKILL itself there."""
    env = {k: v for k, v in os.environ.items() if k != "TRANSREC_KILL_AT"} | {"HF_HUB_OFFLINE": "1"}
    if kill_at:
        env["TRANSREC_KILL_AT"] = kill_at
    return subprocess.run(
        [*SNAKEMAKE, "--directory", str(workdir), "--configfile", str(config), "--cores", "2", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=600,
    )


def default_config() -> dict:
    """The smoke config (default + config/smoke.yaml) without its studies (they name experiments the tests replace)."""
    config = load_config_files(REPO / "config" / "config.yaml", REPO / "config" / "smoke.yaml")
    config.pop("studies", None)
    return config


def write_config(path: Path, config: dict) -> Path:
    """Write `config` as YAML to `path`."""
    path.write_text(yaml.safe_dump(config))
    return path


def failure(proc: subprocess.CompletedProcess) -> str:
    """The tail of a Snakemake call's output, for assertion messages."""
    return f"snakemake exit {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


# --- bad raw files: one Snakemake call, every case its own dataset, each job's log names the file ---------------------


def _copy(name: str, target: Path) -> Path:
    """A copy of one format's fixture folder."""
    shutil.copytree(FIXTURES / name, target)
    return target


def broken_datasets(raw: Path) -> dict[str, dict]:
    """Raw folders, each broken (or renamed) the way a user meets it, and their dataset entries."""
    trunc = _copy("hm", raw / "trunc")
    data = gzip.compress((trunc / "articles.csv").read_bytes() * 200, mtime=0)
    (trunc / "articles.csv").write_bytes(data[: len(data) // 2])  # an interrupted download, still named .csv
    header_only = _copy("hm", raw / "header_only")
    (header_only / "articles.csv").write_bytes((header_only / "articles.csv").read_bytes().splitlines()[0] + b"\n")
    no_meta = _copy("amazon", raw / "no_meta")
    (no_meta / "meta_Clothing.json").write_text("{'asin': 'Z9', 'title': 'Another category'}\n")
    empty = _copy("mind", raw / "empty")
    (empty / "train" / "behaviors.tsv").write_text("")
    renamed = _copy("hm", raw / "renamed")
    (renamed / "articles.csv").rename(renamed / "articles_train_sample.csv")
    iisan = _copy("released", raw / "iisan")
    (iisan / "users.tsv").rename(iisan / "am_Clothing_users_10K.tsv")
    (iisan / "items.tsv").rename(iisan / "Clothing_items.tsv")
    dups = _copy("adressa", raw / "dups")
    view = '{"userId": "cx:u9", "time": 1483300000, "id": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}\n'
    (dups / "20170102").write_text(view * 3)
    _copy("released", raw / "released")
    _copy("hm", raw / "nopics")  # one image for three articles

    def entry(fmt: str, folder: str, modality: str = "text", **keys) -> dict:
        return {"format": fmt, "source": "raw", "raw_dir": str(raw / folder), "modality": modality, **keys}

    lenient = {"max_bad_fraction": 1.0}  # the fixtures hold malformed rows on purpose
    return {
        "trunc": entry("hm", "trunc", **lenient),
        "header_only": entry("hm", "header_only", **lenient),
        "no_meta": entry("amazon", "no_meta", **lenient),
        "empty": entry("mind", "empty", **lenient),
        "strict": entry("released", "released"),
        "lenient": entry("released", "released", max_bad_fraction=0.5),
        "renamed": entry("hm", "renamed", files={"articles": "articles_train_sample.csv"}, **lenient),
        "iisan": entry("released", "iisan", **lenient),
        "dups": entry("adressa", "dups", **lenient),
        "nopics": entry("hm", "nopics", "image", **lenient),
    }


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> Path:
    """A workdir where Snakemake ran (--keep-going) the ingest of every broken dataset and the image store of one."""
    root = tmp_path_factory.mktemp("bad_files")
    config = default_config()
    config["datasets"] = broken_datasets(root / "raw")
    config["encoders"] = {"id": config["encoders"]["id"]}
    config["methods"] = {"fta": config["methods"]["fta"]}
    config["experiments"] = {"x": {"target": "lenient", "encoder": "id", "methods": ["fta"], "seeds": [42]}}
    targets = [f"results/ingest/{name}/ingest_report.json" for name in config["datasets"]]
    targets.append("results/images/nopics/image_report.tsv")
    proc = snakemake(root / "work", write_config(root / "config.yaml", config), "--keep-going", *targets)
    assert proc.returncode != 0, "the broken datasets must fail"
    return root


def job_log(root: Path, rule: str, dataset: str) -> str:
    """The log a rule's job wrote for one dataset."""
    return (root / "work" / "logs" / rule / f"{dataset}.log").read_text()


@pytest.mark.parametrize(
    ("rule", "dataset", "message"),
    [
        ("ingest", "trunc", r"raw/trunc/articles.csv: gzip data ends early or is corrupt after line \d+"),
        (
            "ingest",
            "header_only",
            r"raw/header_only/articles.csv: no data rows \(the file is empty or holds only a header\)",
        ),
        (
            "ingest",
            "no_meta",
            r"raw/no_meta/reviews_Clothing_5.json: no usable interactions; 5 row\(s\) reference items missing from "
            r"\S+raw/no_meta/meta_Clothing.json",
        ),
        ("ingest", "empty", r"raw/empty/train/behaviors.tsv: no data rows"),
        ("ingest", "strict", r"raw/released: \d+ of \d+ rows quarantined as malformed \(.*> max_bad_fraction 1.00%\)"),
        (
            "build_lmdb",
            "nopics",
            r"2 of 3 item images are missing \(66.7% > max_missing_fraction 50.0%\).*0108775044 -> "
            r"\S+raw/nopics/images/010/0108775044.jpg",
        ),
    ],
)
def test_bad_file_is_named_by_its_stage(bad_files, rule, dataset, message):
    assert re.search(message, job_log(bad_files, rule, dataset)), job_log(bad_files, rule, dataset)[-2000:]
    if rule == "ingest":  # nothing is left behind as if it were done
        assert not (bad_files / "work" / "results" / "ingest" / dataset / "interactions.parquet").exists()


def test_configured_names_limits_and_duplicates_ingest(bad_files):
    reports = {
        name: json.loads((bad_files / "work" / "results" / "ingest" / name / "ingest_report.json").read_text())
        for name in ("lenient", "renamed", "iisan", "dups")
    }
    assert reports["lenient"]["options"]["max_bad_fraction"] == 0.5 and reports["lenient"]["format_errors"] > 0
    assert "articles_train_sample.csv" in reports["renamed"]["rows_read"]
    assert set(reports["iisan"]["rows_read"]) == {"am_Clothing_users_10K.tsv", "Clothing_items.tsv"}
    assert reports["dups"]["counts"]["duplicate_events"] == 2


# --- disk and filesystem faults ---------------------------------------------------------------------------------


def test_ingest_on_a_full_disk_names_the_output_and_leaves_no_partial_file(tmp_path, monkeypatch):
    real = pl.DataFrame.write_parquet

    def full_for_interactions(frame, path, *args, **kwargs):
        if "interactions" in str(path):
            raise pl.exceptions.ComputeError("parquet: underlying IO error: No space left on device (os error 28)")
        return real(frame, path, *args, **kwargs)

    monkeypatch.setattr(pl.DataFrame, "write_parquet", full_for_interactions)
    out = tmp_path / "out"
    with pytest.raises(DiskFullError, match=rf"disk full while writing {out / 'interactions.parquet'}") as caught:
        ingest(
            "released",
            FIXTURES / "released",
            item_table=out / "items.parquet",
            interaction_table=out / "interactions.parquet",
            quarantine=out / "q.tsv",
            report=out / "r.json",
            options={"max_bad_fraction": 1.0},
        )
    assert caught.value.errno == errno.ENOSPC
    assert sorted(p.name for p in out.iterdir()) == ["items.parquet"]


def _image_items(tmp_path: Path) -> tuple[Path, Path]:
    """A raw folder of 40 small images and its items table."""
    from PIL import Image

    raw = tmp_path / "raw"
    (raw / "images").mkdir(parents=True)
    for i in range(40):
        Image.new("RGB", (32, 32), (i * 6, 100, 50)).save(raw / "images" / f"{i}.jpg")
    table = tmp_path / "items.parquet"
    pl.DataFrame(
        {"item_id": [str(i) for i in range(40)], "image_key": [f"images/{i}.jpg" for i in range(40)]}
    ).write_parquet(table)
    return raw, table


def test_lmdb_io_error_names_the_store_and_the_rerun_resumes(tmp_path, monkeypatch):
    raw, table = _image_items(tmp_path)
    real_put, calls = images._put_all, []

    def fails_on_second_chunk(env, batch):
        calls.append(len(batch))
        if len(calls) == 2:
            raise lmdb.Error("mdb_txn_commit: Input/output error")
        real_put(env, batch)

    monkeypatch.setattr(images, "_put_all", fails_on_second_chunk)
    store = tmp_path / "work" / "hm.lmdb"
    with pytest.raises(
        OSError, match=rf"Input/output error while writing the LMDB image store {store} .*the disk is full or failing"
    ):
        images.build_lmdb(table, raw, store, tmp_path / "report.tsv", size=32, workers=1, commit_every=16)
    monkeypatch.setattr(images, "_put_all", real_put)  # space freed
    counts = images.build_lmdb(table, raw, store, tmp_path / "report.tsv", size=32, workers=1, commit_every=16)
    assert counts["resumed"] == 16 and counts["written"] == 24 and counts["stored"] == 40


def test_build_lmdb_script_publishes_across_filesystems(tmp_path, monkeypatch):
    raw, table = _image_items(tmp_path)
    real_replace = os.replace

    def cross_device(source, target):
        if "interim" in str(source) and "results" in str(target):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_replace(source, target)

    monkeypatch.setattr(os, "replace", cross_device)
    monkeypatch.chdir(tmp_path)
    output = SimpleNamespace(lmdb="results/images/hm/images.lmdb", report="results/images/hm/image_report.tsv")
    fake = SimpleNamespace(
        log=[str(tmp_path / "build.log")],
        wildcards=SimpleNamespace(dataset="hm"),
        threads=1,
        output=output,
        input=SimpleNamespace(item_table=str(table), raw_dir=str(raw)),
        params=SimpleNamespace(work_dir="data/interim/lmdb", settings={"size": 32}),
    )
    runpy.run_path(str(REPO / "workflow" / "scripts" / "build_lmdb.py"), init_globals={"snakemake": fake})
    assert not list((tmp_path / "data" / "interim" / "lmdb").glob("*.lmdb"))  # the work folder was moved
    verified = images.verify_lmdb(output.lmdb, tmp_path / "verify.json", [str(i) for i in range(40)], size=32)
    assert verified["ok"] and verified["entries"] == 40


# --- kills under Snakemake --------------------------------------------------------------------------------------


def kill_config() -> dict:
    """One tiny target-only run (ID SASRec on tiny synthetic MIND, 3 epochs of 2 steps) whose best epoch is not its
    last (lr 1.0: epoch 1 peaks), the case where a kill between the best epoch and the end once left a run
    unrecoverable.
    """
    config = default_config()
    config["datasets"] = {"mind": {**config["datasets"]["mind"], "max_len": 10}}
    config["encoders"] = {"id": config["encoders"]["id"]}
    lr = {"item_encoder": 1.0, "dtl": 1.0, "user_encoder": 1.0, "adapters": 1.0}
    hparams = {
        "epochs": 3,
        "patience": 3,
        "max_steps_per_epoch": 2,
        "batch_size": {"pretrain": 16, "adapt": 16},
        "lr": lr,
        "dropout": 0.1,
    }
    config["methods"] = {"fta": {**config["methods"]["fta"], "hparams": hparams}}
    # kills through Snakemake are tested on a trainer Snakemake starts itself; the warm-start client's kills are
    # tested in tests/unit/train/test_warm.py (these kill-through-Snakemake runs with warm start are not verified yet)
    config["train"] = {**config["train"], "warm_start": False}
    config["experiments"] = {
        "kill": {"target": "mind", "encoder": "id", "objectives": ["sasrec"], "methods": ["fta"], "seeds": [42]}
    }
    config["subsample"] = {"fractions": []}
    return config


def comparable(metrics: dict) -> dict:
    """What must not change when a run is killed and resumed: everything but timings."""
    curve = [{k: v for k, v in entry.items() if not k.endswith("_seconds")} for entry in metrics["curve"]]
    return {"best_epoch": metrics["best_epoch"], "valid": metrics["valid"], "test": metrics["test"], "curve": curve}


@pytest.fixture(scope="module")
def killable(tmp_path_factory) -> SimpleNamespace:
    """A workdir with the tiny run's data built and its uninterrupted metrics."""
    root = tmp_path_factory.mktemp("kill")
    config = kill_config()
    path = write_config(root / "config.yaml", config)
    (target,) = grid.metrics_targets(grid.resolve_config(config))
    proc = snakemake(root / "work", path, target)
    assert proc.returncode == 0, failure(proc)
    run_dir = root / "work" / Path(target).parent
    reference = comparable(json.loads((run_dir / "metrics.json").read_text()))
    assert reference["best_epoch"] < 3, "the tiny run must peak before its last epoch (adjust its lr)"
    return SimpleNamespace(work=root / "work", config=path, target=target, run_dir=run_dir, reference=reference)


def fresh(run: SimpleNamespace) -> None:
    """Remove the run's outputs and resume state (run.json stays), so the next call trains from scratch."""
    for name in ("metrics.json", "best.pt", "last.pt", "last.prev.pt", "train.log"):
        (run.run_dir / name).unlink(missing_ok=True)


def kill_snakemake_when_training_starts(run: SimpleNamespace) -> None:
    """Start Snakemake and SIGKILL it with its job as soon as the training job starts (a lost node, kill -9)."""
    env = {k: v for k, v in os.environ.items() if k != "TRANSREC_KILL_AT"} | {"HF_HUB_OFFLINE": "1"}
    command = [*SNAKEMAKE, "--directory", str(run.work), "--configfile", str(run.config), "--cores", "2", run.target]
    job_log = run.work / "logs" / "adapt" / "mind_id_sasrec_fta_nopt_42.log"
    job_log.unlink(missing_ok=True)
    with subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    ) as proc:
        deadline = time.monotonic() + 300
        while not job_log.exists():  # the job's shell opens its log first; the trainer then needs seconds to start
            assert proc.poll() is None and time.monotonic() < deadline, "the training job never started"
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.slow
def test_killed_at_every_phase_under_snakemake_resumes_to_identical_metrics(killable):
    fresh(killable)
    kill_snakemake_when_training_starts(killable)
    locks = killable.work / ".snakemake" / "locks"
    assert any(locks.iterdir()), "a killed Snakemake leaves its lock"
    unlocked = snakemake(killable.work, killable.config, killable.target, "--unlock")
    assert unlocked.returncode == 0 and not (locks.exists() and any(locks.iterdir())), failure(unlocked)
    # then each call kills the trainer at the next phase of the same run; each rerun resumes from last.pt
    for phase in ("step:3", "validation:1", "checkpoint:1", "epoch_end:2", "test:1"):
        proc = snakemake(killable.work, killable.config, killable.target, "--rerun-incomplete", kill_at=phase)
        assert proc.returncode != 0, f"{phase}: the trainer was not killed\n{failure(proc)}"
        assert f"TRANSREC_KILL_AT={phase}: killing this process" in (killable.run_dir / "train.log").read_text()
        assert not (killable.run_dir / "metrics.json").exists() and not (killable.run_dir / "best.pt").exists()
    assert (killable.run_dir / "train.log").read_text().count("resumed") >= 3
    proc = snakemake(killable.work, killable.config, killable.target, "--rerun-incomplete")
    assert proc.returncode == 0, failure(proc)
    assert comparable(json.loads((killable.run_dir / "metrics.json").read_text())) == killable.reference


# --- one trainer per run folder, under Snakemake (issue 16) -------------------------------------------------------


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


@pytest.mark.slow
def test_killed_snakemake_takes_its_trainer_along_and_a_locked_run_stops_the_second(killable):
    fresh(killable)
    lock = killable.run_dir / ".trainer.lock"
    env = {k: v for k, v in os.environ.items() if k != "TRANSREC_KILL_AT"} | {"HF_HUB_OFFLINE": "1"}
    command = [
        *SNAKEMAKE,
        "--directory",
        str(killable.work),
        "--configfile",
        str(killable.config),
        "--cores",
        "2",
        killable.target,
    ]
    lock.unlink(missing_ok=True)
    with subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as proc:
        deadline = time.monotonic() + 300
        while not (lock.exists() and lock.read_text().strip()):  # the trainer writes its pid once it holds the lock
            assert proc.poll() is None and time.monotonic() < deadline, "the training job never started"
            time.sleep(0.02)
        trainer = int(lock.read_text().split()[0])
        proc.send_signal(signal.SIGKILL)  # Snakemake alone: its job shell and the trainer are left behind
    deadline = time.monotonic() + 15
    while _alive(trainer) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(trainer), "the trainer outlived its Snakemake"
    assert "is gone: exiting" in (killable.run_dir / "train.log").read_text()

    unlocked = snakemake(killable.work, killable.config, killable.target, "--unlock")
    assert unlocked.returncode == 0, failure(unlocked)
    holder = subprocess.Popen(  # a trainer still writing this run folder (e.g. on another node of a shared disk)
        [
            sys.executable,
            "-c",
            "import sys, time; from transrec.train.run_lock import run_lock\n"
            "with run_lock(sys.argv[1]):\n    print('locked', flush=True); time.sleep(120)",
            str(killable.run_dir),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        proc = snakemake(killable.work, killable.config, killable.target, "--rerun-incomplete")
        assert proc.returncode != 0, failure(proc)
        log = (killable.work / "logs" / "adapt" / "mind_id_sasrec_fta_nopt_42.log").read_text()
        assert f"is in use by pid {holder.pid} on host" in log, log[-2000:]
    finally:
        holder.kill()
        holder.wait()
    proc = snakemake(killable.work, killable.config, killable.target, "--rerun-incomplete")
    assert proc.returncode == 0, failure(proc)
    assert comparable(json.loads((killable.run_dir / "metrics.json").read_text())) == killable.reference
