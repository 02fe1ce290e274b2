"""docs/configuration-reference.md is generated from the config schema and up to date; every schema key is described."""

from __future__ import annotations

from transrec.config_reference import (
    COMMAND,
    REFERENCE,
    SCHEMA,
    keys,
    load_schema,
    missing_descriptions,
    render,
    type_of,
)


def test_every_schema_key_has_a_description():
    assert missing_descriptions(load_schema()) == []


def test_committed_reference_is_up_to_date():
    expected = render(load_schema(SCHEMA))
    assert REFERENCE.read_text() == expected, f"{REFERENCE} is out of date with {SCHEMA.name}: run `{COMMAND}`"


def test_missing_descriptions_are_found():
    schema = {
        "properties": {
            "a": {"type": "integer", "description": "x"},
            "b": {"type": "object", "properties": {"c": {"type": "string"}}, "description": "y"},
            "d": {
                "type": "object",
                "additionalProperties": {"type": "object", "properties": {"e": {"type": "number"}}},
                "description": "z",
            },
        },
        "$defs": {"f": {"type": "string"}},
    }
    assert missing_descriptions(schema) == ["b.c", "d.<name>.e", "$defs.f"]


def test_reference_lists_every_key_with_type_and_default():
    schema = load_schema()
    text = render(schema)
    paths = [path for path, _, _ in keys(schema)]
    assert "train.lr.item_encoder" in paths and "datasets.<name>.images.policy" in paths
    for path in paths:
        assert f"| `{path.removeprefix('$defs.')}` |" in text, path
    assert "| `train.epochs` | integer (min 1) | `40` |" in text
    assert type_of({"$ref": "#/$defs/hparams"}) == "[hparams](#shared-hparams)"
