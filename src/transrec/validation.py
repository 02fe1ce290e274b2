"""Pydantic validation errors as a key path ("methods[0].r_item") and a plain message, and a model built from plain
data that raises them as one ValueError naming the source."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)

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


def validate_plain(
    model: type[Model],
    data: Any,
    source: str,
    *,
    strict: bool | None = None,
    locate: Callable[[ValidationError], tuple[str, str]] = first_error,
) -> Model:
    """`model` built from plain (JSON-ready) data in JSON mode, where nested dataclasses may be plain objects; the
    first error raises ValueError "<source>: '<key path>': <message>" (the path left out for a whole-object error)."""
    try:
        return model.model_validate_json(json.dumps(data), strict=strict)
    except ValidationError as err:
        path, message = locate(err)
        raise ValueError(f"{source}: {path!r}: {message}" if path else f"{source}: {message}") from None
