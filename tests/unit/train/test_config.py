"""run.json -> RunConfig: every key required (the schema has the defaults), types, bad keys named by their path."""

import json
import typing

import pytest
import yaml
from pydantic import BaseModel
from run_dicts import full_run

from transrec.models.objectives import OBJECTIVES as REGISTRY
from transrec.train.config import OBJECTIVES, RunConfig

ADAPT = full_run(
    {
        "stage": "adapt",
        "name": {"dataset": "amazon", "encoder": "bert", "objective": "sasrec", "method": "houlsby", "start": "hm"},
        "data": {
            "split": "results/split/amazon/split.parquet",
            "items": "results/sequences/amazon/items.parquet",
            "content": {"kind": "text", "path": "results/tokens/amazon/bert.npz"},
        },
        "encoder": {"kind": "text", "path": "bert-base-uncased"},
        "method": {"kind": "houlsby", "r_item": 64},
        "out_dir": "results/runs/x",
    }
)


def _models(annotation) -> list[type[BaseModel]]:
    """The pydantic models inside a field's type (through unions, Annotated, tuples, dicts)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in _models(arg)]


def test_no_field_has_a_default():
    """Defaults live in the schema only: a key run.json lacks fails loudly (method plug-ins keep their own)."""
    seen, todo = set(), [RunConfig]
    while todo:
        model = todo.pop()
        seen.add(model)
        for name, field in model.model_fields.items():
            assert field.is_required(), f"{model.__name__}.{name} has a default"
            if name != "method":  # a method's fields are its plug-in's settings, which the schema does not list
                todo += [m for m in _models(field.annotation) if m not in seen]
    assert len(seen) > 5


def test_round_trip_and_types(tmp_path):
    run = RunConfig.from_dict(ADAPT)
    assert run.method.kind == "houlsby" and run.method.r_item == 64 and run.method.r_user == 16  # the plug-in's
    assert run.to_dict()["method"] == {"kind": "houlsby", "r_item": 64}  # only what run.json set is written back
    assert run.eval.ks == (10,) and run.also_train == () and isinstance(run.optim.lr["dtl"], float)
    path = tmp_path / "run.json"
    path.write_text(json.dumps(run.to_dict()))
    assert RunConfig.load(path) == run and RunConfig.load(path).to_dict() == run.to_dict()


@pytest.mark.parametrize(
    "path",
    [
        ("train", "threads"),
        ("train", "tensorboard"),
        ("eval", "user_batch"),
        ("eval", "item_batch"),
        ("data", "content", "paths"),
        ("data", "content", "stores"),
        ("encoder", "paths"),
    ],
)
def test_an_older_run_json_without_a_later_key_is_refused_naming_it(path):
    """Keys older run.json files lacked are filled by nothing: the workflow writes them all (the schema's defaults)."""
    d = json.loads(json.dumps(ADAPT))
    node = d
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    with pytest.raises(ValueError, match=f"'{'.'.join(path)}': missing key"):
        RunConfig.from_dict(d)


@pytest.mark.parametrize(
    "path, value",
    [
        (("surprise",), 1),
        (("train", "epoch"), 3),
        (("data", "content", "format"), "npz"),
        (("model", "hidden"), 32),
        (("method", "r"), 64),
    ],
)
def test_unknown_key_is_rejected_by_its_path(path, value):
    d = json.loads(json.dumps(ADAPT))
    node = d
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ValueError, match=f"'{'.'.join(path)}': unknown key"):
        RunConfig.from_dict(d)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"stage": "finetune"}, "'stage'"),
        ({"objective": "bpr"}, "'objective'"),
        ({"train": {"epochs": "3"}}, "'train.epochs'"),
        ({"train": {"compile": 1}}, "'train.compile'"),
        ({"train": {"epochs": 0}}, "'train.epochs'"),
        ({"train": {"min_delta": -0.1}}, "'train.min_delta'"),
        ({"eval": {"ks": [5]}}, "'eval.ks' must contain 10"),
        ({"train": {"timing_only": True}}, "method 'houlsby': 'train.timing_only' needs 'train.max_steps_per_epoch'"),
        ({"encoder": {"kind": "image", "path": "vit"}}, "content.kind"),
        ({"method": {"kind": "houlsbyy"}}, "'method': Input tag 'houlsbyy'"),
        ({"method": {"kind": "houlsby", "r_item": 0}}, "'method.r_item': Input should be greater than 0"),
        ({"method": {"kind": "houlsby", "towers": ["tower"]}}, r"'method.towers\[0\]'"),
        ({"method": {"kind": "ftn"}}, "'method.n': missing key"),
        ({"method": {"kind": "combo", "methods": [{"kind": "lora", "r_user": 0}]}}, r"'method.methods\[0\].r_user'"),
        ({"method": {"r_item": 4}}, "'method'.*kind"),
    ],
)
def test_bad_values_are_rejected_naming_the_key(change, message):
    d = json.loads(json.dumps(ADAPT))
    for section, value in change.items():
        d[section] = {**d[section], **value} if section in ("train", "eval", "encoder") else value
    with pytest.raises(ValueError, match=message):
        RunConfig.from_dict(d)


@pytest.mark.parametrize("key", ["data", "model", "optim"])
def test_missing_section_is_rejected(key):
    d = dict(ADAPT)
    del d[key]
    with pytest.raises(ValueError, match=f"'{key}': missing key"):
        RunConfig.from_dict(d)


def test_missing_name_key_is_rejected():
    d = json.loads(json.dumps(ADAPT))
    del d["name"]["seed"]
    with pytest.raises(ValueError, match="'name.seed': missing key"):
        RunConfig.from_dict(d)


def test_the_objectives_are_the_registrys_and_the_schema_lists_them(repo_root):
    """An objective is added in one place (models.objectives.OBJECTIVES); the schema's loss enum must follow it."""
    assert OBJECTIVES == tuple(REGISTRY)
    for name in REGISTRY:
        assert RunConfig.from_dict({**ADAPT, "objective": name}).objective == name
    schema = yaml.safe_load((repo_root / "workflow/schemas/config.schema.yaml").read_text())
    loss = schema["properties"]["objectives"]["additionalProperties"]["properties"]["loss"]
    assert loss["enum"] == list(REGISTRY)
