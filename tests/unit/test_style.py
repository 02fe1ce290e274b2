"""Style gates (pyproject.toml [tool.ruff]): `ruff check` and `ruff format --check` pass on the repository."""

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
