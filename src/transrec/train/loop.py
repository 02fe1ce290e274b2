"""The training loop: one run.json in, best.pt / last.pt / metrics.json out (docs/architecture.md §Training)."""

from __future__ import annotations

import logging
import os
import random
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, DistributedSampler

from transrec.data.content import Content
from transrec.data.loader import Batch, TrainingSet
from transrec.data.split import eval_histories
from transrec.eval.efficiency import peak_memory_gb, reset_peak_memory
from transrec.eval.ranking import compute_item_table, evaluate
from transrec.eval.run_metrics import RunMetrics
from transrec.features.content import item_content
from transrec.features.store import FeatureStore
from transrec.logs import progress
from transrec.methods.base import build_method, prepare_trainable
from transrec.models.dropout import use_fast_dropout
from transrec.models.hub import resolve_model_path
from transrec.models.iisan import build_iisan_item_encoder
from transrec.models.item_encoders import build_item_encoder
from transrec.models.item_tower import ItemTower
from transrec.models.multimodal import build_multimodal_item_encoder
from transrec.models.objectives import StepLoss, objective
from transrec.models.precision import autocast, autocast_dtype
from transrec.models.sasrec import SASRec
from transrec.models.transrec import TransRec, count_parameters
from transrec.train import checkpoint, distributed
from transrec.train.config import RunConfig

log = logging.getLogger(__name__)
SELECT = "ndcg@10"  # model selection and early stopping (PROTOCOL.md §Evaluation)


@dataclass
class Session:
    """What a run's epochs need, built once by _setup; `state` is what last.pt saves (and resume restores)."""

    world: distributed.World
    amp: torch.dtype | None
    split: pl.DataFrame
    model: TransRec
    groups: dict[str, list[nn.Parameter]]
    optimizer: torch.optim.Optimizer
    parameters: tuple[int, int]  # trainable, total
    meta: dict[str, Any]  # best.pt's provenance
    content: Content
    cached: bool  # the content serves precomputed backbone outputs
    dataset: TrainingSet
    sampler: DistributedSampler
    loader: DataLoader
    users: dict[str, tuple[Tensor, Tensor]]  # "valid"/"test": (histories, targets)
    step_loss: nn.Module
    inputs: list[tuple[str, int, int]]  # the run's input files (checkpoint.input_fingerprint), taken once at set-up
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def device(self) -> torch.device:
        """This rank's device."""
        return self.world.device


def train(run: RunConfig, *, resume: bool = True) -> dict[str, Any]:
    """Train, select the epoch by validation NDCG@10 with early stopping, test it; returns metrics.json's content."""
    setup_started = time.perf_counter()
    out = Path(run.out_dir)
    last_path, best_path = out / "last.pt", out / "best.pt"
    session = _setup(run)
    # last.pt also holds the best epoch's tensors, so every kill point resumes (best.pt, a declared output that
    # Snakemake deletes after a failed job, is published only at the end)
    _seed(run.train.seed + session.world.rank)  # different dropout per rank
    if run.train.timing_only:
        return _timing_probe(run, session, out, setup_started)
    session.state = _resume_state(run, session, last_path, resume)
    reset_peak_memory(session.device)
    setup_seconds = time.perf_counter() - setup_started
    state = session.state
    while state["epoch"] < run.train.epochs and not state["stopped"]:
        mean_loss, seconds = _train_epoch(run, session, state["epoch"])
        _end_epoch(run, session, out, mean_loss, seconds)
        fault_point("epoch_end")

    # test the best epoch, then publish best.pt and metrics.json
    test_started = time.perf_counter()
    checkpoint.load_trainable(session.model, state["best_trainable"], source=f"{last_path} (best epoch)")
    fault_point("test")
    test = _evaluate(session.model, session.content, session.users["test"], run, session.device, session.amp)
    metrics = _metrics(run, session, test, setup_seconds, time.perf_counter() - test_started)
    if session.world.main:
        checkpoint.save(best_path, {"trainable": state["best_trainable"], **session.meta})
        metrics.save(out / "metrics.json")
    log.info("best epoch %s: valid %s test %s", state["best_epoch"], metrics.valid, metrics.test)
    distributed.barrier(session.world)
    distributed.teardown(session.world)
    return metrics.to_dict()


