"""FTA, FTN and frozen through the method checklist: trainable count = formula, one Adam step changes exactly them."""

import pytest
import torch
from transformers import BertConfig, BertModel

from transrec.methods.base import build_method, prepare_trainable
from transrec.models.item_encoders import build_item_encoder
from transrec.models.objectives import sasrec_bce
from transrec.models.sasrec import SASRec, sasrec_parameter_count
from transrec.models.transrec import TransRec, count_parameters

H, FFN, DEPTH, VOCAB, POS, D, L = 32, 37, 3, 50, 16, 8, 5
LAYER = 4 * (H * H + H) + 2 * H + (H * FFN + FFN) + (FFN * H + H) + 2 * H  # QKV+O, LN, FFN in/out, LN
EMBEDDINGS = (VOCAB + POS + 2) * H + 2 * H  # words, positions, token types, LN
DTL = H * D + D
USER = sasrec_parameter_count(D, L, 2)


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory) -> str:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("bert")
    config = BertConfig(
        vocab_size=VOCAB,
        hidden_size=H,
        num_hidden_layers=DEPTH,
        num_attention_heads=2,
        intermediate_size=FFN,
        max_position_embeddings=POS,
    )
    BertModel(config).save_pretrained(path)
    return str(path)


def make_model(bert_dir: str) -> TransRec:
    torch.manual_seed(0)
    return TransRec(build_item_encoder("text", bert_dir, D, 9), SASRec(d_model=D, max_len=L))


def step(model: TransRec, groups: dict[str, list[torch.nn.Parameter]]) -> torch.Tensor:
    """One SASRec-BCE training step on random titles; returns the loss."""
    torch.manual_seed(1)
    ids = torch.randint(1, VOCAB, (7, 6))
    items = model.encode_items({"input_ids": ids, "attention_mask": torch.ones_like(ids)})  # (7, D)
    seq = items[torch.randint(0, 7, (2, L + 1))]  # (2, L+1, D)
    states = model.encode_users(seq[:, :-1], torch.ones(2, L, dtype=torch.bool))
    loss = sasrec_bce(states, seq[:, 1:], items[torch.randint(0, 7, (2, L))], torch.ones(2, L, dtype=torch.bool))
    optimiser = torch.optim.Adam([{"params": p, "lr": 1e-2} for p in groups.values()])
    loss.backward()
    optimiser.step()
    return loss


CASES = {
    "fta": ({"kind": "fta"}, [], EMBEDDINGS + DEPTH * LAYER + DTL + USER),
    "ftn": ({"kind": "ftn", "n": 2}, ["dtl", "user_encoder"], 2 * LAYER + DTL + USER),
    "ftn_all": ({"kind": "ftn", "n": DEPTH}, ["dtl", "user_encoder"], DEPTH * LAYER + DTL + USER),
    "frozen": ({"kind": "frozen"}, ["dtl", "user_encoder"], DTL + USER),
    "frozen_alone": ({"kind": "frozen"}, [], 0),
}


def test_total_matches_formula(bert_dir):
    assert count_parameters(make_model(bert_dir))[1] == EMBEDDINGS + DEPTH * LAYER + DTL + USER


@pytest.mark.parametrize("case", CASES)
def test_method_checklist(bert_dir, case):
    spec, also_train, trainable = CASES[case]
    model = make_model(bert_dir).eval()  # eval: outputs comparable, no dropout noise
    ids = torch.randint(1, VOCAB, (3, 4))
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    before_out = model.encode_items(inputs)
    groups = prepare_trainable(model, build_method(spec), also_train)
    torch.testing.assert_close(model.encode_items(inputs), before_out, rtol=0, atol=0)  # no-op at init

    returned = {id(p) for params in groups.values() for p in params}
    assert sum(p.numel() for params in groups.values() for p in params) == trainable
    assert count_parameters(model)[0] == trainable
    assert {id(p) for p in model.parameters() if p.requires_grad} == returned
    if case == "ftn":
        top = {id(p) for layer in model.item_encoder.layers()[1:] for p in layer.parameters()}
        assert {id(p) for p in groups["item_encoder"]} == top

    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    if groups:
        assert torch.isfinite(step(model, groups))
    for name, p in model.named_parameters():
        changed = not torch.equal(p, before[name])
        assert changed == (id(p) in returned), name  # frozen: bit-identical; returned: moved


def test_ftn_deeper_than_encoder_raises(bert_dir):
    with pytest.raises(ValueError, match="3 layers"):
        prepare_trainable(make_model(bert_dir), build_method({"kind": "ftn", "n": DEPTH + 1}), [])
    with pytest.raises(ValueError, match="'n': Input should be greater than or equal to 0"):
        build_method({"kind": "ftn", "n": -1})
