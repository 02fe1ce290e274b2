"""The method contract: registry, build_method (one or a list), validate_method, freezing, the trainable set-up."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable, Iterable
from typing import Protocol, runtime_checkable

from torch import nn

from transrec.models.sites import ITEM_MODALITY_TOWERS, SITE_MAPS

TOWERS = ("item", "user")
# + one tower of a multimodal item alone (item = both of them): for the methods that run on multimodal items
ALL_TOWERS = (*TOWERS, *ITEM_MODALITY_TOWERS)
# "adapters": every module or tensor a method adds or selects (its own learning rate)
GROUPS = ("item_encoder", "dtl", "user_encoder", "adapters")
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


def build_method(spec: dict | list) -> Method:
    """{"kind": name, **fields} (or a list of such specs: a combination) -> the method.

    An unknown kind, unknown field or missing field raises ValueError naming it.
    """
    _import_methods()
    if isinstance(spec, (list, tuple)):
        spec = {"kind": "combo", "methods": list(spec)}
    fields = dict(spec)
    for switch in ("also_train", "hparams"):  # the trainer's settings of a config entry, not method fields
        fields.pop(switch, None)
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
    # YAML/JSON give lists; frozen dataclasses should hold tuples
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
    return cls(**fields)


class FieldError(ValueError):
    """A bad method field: `field` is its key inside the method spec."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def validate_method(spec: dict | list, encoder: dict, where: str) -> None:
    """Check a method spec against encoder facts without loading weights; errors name `where` + the field.

    `encoder` holds facts read from configs: kind (text, image, id), model_type, num_hidden_layers, hidden_size,
    and "user": {n_blocks, d_model} for the SASRec tower (transrec.models.encoder_facts + config model).
    """
    try:
        method = build_method(spec)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{where}: {err}") from None
    check = getattr(method, "check", None)
    if check is None:
        return
    try:
        check(encoder)
    except FieldError as err:
        raise ValueError(f"{where}.{err.field}: {err.message}") from None


def check_towers(towers: tuple[str, ...], allowed: tuple[str, ...] = TOWERS) -> None:
    """Towers must be a non-empty subset of `allowed`, without repeats."""
    if not towers or len(set(towers)) != len(towers) or any(t not in allowed for t in towers):
        raise FieldError(
            "towers", f"must be a non-empty list of distinct towers from {list(allowed)}, got {list(towers)}"
        )
    parts = [t for t in towers if t in ITEM_MODALITY_TOWERS]
    if "item" in towers and parts:
        raise FieldError(
            "towers",
            f"'item' already covers both towers of a multimodal item; list either 'item' or "
            f"{parts}, got {list(towers)}",
        )


def check_positive(name: str, value: object) -> None:
    """An integer field must be >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise FieldError(name, f"must be an integer >= 1, got {value!r}")


def check_transformer_item_tower(towers: tuple[str, ...], encoder: dict, *, multimodal: str | None = None) -> None:
    """Methods that attach to transformer sites need a text, image or (where supported) multimodal item tower.

    `multimodal`: None when the method runs on the towers of a multimodal item, else why it does not (the error).
    """
    items = [t for t in towers if t != "user"]
    kind = encoder.get("kind")
    if not items:
        return
    if kind == "id":
        raise FieldError("towers", "the item tower is an ID table (encoder kind id): it has no transformer sites")
    if kind == "multimodal":
        if multimodal is not None:
            raise FieldError("towers", f"a multimodal item tower is not supported: {multimodal}")
        for modality, facts in encoder.get("towers", {}).items():
            model_type = facts.get("model_type")
            if model_type is not None and model_type not in SITE_MAPS:
                raise FieldError(
                    "towers",
                    f"no site map for the {modality} tower's model type {model_type!r}; known: {sorted(SITE_MAPS)}",
                )
        return
    if kind is not None and kind not in ("text", "image"):
        raise FieldError(
            "towers", f"an item tower of kind {kind!r} has no site map (text, image or multimodal encoders only)"
        )
    parts = [t for t in items if t in ITEM_MODALITY_TOWERS]
    if parts and kind is not None:
        raise FieldError(
            "towers",
            f"{parts} select one tower of a multimodal item; this item encoder is {kind!r} "
            "(a single backbone): use 'item'",
        )
    model_type = encoder.get("model_type")
    if model_type is not None and model_type not in SITE_MAPS:
        raise FieldError(
            "towers", f"no site map for the item encoder's model type {model_type!r}; known: {sorted(SITE_MAPS)}"
        )


def merge_groups(*groups: dict[str, list[nn.Parameter]]) -> dict[str, list[nn.Parameter]]:
    """Union of method groups, each tensor once (in its first group): LN tuning and BitFit share LN biases."""
    merged: dict[str, list[nn.Parameter]] = {}
    seen: set[int] = set()
    for group in groups:
        for name, params in group.items():
            fresh = [p for p in params if id(p) not in seen]
            seen.update(id(p) for p in fresh)
            merged.setdefault(name, []).extend(fresh)
    return merged


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
