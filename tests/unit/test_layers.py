"""The package's layers (pyproject.toml [tool.importlinter], docs/architecture.md §Layers): lint-imports must pass."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = "from importlinter.cli import lint_imports_command; lint_imports_command()"  # the lint-imports script


def test_import_contracts_are_kept():
    try:
        import importlinter  # noqa: F401
    except ImportError as error:  # a missing linter fails, never skips: this test is how the contracts are enforced
        raise AssertionError("import-linter is not installed: pip install -r requirements.txt") from error
    result = subprocess.run(
        [sys.executable, "-c", LINT_IMPORTS, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"lint-imports found broken contracts:\n{result.stdout}\n{result.stderr}"
