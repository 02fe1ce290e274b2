"""The method contract: registry, build_method, freeze / find / replace helpers, and the trainable set-up."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable, Iterable
from typing import Protocol, runtime_checkable

from torch import nn

TOWERS = {"item": "item_encoder.backbone", "user": "user_encoder"}
_REGISTRY: dict[str, type] = {}


@runtime_checkable
class Method(Protocol):
    """A target-adaptation method: `apply` inserts modules / unfreezes and returns the new trainables by group."""

    def apply(self, model: nn.Module) -> dict[str, list[nn.Parameter]]: ...


def register(name: str) -> Callable[[type], type]:
    """Class decorator: make a frozen dataclass buildable as `{"kind": name, ...}`."""

    def decorator(cls: type) -> type:
        if not dataclasses.is_dataclass(cls) or not cls.__dataclass_params__.frozen:
            raise TypeError(f"method {name!r} must be a frozen dataclass")
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"method kind {name!r} is registered twice")
        _REGISTRY[name] = cls
        return cls

    return decorator


def build_method(spec: dict) -> Method:
    """{"kind": name, **fields} -> the method; an unknown kind, unknown field or missing field raises ValueError."""
    _import_methods()
    fields = dict(spec)
    kind = fields.pop("kind", None)
    if kind not in _REGISTRY:
        raise ValueError(f"unknown method kind {kind!r}; known: {sorted(_REGISTRY)}")
    cls = _REGISTRY[kind]
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(fields) - set(known))
    if unknown:
        raise ValueError(f"unknown field(s) {unknown} for method {kind!r}; known: {sorted(known)}")
    missing_default = dataclasses.MISSING
    required = [n for n, f in known.items() if f.default is missing_default and f.default_factory is missing_default]
    missing = [n for n in required if n not in fields]
    if missing:
        raise ValueError(f"method {kind!r} needs field(s) {missing}")
    # YAML/JSON give lists; frozen dataclasses should hold hashable tuples
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
    return cls(**fields)


def _import_methods() -> None:
    """Import every module of transrec.methods so each `@register` has run (no central list to keep in sync)."""
    package = importlib.import_module("transrec.methods")
    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"transrec.methods.{info.name}")


def freeze(module: nn.Module) -> nn.Module:
    """Set requires_grad False on every parameter of `module`; returns it."""
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def unfreeze(params: Iterable[nn.Parameter]) -> list[nn.Parameter]:
    """Set requires_grad True on `params`; returns them as a list."""
    params = list(params)
    for p in params:
        p.requires_grad_(True)
    return params


def replace_module(model: nn.Module, name: str, new: nn.Module) -> nn.Module:
    """Put `new` at dotted `name` inside `model` and return the module it replaced."""
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name)
    if child not in parent._modules:
        raise ValueError(f"no submodule {name!r} to replace")
    old = parent._modules[child]
    setattr(parent, child, new)
    return old


def find_modules(model: nn.Module, suffixes: Iterable[str], towers: Iterable[str]) -> list[str]:
    """Dotted names (from `model`) of modules in `towers` (item, user) whose name ends with one of `suffixes`."""
    suffixes, towers = tuple(suffixes), tuple(towers)
    unknown = sorted(set(towers) - set(TOWERS))
    if unknown:
        raise ValueError(f"unknown tower(s) {unknown}; known: {sorted(TOWERS)}")
    found = []
    for tower in towers:
        root = TOWERS[tower]
        for name, _ in model.get_submodule(root).named_modules():
            if name and any(name == s or name.endswith("." + s) for s in suffixes):
                found.append(f"{root}.{name}")
    if not found:
        raise ValueError(f"no module ending in {suffixes} in tower(s) {towers}")
    return found


def prepare_trainable(model: nn.Module, method: Method, also_train: Iterable[str]) -> dict[str, list[nn.Parameter]]:
    """Freeze all, apply `method`, unfreeze its groups and the `also_train` groups; one group per parameter."""
    freeze(model)
    groups = {name: list(params) for name, params in method.apply(model).items()}
    owned = {id(p) for p in model.parameters()}
    claimed: set[int] = set()
    for name, params in groups.items():
        for p in params:
            if id(p) not in owned:
                raise ValueError(f"method returned a parameter in group {name!r} that is not in the model")
            if id(p) in claimed:
                raise ValueError(f"method returned a parameter twice (group {name!r})")
            claimed.add(id(p))
    base = model.parameter_groups()
    for name in also_train:
        if name not in base:
            raise ValueError(f"unknown also_train group {name!r}; known: {sorted(base)}")
        # a method's own grouping wins: an adapter inside SASRec keeps its adapter learning rate
        extra = [p for p in base[name] if id(p) not in claimed]
        claimed.update(id(p) for p in extra)
        groups[name] = groups.get(name, []) + extra
    for params in groups.values():
        unfreeze(params)
    return {name: params for name, params in groups.items() if params}
