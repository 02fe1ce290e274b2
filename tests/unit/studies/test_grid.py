"""Config -> runs expansion and run.json contents."""

import copy

import pytest
import yaml
from snakemake.utils import validate

from transrec.studies import grid

SCHEMA = "workflow/schemas/config.schema.yaml"


@pytest.fixture
def config(repo_root):
    return grid.resolve_config(yaml.safe_load((repo_root / "config/config.yaml").read_text()))


def test_default_experiments_expand_to_pretrain_then_adapt_runs(config):
    runs = grid.expand_runs(config)
    pretrain = [r for r in runs if r.stage == "pretrain"]
    adapt = [r for r in runs if r.stage == "adapt"]
    assert {("mind", "bert_small"), ("hm", "vit_tiny")} <= {(r.dataset, r.encoder) for r in pretrain}
    text = {(r.method, r.start) for r in adapt if r.dataset == "adressa" and r.encoder == "bert_small"}
    assert {("fta", "mind"), ("houlsby", "mind"), ("ln_tuning", "mind"), ("fta", "nopt")} <= text
    assert len(set(runs)) == len(runs)


def test_run_paths_follow_the_documented_layout(config):
    run = grid.Run("adapt", "adressa", "bert_small", "sasrec", "frozen", "mind", 42)
    assert run.out_dir == "results/runs/adapt/adressa/bert_small/sasrec/frozen/mind/42"
    source = grid.Run("pretrain", "mind", "bert_small", "sasrec", "fta", "nopt", 42)
    assert source.out_dir == "results/runs/pretrain/mind/bert_small/sasrec/42"


def test_adapt_run_config_starts_from_the_source_checkpoint(config):
    run = grid.Run("adapt", "adressa", "bert_small", "sasrec", "frozen", "mind", 42)
    rc = grid.plan(config, run).run_json
    assert rc["init_checkpoint"] == "results/runs/pretrain/mind/bert_small/sasrec/42/best.pt"
    assert rc["method"] == {"kind": "frozen"}
    assert rc["also_train"] == ["dtl", "user_encoder"]
    assert rc["optim"]["lr"]["item_encoder"] == pytest.approx(config["modalities"]["text"]["lr"]["item_encoder"])
    assert rc["train"]["batch_size"] == config["train"]["batch_size"]["adapt"]
    assert rc["model"]["max_len"] == config["datasets"]["adressa"]["max_len"]
    assert rc["data"]["content"] == {
        "kind": "text",
        "path": "results/tokens/adressa/bert_small.npz",
        "paths": {},
        "stores": {},
    }


@pytest.mark.parametrize(("source_seed", "expected"), [(None, {42, 43}), (42, {42})])
def test_source_seed_shares_one_pretraining_across_adaptation_seeds(config, source_seed, expected):
    config = {**config, "source_seed": source_seed}
    text = [
        r
        for r in grid.expand_runs(config)
        if r.stage == "pretrain" and r.dataset == "mind" and r.objective == "inbatch"
    ]
    assert {r.seed for r in text} == expected
    run = grid.Run("adapt", "adressa", "bert_small", "inbatch", "fta", "mind", 43)
    source_seed_used = 43 if source_seed is None else source_seed
    assert grid.plan(config, run).run_json["init_checkpoint"] == (
        f"results/runs/pretrain/mind/bert_small/inbatch/{source_seed_used}/best.pt"
    )
    assert grid.plan(config, run).run_json["train"]["seed"] == 43  # the adaptation keeps its own seed


def test_pretrain_trains_everything_and_nopt_has_no_checkpoint(config):
    rc = grid.plan(config, grid.Run("pretrain", "hm", "vit_tiny", "sasrec", "fta", "nopt", 42)).run_json
    assert rc["also_train"] == ["item_encoder", "dtl", "user_encoder"]
    assert rc["init_checkpoint"] is None
    assert rc["encoder"]["path"] == "results/encoders/vit_tiny"
    assert rc["data"]["content"]["path"] == "results/images/hm/images.lmdb"
    assert rc["model"]["max_len"] == 10


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("experiments", "text", "source"), "nope", "experiments.text.source"),
        (("experiments", "text", "encoder"), "bert", "experiments.text.encoder"),
        (("experiments", "text", "encoder"), "vit_tiny", "is image"),
        (("experiments", "text", "methods"), ["no_such_method"], "experiments.text.methods"),
    ],
)
def test_bad_references_name_the_key(config, path, value, message):
    bad = copy.deepcopy(config)
    node = bad
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ValueError, match=message):
        grid.check_config(bad)