def _setup(run: RunConfig) -> Session:
    """The process group, the model with its method and optimizer, the content, the loader and the step loss."""
    world = distributed.setup(run.train.device)
    device = world.device
    torch.set_num_threads(run.train.threads)
    amp = autocast_dtype(run.train.precision, device)
    _seed(run.train.seed)  # identical initial weights on every rank
    split = pl.read_parquet(run.data.split).sort("user_idx")
    num_items = pl.read_parquet(run.data.items, columns=["item_idx"]).height
    model, groups, optimizer, parameters = _model_and_optimizer(run, num_items, device)
    meta = {
        "base": run.encoder.path,
        "init_checkpoint": run.init_checkpoint,
        "method": run.to_dict()["method"],
        "run_name": run.to_dict()["name"],
    }

    content, cached = item_content(
        run.data.content,
        run.data.items,
        model.item_encoder,
        cache_frozen=run.train.cache_frozen_features,
        batch_size=run.eval.item_batch,
        device=device,
        dtype=amp,
        num_workers=run.train.num_workers,
    )
    wanted = objective(run.objective)  # what the objective needs in a batch
    dataset = TrainingSet(
        split,
        content,
        num_items,
        run.model.max_len,
        seed=run.train.seed,
        negatives=wanted.negatives,
        last_negative_only=wanted.last_negative_only,
        inbatch=wanted.inbatch,
    )
    sampler = DistributedSampler(dataset, num_replicas=world.size, rank=world.rank, shuffle=True, seed=run.train.seed)
    loader = DataLoader(
        dataset,
        batch_size=run.train.batch_size,
        sampler=sampler,
        collate_fn=dataset.collate,
        num_workers=run.train.num_workers,
        pin_memory=device.type == "cuda",
    )
    users = {which: eval_histories(split, which, run.model.max_len) for which in ("valid", "test")}
    step_loss: nn.Module = StepLoss(model, run.objective, content)
    unused = world.grouped and _has_unused(step_loss, dataset, run, device, amp)
    step_loss = distributed.wrap(step_loss, world, find_unused_parameters=unused)
    return Session(
        world,
        amp,
        split,
        model,
        groups,
        optimizer,
        parameters,
        meta,
        content,
        cached,
        dataset,
        sampler,
        loader,
        users,
        step_loss,
        checkpoint.input_fingerprint(run_inputs(run)),
    )


def _model_and_optimizer(
    run: RunConfig, num_items: int, device: torch.device
) -> tuple[TransRec, dict[str, list[nn.Parameter]], torch.optim.Optimizer, tuple[int, int]]:
    """The model (init checkpoint loaded, method applied, on `device`), its trainable groups, Adam, and the
    (trainable, total) parameter counts."""
    model = build_model(run, num_items)
    if run.init_checkpoint:
        source = checkpoint.load_init_checkpoint(model, run.init_checkpoint)
        if source.get("base") != run.encoder.path:
            log.warning(
                "init checkpoint was trained on base %s, this run uses %s", source.get("base"), run.encoder.path
            )
    groups = prepare_trainable(model, build_method(run.method), run.also_train)
    use_fast_dropout(model)  # the method's own modules included: same distribution, a fraction of the CPU time
    missing_lr = sorted(set(groups) - set(run.optim.lr))
    if missing_lr:
        raise ValueError(f"optim.lr has no learning rate for trainable group(s) {missing_lr}")
    if not groups:
        raise ValueError(f"method {run.method} with also_train {list(run.also_train)} leaves nothing to train")
    parameters = count_parameters(model)
    model.to(device)
    if run.train.compile:
        model.item_encoder.compile(dynamic=True)
        model.user_encoder.compile(dynamic=True)
    optimizer = torch.optim.Adam(
        [{"params": params, "lr": run.optim.lr[name], "name": name} for name, params in groups.items()],
        weight_decay=run.optim.weight_decay,
        fused=True,
    )  # fused: one kernel, CPU and CUDA
    return model, groups, optimizer, parameters


def _resume_state(run: RunConfig, session: Session, last_path: Path, resume: bool) -> dict[str, Any]:
    """A fresh state, or last.pt's (its tensors, optimizer and this rank's RNG loaded) when it was written by this
    run config and world size."""
    state: dict[str, Any] = {
        "epoch": 0,
        "best_epoch": None,
        "best_valid": None,
        "bad_epochs": 0,
        "patience_reference": None,  # the validation NDCG@10 that last reset patience
        "stopped": False,
        "curve": [],
        "best_trainable": None,
    }
    saved = checkpoint.load_resumable(last_path) if resume else None  # a damaged last.pt: the previous, or afresh
    if saved is None:
        return state
    world = session.world
    same_inputs = saved.get("inputs") == session.inputs
    if saved["run"] == run.to_dict() and same_inputs and len(saved["rng"]) == world.size and "best_trainable" in saved:
        checkpoint.load_trainable(session.model, saved["trainable"], source=str(last_path))
        session.optimizer.load_state_dict(saved["optimizer"])
        checkpoint.set_rng_state(saved["rng"][world.rank])
        state = {key: saved[key] for key in state}
        log.info("resumed %s after epoch %d", last_path, state["epoch"])
    else:
        log.warning(
            "%s was written by a different run config, input files, world size or version: starting afresh", last_path
        )
    return state


