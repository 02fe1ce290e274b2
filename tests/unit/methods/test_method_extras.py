"""Method facts beyond the checklist: paper-size counts on the meta device, causal K-Adapter in SASRec, prompts that
keep every title token, no autograd graph below the lowest trainable layer, validation before any job."""

import pytest
import torch
from torch import nn
from transformers import BertConfig, BertModel, ViTConfig, ViTModel

from transrec.features.cache import backbone_is_frozen
from transrec.methods.base import build_method, prepare_trainable, validate_method
from transrec.models.blocks import bottleneck_parameter_count, phm_parameter_count
from transrec.models.item_encoders import ImageItemEncoder, TextItemEncoder
from transrec.models.sasrec import SASRec
from transrec.models.transrec import TransRec

H, LAYERS, FFN, D = 768, 12, 3072, 64  # BERT-base / ViT-base; SASRec d = 64, 2 blocks


def sasrec_block(r: int) -> int:
    return 12 * r * r + 9 * r


def kadapter_count(d: int, r: int) -> int:
    return 2 * (d * r + r + 2 * sasrec_block(r) + r * d + d) + 2 * d * d + d


PAPER_COUNTS = {  # both towers, default sizes: r 64 (item) / 16 (user); LoRA 12 / 4; prompt n 10
    "houlsby": 2 * LAYERS * bottleneck_parameter_count(H, 64) + 2 * 2 * bottleneck_parameter_count(D, 16),
    "pfeiffer": LAYERS * bottleneck_parameter_count(H, 64) + 2 * bottleneck_parameter_count(D, 16),
    "houlsby_plus": 2 * LAYERS * bottleneck_parameter_count(H, 128) + 2 * 2 * bottleneck_parameter_count(D, 32),
    "compacter": 64 + 2 * LAYERS * phm_parameter_count(H, 64) + 64 + 2 * 2 * phm_parameter_count(D, 16),
    "lora": LAYERS * 2 * (12 * H * 2) + 2 * 2 * (4 * D * 2),
    "kadapter": kadapter_count(H, 64) + kadapter_count(D, 16),
    "ln_tuning": (2 * LAYERS + 1) * 2 * H + (2 * 2 + 1) * 2 * D,
}


def meta_model(kind: str) -> TransRec:
    """BERT-base or ViT-base + SASRec on the meta device: shapes only, no memory, no weights."""
    with torch.device("meta"):
        if kind == "text":
            encoder = TextItemEncoder(BertModel(BertConfig(), add_pooling_layer=False), H, nn.Linear(H, D))
        else:
            encoder = ImageItemEncoder(ViTModel(ViTConfig(), add_pooling_layer=False), H, nn.Linear(H, D))
        return TransRec(encoder, SASRec(d_model=D, max_len=20))


@pytest.mark.parametrize("kind", ["text", "image"])
@pytest.mark.parametrize("method", [*PAPER_COUNTS, "bitfit", "prompt_or_vpt"])
def test_paper_size_counts(kind, method):
    model = meta_model(kind)
    if method == "bitfit":
        per_block = 4 * H + FFN + H + 2 * H
        expected = LAYERS * per_block + (H if kind == "text" else 2 * H) + 2 * (4 * D + D + 2 * D) + D
        spec = {"kind": "bitfit"}
    elif method == "prompt_or_vpt":
        spec, expected = {"kind": "prompt" if kind == "text" else "vpt", "n": 10}, 10 * H
    else:
        spec, expected = {"kind": method}, PAPER_COUNTS[method]
    with torch.device("meta"):
        groups = prepare_trainable(model, build_method(spec), [])
    assert sum(p.numel() for params in groups.values() for p in params) == expected
    if method == "houlsby":
        assert expected - 4 * (64 * 16 + 16 + 16 * 64 + 64) == 24 * (
            768 * 64 + 64 + 64 * 768 + 768
        )  # the number


def test_kadapter_in_the_user_tower_is_causal():
    torch.manual_seed(0)
    user = SASRec(d_model=8, max_len=6)
    model = TransRec(
        TextItemEncoder(
            BertModel(
                BertConfig(
                    vocab_size=20, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=9
                )
            ),
            8,
            nn.Identity(),
        ),
        user,
    )
    prepare_trainable(model, build_method({"kind": "kadapter", "towers": ["user"], "r_user": 4}), [])
    with torch.no_grad():
        user.side.project.weight.normal_()  # leave the [I | 0] init: the side tower must matter
    user.eval()  # after apply: the side tower is a new module (dropout off)
    emb, mask = torch.randn(2, 6, 8), torch.ones(2, 6, dtype=torch.bool)
    mask[1, :2] = False
    base = user(emb, mask)
    for t in range(5):
        poked = emb.clone()
        poked[:, t + 1] += 3 * torch.randn(8)  # not a constant shift: the input LayerNorm would remove it
        out = user(poked, mask)
        torch.testing.assert_close(out[:, : t + 1], base[:, : t + 1], rtol=0, atol=1e-6)
        assert not torch.allclose(out[:, t + 1], base[:, t + 1])


