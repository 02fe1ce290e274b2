"""bench/gpu_suite.sh's CPU smoke mode: the study overlay validates and the step benchmark runs every case (tiny)."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _module(name: str):
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_study_overlay_is_a_valid_config_with_every_method_inside_minilm(tmp_path):
    study = _module("gpu_study")
    config = study.merged_config(str(tmp_path), [42, 43])
    runs = study.check(config)
    methods = {Path(run).parts[-3] for run in runs}
    assert methods == {
        "fta_minilm",
        "houlsby_minilm",
        "pfeiffer_minilm",
        "compacter_minilm",
        "kadapter_minilm",
        "lora_minilm",
        "prompt_minilm",
        "ln_tuning_minilm",
        "bitfit_minilm",
        "iisan_text",
        "iisan_text_lr3e4",
        "frozen",
    }
    assert len(runs) == 12 * 2  # 12 methods x 2 seeds
    assert config["datasets"]["amazon_instruments"]["raw_dir"] == str(tmp_path.resolve())
    assert config["train"]["device"] == "cuda" and config["methods"]["lora_minilm"]["alpha_item"] == 1
    for cached_or_not in ("iisan_text", "iisan_text_lr3e4"):  # the side-network rate chosen on validation
        assert config["methods"][cached_or_not]["hparams"]["lr"]["adapters"] == 3.0e-4


def test_step_targets_smoke_times_every_case_and_judges_nothing(tmp_path):
    report = _module("gpu_step_targets").main(["--smoke", "--out", str(tmp_path / "step.json")])
    cases = {(row["method"], row["variant"]) for row in report["results"]}
    assert cases == {("fta", "ours"), ("fta", "naive"), ("houlsby", "ours"), ("lora", "ours"), ("iisan_cached", "ours")}
    assert report["targets"] is None  # CPU numbers at a tiny shape say nothing about the GPU targets
    assert json.loads((tmp_path / "step.json").read_text())["smoke"] is True


def test_targets_are_judged_against_the_issue_bounds():
    judge = _module("gpu_step_targets").judge
    rows = [
        {"method": "fta", "variant": "ours", "ms_per_step": 40.0, "peak_mem_gib": 9.0},
        {"method": "houlsby", "variant": "ours", "ms_per_step": 41.0, "peak_mem_gib": 5.0},
        {"method": "iisan_cached", "variant": "ours", "ms_per_step": 2.0, "peak_mem_gib": 0.5},
    ]
    verdicts = {v["target"]: v["met"] for v in judge(rows)}
    assert verdicts == {
        "fta ms/step <= 45": True,
        "fta peak GiB <= 10": True,
        "houlsby ms/step <= 40": False,
        "houlsby peak GiB <= 6": True,
        "cached IISAN >= 20x faster than FTA": True,
    }


@pytest.mark.slow
def test_gpu_suite_script_smoke_mode_runs_on_a_cpu(tmp_path):
    subprocess.run(
        ["bash", str(BENCH / "gpu_suite.sh"), "--smoke"], check=True, env={**os.environ, "OUT_DIR": str(tmp_path)}
    )
    assert (tmp_path / "gpu_step_targets_smoke.json").exists()
