"""run.json -> RunConfig: defaults, types, and unknown keys rejected by their key path."""

import json

import pytest

from transrec.train.config import RunConfig

MINIMAL = {
    "stage": "adapt",
    "name": {
        "dataset": "amazon",
        "encoder": "bert",
        "objective": "sasrec",
        "method": "houlsby",
        "start": "hm",
        "seed": 1,
    },
    "data": {
        "split": "results/split/amazon/split.parquet",
        "items": "results/sequences/amazon/items.parquet",
        "content": {"kind": "text", "path": "results/tokens/amazon/bert.npz"},
    },
    "encoder": {"kind": "text", "path": "bert-base-uncased"},
    "method": {"kind": "houlsby", "r": 64},
    "out_dir": "results/runs/x",
}


def test_defaults_and_round_trip(tmp_path):
    run = RunConfig.from_dict(MINIMAL)
    assert run.model.d_model == 64 and run.model.max_len == 20 and run.train.batch_size == 32
    assert run.optim.lr["item_encoder"] == 5e-5 and run.optim.grad_clip is None
    assert run.eval.ks == (10,) and run.eval.mask_history is True
    assert run.method == {"kind": "houlsby", "r": 64} and run.also_train == () and run.init_checkpoint is None
    path = tmp_path / "run.json"
    path.write_text(json.dumps(run.to_dict()))
    assert RunConfig.load(path) == run


def test_full_document_is_typed():
    d = {
        **MINIMAL,
        "also_train": ["dtl", "user_encoder"],
        "init_checkpoint": "results/runs/pretrain/x/best.pt",
        "train": {"epochs": 3, "max_steps_per_epoch": 5, "precision": "bf16", "compile": True},
        "optim": {"lr": {"adapters": 1, "user_encoder": 1e-4}, "grad_clip": 1},
        "eval": {"ks": [10, 20]},
    }
    run = RunConfig.from_dict(d)
    assert run.also_train == ("dtl", "user_encoder") and run.eval.ks == (10, 20)
    assert run.optim.lr == {"adapters": 1.0, "user_encoder": 1e-4} and isinstance(run.optim.grad_clip, float)
    assert run.train.compile is True and run.train.max_steps_per_epoch == 5


@pytest.mark.parametrize(
    "path, value",
    [
        (("surprise",), 1),
        (("train", "epoch"), 3),
        (("data", "content", "format"), "npz"),
        (("model", "hidden"), 32),
    ],
)
def test_unknown_key_is_rejected_by_its_path(path, value):
    d = json.loads(json.dumps(MINIMAL))
    node = d
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    with pytest.raises(ValueError, match=f"unknown key '{'.'.join(path)}'"):
        RunConfig.from_dict(d)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"stage": "finetune"}, "stage"),
        ({"objective": "bpr"}, "objective"),
        ({"train": {"epochs": "3"}}, "train.epochs"),
        ({"train": {"compile": 1}}, "train.compile"),
        ({"train": {"epochs": 0}}, "train.epochs"),
        ({"eval": {"ks": [5]}}, "eval.ks"),
        ({"method": {"r": 4}}, "method.kind"),
        ({"encoder": {"kind": "image", "path": "vit"}}, "content.kind"),
        ({"name": {"dataset": "x"}}, "name.encoder"),
    ],
)
def test_bad_values_are_rejected(change, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        RunConfig.from_dict({**MINIMAL, **change})


def test_missing_section_is_rejected():
    d = dict(MINIMAL)
    del d["data"]
    with pytest.raises(ValueError, match="missing key 'data'"):
        RunConfig.from_dict(d)