def tiny_text_model() -> TransRec:
    torch.manual_seed(0)
    backbone = BertModel(
        BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=3, num_attention_heads=2, intermediate_size=20),
        add_pooling_layer=False,
    )
    return TransRec(TextItemEncoder(backbone, 16, nn.Linear(16, 8)), SASRec(d_model=8, max_len=4)).eval()


def test_prompt_tuning_keeps_every_title_token():
    model = tiny_text_model()
    ids = torch.randint(1, 30, (3, 5))
    att = torch.ones_like(ids)
    att[2, 3:] = 0
    inputs = {"input_ids": ids, "attention_mask": att}
    title = model.item_encoder.backbone.embeddings(input_ids=ids)  # (3, 5, 16)
    prepare_trainable(model, build_method({"kind": "prompt", "n": 4}), [])
    encoded = model.item_encoder.encode(inputs, keep=(0,))
    assert encoded.first == 4  # the item vector is the title's [CLS], after the 4 prompts
    torch.testing.assert_close(encoded.states[0][:, 4:], title, rtol=0, atol=0)  # every title token in place
    torch.testing.assert_close(encoded.states[0][:, :4], model.item_encoder.prompt.vectors.expand(3, 4, 16))
    assert encoded.mask.tolist()[2] == [True] * 4 + [True, True, True, False, False]
    assert not backbone_is_frozen(model.item_encoder)  # so the trainer will not cache pre-prompt features


def test_vpt_inserts_after_cls():
    torch.manual_seed(0)
    backbone = ViTModel(
        ViTConfig(
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=20,
            image_size=16,
            patch_size=8,
        ),
        add_pooling_layer=False,
    )
    model = TransRec(ImageItemEncoder(backbone, 16, nn.Linear(16, 8)), SASRec(d_model=8, max_len=4)).eval()
    pixels = {"pixel_values": torch.randn(2, 3, 16, 16)}
    plain = model.item_encoder.encode(pixels, keep=(0,)).states[0]  # (2, 1+4, 16)
    prepare_trainable(model, build_method({"kind": "vpt", "n": 3}), ["dtl"])
    encoded = model.item_encoder.encode(pixels, keep=(0,))
    assert encoded.first == 0 and encoded.states[0].shape == (2, 1 + 3 + 4, 16)
    torch.testing.assert_close(encoded.states[0][:, :1], plain[:, :1], rtol=0, atol=0)
    torch.testing.assert_close(encoded.states[0][:, 4:], plain[:, 1:], rtol=0, atol=0)


def output_needs_grad(model: TransRec, inputs: dict) -> list[bool]:
    """Per block: did its output carry an autograd graph in a training forward?"""
    flags = []
    hooks = [
        layer.register_forward_hook(lambda m, a, out: flags.append(out.requires_grad))
        for layer in model.item_encoder.layers()
    ]
    model.train()
    model.encode_items(inputs).sum().backward()
    for hook in hooks:
        hook.remove()
    return flags


@pytest.mark.parametrize(
    "spec, expected",
    [
        ({"kind": "ftn", "n": 1}, [False, False, True]),  # FTN top-1: the two frozen layers store no activations
        ({"kind": "houlsby", "towers": ["item"]}, [True, True, True]),
        ({"kind": "kadapter", "towers": ["item"]}, [False, False, False]),  # the side tower reads, never backpropagates
        ({"kind": "prompt", "n": 2}, [True, True, True]),  # gradients flow through every block to the prompt
    ],
)
def test_no_graph_below_the_lowest_trainable_layer(spec, expected):
    model = tiny_text_model()
    prepare_trainable(model, build_method(spec), ["dtl"])
    ids = torch.randint(1, 30, (3, 5))
    assert output_needs_grad(model, {"input_ids": ids, "attention_mask": torch.ones_like(ids)}) == expected


