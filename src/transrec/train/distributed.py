"""torchrun support: process group, device per rank, DDP wrapping, cross-rank reductions; rank 0 writes."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class World:
    """This process's place: rank, world size and its device."""

    rank: int
    size: int
    device: torch.device

    @property
    def main(self) -> bool:
        """Only rank 0 writes files and logs progress."""
        return self.rank == 0

    @property
    def grouped(self) -> bool:
        return self.size > 1


def setup(device: str = "auto") -> World:
    """Join the torchrun process group when RANK/WORLD_SIZE are set (nccl on CUDA, gloo on CPU); else a world of one."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    check_devices(device, size, int(os.environ.get("LOCAL_WORLD_SIZE", str(size))), torch.cuda.device_count())
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    resolved = torch.device(device)
    if resolved.type == "cuda" and resolved.index is None:
        resolved = torch.device("cuda", local_rank if size > 1 else torch.cuda.current_device())
    if resolved.type == "cuda":
        torch.cuda.set_device(resolved)
    if size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if resolved.type == "cuda" else "gloo", rank=rank, world_size=size)
    return World(rank, size, resolved)


def check_devices(device: str, world_size: int, local_size: int, cuda_devices: int) -> None:
    """Stop before training when the processes asked for (train.gpus, one per GPU) do not match this host's GPUs.

    Several CPU processes are allowed only when config says so (train.device: cpu)."""
    if device.startswith("cuda") and cuda_devices == 0:
        raise RuntimeError(
            f"train.device is {device!r} but this host has no CUDA device; set train.device to auto or "
            "cpu, or run on a GPU host"
        )
    if world_size > 1 and device != "cpu" and local_size > cuda_devices:
        raise RuntimeError(
            f"train.gpus is {local_size} (torchrun started {local_size} processes on this host) but it has "
            f"{cuda_devices} CUDA device(s); set train.gpus to at most {max(cuda_devices, 1)}, or train.device: cpu "
            f"to train {local_size} CPU processes on purpose"
        )


def wrap(module: nn.Module, world: World, find_unused_parameters: bool) -> nn.Module:
    """DDP around `module` in a multi-process world; the module itself otherwise."""
    if not world.grouped:
        return module
    device_ids = [world.device.index] if world.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=device_ids, find_unused_parameters=find_unused_parameters)


def barrier(world: World) -> None:
    """Wait for every rank (e.g. until rank 0 has written best.pt)."""
    if world.grouped:
        dist.barrier()


def sum_all(values: list[float], world: World) -> list[float]:
    """Element-wise sum of `values` over ranks."""
    if not world.grouped:
        return values
    backend_device = world.device if dist.get_backend() == "nccl" else torch.device("cpu")
    tensor = torch.tensor(values, dtype=torch.float64, device=backend_device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def gather(obj: Any, world: World) -> list[Any]:
    """Every rank's `obj`, in rank order (on every rank)."""
    if not world.grouped:
        return [obj]
    out: list[Any] = [None] * world.size
    dist.all_gather_object(out, obj)
    return out


def teardown(world: World) -> None:
    """Leave the process group (if this process joined one)."""
    if world.grouped and dist.is_initialized():
        dist.destroy_process_group()
