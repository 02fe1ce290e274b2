"""A two-process gloo run of the tiny model finishes, shards evaluation and writes files from rank 0 only."""

import json
import os
import socket
from pathlib import Path

import pytest
import torch.multiprocessing as mp

from test_loop import tiny_run
from transrec.train import distributed
from transrec.train.config import RunConfig


def _worker(rank: int, world_size: int, port: int, run: dict) -> None:
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world_size),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        HF_HUB_OFFLINE="1",
    )
    from transrec.train.loop import train

    metrics = train(RunConfig.from_dict(run))
    Path(run["out_dir"], f"rank{rank}.json").write_text(json.dumps(metrics))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # ~20-30 s on 2 cores: each spawned process imports torch and torch._dynamo (Adam) afresh
def test_two_process_gloo_run(tmp_path):
    run = tiny_run(tmp_path, train={"epochs": 2, "batch_size": 2, "threads": 1, "device": "cpu"})
    mp.spawn(_worker, args=(2, _free_port(), run), nprocs=2, join=True)
    out = Path(run["out_dir"])
    saved = json.loads((out / "metrics.json").read_text())
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]
    assert saved["world_size"] == 2 and len(saved["curve"]) == 2
    assert ranks[0]["test"] == ranks[1]["test"] == saved["test"]  # evaluation sums are all-reduced
    assert (out / "best.pt").exists() and (out / "last.pt").exists()
    assert not list(out.glob(".*.tmp")) and not list(out.glob(".*.pt"))


def test_single_process_world(monkeypatch):
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    world = distributed.setup("cpu")
    assert world.rank == 0 and world.size == 1 and world.main and not world.grouped
    assert distributed.sum_all([1.0, 2.0], world) == [1.0, 2.0]
    assert distributed.gather("x", world) == ["x"]
    module = object()
    assert distributed.wrap(module, world, find_unused_parameters=False) is module
