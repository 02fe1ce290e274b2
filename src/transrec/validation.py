"""The first error of a pydantic validation as a key path ("methods[0].r_item") and a plain message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

# pydantic's error types for a key a model (or a dataclass) does not know, or lacks
UNKNOWN_OR_MISSING = {
    "extra_forbidden": "unknown key",
    "unexpected_keyword_argument": "unknown key",
    "missing": "missing key",
    "missing_argument": "missing key",
}


def first_error(err: ValidationError, *, skip: Callable[[Any, Any], bool] | None = None) -> tuple[str, str]:
    """(key path, message) of the first error of `err`; `skip(previous, part)` drops a location part (a union's tag)."""
    first = err.errors()[0]
    path, previous = "", None
    for part in first["loc"]:
        if not (skip and skip(previous, part)):
            path = f"{path}[{part}]" if isinstance(part, int) else f"{path}.{part}" if path else str(part)
        previous = part
    message = UNKNOWN_OR_MISSING.get(first["type"], first["msg"])
    return path, message.removeprefix("Value error, ")
