"""Every method x {MiniLM-shaped BERT, ViT, ViT-MAE} x tower through one checklist (STYLE.md §Tests).

Trainable count = closed form; exactly the returned tensors train and change, frozen ones stay bit-identical;
no-op at init where promised; the trainable-only checkpoint round-trips onto a fresh base.
"""

import copy

import pytest
import torch
from transformers import BertConfig, BertModel, ViTConfig, ViTImageProcessor, ViTMAEConfig, ViTMAEModel, ViTModel

from method_checks import assert_checkpoint_reapplies, assert_only_returned_move, assert_same, zeroed_up_projections
from transrec.methods.base import build_method, prepare_trainable
from transrec.models.blocks import bottleneck_parameter_count, phm_parameter_count
from transrec.models.item_encoders import build_item_encoder
from transrec.models.objectives import sasrec_bce
from transrec.models.sasrec import SASRec
from transrec.models.transrec import TransRec, count_parameters

H, FFN, VOCAB, POS, D, L = 32, 37, 50, 16, 8, 5
DEPTH = {"bert": 3, "vit": 2, "vit_mae": 2}
USER_BLOCKS = 2
R_ITEM, R_USER, N_PROMPT = 4, 4, 3
TINY_VIT = dict(
    hidden_size=H, num_hidden_layers=2, num_attention_heads=2, intermediate_size=FFN, image_size=32, patch_size=16
)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny tensors: thread start-up would dominate (and the machine is shared)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[str, TransRec]:
    """One base model per encoder, deep-copied per case (loading is the slow part)."""
    torch.manual_seed(0)
    made = {}
    for name, backbone, kind in (
        (
            "bert",
            BertModel(
                BertConfig(
                    vocab_size=VOCAB,
                    hidden_size=H,
                    num_hidden_layers=3,
                    num_attention_heads=2,
                    intermediate_size=FFN,
                    max_position_embeddings=POS,
                )
            ),
            "text",
        ),
        ("vit", ViTModel(ViTConfig(**TINY_VIT)), "image"),
        ("vit_mae", ViTMAEModel(ViTMAEConfig(**TINY_VIT)), "image"),
    ):
        path = tmp_path_factory.mktemp(name)
        backbone.save_pretrained(path)
        if kind == "image":  # an image encoder needs its processor's mean/std (a missing one stops the build)
            ViTImageProcessor().save_pretrained(path)
        made[name] = TransRec(
            build_item_encoder(kind, str(path), D, 9), SASRec(d_model=D, max_len=L, n_blocks=USER_BLOCKS)
        )
    return made


def inputs_for(encoder: str) -> dict[str, torch.Tensor]:
    """Seven items' content; title 1 is padded."""
    gen = torch.Generator().manual_seed(3)
    if encoder == "bert":
        ids = torch.randint(1, VOCAB, (7, 6), generator=gen)
        mask = torch.ones_like(ids)
        ids[1, 4:], mask[1, 4:] = 0, 0
        return {"input_ids": ids, "attention_mask": mask}
    return {"pixel_values": torch.randn(7, 3, 32, 32, generator=gen)}


def bias_count(encoder: str) -> int:
    """Every bias of the backbone: Q/K/V/O, FFN in/out, two LNs per block;
    embedding LN (BERT) or patch conv + final LN."""
    per_block = 4 * H + FFN + H + 2 * H
    return DEPTH[encoder] * per_block + (H if encoder == "bert" else 2 * H)


def sasrec_block(r: int) -> int:
    """One SASRec block at width r (bias-free QKVO, FFN 4r with biases, two LNs)."""
    return 4 * r * r + 2 * r + (r * 4 * r + 4 * r) + (4 * r * r + r) + 2 * r


def kadapter_count(d: int, r: int, n_layers: int) -> int:
    """Side tower: per chosen layer down + 2 blocks + up; then Linear(2d, d)."""
    return n_layers * (d * r + r + 2 * sasrec_block(r) + r * d + d) + 2 * d * d + d


