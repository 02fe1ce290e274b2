"""Where the released data sets live for tests: $TRANSREC_SHARED_DATA, by default ../shared/data next to the repo."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
ENV = "TRANSREC_SHARED_DATA"
DEFAULT = "../shared/data"


def shared_data_dir() -> Path:
    """$TRANSREC_SHARED_DATA (a relative value is relative to the repository root), else ../shared/data."""
    path = Path(os.environ.get(ENV) or DEFAULT).expanduser()
    return path if path.is_absolute() else (REPO_ROOT / path).resolve()