def run_inputs(run: RunConfig) -> list[str | None]:
    """The files and folders a run reads: its split, items, item content, hidden-state stores, source checkpoint."""
    content = run.data.content
    return [
        run.data.split,
        run.data.items,
        content.path,
        *content.paths.values(),
        *content.stores.values(),
        run.init_checkpoint,
    ]


def _train_epoch(run: RunConfig, session: Session, epoch: int) -> tuple[float, float]:
    """One epoch's optimizer steps: (mean loss over every rank's steps, seconds)."""
    world, model = session.world, session.model
    session.dataset.set_epoch(epoch)
    session.sampler.set_epoch(epoch)
    model.train()
    started = time.perf_counter()
    loss_sum, steps = 0.0, 0
    loader = session.loader
    total_steps = min(len(loader), run.train.max_steps_per_epoch or len(loader))
    batches = progress(loader, desc=f"epoch {epoch + 1}", total=total_steps) if world.main else iter(loader)
    for batch in batches:
        loss_sum, steps = loss_sum + _step(run, session, batch), steps + 1
        fault_point("step")
        if steps >= total_steps:
            break
    loss_sum, steps = distributed.sum_all([loss_sum, steps], world)
    mean_loss = loss_sum / max(steps, 1)
    if not np.isfinite(mean_loss):
        raise FloatingPointError(f"epoch {epoch + 1}: training loss is {mean_loss}")
    return mean_loss, time.perf_counter() - started


def _step(run: RunConfig, session: Session, batch: Batch) -> float:
    """One optimizer step on `batch`: to the device, forward, backward, clip, update; returns the loss (a host sync)."""
    batch = batch.to(session.device, non_blocking=True)
    with autocast(session.device, session.amp):
        loss = session.step_loss(batch)
    session.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if run.optim.grad_clip is not None:
        params = [p for group in session.groups.values() for p in group]
        torch.nn.utils.clip_grad_norm_(params, run.optim.grad_clip)
    session.optimizer.step()
    return float(loss.detach())


def _timing_probe(run: RunConfig, session: Session, out: Path, setup_started: float) -> dict[str, Any]:
    """A timing probe (train.timing_only): one untimed warm-up step, then max_steps_per_epoch timed steps of the real
    training step; seconds per full epoch = median step x the loader's length. No validation, no test, no curve:
    metrics.json has no accuracy, and best.pt holds the tensors after the probe's steps (the rule declares it)."""
    world, model = session.world, session.model
    wanted = run.train.max_steps_per_epoch
    assert wanted is not None  # RunConfig refuses a probe without it
    session.dataset.set_epoch(0)
    session.sampler.set_epoch(0)
    model.train()
    batches = _cycle(session.loader)  # a loader shorter than the probe starts over
    reset_peak_memory(session.device)
    setup_seconds = time.perf_counter() - setup_started
    _step(run, session, next(batches))  # warm-up: lazy initialisation, allocator, first-call dispatch
    seconds, losses = [], []
    for _ in range(wanted):
        started = time.perf_counter()  # the batch's loading counts, as it does in a trained epoch's time
        losses.append(_step(run, session, next(batches)))  # returns after a host sync: the step is done
        seconds.append(time.perf_counter() - started)
    if not np.isfinite(losses).all():
        raise FloatingPointError(f"timing probe: training loss {losses}")
    full = len(session.loader)
    per_epoch = float(np.median(seconds)) * full
    metrics = RunMetrics.from_dict(
        {
            **_run_facts(run, session, setup_seconds),
            "valid": {},
            "test": {},
            "best_epoch": None,
            "curve": [],
            "seconds_per_epoch": per_epoch,
            "timed_steps": wanted,
            "full_epoch_steps": full,
            "step_seconds": seconds,
        }
    )
    if world.main:
        checkpoint.save_best(out / "best.pt", model, session.meta)
        metrics.save(out / "metrics.json")
    log.info(
        "timing probe: %d steps, median %.3f s (loss %.4f -> %.4f) x %d steps = %.1f s per epoch (not trained)",
        wanted,
        float(np.median(seconds)),
        losses[0],
        losses[-1],
        full,
        per_epoch,
    )
    distributed.barrier(world)
    distributed.teardown(world)
    return metrics.to_dict()