# kind -> (spec, {tower: closed-form trainable count}, promise at init: "exact", "close" or "changes")
def per_tower(encoder: str) -> dict[str, tuple[dict, dict, str]]:
    depth = DEPTH[encoder]
    return {
        "houlsby": (
            {"kind": "houlsby"},
            {
                "item": depth * 2 * bottleneck_parameter_count(H, R_ITEM),
                "user": USER_BLOCKS * 2 * bottleneck_parameter_count(D, R_USER),
            },
            "close",
        ),
        "pfeiffer": (
            {"kind": "pfeiffer"},
            {
                "item": depth * bottleneck_parameter_count(H, R_ITEM),
                "user": USER_BLOCKS * bottleneck_parameter_count(D, R_USER),
            },
            "close",
        ),
        "ffn_adapter": (
            {"kind": "ffn_adapter"},
            {
                "item": depth * bottleneck_parameter_count(H, R_ITEM),
                "user": USER_BLOCKS * bottleneck_parameter_count(D, R_USER),
            },
            "close",
        ),
        "houlsby_plus": (
            {"kind": "houlsby_plus"},
            {
                "item": depth * 2 * bottleneck_parameter_count(H, 2 * R_ITEM),
                "user": USER_BLOCKS * 2 * bottleneck_parameter_count(D, 2 * R_USER),
            },
            "close",
        ),
        "parallel": (
            {"kind": "parallel_adapter"},
            {
                "item": depth * 2 * bottleneck_parameter_count(H, R_ITEM),
                "user": USER_BLOCKS * 2 * bottleneck_parameter_count(D, R_USER),
            },
            "close",
        ),
        "compacter": (
            {"kind": "compacter"},
            {
                "item": 64 + depth * 2 * phm_parameter_count(H, R_ITEM),
                "user": 64 + USER_BLOCKS * 2 * phm_parameter_count(D, R_USER),
            },
            "close",
        ),
        "lora": (
            {"kind": "lora"},
            {"item": depth * 2 * (R_ITEM * H * 2), "user": USER_BLOCKS * 2 * (R_USER * D * 2)},
            "exact",
        ),
        "kadapter": (
            {"kind": "kadapter"},
            {"item": kadapter_count(H, R_ITEM, 2), "user": kadapter_count(D, R_USER, 2)},
            "exact",
        ),
        "ln_tuning": (
            {"kind": "ln_tuning"},
            {"item": (2 * depth + 1) * 2 * H, "user": (2 * USER_BLOCKS + 1) * 2 * D},
            "exact",
        ),
        "bitfit": (
            {"kind": "bitfit"},
            {"item": bias_count(encoder), "user": USER_BLOCKS * (4 * D + D + 2 * D) + D},
            "exact",
        ),
    }


def cases() -> list[tuple[str, str, tuple[str, ...]]]:
    found = []
    for encoder in DEPTH:
        for method in per_tower(encoder):
            for towers in (("item",), ("user",), ("item", "user")):
                if towers == ("user",) and encoder != "bert":
                    continue  # the user tower does not depend on the item encoder
                found.append((encoder, method, towers))
        found += [(encoder, "ftn", ("item",)), (encoder, "fta", ("item", "user"))]
        found.append((encoder, "prompt" if encoder == "bert" else "vpt", ("item",)))
    found.append(("bert", "houlsby+ln_tuning+bitfit", ("item", "user")))
    return found


def spec_and_count(encoder: str, method: str, towers: tuple[str, ...], base: TransRec) -> tuple[dict | list, int, str]:
    """The method spec (test-sized r), its closed-form trainable count and its init promise."""
    table = per_tower(encoder)
    if method in table:
        spec, counts, promise = table[method]
        spec = {**spec, "towers": list(towers)}
        if method in (
            "houlsby",
            "pfeiffer",
            "ffn_adapter",
            "houlsby_plus",
            "parallel",
            "compacter",
            "kadapter",
            "lora",
        ):
            spec = {"r_item": R_ITEM, "r_user": R_USER, **spec}
        return spec, sum(counts[t] for t in towers), promise
    if method == "ftn":
        top = sum(p.numel() for p in base.item_encoder.layers()[-1].parameters())
        return {"kind": "ftn", "n": 1}, top, "exact"
    if method == "fta":
        return {"kind": "fta"}, count_parameters(base)[1], "exact"
    if method in ("prompt", "vpt"):
        return {"kind": method, "n": N_PROMPT}, N_PROMPT * H, "changes"
    parts = method.split("+")
    spec = [
        {**per_tower(encoder)[p][0], "r_item": R_ITEM, "r_user": R_USER} if p == "houlsby" else per_tower(encoder)[p][0]
        for p in parts
    ]
    counts = [sum(per_tower(encoder)[p][1].values()) for p in parts]
    shared_ln_biases = (2 * DEPTH[encoder] + 1) * H + (2 * USER_BLOCKS + 1) * D  # LN biases: in LN tuning and BitFit
    return spec, sum(counts) - shared_ln_biases, "close"


def outputs(model: TransRec, inputs: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Item vectors (7, D) and user states (2, L, D) over sequences of those items."""
    items = model.encode_items(inputs)  # (7, D)
    seq = items[torch.tensor([[0, 1, 2, 3, 4], [6, 5, 4, 3, 2]])]  # (2, L, D)
    return items, model.encode_users(seq, torch.tensor([[False, True, True, True, True], [True] * 5]))


def step(model: TransRec, groups: dict, inputs: dict, steps: int = 2) -> None:
    """Adam steps on SASRec BCE; two, since LoRA's A and K-Adapter's side tower get gradients only after B / the
    projection moved off zero."""
    optimiser = torch.optim.Adam([{"params": p, "lr": 1e-2} for p in groups.values()])
    for _ in range(steps):
        items = model.encode_items(inputs)  # (7, D)
        seq = items[torch.tensor([[0, 1, 2, 3, 4, 5], [6, 5, 4, 3, 2, 1]])]  # (2, L+1, D)
        negatives = items[torch.tensor([[6, 6, 0, 1, 0], [0, 0, 1, 6, 6]])]
        real = torch.ones(2, L, dtype=torch.bool)
        loss = sasrec_bce(model.encode_users(seq[:, :-1], real), seq[:, 1:], negatives, real)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()


def zero_gradient_by_design(name: str) -> bool:
    """Key biases: softmax is shift-invariant, so their gradient is zero up to rounding and they may not move."""
    return name.endswith(("attention.self.key.bias", "attention.k_proj.bias"))


@pytest.mark.parametrize("encoder, method, towers", cases(), ids=lambda x: "-".join(x) if isinstance(x, tuple) else x)
def test_method_checklist(bases, encoder, method, towers):
    base = bases[encoder]
    spec, expected, promise = spec_and_count(encoder, method, towers, base)
    model = copy.deepcopy(base).eval()
    inputs = inputs_for(encoder)
    with torch.no_grad():
        before = outputs(model, inputs)
    torch.manual_seed(5)
    groups = prepare_trainable(model, build_method(spec), [])

    returned = {id(p) for params in groups.values() for p in params}
    assert sum(p.numel() for params in groups.values() for p in params) == expected
    assert count_parameters(model)[0] == expected
    assert {id(p) for p in model.parameters() if p.requires_grad} == returned

    with torch.no_grad():
        after = outputs(model, inputs)
    for b, a in zip(before, after):
        if promise == "exact":
            torch.testing.assert_close(a, b, rtol=0, atol=0)
        elif promise == "close" and not (method == "parallel" and encoder != "bert"):
            # N(0, 1e-2) adapter weights: a small perturbation of the base output. (A parallel adapter reads the
            # LN-ed sub-layer input, while a random tiny ViT's residual stream is ~0.05 in scale and its final LN
            # amplifies the perturbation: there only the zeroed check below applies.)
            torch.testing.assert_close(a, b, rtol=0, atol=0.05)
    if promise == "close":  # structurally a no-op: with each block's output projection zeroed, exactly the base
        with torch.no_grad():
            assert_same(outputs(zeroed_up_projections(model), inputs), before)

    assert_only_returned_move(model, returned, lambda: step(model, groups, inputs), zero_gradient_by_design)
    # trainable-only checkpoint: names are deterministic, and re-applying the method to a fresh base restores it
    assert_checkpoint_reapplies(model, base, spec, lambda m: outputs(m, inputs))
