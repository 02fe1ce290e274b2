"""Syntax check of a YAML config file whose parse error names the file, line and column (Snakemake's names none)."""

from __future__ import annotations

import os
from pathlib import Path

import yaml


class ConfigSyntaxError(ValueError):
    """A config file is not valid YAML."""


def check_config_file(path: str | os.PathLike) -> None:
    """Parse `path` as YAML; on failure raise ConfigSyntaxError `file:line:column: problem` (1-based)."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        if mark is None:
            raise ConfigSyntaxError(f"{path}: not valid YAML: {error}") from None
        lines = text.splitlines()
        line = lines[mark.line] if mark.line < len(lines) else ""
        indent = line[: len(line) - len(line.lstrip())]
        hint = " (a tab in the indentation: YAML indents with spaces only)" if "\t" in indent else ""
        problem = " ".join(p for p in (error.context, error.problem) if p)
        raise ConfigSyntaxError(f"{path}:{mark.line + 1}:{mark.column + 1}: not valid YAML: {problem}{hint}") from None
    except yaml.YAMLError as error:
        raise ConfigSyntaxError(f"{path}: not valid YAML: {error}") from None


def load_config_files(*paths: str | os.PathLike) -> dict:
    """The config of several YAML files merged in order, nested mappings key by key
    (as `snakemake --configfile a b`)."""
    config: dict = {}
    for path in paths:
        check_config_file(path)
        config = merge_config(config, yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {})
    return config


def merge_config(base: dict, overlay: dict) -> dict:
    """`base` with `overlay` merged in: nested mappings merge key by key, anything else is replaced."""
    out = dict(base)
    for key, value in overlay.items():
        out[key] = (
            merge_config(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out