def _cycle(loader: DataLoader) -> Iterator[Batch]:
    """The loader's batches, starting over when they run out."""
    while True:
        yield from loader


def _end_epoch(run: RunConfig, session: Session, out: Path, mean_loss: float, seconds: float) -> None:
    """Validate, keep the best epoch's tensors, count bad epochs (early stop), save last.pt, log."""
    state, world, model = session.state, session.world, session.model
    epoch = state["epoch"]
    eval_started = time.perf_counter()
    fault_point("validation")
    valid = _evaluate(model, session.content, session.users["valid"], run, session.device, session.amp)
    eval_seconds = time.perf_counter() - eval_started
    if state["best_valid"] is None or valid[SELECT] > state["best_valid"][SELECT]:
        state.update(best_epoch=epoch + 1, best_valid=valid, best_trainable=checkpoint.trainable_state(model))
    reference = state["patience_reference"]
    if reference is None or valid[SELECT] > reference * (1 + run.train.min_delta):
        state.update(patience_reference=valid[SELECT], bad_epochs=0)
    else:
        state["bad_epochs"] += 1
    state["stopped"] = state["bad_epochs"] >= run.train.patience and epoch + 1 >= run.train.min_epochs
    state["curve"].append(
        {
            "epoch": epoch + 1,
            "loss": mean_loss,
            "valid": {k: v for k, v in valid.items() if "@" in k},
            "train_seconds": seconds,
            "eval_seconds": eval_seconds,
        }
    )
    state["epoch"] = epoch + 1
    rng = distributed.gather(checkpoint.rng_state(), world)
    if world.main:
        checkpoint.save(
            out / "last.pt",
            {
                "run": run.to_dict(),
                "inputs": session.inputs,
                "trainable": checkpoint.trainable_state(model),
                "optimizer": session.optimizer.state_dict(),
                "rng": rng,
                **state,
            },
            before_publish=lambda: fault_point("checkpoint"),
            keep_previous=True,
        )
    log.info(
        "epoch %d/%d loss %.4f valid ndcg@10 %.2f hr@10 %.2f best epoch %d %.1f s + %.1f s eval%s",
        epoch + 1,
        run.train.epochs,
        mean_loss,
        valid["ndcg@10"],
        valid["hr@10"],
        state["best_epoch"],
        seconds,
        eval_seconds,
        " (early stop)" if state["stopped"] else "",
    )
    if run.train.tensorboard and world.main:
        _tensorboard(out / "tensorboard", epoch + 1, mean_loss, valid)


def _metrics(
    run: RunConfig, session: Session, test: dict[str, float], setup_seconds: float, test_seconds: float
) -> RunMetrics:
    """metrics.json: the best epoch's validation and test metrics, the curve, parameters, time and memory."""
    state, curve = session.state, session.state["curve"]
    return RunMetrics.from_dict(
        {
            **_run_facts(run, session, setup_seconds),
            "best_epoch": state["best_epoch"],
            "valid": {k: v for k, v in state["best_valid"].items() if "@" in k},
            "test": {k: v for k, v in test.items() if "@" in k},
            "curve": curve,
            # median: the first epoch also pays one-off costs (lazy imports, CUDA context, torch.compile)
            "seconds_per_epoch": float(np.median([c["train_seconds"] for c in curve])) if curve else None,
            "eval_seconds_per_epoch": float(np.median([c["eval_seconds"] for c in curve])) if curve else None,
            "test_seconds": test_seconds,
        }
    )


def _run_facts(run: RunConfig, session: Session, setup_seconds: float) -> dict[str, Any]:
    """What metrics.json says of every trained or timed run: its name, parameters, memory, device, repeat shares."""
    split = session.split
    trainable, total = session.parameters
    return {
        "run": {**run.to_dict()["name"], "stage": run.stage},
        "trainable_parameters": trainable,
        "total_parameters": total,
        "trainable_share": trainable / total,
        "setup_seconds": setup_seconds,
        "peak_memory_gb": peak_memory_gb(session.device),  # GiB, None on CPU
        "repeat_share": {
            "valid": float(split["valid_is_repeat"].mean()),
            "test": float(split["test_is_repeat"].mean()),
        },
        "device": session.device.type,
        "precision": "bf16" if session.amp is not None else "fp32",
        "world_size": session.world.size,
        "cached_item_features": session.cached,
    }


