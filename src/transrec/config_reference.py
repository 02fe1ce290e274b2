"""Writes the configuration key reference (key path, type, default, description) as Markdown from the config schema."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
REFERENCE = REPO / "docs" / "configuration-reference.md"
COMMAND = "python -m transrec.config_reference"

HEADER = f"""# Configuration key reference

Generated from `workflow/schemas/config.schema.yaml` by `{COMMAND}` (do not edit by hand; a test fails when this
page and the schema disagree). Defaults live in the schema only: an omitted key takes the default below. `<name>`
stands for a name you choose (lower case, digits and `_`); it becomes the wildcard of the same kind. Hyper-parameters
are layered, later wins: `train` < `modalities.<m>` < `objectives.<o>.hparams` < `encoders.<e>.hparams` <
`methods.<m>.hparams`. How the files fit together: [Configuration](configuration.md).
"""


def load_schema(path: Path = SCHEMA) -> dict[str, Any]:
    """The schema as a plain dict."""
    return yaml.safe_load(path.read_text())


def _entries(node: Mapping[str, Any], path: str) -> Iterator[tuple[str, Mapping[str, Any], bool]]:
    """(key path, sub-schema, required) for every named key below `node`, depth first in schema order."""
    required = set(node.get("required", []))
    for key, sub in node.get("properties", {}).items():
        child = f"{path}.{key}" if path else key
        yield child, sub, key in required
        yield from _below(sub, child)


def _below(sub: Mapping[str, Any], path: str) -> Iterator[tuple[str, Mapping[str, Any], bool]]:
    """Keys inside `sub`: its properties, and those of the entries of a name -> entry mapping."""
    if "$ref" in sub:
        return  # documented once, under its shared definition
    yield from _entries(sub, path)
    extra = sub.get("additionalProperties")
    if isinstance(extra, Mapping) and ("properties" in extra or "description" in extra):
        entry = f"{path}.<name>"
        if "description" in extra:
            yield entry, extra, False
        yield from _below(extra, entry)


def keys(schema: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any], bool]]:
    """Every key of the schema: top-level keys and their descendants, then the shared definitions ($defs) and theirs."""
    yield from _entries(schema, "")
    for name, sub in schema.get("$defs", {}).items():
        yield f"$defs.{name}", sub, False
        yield from _below(sub, f"$defs.{name}")


def missing_descriptions(schema: Mapping[str, Any]) -> list[str]:
    """Key paths without a description."""
    return [path for path, sub, _ in keys(schema) if not str(sub.get("description", "")).strip()]


def _anchor(ref: str) -> str:
    return "shared-" + ref.split("/")[-1]


def _bounds(sub: Mapping[str, Any]) -> str:
    parts = []
    for key, sign in (
        ("minimum", "min"),
        ("exclusiveMinimum", "above"),
        ("maximum", "max"),
        ("exclusiveMaximum", "below"),
    ):
        if key in sub:
            parts.append(f"{sign} {sub[key]}")
    return f" ({', '.join(parts)})" if parts else ""


def type_of(sub: Mapping[str, Any]) -> str:
    """A short, readable type: `integer (min 1)`, one of `a`, `b`, list of string, a link to a shared definition."""
    if "$ref" in sub:
        name = sub["$ref"].split("/")[-1]
        return f"[{name}](#{_anchor(name)})"
    if "enum" in sub:
        return "one of " + ", ".join(f"`{v}`" for v in sub["enum"])
    if "anyOf" in sub:
        return " or ".join(type_of(s) for s in sub["anyOf"])
    kind = sub.get("type")
    if isinstance(kind, list):
        text = " or ".join(kind)
    elif kind == "array":
        text = "list of " + type_of(sub.get("items", {})) if sub.get("items") else "list"
    elif kind == "object" and isinstance(sub.get("additionalProperties"), Mapping) and "properties" not in sub:
        text = "mapping of name to entry"
    else:
        text = kind or "any"
    return text + _bounds(sub)


def _cell(text: str) -> str:
    """Markdown table cell: one line, pipes escaped, angle brackets outside code spans escaped."""
    text = " ".join(str(text).split())
    pieces = re.split(r"(`[^`]*`)", text)
    out = []
    for piece in pieces:
        if piece.startswith("`") and piece.endswith("`") and len(piece) > 1:
            out.append(piece.replace("|", "\\|"))
        else:
            out.append(piece.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;"))
    return "".join(out)


def _default(sub: Mapping[str, Any], required: bool) -> str:
    if "default" in sub:
        return f"`{json.dumps(sub['default'], ensure_ascii=False)}`"
    return "required" if required else ""


TABLE_HEAD = "| key | type | default | description |\n|---|---|---|---|\n"


def _row(path: str, sub: Mapping[str, Any], required: bool) -> str:
    return f"| `{path}` | {_cell(type_of(sub))} | {_default(sub, required)} | {_cell(sub.get('description', ''))} |\n"


def render(schema: Mapping[str, Any]) -> str:
    """The whole reference page."""
    out = [HEADER]
    required = set(schema.get("required", []))
    for key, sub in schema.get("properties", {}).items():
        out.append(f"\n## {key}\n\n{TABLE_HEAD}")
        out.append(_row(key, sub, key in required))
        out.extend(_row(*entry) for entry in _below(sub, key))
    out.append("\n## Shared definitions\n\nReferenced above by name; keys are relative to where they are used.\n")
    for name, sub in schema.get("$defs", {}).items():
        out.append(f"\n### Shared: {name}\n\n{TABLE_HEAD}")
        out.append(_row(name, sub, False))
        out.extend(_row(*entry) for entry in _below(sub, name))
    return "".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schema", type=Path, default=SCHEMA)
    parser.add_argument("--out", type=Path, default=REFERENCE)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when --out is out of date or a key lacks a description"
    )
    args = parser.parse_args(argv)
    schema = load_schema(args.schema)
    text = render(schema)
    if args.check:
        missing = missing_descriptions(schema)
        stale = not args.out.exists() or args.out.read_text() != text
        for path in missing:
            print(f"no description: {path}")
        if stale:
            print(f"{args.out} is out of date: run {COMMAND}")
        return int(bool(missing) or stale)
    args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
