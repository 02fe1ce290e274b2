"""Shared fixtures: the repository root, offline Hugging Face, the optional real data folder ($TRANSREC_SHARED_DATA)."""

import os
from pathlib import Path

import pytest

from shared_paths import shared_data_dir

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = shared_data_dir()  # $TRANSREC_SHARED_DATA, default ../shared/data


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def shared_data() -> Path:
    """$TRANSREC_SHARED_DATA (default ../shared/data: real released data); tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent (set TRANSREC_SHARED_DATA)")
    return SHARED_DATA


PAPER_ENCODERS = {  # the configs of config/paper.yaml's hub encoders (only config.json is read before a run)
    "bert-base-uncased": {"model_type": "bert", "num_hidden_layers": 12, "hidden_size": 768},
    "google/vit-base-patch16-224": {"model_type": "vit", "num_hidden_layers": 12, "hidden_size": 768},
    "facebook/vit-mae-base": {"model_type": "vit_mae", "num_hidden_layers": 12, "hidden_size": 768},
}


@pytest.fixture
def paper_hub_cache(tmp_path_factory, monkeypatch) -> Path:
    """An offline Hugging Face cache holding the config.json of paper.yaml's encoders, as on a prepared cluster."""
    import json

    cache = tmp_path_factory.mktemp("hf_cache")
    revision = "0" * 40
    for repo_id, config in PAPER_ENCODERS.items():
        model = cache / f"models--{repo_id.replace('/', '--')}"
        (model / "refs").mkdir(parents=True)
        (model / "refs" / "main").write_text(revision)
        (model / "snapshots" / revision).mkdir(parents=True)
        (model / "snapshots" / revision / "config.json").write_text(json.dumps(config))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache
