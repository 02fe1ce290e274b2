"""Facts about a configured encoder (model type, depth, width) read from its config.json, never from its weights."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from transrec.models.hub import PACKAGE_PREFIX, resolve_model_path

VIT_DEFAULTS = {"num_hidden_layers": 12, "hidden_size": 768}  # transformers' ViTConfig (and BertConfig) defaults
HUB_TIMEOUT_S = "10"  # a typo'd or unreachable hub id fails in seconds, not after a minute of retries


def encoder_facts(spec: dict[str, Any], where: str) -> dict[str, Any]:
    """{kind, model_type, num_hidden_layers, hidden_size} of `spec` (an `encoders.<name>` entry);
    errors name `where`."""
    kind = spec["kind"]
    if kind == "id":
        return {"kind": "id", "model_type": "id", "num_hidden_layers": 0, "hidden_size": 0}
    if "random_init" in spec:
        fields = {**VIT_DEFAULTS, **spec["random_init"]}
        if kind == "text" and not spec.get("tokenizer"):
            raise ValueError(f"{where}.tokenizer: a random-init text encoder needs a tokenizer (e.g. package:...)")
        return {
            "kind": kind,
            "model_type": "bert" if kind == "text" else "vit",
            "num_hidden_layers": int(fields["num_hidden_layers"]),
            "hidden_size": int(fields["hidden_size"]),
        }
    config = _read_config(spec["path"], f"{where}.path")
    facts = {
        "kind": kind,
        "model_type": config.get("model_type"),
        "num_hidden_layers": config.get("num_hidden_layers"),
        "hidden_size": config.get("hidden_size"),
    }
    missing = [key for key, value in facts.items() if value is None]
    if missing:
        raise ValueError(f"{where}.path: the encoder's config.json has no {missing}")
    image = facts["model_type"] in ("vit", "vit_mae")
    if (kind == "image") != image:
        raise ValueError(f"{where}.kind: {kind!r}, but {spec['path']!r} is a {facts['model_type']!r} model")
    return facts


def looks_local(path: str) -> bool:
    """A filesystem path rather than a hub id ("org/name" has at most one slash and no leading . / ~)."""
    return path.startswith(("/", ".", "~")) or path.count("/") > 1 or Path(path).exists()


def _read_config(path: str, key: str) -> dict[str, Any]:
    """The config.json of a package, local folder or hub id (the hub only for config.json, with a short timeout)."""
    if path.startswith(PACKAGE_PREFIX):
        try:
            path = resolve_model_path(path)
        except ImportError as err:
            raise ValueError(f"{key}: cannot import the package of {path!r} ({err}); pip install it") from err
    if looks_local(path):
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise ValueError(f"{key}: the local encoder folder {str(folder)!r} does not exist")
        if not (folder / "config.json").is_file():
            raise ValueError(f"{key}: {str(folder)!r} has no config.json (not a saved Hugging Face model)")
        return json.loads((folder / "config.json").read_text(encoding="utf-8"))
    return _hub_config(path, key)


def _hub_config(repo_id: str, key: str) -> dict[str, Any]:
    """config.json of a hub model from the local cache, or downloaded when online; fails at once when offline."""
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", HUB_TIMEOUT_S)
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", HUB_TIMEOUT_S)
    from huggingface_hub import hf_hub_download

    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0")
    try:
        # the cache folder read now, not when huggingface_hub was imported
        file = hf_hub_download(
            repo_id, "config.json", local_files_only=offline, cache_dir=os.environ.get("HF_HUB_CACHE")
        )
    except Exception as err:  # noqa: BLE001 - hub errors come in many classes; all mean "cannot use this id"
        hint = (
            "HF_HUB_OFFLINE=1 and it is not in the local Hugging Face cache"
            if offline
            else f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        )
        raise ValueError(f"{key}: cannot find the hub model {repo_id!r} ({hint}); check the id, or give a local folder")
    return json.loads(Path(file).read_text(encoding="utf-8"))