def fault_point(phase: str) -> None:
    """Fault injection for the kill tests: SIGKILL this process at the n-th `phase` when TRANSREC_KILL_AT=phase:n.

    Phases: step, validation, checkpoint (last.pt written but not yet renamed into place), epoch_end, test.
    """
    target = os.environ.get("TRANSREC_KILL_AT")
    if not target:
        return
    name, _, count = target.partition(":")
    if name != phase:
        return
    _FAULT_COUNTS[phase] = _FAULT_COUNTS.get(phase, 0) + 1
    if _FAULT_COUNTS[phase] == int(count or 1):
        log.warning("TRANSREC_KILL_AT=%s: killing this process", target)
        logging.shutdown()
        os.kill(os.getpid(), signal.SIGKILL)


_FAULT_COUNTS: dict[str, int] = {}


def build_model(run: RunConfig, num_items: int) -> TransRec:
    """The run's model before its method is applied: item encoder (base weights) + SASRec user encoder."""
    item_encoder = _item_encoder(run, num_items)
    user_encoder = SASRec(
        run.model.d_model, run.model.max_len, run.model.n_blocks, run.model.n_heads, run.model.dropout
    )
    return TransRec(item_encoder, user_encoder)


def _item_encoder(run: RunConfig, num_items: int) -> ItemTower:
    """One backbone + DTL, a tower per modality + fusion (multimodal), or IISAN; a cached IISAN builds no backbone."""
    paths = run.encoder.paths or ({run.encoder.kind: run.encoder.path} if run.encoder.path else {})
    paths = {m: resolve_model_path(p) for m, p in paths.items()}
    if run.method.kind == "iisan":
        method = build_method(run.method)
        if not method.cached:
            return build_iisan_item_encoder(run.model.d_model, method.config(), paths=paths)
        if not run.data.content.stores:
            raise ValueError("run config: a cached IISAN run needs data.content.stores (the hidden-state stores)")
        stores = {m: FeatureStore(p) for m, p in run.data.content.stores.items()}  # shapes only: no backbone
        return build_iisan_item_encoder(
            run.model.d_model, method.config(), shapes={m: (s.depth, s.width) for m, s in stores.items()}
        )
    if run.encoder.kind == "multimodal":
        return build_multimodal_item_encoder(paths, run.model.d_model, image_mask_ratio=run.encoder.image_mask_ratio)
    return build_item_encoder(
        run.encoder.kind,
        paths.get(run.encoder.kind),
        run.model.d_model,
        num_items,
        image_mask_ratio=run.encoder.image_mask_ratio,
    )


def _evaluate(
    model: TransRec,
    content: Content,
    users: tuple[Tensor, Tensor],
    run: RunConfig,
    device: torch.device,
    amp: torch.dtype | None,
) -> dict[str, float]:
    """HR@K / NDCG@K of `users` (histories, targets), the item table computed once (sharded across ranks)."""
    table = compute_item_table(
        model, content, batch_size=run.eval.item_batch, device=device, dtype=amp, num_workers=run.train.num_workers
    )  # (N+1, d)
    return evaluate(
        model,
        table,
        *users,
        ks=run.eval.ks,
        user_batch=run.eval.user_batch,
        mask_history=run.eval.mask_history,
        device=device,
        dtype=amp,
    )


def _has_unused(
    step_loss: nn.Module, dataset: TrainingSet, run: RunConfig, device: torch.device, amp: torch.dtype | None
) -> bool:
    """Whether a trainable parameter gets no gradient (DDP then needs find_unused_parameters); RNG left untouched."""
    users = list(range(min(run.train.batch_size, len(dataset))))
    params = [p for p in step_loss.parameters() if p.requires_grad]
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        with autocast(device, amp):
            loss = step_loss(dataset.collate(users).to(device))
        loss.backward()
    unused = any(p.grad is None for p in params)
    for p in params:
        p.grad = None
    return unused


def _tensorboard(folder: Path, epoch: int, loss: float, valid: dict[str, float]) -> None:
    """One epoch's scalars (train/loss, valid/hr@K, valid/ndcg@K) appended to the run's TensorBoard log."""
    from torch.utils.tensorboard import SummaryWriter  # optional: only runs with train.tensorboard import it

    with SummaryWriter(str(folder)) as writer:
        writer.add_scalar("train/loss", loss, epoch)
        for name, value in valid.items():
            if "@" in name:
                writer.add_scalar(f"valid/{name}", value, epoch)


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
