"""Efficiency measures: peak GPU memory and the TPME score of the IISAN paper."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

__all__ = ["peak_memory_gb", "reset_peak_memory", "tpme", "tpme_basis", "TPME_WEIGHTS"]

# IISAN (SIGIR 2024) §TPME: time, parameters, memory; PROTOCOL.md §Evaluation.
TPME_WEIGHTS = {"seconds_per_epoch": 0.45, "trainable_parameters": 0.10, "peak_memory_gb": 0.45}


def peak_memory_gb(device: torch.device | str | None = None) -> float | None:
    """Peak CUDA memory allocated by tensors since the last reset, in GiB (the papers' "GB"); None without CUDA."""
    if not torch.cuda.is_available():
        return None
    if device is not None and torch.device(device).type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 1024**3


def reset_peak_memory(device: torch.device | str | None = None) -> None:
    """Start a new peak-memory window (no-op without CUDA)."""
    if torch.cuda.is_available() and (device is None or torch.device(device).type == "cuda"):
        torch.cuda.reset_peak_memory_stats(device)


def _min_max(values: Sequence[float]) -> list[float]:
    low, high = min(values), max(values)
    if high == low:  # every method alike on this measure: it separates nothing, so it adds 0 to each
        return [0.0] * len(values)
    return [(value - low) / (high - low) for value in values]


def tpme(rows: Sequence[Mapping[str, float | int | None]]) -> list[float]:
    """TPME = 0.45 t_norm + 0.1 p_norm + 0.45 m_norm per row, each min-max normalised across `rows` (lower is better).

    Rows carry metrics.json keys: seconds_per_epoch, trainable_parameters, peak_memory_gb. A measure that is None in
    every row (peak memory on CPU) adds 0 to every score; one missing from only some rows raises, since runs on
    different devices are not comparable.
    """
    scores = [0.0] * len(rows)
    for key, weight in TPME_WEIGHTS.items():
        values = [row.get(key) for row in rows]
        if all(value is None for value in values):
            continue
        if any(value is None for value in values):
            raise ValueError(f"{key} is missing from some runs but not others: TPME needs it for all or none")
        for i, normalised in enumerate(_min_max([float(value) for value in values])):  # type: ignore[arg-type]
            scores[i] += weight * normalised
    return scores


def tpme_basis(rows: Sequence[Mapping[str, float | int | None]]) -> str:
    """Which measures TPME(rows) used: "t+p+m", or "t+p (no peak memory: CPU)" when no row has peak memory."""
    if all(row.get("peak_memory_gb") is None for row in rows):
        return "t+p (no peak memory: CPU)"
    return "t+p+m"
