"""Site-map methods on multimodal items: a BERT text tower and a ViT image tower of different widths and depths.

Every adapter / LoRA / BitFit / LN site gets its own tower's width; the checklist of test_method_checklist.py
(closed-form count, exactly the returned tensors move, no-op at init, trainable-only checkpoint round trip) holds with
both towers adapted or one of them alone, and Houlsby / LoRA / BitFit run through the real trainer.
"""

import copy
import sys
from pathlib import Path

import pytest
import torch

from method_checks import assert_checkpoint_reapplies, assert_only_returned_move, assert_same, zeroed_up_projections

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))  # tests/unit/models/multimodal_assets.py
from run_dicts import full_run

from multimodal_assets import IMAGE_DEPTH, IMAGE_WIDTH, N_ITEMS, TEXT_DEPTH, TEXT_WIDTH, write_assets  # noqa: E402
from transrec.methods.base import build_method, prepare_trainable, validate_method  # noqa: E402
from transrec.models.blocks import (  # noqa: E402
    BottleneckBlock,
    bottleneck_parameter_count,
    phm_parameter_count,
)
from transrec.models.multimodal import build_multimodal_item_encoder  # noqa: E402
from transrec.models.objectives import sasrec_bce  # noqa: E402
from transrec.models.sasrec import SASRec  # noqa: E402
from transrec.models.transrec import TransRec, count_parameters  # noqa: E402

D, L, USER_BLOCKS, R_ITEM, R_USER = 8, 5, 2, 4, 4
TEXT_FFN, IMAGE_FFN = 37, 24  # the assets' intermediate sizes
# (depth, width, FFN width, biases outside the blocks: BERT's embedding LN; ViT's patch conv + final LN)
TOWERS = {
    "item_text": (TEXT_DEPTH, TEXT_WIDTH, TEXT_FFN, TEXT_WIDTH),
    "item_image": (IMAGE_DEPTH, IMAGE_WIDTH, IMAGE_FFN, 2 * IMAGE_WIDTH),
}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny tensors: thread start-up would dominate (and the machine is shared)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return write_assets(tmp_path_factory.mktemp("mm_methods"))


@pytest.fixture(scope="module")
def base(assets) -> TransRec:
    """BERT 2 x 32 text tower + ViT 3 x 16 image tower + fusion + SASRec (d 8), deep-copied per case."""
    torch.manual_seed(0)
    encoder = build_multimodal_item_encoder({"text": str(assets["bert"]), "image": str(assets["vit"])}, D)
    return TransRec(encoder, SASRec(D, L, USER_BLOCKS, 2, 0.0))


def inputs() -> dict[str, torch.Tensor]:
    """Seven items' titles and images; title 1 is padded."""
    gen = torch.Generator().manual_seed(3)
    ids = torch.randint(5, 60, (7, 6), generator=gen)
    mask = torch.ones_like(ids)
    ids[1, 4:], mask[1, 4:] = 0, 0
    return {"input_ids": ids, "attention_mask": mask, "pixel_values": torch.randn(7, 3, 32, 32, generator=gen)}


def counts(method: str) -> dict[str, int]:
    """Closed-form trainable count per tower (item_text, item_image, user), each at its own width and depth."""
    found = {}
    for tower, (depth, h, ffn, outer_bias) in {**TOWERS, "user": (USER_BLOCKS, D, 4 * D, D)}.items():
        r = R_USER if tower == "user" else R_ITEM
        bias = (0 if tower == "user" else 4 * h) + ffn + h + 2 * h  # Q/K/V/O (SASRec's: none), FFN in/out, 2 LNs
        found[tower] = {
            "houlsby": depth * 2 * bottleneck_parameter_count(h, r),
            "pfeiffer": depth * bottleneck_parameter_count(h, r),
            "ffn_adapter": depth * bottleneck_parameter_count(h, r),
            "houlsby_plus": depth * 2 * bottleneck_parameter_count(h, 2 * r),
            "parallel_adapter": depth * 2 * bottleneck_parameter_count(h, r),
            "compacter": 4**3 + depth * 2 * phm_parameter_count(h, r),  # one rule set per backbone
            "lora": depth * 2 * (2 * r * h),  # query and value: A (r, h) + B (h, r)
            "ln_tuning": (2 * depth + 1) * 2 * h,
            "bitfit": depth * bias + outer_bias,
            "ln_biases": (2 * depth + 1) * h,  # in both LN tuning and BitFit: counted once in a combo
        }[method]
    return found


COMBO = [{"kind": "houlsby", "r_item": R_ITEM, "r_user": R_USER}, {"kind": "ln_tuning"}, {"kind": "bitfit"}]
METHODS = (
    "houlsby",
    "pfeiffer",
    "ffn_adapter",
    "houlsby_plus",
    "parallel_adapter",
    "compacter",
    "lora",
    "ln_tuning",
    "bitfit",
    "combo",
)
EXACT = ("lora", "ln_tuning", "bitfit")  # the base model bit for bit at init (adapters: with up-projections zeroed)
SELECTIONS = (("item", "user"), ("item_text",), ("item_image", "user"))


def spec_and_count(method: str, towers: tuple[str, ...]) -> tuple[dict, int]:
    """The method spec on `towers` (test-sized r) and its closed-form trainable count."""
    covered = [t for tower in towers for t in (TOWERS if tower == "item" else (tower,))]
    if method == "combo":
        spec = {"kind": "combo", "methods": [{**m, "towers": list(towers)} for m in COMBO]}
        return spec, sum(counts(m)[t] for m in ("houlsby", "ln_tuning", "bitfit") for t in covered) - sum(
            counts("ln_biases")[t] for t in covered
        )
    spec = {"kind": method, "towers": list(towers)}
    if method not in ("ln_tuning", "bitfit"):
        spec |= {"r_item": R_ITEM, "r_user": R_USER}
    return spec, sum(counts(method)[t] for t in covered)


def outputs(model: TransRec, content: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Item vectors (7, D) and user states (2, L, D) over sequences of those items."""
    items = model.encode_items(content)  # (7, D)
    seq = items[torch.tensor([[0, 1, 2, 3, 4], [6, 5, 4, 3, 2]])]  # (2, L, D)
    return items, model.encode_users(seq, torch.tensor([[False, True, True, True, True], [True] * 5]))


def step(model: TransRec, groups: dict, content: dict, steps: int = 2) -> None:
    """Adam steps on SASRec BCE (two: LoRA's A gets a gradient only once B moved off zero)."""
    optimiser = torch.optim.Adam([{"params": p, "lr": 1e-2} for p in groups.values()])
    for _ in range(steps):
        items = model.encode_items(content)  # (7, D)
        seq = items[torch.tensor([[0, 1, 2, 3, 4, 5], [6, 5, 4, 3, 2, 1]])]  # (2, L+1, D)
        negatives = items[torch.tensor([[6, 6, 0, 1, 0], [0, 0, 1, 6, 6]])]
        real = torch.ones(2, L, dtype=torch.bool)
        loss = sasrec_bce(model.encode_users(seq[:, :-1], real), seq[:, 1:], negatives, real)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()


@pytest.mark.parametrize("towers", SELECTIONS, ids="+".join)
@pytest.mark.parametrize("method", METHODS)
def test_multimodal_method_checklist(base, method, towers):
    spec, expected = spec_and_count(method, towers)
    model = copy.deepcopy(base).eval()
    content = inputs()
    with torch.no_grad():
        before = outputs(model, content)
    torch.manual_seed(5)
    groups = prepare_trainable(model, build_method(spec), [])

    returned = {id(p) for params in groups.values() for p in params}
    assert sum(p.numel() for params in groups.values() for p in params) == expected
    assert count_parameters(model)[0] == expected
    assert {id(p) for p in model.parameters() if p.requires_grad} == returned

    with torch.no_grad():  # LoRA / LN / BitFit exactly the base; adapters once their output projections are zeroed
        assert_same(outputs(model if method in EXACT else zeroed_up_projections(model), content), before)

    # key biases: softmax is shift-invariant, so their gradient is zero up to rounding
    assert_only_returned_move(
        model,
        returned,
        lambda: step(model, groups, content),
        lambda name: name.endswith(("attention.self.key.bias", "attention.k_proj.bias")),
    )
    assert_checkpoint_reapplies(model, base, spec, lambda m: outputs(m, content))


def test_each_site_gets_its_own_towers_width(base):
    model = copy.deepcopy(base)
    prepare_trainable(
        model,
        build_method(
            [{"kind": "houlsby", "r_item": R_ITEM, "r_user": R_USER}, {"kind": "lora", "r_item": 3, "r_user": 2}]
        ),
        [],
    )
    widths = {"item_encoder.towers.text.": TEXT_WIDTH, "item_encoder.towers.image.": IMAGE_WIDTH, "user_encoder.": D}
    blocks = {name: m for name, m in model.named_modules() if isinstance(m, BottleneckBlock)}
    assert len(blocks) == 2 * (TEXT_DEPTH + IMAGE_DEPTH + USER_BLOCKS)
    for name, block in blocks.items():
        [h] = [w for prefix, w in widths.items() if name.startswith(prefix)]
        assert block.down.in_features == block.up.out_features == h, name
        assert block.down.out_features == (R_USER if name.startswith("user") else R_ITEM)
    lora_a = {n: p.shape for n, p in model.named_parameters() if "lora_A" in n}
    assert len(lora_a) == 2 * (TEXT_DEPTH + IMAGE_DEPTH + USER_BLOCKS)
    for name, shape in lora_a.items():
        [h] = [w for prefix, w in widths.items() if name.startswith(prefix)]
        assert shape == ((2 if name.startswith("user") else 3), h), name
    sites = model.sites(("item",), ("query",))
    assert [s.tower for s in sites] == ["item_text"] * TEXT_DEPTH + ["item_image"] * IMAGE_DEPTH
    assert {s.prefix for s in sites} == {"item_encoder.towers.text.backbone", "item_encoder.towers.image.backbone"}


def test_single_modality_towers_are_refused_on_single_backbone_items(base):
    text_only = TransRec(copy.deepcopy(base.item_encoder.towers["text"]), SASRec(D, L, 1, 2, 0.0))  # a text item
    with pytest.raises(ValueError, match="'item_text' selects one tower of a multimodal item"):
        prepare_trainable(text_only, build_method({"kind": "houlsby", "towers": ["item_text"]}), [])
    with pytest.raises(ValueError, match="a multimodal item tower is not supported: kadapter"):
        prepare_trainable(copy.deepcopy(base), build_method({"kind": "kadapter"}), [])


MM = {
    "kind": "multimodal",
    "model_type": "bert",
    "num_hidden_layers": 6,
    "hidden_size": 384,
    "towers": {
        "text": {"kind": "text", "model_type": "bert", "num_hidden_layers": 6, "hidden_size": 384},
        "image": {"kind": "image", "model_type": "vit", "num_hidden_layers": 2, "hidden_size": 64},
    },
    "user": {"n_blocks": 2, "d_model": 64},
}
TEXT = {**MM["towers"]["text"], "user": MM["user"]}


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "houlsby"},
        {"kind": "pfeiffer", "towers": ["item_image", "user"]},
        {"kind": "lora", "r_item": 8},
        {"kind": "bitfit", "towers": ["item_text"]},
        {"kind": "ln_tuning"},
        {"kind": "compacter"},
        {"kind": "parallel_adapter"},
        [{"kind": "houlsby"}, {"kind": "ln_tuning"}, {"kind": "bitfit"}],
        {"kind": "kadapter", "towers": ["user"]},
        {"kind": "fta"},
        {"kind": "frozen"},
    ],
    ids=str,
)
def test_validate_method_accepts_multimodal_items(spec):
    validate_method(spec, MM, "methods.m")


def _facts(image: dict) -> dict:
    return {**MM, "towers": {**MM["towers"], "image": {**MM["towers"]["image"], **image}}}


@pytest.mark.parametrize(
    "spec, facts, message",
    [
        ({"kind": "kadapter"}, MM, r"methods\.m\.towers: a multimodal item tower is not supported: kadapter"),
        ({"kind": "prompt"}, MM, r"methods\.m\.kind: prompt applies to text item encoders, this one is 'multimodal'"),
        ({"kind": "vpt"}, MM, r"methods\.m\.kind: vpt applies to image item encoders"),
        ({"kind": "ftn", "n": 1}, MM, r"methods\.m\.n: a multimodal item has one layer stack per modality tower"),
        (
            {"kind": "compacter"},
            _facts({"hidden_size": 66}),
            r"methods\.m\.n: the item_image tower's width 66 is not divisible by n=4",
        ),
        ({"kind": "compacter", "towers": ["item_text"]}, _facts({"hidden_size": 66}), None),  # image tower not adapted
        (
            {"kind": "houlsby"},
            _facts({"model_type": "swin"}),
            r"methods\.m\.towers: no site map for the image tower's "
            r"model type 'swin'",
        ),
        (
            {"kind": "lora", "towers": ["item", "item_text"]},
            MM,
            r"methods\.m\.towers: 'item' already covers both towers",
        ),
        (
            {"kind": "bitfit", "towers": ["item_text"]},
            TEXT,
            r"methods\.m\.towers: \['item_text'\] select one tower of a "
            r"multimodal item; this item encoder is 'text'",
        ),
        ({"kind": "kadapter", "towers": ["item_image"]}, MM, r"methods\.m\.towers\[0\]: Input should be 'item'"),
    ],
)
def test_validate_method_checks_each_tower_of_a_multimodal_item(spec, facts, message):
    if message is None:
        validate_method(spec, facts, "methods.m")
        return
    with pytest.raises(ValueError, match=message):
        validate_method(spec, facts, "methods.m")


