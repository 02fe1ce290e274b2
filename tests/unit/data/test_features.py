"""Hidden-state store: one float16 array of first-token stacks, resumable after a kill, failing on missing content."""

import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "models"))
from multimodal_assets import IMAGE_DEPTH, IMAGE_WIDTH, N_ITEMS, TEXT_DEPTH, TEXT_WIDTH, write_assets  # noqa: E402
from transrec.data.content import build_content  # noqa: E402
from transrec.features import store as features  # noqa: E402
from transrec.features.content import StoreContent  # noqa: E402
from transrec.features.store import FeatureStore, build_feature_store  # noqa: E402
from transrec.models.iisan import first_token_stack  # noqa: E402
from transrec.models.item_encoders import build_item_encoder  # noqa: E402


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return write_assets(tmp_path_factory.mktemp("mm"))


def _build(assets, modality, root, **kwargs):
    encoder, content = (assets["bert"], assets["tokens"]) if modality == "text" else (assets["vit"], assets["lmdb"])
    return build_feature_store(
        modality,
        str(encoder),
        assets["items"],
        content,
        root / "store",
        root / "work",
        batch_size=3,
        chunk_items=5,
        **kwargs,
    )


@pytest.mark.parametrize(
    "modality, depth, width", [("text", TEXT_DEPTH, TEXT_WIDTH), ("image", IMAGE_DEPTH, IMAGE_WIDTH)]
)
def test_store_holds_every_items_first_token_stack_in_float16(assets, tmp_path, modality, depth, width):
    out = _build(assets, modality, tmp_path)
    assert sorted(p.name for p in out.iterdir()) == [
        "hidden_states.npy",
        "meta.json",
    ]  # one array, never a file per item
    assert not (tmp_path / "work").exists()
    store = FeatureStore(out)
    assert store.array.shape == (N_ITEMS + 1, depth + 2, width) and store.array.dtype == np.float16
    assert not store.array[0].any()  # padding item
    encoder = build_item_encoder(modality, str(assets["bert" if modality == "text" else "vit"]), 4, N_ITEMS).eval()
    path = assets["tokens"] if modality == "text" else assets["lmdb"]
    content = build_content(modality, path, assets["items"], encoder.image_mean, encoder.image_std, 32)
    idx = torch.tensor([7, 1, 12])
    with torch.no_grad():
        live = first_token_stack(modality, encoder.backbone, content(idx))  # (3, n+2, w)
        output = encoder.first_token(content(idx))
    torch.testing.assert_close(
        store.hidden_states(idx, range(depth + 1)).float(), live[:, : depth + 1], atol=2e-3, rtol=2e-3
    )
    torch.testing.assert_close(store.output(idx), output, atol=2e-3, rtol=2e-3)  # the frozen baseline's features
    kept = StoreContent(out, f"{modality}_states", [0, depth])(idx)[f"{modality}_states"]
    assert kept.shape == (3, 2, width) and kept.dtype == torch.float16
    assert pickle.loads(pickle.dumps(store))._array is None  # workers map the file themselves


def test_killed_build_resumes_from_the_last_committed_chunk(assets, tmp_path, monkeypatch):
    clean = FeatureStore(_build(assets, "text", tmp_path / "clean")).array.copy()
    real = features._encode_chunk
    calls = []

    def dies_on_the_second_chunk(modality, encoder, content, start, stop, *args):
        calls.append(start)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        return real(modality, encoder, content, start, stop, *args)

    monkeypatch.setattr(features, "_encode_chunk", dies_on_the_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        _build(assets, "text", tmp_path)
    assert not (tmp_path / "store").exists()  # nothing half-built in the output
    calls.clear()
    monkeypatch.setattr(features, "_encode_chunk", lambda *a: calls.append(a[3]) or real(*a))
    out = _build(assets, "text", tmp_path)
    assert calls == [6, 11]  # chunk 1..5 was committed; 6..10 and 11..12 remain
    np.testing.assert_array_equal(FeatureStore(out).array, clean)


def test_missing_title_or_image_fails_naming_the_item(tmp_path):
    broken = write_assets(tmp_path / "a", missing_title=4, missing_image=9)
    with pytest.raises(ValueError, match=r"empty or missing title: I04 \(item_idx 4\)"):
        _build(broken, "text", tmp_path)
    with pytest.raises(ValueError, match=r"no image in .*: I09 \(item_idx 9\)"):
        _build(broken, "image", tmp_path)
