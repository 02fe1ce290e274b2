"""The front door: README.md stays short, and the documentation site builds with `mkdocs build --strict`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_readme_is_short():
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) < 150, f"README.md has {len(lines)} lines; move detail into docs/"


def _mkdocs() -> str | None:
    local = Path(sys.executable).with_name("mkdocs")
    return str(local) if local.exists() else shutil.which("mkdocs")


def test_docs_build_strict(tmp_path):
    mkdocs = _mkdocs()
    if mkdocs is None:
        pytest.skip("mkdocs not installed (pip install -r requirements-docs.txt)")
    proc = subprocess.run(
        [mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert (tmp_path / "site" / "api" / "index.html").stat().st_size > 10_000  # mkdocstrings rendered the packages


def test_licence_and_citation():
    import yaml

    assert (REPO / "LICENSE").read_text().startswith("MIT License")
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0" and citation["authors"] == [{"name": "the transrec authors"}]
    titles = [ref["title"] for ref in citation["references"]]
    assert any(t.startswith("Exploring Adapter-based Transfer Learning") for t in titles)
    assert any(t.startswith("IISAN") for t in titles)