MM_METHODS = {  # the IISAN-baseline recipe: the methods' modules + DTLs, fusion and SASRec train
    "houlsby_mm": {"kind": "houlsby", "r_item": 4, "r_user": 4, "also_train": ["dtl", "fusion", "user_encoder"]},
    "lora_mm": {"kind": "lora", "r_item": 4, "r_user": 4, "also_train": ["dtl", "fusion", "user_encoder"]},
    "bitfit_mm": {"kind": "bitfit", "also_train": ["dtl", "fusion", "user_encoder"]},
}


def test_config_with_multimodal_method_entries_validates(assets):
    from transrec.studies import grid

    config = {
        "datasets": {
            "hm": {"format": "hm", "modality": "multimodal"},
            "amazon": {"format": "amazon", "modality": "multimodal"},
        },
        "encoders": {
            "bert": {"kind": "text", "path": str(assets["bert"])},
            "vit": {"kind": "image", "path": str(assets["vit"])},
            "mm": {"kind": "multimodal", "text": "bert", "image": "vit"},
        },
        "methods": {"fta": {"kind": "fta", "also_train": ["item_encoder", "dtl", "user_encoder"]}, **MM_METHODS},
        "experiments": {
            "mm": {
                "source": "hm",
                "target": "amazon",
                "encoder": "mm",
                "objectives": ["inbatch"],
                "methods": ["fta", *MM_METHODS],
            }
        },
    }
    grid.resolve_config(config)
    config["methods"]["k"] = {"kind": "kadapter"}
    config["experiments"]["mm"]["methods"].append("k")
    with pytest.raises(ValueError, match=r"methods\.k\.towers: a multimodal item tower is not supported"):
        grid.resolve_config(config)


def _run(assets, root: Path, method: dict) -> dict:
    """A run.json dict training `method` from the encoders' own weights on the tiny multimodal items."""
    import polars as pl

    from transrec.data.split import split_frame

    sequences = [[(3 * u + j) % N_ITEMS + 1 for j in range(7)] for u in range(8)]
    root.mkdir(parents=True, exist_ok=True)
    split = split_frame(pl.DataFrame({"user_idx": range(8), "sequence": sequences}), max_len=5)
    split.write_parquet(root / "split.parquet")
    paths = {"text": str(assets["tokens"]), "image": str(assets["lmdb"])}
    spec = {k: v for k, v in method.items() if k != "also_train"}
    return full_run(
        {
            "stage": "adapt",
            "name": {
                "dataset": "tiny",
                "encoder": "mm",
                "objective": "inbatch",
                "method": spec["kind"],
                "start": "nopt",
                "seed": 0,
            },
            "data": {
                "split": str(root / "split.parquet"),
                "items": str(assets["items"]),
                "content": {"kind": "multimodal", "path": None, "paths": paths},
            },
            "encoder": {"kind": "multimodal", "paths": {"text": str(assets["bert"]), "image": str(assets["vit"])}},
            "model": {"d_model": D, "max_len": 5, "n_blocks": 1, "n_heads": 2, "dropout": 0.0},
            "objective": "inbatch",
            "method": spec,
            "also_train": method["also_train"],
            "optim": {
                "lr": {"adapters": 1e-3, "dtl": 1e-3, "fusion": 1e-3, "user_encoder": 1e-3, "item_encoder": 1e-4}
            },
            "train": {"epochs": 1, "batch_size": 4, "threads": 1, "device": "cpu", "max_steps_per_epoch": 2},
            "eval": {"ks": [10], "user_batch": 4, "item_batch": 5},
            "out_dir": str(root / "run"),
        }
    )


@pytest.mark.parametrize(
    "name, marker",
    [("houlsby_mm", ".adapter.down.weight"), ("lora_mm", ".lora_A.default.weight"), ("bitfit_mm", ".bias")],
)
def test_trainer_adapts_both_towers_of_multimodal_items(assets, tmp_path, name, marker):
    from transrec.train import checkpoint
    from transrec.train.config import RunConfig
    from transrec.train.loop import train

    run = _run(assets, tmp_path, MM_METHODS[name])
    metrics = train(RunConfig.from_dict(run))
    assert metrics["cached_item_features"] is False  # the backbones carry trainable tensors: no frozen-feature cache
    assert 0 < metrics["trainable_share"] < 0.5 and 0.0 <= metrics["test"]["hr@10"] <= 100.0
    best = checkpoint.load(Path(run["out_dir"]) / "best.pt")["trainable"]
    for tower in ("text", "image"):
        assert any(k.startswith(f"item_encoder.towers.{tower}.backbone.") and k.endswith(marker) for k in best), tower
        assert any(k.startswith(f"item_encoder.towers.{tower}.dtl.") for k in best)
    assert any(k.startswith("item_encoder.fusion.") for k in best)
    assert not any(k.endswith(("attention.self.query.weight", "attention.q_proj.weight")) for k in best)