def test_schema_rejects_unknown_key_and_wrong_type(config, repo_root):
    bad = copy.deepcopy(config)
    bad["datasets"]["mind"]["maxlen"] = 3
    with pytest.raises(Exception, match="maxlen"):
        validate(bad, str(repo_root / SCHEMA))
    bad = copy.deepcopy(config)
    bad["train"]["epochs"] = "three"
    with pytest.raises(Exception, match="three"):
        validate(bad, str(repo_root / SCHEMA))


def test_run_config_does_not_depend_on_config_key_order(config):
    """Snakemake compares params by value and order: reordering a config file must not rerun anything."""
    run = grid.Run("adapt", "adressa", "bert_small", "sasrec", "frozen", "mind", 42)
    reordered = yaml.safe_load(yaml.safe_dump(config, sort_keys=True))
    reordered["modalities"]["text"]["lr"] = dict(reversed(list(config["modalities"]["text"]["lr"].items())))
    assert repr(grid.plan(reordered, run).run_json) == repr(grid.plan(config, run).run_json)


SHIPPED = [  # every configuration the README names: a file alone replaces the default, overlays merge into it
    ("config.yaml",),
    ("config.yaml", "smoke.yaml"),
    ("paper.yaml",),
    ("instruments.yaml",),
    ("config.yaml", "studies_full.yaml"),
]


@pytest.mark.parametrize("names", SHIPPED, ids="+".join)
def test_every_run_of_every_shipped_config_parses_as_the_trainers_run_config(repo_root, names, paper_hub_cache):
    """The run.json of every run grid expands is a valid RunConfig (every key present, methods typed)."""
    from snakemake.utils import update_config

    config = {}
    for name in names:
        update_config(config, yaml.safe_load((repo_root / "config" / name).read_text()))
    config = grid.resolve_config(config)
    runs = [run for run in grid.expand_runs(config) if run.stage != "baseline"]
    assert runs
    for run in runs:
        parsed = grid.run_config(config, run)
        assert parsed.out_dir == run.out_dir and parsed.name == run.name
        assert parsed.to_dict()["method"] == grid.plan(config, run).run_json["method"]
        assert parsed.to_dict() == grid.plan(config, run).run_json  # every key written: nothing is filled on load


def test_the_smoke_overlay_caps_every_training_run(repo_root):
    """The end-to-end test and CI run the default under smoke.yaml: no layer of the default (a pre-training or ID
    schedule) may lift a run above the smoke's 2 epochs of 3 steps."""
    from snakemake.utils import update_config

    config = yaml.safe_load((repo_root / "config" / "config.yaml").read_text())
    update_config(config, yaml.safe_load((repo_root / "config" / "smoke.yaml").read_text()))
    config = grid.resolve_config(config)
    for run in grid.expand_runs(config):
        if run.stage != "baseline":
            train = grid.run_config(config, run).train
            assert (train.epochs, train.max_steps_per_epoch) == (2, 3), run.out_dir


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("surprise", 1, "'method.surprise': unknown key"),
        ("kind", "houlsbyy", "Input tag 'houlsbyy'"),
        ("r_item", 0, "'method.r_item': Input should be greater than 0"),
    ],
)
def test_a_run_json_with_a_bad_method_field_is_refused_naming_it(config, field, value, message):
    from transrec.train.config import RunConfig

    run_json = grid.plan(config, grid.Run("adapt", "adressa", "bert_small", "inbatch", "houlsby", "mind", 42)).run_json
    with pytest.raises(ValueError, match=message):
        RunConfig.from_dict({**run_json, "method": {**run_json["method"], field: value}})


def test_target_only_experiment_trains_from_scratch_and_pretrains_nothing(config):
    runs = [r for r in grid.expand_runs(config) if r.encoder == "id"]
    assert runs and all(r.stage == "adapt" and r.start == "nopt" for r in runs)
    assert grid.plan(config, runs[0]).run_json["init_checkpoint"] is None
    only = copy.deepcopy(config)
    only["experiments"], only["studies"] = {"text_id": config["experiments"]["text_id"]}, {}
    assert not [r for r in grid.expand_runs(only) if r.stage == "pretrain"]


def test_encoder_pretrain_layer_sets_pretraining_apart_from_adaptation(config):
    cfg = copy.deepcopy(config)
    cfg["encoders"]["bert_small"]["pretrain"] = {"lr": {"item_encoder": 2e-3}, "epochs": 11}
    cfg["objectives"]["long"] = {"loss": "inbatch", "hparams": {"epochs": 13}}
    pre = grid.plan(cfg, grid.Run("pretrain", "mind", "bert_small", "inbatch", "fta", "nopt", 42)).run_json
    assert pre["optim"]["lr"]["item_encoder"] == 2e-3 and pre["train"]["epochs"] == 11  # over the modality layer
    adapt = grid.plan(cfg, grid.Run("adapt", "adressa", "bert_small", "inbatch", "fta", "mind", 42)).run_json
    assert adapt["optim"]["lr"]["item_encoder"] == config["modalities"]["text"]["lr"]["item_encoder"]
    long = grid.plan(cfg, grid.Run("pretrain", "mind", "bert_small", "long", "fta", "nopt", 42)).run_json
    assert long["train"]["epochs"] == 11  # above the objective layer too
    image = grid.plan(cfg, grid.Run("pretrain", "hm", "vit_tiny", "inbatch", "fta", "nopt", 42)).run_json
    assert image["optim"]["lr"]["item_encoder"] == config["modalities"]["image"]["lr"]["item_encoder"]


