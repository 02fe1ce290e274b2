"""On real Amazon Instruments data, the recommended ID SASRec recipe beats popularity after a few epochs."""

import itertools

import polars as pl
import pytest
from run_dicts import full_run

from transrec.data.ingest import ingest
from transrec.data.sequences import build_sequences
from transrec.data.split import split_leave_one_out
from transrec.eval.popularity import evaluate_popularity
from transrec.train.config import RunConfig
from transrec.train.loop import train

# All 10,000 users of the released set (75 k interactions, 19 k items): on a 4,000-user slice six epochs do not yet
# beat popularity (valid HR@10 6.73 vs 6.93), so the slice is the whole (small) set; about 50 s on 2 idle CPU cores.
USERS = 10_000
MAX_LEN = 10


@pytest.mark.realdata
def test_recommended_id_recipe_beats_popularity(shared_data, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    source = shared_data / "amazon_instruments"
    with open(source / "users.tsv", encoding="utf-8") as full:
        (raw / "users.tsv").write_text("".join(itertools.islice(full, USERS)), encoding="utf-8")
    (raw / "items.tsv").write_bytes((source / "items.tsv").read_bytes())
    ingest(
        "released",
        raw,
        item_table=tmp_path / "items_raw.parquet",
        interaction_table=tmp_path / "events.parquet",
        quarantine=tmp_path / "quarantine.tsv",
        report=tmp_path / "report.json",
    )
    build_sequences(
        tmp_path / "items_raw.parquet",
        tmp_path / "events.parquet",
        out_items=tmp_path / "items.parquet",
        out_sequences=tmp_path / "sequences.parquet",
        stats=tmp_path / "stats.json",
        max_len=MAX_LEN,
    )
    split_leave_one_out(
        tmp_path / "sequences.parquet", tmp_path / "split.parquet", tmp_path / "split.json", max_len=MAX_LEN
    )
    num_items = pl.read_parquet(tmp_path / "items.parquet").height
    popularity = evaluate_popularity(tmp_path / "split.parquet", num_items, MAX_LEN)

    # the recommended ID recipe (docs/accuracy.md): in-batch softmax with logQ, lr 1e-3 everywhere, batch 128
    run = RunConfig.from_dict(
        full_run(
            {
                "stage": "adapt",
                "name": {
                    "dataset": "instruments_slice",
                    "encoder": "id",
                    "objective": "inbatch",
                    "method": "fta",
                    "seed": 42,
                },
                "data": {"split": str(tmp_path / "split.parquet"), "items": str(tmp_path / "items.parquet")},
                "out_dir": str(tmp_path / "run"),
                "model": {"max_len": MAX_LEN, "dropout": 0.1},
                "objective": "inbatch",
                "also_train": ["dtl", "user_encoder"],
                "optim": {"lr": {"item_encoder": 1e-3, "dtl": 1e-3, "user_encoder": 1e-3}},
                "train": {
                    "epochs": 6,
                    "batch_size": 128,
                    "patience": 6,
                    "seed": 42,
                    "device": "cpu",
                    "threads": 1,
                },  # one thread: OpenMP threads on busy shared cores slow down many-fold
            }
        )
    )
    metrics = train(run, resume=False)
    # selection is on validation; the claim is about the test split the papers report
    assert metrics["valid"]["hr@10"] > popularity["valid"]["hr@10"]
    assert metrics["test"]["hr@10"] > popularity["test"]["hr@10"]
    assert metrics["test"]["ndcg@10"] > popularity["test"]["ndcg@10"]
