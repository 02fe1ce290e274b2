"""One complete run.json for tests: full_run(partial) fills every key a test leaves out (RunConfig has no defaults)."""

import copy
from typing import Any

FULL_RUN: dict[str, Any] = {  # an ID-item pre-training with the settings the tests were written against
    "stage": "pretrain",
    "name": {"dataset": "tiny", "encoder": "id", "objective": "sasrec", "method": "fta", "start": "nopt", "seed": 0},
    "data": {
        "split": "split.parquet",
        "items": "items.parquet",
        "content": {"kind": "id", "path": None, "paths": {}, "stores": {}},
    },
    "encoder": {"kind": "id", "path": None, "paths": {}, "image_mask_ratio": 0.0},
    "model": {"d_model": 64, "max_len": 20, "n_blocks": 2, "n_heads": 2, "dropout": 0.1},
    "objective": "sasrec",
    "method": {"kind": "fta"},
    "also_train": [],
    "init_checkpoint": None,
    "optim": {
        "lr": {"item_encoder": 5e-5, "dtl": 1e-4, "user_encoder": 1e-4, "adapters": 1e-4},
        "weight_decay": 0.0,
        "grad_clip": None,
    },
    "train": {
        "epochs": 10,
        "batch_size": 32,
        "patience": 3,
        "min_delta": 0.0,
        "min_epochs": 1,
        "num_workers": 0,
        "threads": 2,
        "seed": 42,
        "device": "auto",
        "precision": "auto",
        "max_steps_per_epoch": None,
        "timing_only": False,
        "compile": False,
        "cache_frozen_features": True,
        "tensorboard": False,
    },
    "eval": {"ks": [10], "user_batch": 1024, "item_batch": 256, "mask_history": True},
    "out_dir": "run",
}
VALUES = ("lr", "paths", "stores", "method")  # dict-valued keys a partial replaces whole, never merges into


def full_run(partial: dict[str, Any]) -> dict[str, Any]:
    """FULL_RUN with `partial` laid over it: a section it gives replaces only the keys it names."""
    return _merge(copy.deepcopy(FULL_RUN), partial)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict) and key not in VALUES:
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base
