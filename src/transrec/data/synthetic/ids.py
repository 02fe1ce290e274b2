"""Random identifiers in the styles of the real datasets (hex digests, upper-case codes), unique and seeded."""

from __future__ import annotations

import numpy as np

HEX = "0123456789abcdef"
UPPER = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
LOWER = "0123456789abcdefghijklmnopqrstuvwxyz"


def random_strings(rng: np.random.Generator, n: int, length: int, alphabet: str, prefix: str = "") -> list[str]:
    """`n` distinct random strings of `length` characters from `alphabet`, each after `prefix`."""
    table = np.frombuffer(alphabet.encode("ascii"), dtype=np.uint8)
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        codes = table[rng.integers(0, len(table), (n - len(out), length))]
        for value in codes.view(f"S{length}").ravel().astype(str).tolist():
            if value not in seen:
                seen.add(value)
                out.append(prefix + value)
    return out


def distinct_integers(rng: np.random.Generator, n: int, low: int, high: int) -> np.ndarray:
    """`n` distinct integers from [low, high), in random order."""
    if high - low < n:
        raise ValueError(f"cannot draw {n} distinct integers from [{low}, {high})")
    return low + rng.choice(high - low, n, replace=False)
