"""The method contract: settings as typed models, the registry and its union, validate_method, freezing, set-up."""

from __future__ import annotations

import functools
import importlib
import json
import pkgutil
from collections.abc import Iterable
from typing import Annotated, Any, Literal, Protocol, Union, get_args, runtime_checkable

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from torch import nn

from transrec.models.sites import ITEM_MODALITY_TOWERS, SITE_MAPS
from transrec.validation import first_error

TOWERS = ("item", "user")
# + one tower of a multimodal item alone (item = both of them): for the methods that run on multimodal items
ALL_TOWERS = (*TOWERS, *ITEM_MODALITY_TOWERS)
# "adapters": every module or tensor a method adds or selects (its own learning rate)
GROUPS = ("item_encoder", "dtl", "user_encoder", "adapters")
_REGISTRY: dict[str, type[MethodSpec]] = {}


@runtime_checkable
class Method(Protocol):
    """A target-adaptation method: `apply` inserts modules / unfreezes and returns the new trainables by group."""

    def apply(self, model: nn.Module) -> dict[str, list[nn.Parameter]]: ...


class MethodSpec(BaseModel):
    """A method's settings: frozen, unknown fields refused; each plug-in adds `kind: Literal[<name>]` and its fields.

    The field defaults are the plug-in's own (the schema does not list method fields); a run.json method holds only
    the fields its config entry sets, and to_dict writes back only those.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    def __str__(self) -> str:
        """The spec as its config entry wrote it: {'kind': 'houlsby', 'r_item': 16}."""
        return str(self.model_dump(mode="json", exclude_unset=True))


def _distinct_towers(towers: tuple[str, ...]) -> tuple[str, ...]:
    if not towers or len(set(towers)) != len(towers):
        raise ValueError(f"must be a non-empty list of distinct towers, got {list(towers)}")
    parts = [t for t in towers if t in ITEM_MODALITY_TOWERS]
    if "item" in towers and parts:
        raise ValueError(
            f"'item' already covers both towers of a multimodal item; list either 'item' or {parts}, got {list(towers)}"
        )
    return towers


# Towers a method attaches to: item and/or user; AnyTowers also one tower of a multimodal item alone
Towers = Annotated[tuple[Literal[TOWERS], ...], AfterValidator(_distinct_towers)]
AnyTowers = Annotated[tuple[Literal[ALL_TOWERS], ...], AfterValidator(_distinct_towers)]


def register(cls: type[MethodSpec]) -> type[MethodSpec]:
    """Class decorator: make a MethodSpec buildable as `{"kind": <its kind>, ...}`."""
    if not (isinstance(cls, type) and issubclass(cls, MethodSpec)) or "kind" not in cls.model_fields:
        raise TypeError(f"method {cls!r} must be a MethodSpec with a `kind: Literal[...]` field")
    (name,) = get_args(cls.model_fields["kind"].annotation)
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ValueError(f"method kind {name!r} is registered twice")
    _REGISTRY[name] = cls
    _method_adapter.cache_clear()
    return cls


def method_union() -> Any:
    """Every registered method as one discriminated union on `kind` (combo members included)."""
    _import_methods()
    union = Annotated[Union[tuple(_REGISTRY.values())], Field(discriminator="kind")]  # noqa: UP007 (a runtime tuple)
    for cls in _REGISTRY.values():
        if not cls.__pydantic_complete__:  # a plug-in holding methods (combo) names the union as MethodUnion
            cls.model_rebuild(_types_namespace={"MethodUnion": union})
    return union


@functools.cache
def _method_adapter() -> TypeAdapter:
    return TypeAdapter(method_union())


def build_method(spec: dict | list | MethodSpec) -> MethodSpec:
    """{"kind": name, **fields} (or a list of such specs: a combination) -> the method.

    An unknown kind, unknown field, missing field or bad value raises ValueError naming it.
    """
    try:
        return _parse(spec)
    except ValidationError as err:
        path, message = error_path(err)
        raise ValueError(f"method {path!r}: {message}" if path else f"method: {message}") from None


def _parse(spec: dict | list | MethodSpec) -> MethodSpec:
    if isinstance(spec, MethodSpec):
        return spec
    if isinstance(spec, (list, tuple)):
        spec = {"kind": "combo", "methods": list(spec)}
    return _method_adapter().validate_json(json.dumps(spec), strict=True)  # as run.json reads it: "8" is no int


def error_path(err: ValidationError) -> tuple[str, str]:
    """The key path ("methods[0].r_item") and message of the first error of `err`; union kind tags left out."""

    def is_tag(previous: object, part: object) -> bool:
        after = previous is None or previous == "method" or isinstance(previous, int)
        return isinstance(part, str) and (part in _REGISTRY and after or not part.isidentifier())

    return first_error(err, skip=is_tag)


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
        method = _parse(spec)
    except ValidationError as err:
        path, message = error_path(err)
        raise ValueError(f"{where}.{path}: {message}" if path else f"{where}: {message}") from None
    check = getattr(method, "check", None)
    if check is None:
        return
    try:
        check(encoder)
    except FieldError as err:
        raise ValueError(f"{where}.{err.field}: {err.message}") from None


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
