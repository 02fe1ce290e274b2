"""Checkpoints: best.pt (trainable tensors + base reference), last.pt (full resume state), RNG capture."""

from __future__ import annotations

import logging
import os
import pickle
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from transrec.io import atomic_path

log = logging.getLogger(__name__)


def trainable_state(model: nn.Module) -> dict[str, Tensor]:
    """Every trainable parameter by name, detached and copied to CPU."""
    return {name: p.detach().cpu().clone() for name, p in model.named_parameters() if p.requires_grad}


def load_trainable(model: nn.Module, tensors: dict[str, Tensor], *, source: str = "checkpoint") -> None:
    """Copy `tensors` into the model's parameters by name; any unknown name or shape mismatch raises."""
    params = dict(model.named_parameters())
    missing = sorted(set(tensors) - set(params))
    if missing:
        raise KeyError(
            f"{source}: {len(missing)} tensors have no parameter of that name in the model, e.g. {missing[:5]}"
        )
    with torch.no_grad():
        for name, value in tensors.items():
            if params[name].shape != value.shape:
                raise ValueError(
                    f"{source}: {name} has shape {tuple(value.shape)}, model has {tuple(params[name].shape)}"
                )
            params[name].copy_(value)


def save_best(path: str | os.PathLike, model: nn.Module, meta: dict[str, Any]) -> None:
    """best.pt: only the trainable tensors, plus `meta` (base encoder, init checkpoint, method, run name)."""
    save(path, {"trainable": trainable_state(model), **meta})


def load_init_checkpoint(model: nn.Module, path: str | os.PathLike) -> dict[str, Any]:
    """Load a source run's best.pt into the (not yet adapted) model: every tensor it trained must find its parameter."""
    checkpoint = load(path)
    load_trainable(model, checkpoint["trainable"], source=str(path))
    log.info(
        "initialised %d tensors from %s (base %s, method %s)",
        len(checkpoint["trainable"]),
        path,
        checkpoint.get("base"),
        checkpoint.get("method"),
    )
    return {k: v for k, v in checkpoint.items() if k != "trainable"}


def input_fingerprint(paths: list[str | None]) -> list[tuple[str, int, int]]:
    """(path, size, mtime_ns) of every file a run reads (a folder: each file in it): a rerun on changed inputs must not
    resume from a last.pt trained on the old ones."""
    found = []
    for path in filter(None, paths):
        root = Path(path)
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for file in files:
            if file.exists():
                stat = file.stat()
                found.append((str(file), stat.st_size, stat.st_mtime_ns))
    return found


def rng_state() -> dict[str, Any]:
    """RNG states of python, numpy, torch CPU and every CUDA device (weights_only-loadable)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {
            "name": name,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what rng_state() captured."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state(
        (n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(
    path: str | os.PathLike,
    obj: dict[str, Any],
    *,
    before_publish: Callable[[], None] | None = None,
    keep_previous: bool = False,
) -> None:
    """torch.save, atomically; a full disk raises transrec.io.DiskFullError naming `path`.

    `before_publish` runs after the bytes are written and before the rename (the trainer's kill tests use it);
    `keep_previous` first hard-links the state being replaced to previous_path(path), so one good state survives a
    later damaged copy."""
    with atomic_path(path, ".pt") as tmp:
        # through a Python file object: torch.save on a path reports ENOSPC only as "unexpected pos ... vs ..."
        with open(tmp, "wb") as handle:
            torch.save(obj, handle)
        if before_publish is not None:
            before_publish()
        if keep_previous and os.path.exists(path):
            _keep(Path(path))


def previous_path(path: str | os.PathLike) -> Path:
    """Where save(keep_previous=True) keeps the state it replaced: last.pt -> last.prev.pt."""
    path = Path(path)
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def _keep(path: Path) -> None:
    """Publish `path`'s current bytes as previous_path(path) (a hard link, a copy where links are not supported)."""
    previous = previous_path(path)
    with atomic_path(previous, ".pt") as tmp:
        tmp.unlink()
        try:
            os.link(path, tmp)
        except OSError:
            shutil.copyfile(path, tmp)


class DamagedCheckpointError(ValueError):
    """A checkpoint file cannot be read (truncated, a torn copy, not a checkpoint)."""


def load(path: str | os.PathLike) -> dict[str, Any]:
    """torch.load on CPU, tensors and plain containers only; an unreadable file raises DamagedCheckpointError
    naming it (torch names neither the file nor the fix)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except (RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as error:  # OSError (permissions) as is
        raise DamagedCheckpointError(
            f"{path} is not a readable checkpoint (truncated or damaged: {type(error).__name__}: {error}); "
            "delete it and rerun the job that writes it"
        ) from error


def load_resumable(path: str | os.PathLike) -> dict[str, Any] | None:
    """The resume state at `path`, None when there is none. A damaged file is moved aside (`<name>.damaged`) and the
    state saved before it (previous_path) is used when readable; else None: the run starts over. Each case is logged."""
    path = Path(path)
    previous = previous_path(path)
    if path.exists():
        try:
            return load(path)
        except DamagedCheckpointError as error:
            aside = path.with_name(path.name + ".damaged")
            os.replace(path, aside)
            log.warning("%s; kept it aside as %s", error, aside)
    elif not previous.exists():
        return None
    try:
        state = load(previous)
    except (FileNotFoundError, DamagedCheckpointError) as error:
        log.warning("no readable earlier state either (%s): starting the run over", error)
        return None
    log.warning("resuming from the previous good state %s (epoch %s)", previous, state.get("epoch"))
    return state
