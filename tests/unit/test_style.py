"""Style gates: `ruff check` and `ruff format --check` (pyproject.toml [tool.ruff]) pass on the repository, and
`snakefmt --check` on the Snakefile and workflow/ (the rules and their helpers)."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("args", [["check", "."], ["format", "--check", "."]], ids=["check", "format"])
def test_ruff_passes(args):
    if importlib.util.find_spec("ruff") is None:
        pytest.skip("ruff is not installed: pip install -r requirements.txt")
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *args, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"ruff {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"


def test_snakefmt_passes():
    if importlib.util.find_spec("snakefmt") is None:  # a missing formatter fails, never skips: this test is the gate
        raise AssertionError("snakefmt is not installed: pip install -r requirements.txt")
    result = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", "Snakefile", "workflow/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"snakefmt --check failed (run snakefmt Snakefile workflow/):\n{result.stderr}"