TEXT = {
    "kind": "text",
    "model_type": "bert",
    "num_hidden_layers": 6,
    "hidden_size": 384,
    "user": {"n_blocks": 2, "d_model": 64},
}
IMAGE = {**TEXT, "kind": "image", "model_type": "vit", "hidden_size": 32, "num_hidden_layers": 2}
ID = {"kind": "id", "model_type": "id", "num_hidden_layers": 0, "hidden_size": 0, "user": TEXT["user"]}


@pytest.mark.parametrize(
    "spec, facts, message",
    [
        ({"kind": "houlsby", "r_item": 0}, TEXT, "methods.m.r_item: Input should be greater than 0"),
        ({"kind": "houlsby", "r": 8}, TEXT, "methods.m.r: unknown key"),
        ({"kind": "bottleneck", "positions": ["attn"]}, TEXT, "methods.m.positions"),
        ({"kind": "pfeiffer", "towers": ["items"]}, TEXT, "methods.m.towers"),
        ({"kind": "houlsby", "towers": ["item"]}, ID, "methods.m.towers: the item tower is an ID table"),
        ({"kind": "lora", "towers": ["item"]}, {**TEXT, "model_type": "deberta"}, "no site map .*'deberta'"),
        ({"kind": "ftn", "n": 7}, TEXT, "methods.m.n: must be <= the encoder's 6 layers"),
        ({"kind": "prompt"}, IMAGE, "methods.m.kind: prompt applies to text"),
        ({"kind": "vpt"}, TEXT, "methods.m.kind: vpt applies to image"),
        ({"kind": "compacter", "r_item": 30}, TEXT, "methods.m.r_item: must be divisible by n=4"),
        ({"kind": "kadapter", "layers_item": [0, 7]}, TEXT, r"methods.m.layers_item: hidden states are 0..6"),
        ({"kind": "kadapter", "layers_user": [3]}, TEXT, r"methods.m.layers_user: hidden states are 0..2"),
        (
            {"kind": "combo", "methods": [{"kind": "houlsby"}, {"kind": "bitfit", "towers": []}]},
            TEXT,
            r"methods.m.methods\[1\].towers",
        ),
        ({"kind": "lora", "sites": ["key"]}, TEXT, "methods.m.sites"),
        ({"kind": "houlsbi"}, TEXT, "methods.m: Input tag 'houlsbi' found using 'kind' does not match"),
    ],
)
def test_validate_method_names_the_field(spec, facts, message):
    with pytest.raises(ValueError, match=message):
        validate_method(spec, facts, "methods.m")


@pytest.mark.parametrize(
    "spec, facts",
    [
        ({"kind": "houlsby"}, TEXT),
        ({"kind": "houlsby", "towers": ["user"]}, ID),
        ({"kind": "vpt", "n": 5}, IMAGE),
        ([{"kind": "houlsby"}, {"kind": "ln_tuning"}], TEXT),
        ({"kind": "kadapter"}, TEXT),
        ({"kind": "ftn", "n": 6}, TEXT),
        ({"kind": "fta"}, ID),
        ({"kind": "lora", "r_item": 12, "r_user": 4}, IMAGE),
    ],
)
def test_validate_method_accepts_good_specs(spec, facts):
    validate_method(spec, facts, "methods.m")


def test_serial_and_parallel_adapters_compute_what_they_promise():
    torch.manual_seed(0)
    model = TransRec(
        TextItemEncoder(
            BertModel(
                BertConfig(
                    vocab_size=20, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=9
                )
            ),
            8,
            nn.Identity(),
        ),
        SASRec(d_model=8, max_len=4),
    ).eval()
    ffn = model.user_encoder.blocks[0].ffn
    h = torch.randn(2, 4, 8)
    plain = ffn(h)
    prepare_trainable(
        model, build_method({"kind": "parallel_adapter", "towers": ["user"], "positions": ["ffn"], "r_user": 3}), []
    )
    wrapper = ffn.output
    torch.testing.assert_close(ffn(h), plain + wrapper.adapter.delta(h))  # delta of the sub-layer INPUT, added
    serial = TransRec(model.item_encoder, SASRec(d_model=8, max_len=4)).eval()
    out_linear = serial.user_encoder.blocks[1].attention.output
    prepare_trainable(serial, build_method({"kind": "pfeiffer", "towers": ["user"], "r_user": 3}), [])
    wrapped = serial.user_encoder.blocks[1].attention.output
    assert wrapped.base is out_linear  # the existing layer is wrapped, not rebuilt
    x = torch.randn(5, 8)
    y = out_linear(x)
    torch.testing.assert_close(wrapped(x), y + wrapped.adapter.up(torch.relu(wrapped.adapter.down(y))))
