"""Item content: token rows trimmed per batch, images from LMDB normalised with the encoder's statistics, ids."""

import io
import pickle

import lmdb
import numpy as np
import polars as pl
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from transrec.data.content import IdContent, ImageContent, TextContent, build_content

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
COLOURS = {"A1": (255, 0, 0), "B2": (0, 128, 255), "C3": (10, 20, 30)}  # item_idx 1, 2, 3 in the items table


@pytest.fixture
def token_npz(tmp_path):
    ids = np.zeros((4, 6), dtype=np.int32)
    mask = np.zeros((4, 6), dtype=np.uint8)
    for row, length in ((1, 2), (2, 5), (3, 3)):  # right padding, as the tokenizer writes
        ids[row, :length] = np.arange(101, 101 + length)
        mask[row, :length] = 1
    path = tmp_path / "tokens.npz"
    np.savez(path, input_ids=ids, attention_mask=mask, tokenizer="fake", max_tokens=6)
    return path


@pytest.fixture
def items_parquet(tmp_path):
    path = tmp_path / "items.parquet"
    # stored out of order: the mapping must go by item_idx, not row order
    pl.DataFrame(
        {"item_idx": [2, 1, 3], "item_id": ["B2", "A1", "C3"]}, schema={"item_idx": pl.Int32, "item_id": pl.String}
    ).write_parquet(path)
    return path


@pytest.fixture
def image_lmdb(tmp_path):
    """The store's documented layout: key = item_id, value = encoded image bytes (B2 stored at a non-224 size)."""
    path = tmp_path / "images.lmdb"
    env = lmdb.open(str(path), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for item_id, colour in COLOURS.items():
            buffer = io.BytesIO()
            size = (40, 30) if item_id == "B2" else (224, 224)
            Image.new("RGB", size, colour).save(buffer, format="PNG")
            txn.put(item_id.encode(), buffer.getvalue())
    env.close()
    return path


def test_text_rows_are_trimmed_to_the_longest_title_in_the_batch(token_npz):
    content = TextContent(token_npz)
    assert (content.kind, content.num_items) == ("text", 3)
    batch = content(torch.tensor([1, 3]))
    assert batch["input_ids"].tolist() == [[101, 102, 0], [101, 102, 103]]
    assert batch["attention_mask"].tolist() == [[1, 1, 0], [1, 1, 1]]
    assert content(torch.tensor([2, 1]))["input_ids"].shape == (2, 5)
    assert batch["input_ids"].dtype == torch.long


def test_text_trim_keeps_real_tokens_with_left_padding(tmp_path):
    mask = np.array([[0, 0, 0, 0], [0, 0, 1, 1], [0, 1, 1, 1]], dtype=np.uint8)
    np.savez(tmp_path / "left.npz", input_ids=mask.astype(np.int32) * 7, attention_mask=mask)
    assert TextContent(tmp_path / "left.npz")(torch.tensor([1]))["attention_mask"].tolist() == [[0, 0, 1, 1]]


def test_images_are_decoded_resized_and_normalised(image_lmdb, items_parquet):
    content = ImageContent(image_lmdb, items_parquet, MEAN, STD, size=32)
    assert (content.kind, content.num_items) == ("image", 3)
    pixels = content(torch.tensor([2, 1]))["pixel_values"]
    assert pixels.shape == (2, 3, 32, 32) and pixels.dtype == torch.float32
    for row, item_id in enumerate(("B2", "A1")):  # item_idx 2 -> B2, 1 -> A1 (resized from 40x30)
        expected = (torch.tensor(COLOURS[item_id]) / 255 - torch.tensor(MEAN)) / torch.tensor(STD)
        assert torch.allclose(pixels[row, :, 5, 7], expected, atol=1e-5)
    with pytest.raises(IndexError):
        content(torch.tensor([0]))


def test_image_content_pickles_without_its_open_store_and_works_in_workers(image_lmdb, items_parquet):
    content = ImageContent(image_lmdb, items_parquet, MEAN, STD, size=16)
    direct = content(torch.tensor([1, 2, 3]))["pixel_values"]  # opens the store in this process
    clone = pickle.loads(pickle.dumps(content))
    assert clone._reader is None
    assert torch.equal(clone(torch.tensor([1, 2, 3]))["pixel_values"], direct)
    loader = DataLoader([torch.tensor([1, 2]), torch.tensor([3])], batch_size=None, num_workers=2, collate_fn=content)
    assert torch.equal(torch.cat([batch["pixel_values"] for batch in loader]), direct)


def test_id_content_passes_ids_through():
    content = IdContent(5)
    assert (content.kind, content.num_items) == ("id", 5)
    assert content(torch.tensor([3, 1], dtype=torch.int32))["item_idx"].tolist() == [3, 1]


def test_build_content_dispatches_and_checks_the_item_count(token_npz, image_lmdb, items_parquet, tmp_path):
    assert isinstance(build_content("text", token_npz, items_parquet), TextContent)
    assert isinstance(build_content("image", image_lmdb, items_parquet, MEAN, STD), ImageContent)
    ids = build_content("id", None, items_parquet)
    assert isinstance(ids, IdContent) and ids.num_items == 3
    with pytest.raises(ValueError, match="mean and std"):
        build_content("image", image_lmdb, items_parquet)
    with pytest.raises(ValueError, match="unknown"):
        build_content("audio", None, items_parquet)
    fewer = tmp_path / "fewer.parquet"
    pl.DataFrame({"item_idx": [1, 2], "item_id": ["A1", "B2"]}).write_parquet(fewer)
    with pytest.raises(ValueError, match="holds 3 items"):
        build_content("text", token_npz, fewer)
    gap = tmp_path / "gap.parquet"
    pl.DataFrame({"item_idx": [1, 3], "item_id": ["A1", "C3"]}).write_parquet(gap)
    with pytest.raises(ValueError, match="not 1..2"):
        build_content("id", None, gap)


def test_a_small_catalogue_is_decoded_once_and_gives_the_same_pixels(image_lmdb, items_parquet):
    cached = ImageContent(image_lmdb, items_parquet, MEAN, STD, size=32)
    per_batch = ImageContent(image_lmdb, items_parquet, MEAN, STD, size=32)
    per_batch.cache_bytes = 0  # too small for any catalogue: decode every batch
    idx = torch.tensor([2, 1, 2])
    assert torch.equal(cached(idx)["pixel_values"], per_batch(idx)["pixel_values"])
    assert cached._decoded is not None and per_batch._decoded is None
    assert cached._decoded.dtype == torch.uint8 and cached._decoded.shape[0] == cached.num_items + 1
