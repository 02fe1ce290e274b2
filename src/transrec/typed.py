"""Strict conversion between plain JSON dicts and nested frozen dataclasses: unknown or missing keys raise."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, get_args, get_origin


def build(cls: type, d: Any, what: str, where: str = "") -> Any:
    """Recursively build dataclass `cls` from dict `d`; `what` names the document, `where` the key path in errors."""
    if not isinstance(d, dict):
        raise ValueError(f"{what} {where or '<root>'}: expected an object, got {type(d).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - set(fields))
    if unknown:
        raise ValueError(f"{what}: unknown key {_join(where, unknown[0])!r} (known: {sorted(fields)})")
    values = {}
    for name, f in fields.items():
        path = _join(where, name)
        if name not in d:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ValueError(f"{what}: missing key {path!r}")
            continue
        values[name] = _convert(hints[name], d[name], what, path)
    return cls(**values)


def plain(value: Any) -> Any:
    """dataclasses.asdict output with tuples as lists: JSON-ready."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def _convert(hint: Any, value: Any, what: str, path: str) -> Any:
    """Check `value` against the type hint and convert lists to tuples and nested dicts to dataclasses."""
    origin = get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, what, path)
    if origin in (typing.Union, types.UnionType):
        args = get_args(hint)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(arg, value, what, path)
            except ValueError as err:
                errors.append(str(err))
        raise ValueError(errors[0] if errors else f"{what}: {path!r} must not be null")
    if origin is Literal:
        if value not in get_args(hint):
            raise ValueError(f"{what}: {path!r} = {value!r}; expected one of {list(get_args(hint))}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{what}: {path!r} must be a list, got {value!r}")
        item = get_args(hint)[0]
        return tuple(_convert(item, v, what, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{what}: {path!r} must be an object, got {value!r}")
        _, item = get_args(hint)
        return {str(k): _convert(item, v, what, _join(path, str(k))) for k, v in value.items()}
    if hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, bool) or not isinstance(value, hint):
        raise ValueError(f"{what}: {path!r} must be {hint.__name__}, got {value!r}")
    return value


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key
