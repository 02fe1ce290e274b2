"""A malformed config YAML is named by file, line and column, by the library check and by Snakemake (issue 16)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from transrec.config_file import ConfigSyntaxError, check_config_file

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "where", "hint"),
    [
        ("datasets:\n  mind:\n\tformat: mind\n", ":3:1:", "a tab in the indentation"),
        ("train:\n  epochs: [1, 2\n  seed: 3\n", ":3:7:", "flow sequence"),
        ("a: b: c\n", ":1:5:", "mapping values are not allowed here"),
    ],
)
def test_yaml_errors_name_file_line_and_column(tmp_path, text, where, hint):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigSyntaxError) as caught:
        check_config_file(path)
    assert str(caught.value).startswith(f"{path}{where} not valid YAML") and hint in str(caught.value)


def test_valid_yaml_passes(tmp_path):
    (tmp_path / "ok.yaml").write_text("train:\n  epochs: 2\n")
    check_config_file(tmp_path / "ok.yaml")


def test_snakemake_names_the_line_of_a_tab_in_the_embedded_config(tmp_path):
    for name in ("Snakefile", "workflow", "config", "profiles"):
        (shutil.copytree if (REPO / name).is_dir() else shutil.copy)(REPO / name, tmp_path / name)
    config = tmp_path / "config" / "config.yaml"
    lines = config.read_text().splitlines()
    lines.insert(3, "\tbroken: 1")
    config.write_text("\n".join(lines) + "\n")
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=120,
    )
    assert proc.returncode != 0
    assert f"{config}:4:1: not valid YAML" in proc.stdout + proc.stderr
    assert "a tab in the indentation" in proc.stdout + proc.stderr