def test_training_a_random_backbone_from_scratch_takes_the_pretrain_schedule(config):
    cfg = copy.deepcopy(config)
    cfg["encoders"]["bert_small"]["pretrain"] = {"lr": {"item_encoder": 2e-3}, "epochs": 11, "min_epochs": 7}
    cfg["methods"]["fta"].pop("hparams", None)  # the encoder layers alone (the method layer comes last)

    def train(method, start, encoder="bert_small"):
        run = grid.plan(cfg, grid.Run("adapt", "adressa", encoder, "inbatch", method, start, 42)).run_json
        return run["optim"]["lr"]["item_encoder"], run["train"]["epochs"], run["train"]["min_epochs"]

    assert train("fta", "nopt") == (2e-3, 11, 7)  # FTA from scratch: the backbone trains from random weights
    base = (config["modalities"]["text"]["lr"]["item_encoder"], config["train"]["epochs"], 1)
    assert train("fta", "mind") == base  # from the source checkpoint: the adaptation schedule
    assert train("houlsby", "nopt")[1:] == base[1:]  # a frozen random backbone: not trained from scratch
    assert train("fta", "nopt", encoder="minilm")[1:] == base[1:]  # pre-trained weights, not a random init


def test_hyper_parameters_layer_train_modality_objective_encoder_method(config):
    cfg = copy.deepcopy(config)
    cfg["objectives"]["strong"] = {"loss": "inbatch", "hparams": {"batch_size": {"adapt": 128}, "epochs": 7}}
    cfg["encoders"]["bert_small"]["hparams"] = {"lr": {"dtl": 3e-3}, "epochs": 9}
    cfg["methods"]["frozen"]["hparams"] = {"lr": {"user_encoder": 2e-3}, "dropout": 0.3}
    cfg["experiments"]["text"]["objectives"] = ["strong"]
    cfg = grid.resolve_config(cfg)
    rc = grid.plan(cfg, grid.Run("adapt", "adressa", "bert_small", "strong", "frozen", "mind", 42)).run_json
    assert rc["objective"] == "inbatch" and rc["name"]["objective"] == "strong"
    assert rc["train"]["batch_size"] == 128 and rc["train"]["epochs"] == 9  # encoder layer beats objective layer
    assert rc["optim"]["lr"] == {
        **config["train"]["lr"],
        **config["modalities"]["text"]["lr"],
        "dtl": 3e-3,
        "user_encoder": 2e-3,
    }
    assert rc["model"]["dropout"] == 0.3
    other = grid.plan(cfg, grid.Run("adapt", "adressa", "bert_small", "strong", "fta", "mind", 42)).run_json
    assert other["model"]["dropout"] == config["model"]["dropout"]  # only the method it names changes
    pre = grid.plan(cfg, grid.Run("pretrain", "mind", "bert_small", "strong", "fta", "nopt", 42)).run_json
    assert pre["train"]["batch_size"] == config["train"]["batch_size"]["pretrain"]


def test_defaults_come_from_the_schema_only(repo_root):
    minimal = {
        "datasets": {"a": {"format": "mind", "modality": "text"}},
        "encoders": {"id": {"kind": "id"}},
        "methods": {"fta": {"kind": "fta"}},
        "experiments": {"x": {"target": "a", "encoder": "id", "methods": ["fta"]}},
    }
    cfg = grid.resolve_config(minimal)
    rc = grid.plan(cfg, grid.expand_runs(cfg)[0]).run_json
    assert rc["train"]["batch_size"] == 128 and rc["train"]["epochs"] == 40 and rc["optim"]["lr"]["dtl"] == 1e-3
    assert rc["objective"] == "inbatch"  # the recommended recipe is the default (docs/accuracy.md)
    assert rc["also_train"] == ["dtl", "user_encoder"] and rc["name"]["seed"] == 42
    assert rc["train"]["threads"] == 2 and rc["train"]["tensorboard"] is False and rc["optim"]["weight_decay"] == 0.0
    assert rc["eval"] == {"ks": [10], "item_batch": 256, "mask_history": True, "user_batch": 1024}
    assert rc["data"]["content"]["paths"] == rc["data"]["content"]["stores"] == rc["encoder"]["paths"] == {}
