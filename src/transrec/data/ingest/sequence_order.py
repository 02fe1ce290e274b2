"""Per-user ordering, de-duplication and truncation of click events, on packed integer sort keys."""

from __future__ import annotations

import numpy as np
import polars as pl


def _bits(value: int) -> int:
    """Bits needed to store 0..value."""
    return max(int(value).bit_length(), 1)


def _last_per_user(uid: np.ndarray, history_limit: int | None) -> np.ndarray:
    """Mask keeping the last `history_limit` rows of each run of equal uid (rows grouped by user, oldest first)."""
    if not history_limit or not len(uid):
        return np.ones(len(uid), bool)
    last = np.flatnonzero(np.append(uid[1:] != uid[:-1], True))
    group_end = np.repeat(last, np.diff(np.concatenate([[-1], last])))
    return (group_end - np.arange(len(uid))) < history_limit


def _sequences_packed(events: pl.DataFrame, user_start: np.ndarray, dedupe: str) -> pl.DataFrame | None:
    """Sort-based ordering and de-duplication on packed uint64 keys; None when the fields do not fit 64 bits.

    key = (uid, time - user's start, lo, pos) orders events; then (pair = (uid, iid), rank in that order) sorted
    together put each pair's occurrences side by side, oldest first, so the first (or last) of a run is kept."""
    uid = events["uid"].to_numpy().astype(np.uint64)
    iid = events["iid"].to_numpy().astype(np.uint64)
    relative = events["timestamp"].to_numpy() - user_start[uid.astype(np.int64)]
    lo, pos = events["lo"].to_numpy().astype(np.uint64), events["pos"].to_numpy().astype(np.uint64)
    n = len(uid)
    w_uid, w_rel, w_lo, w_pos = (_bits(x.max()) if n else 1 for x in (uid, relative, lo, pos))
    w_iid, w_rank = (_bits(iid.max()) if n else 1), _bits(n)
    if (n and relative.min() < 0) or w_uid + w_rel + w_lo + w_pos > 64 or w_uid + w_iid + w_rank > 64:
        return None
    key = (uid << np.uint64(w_rel + w_lo + w_pos)) | (relative.astype(np.uint64) << np.uint64(w_lo + w_pos))
    key |= (lo << np.uint64(w_pos)) | pos
    del relative, lo, pos
    ordered = pl.DataFrame({"key": key, "iid": iid}).sort("key")  # polars' sort beats numpy's argsort here
    del key, iid
    key, iid = ordered["key"].to_numpy(), ordered["iid"].to_numpy()
    uid = key >> np.uint64(w_rel + w_lo + w_pos)
    keep = np.ones(n, bool)
    if dedupe != "none" and n:
        pair_rank = np.sort((((uid << np.uint64(w_iid)) | iid) << np.uint64(w_rank)) | np.arange(n, dtype=np.uint64))
        pair = pair_rank >> np.uint64(w_rank)
        edge = np.append(pair[1:] != pair[:-1], True) if dedupe == "last" else np.insert(pair[1:] != pair[:-1], 0, True)
        keep = np.zeros(n, bool)
        keep[(pair_rank[edge] & np.uint64((1 << w_rank) - 1)).astype(np.int64)] = True
    stamp = ((key >> np.uint64(w_lo + w_pos)) & np.uint64((1 << w_rel) - 1)).astype(np.int64)
    return pl.DataFrame(
        {
            "uid": uid[keep].astype(np.uint32),
            "iid": iid[keep].astype(np.uint32),
            "timestamp": user_start[uid[keep].astype(np.int64)] + stamp[keep],
        }
    )


def sequences(
    events: pl.DataFrame, user_start: np.ndarray, dedupe: str, history_limit: int | None, packed: bool = True
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Order each user's events (codes uid, iid), drop repeated news per `dedupe`, keep the latest `history_limit`.

    Events are ordered by (timestamp, lo, pos) within a user; one packed-key numpy sort when the fields fit,
    else a multi-column polars sort (same result, slower)."""
    if dedupe not in ("first", "last", "none"):
        raise ValueError(f"MIND option dedupe must be 'first', 'last' or 'none', not {dedupe!r}")
    ordered = _sequences_packed(events, user_start, dedupe) if packed else None
    if ordered is None:
        pair = pl.col("uid").cast(pl.UInt64) * (1 << 32) + pl.col("iid").cast(pl.UInt64)
        ordered = events.sort(["uid", "timestamp", "lo", "pos"])
        if dedupe != "none":
            ordered = ordered.filter(pair.is_first_distinct() if dedupe == "first" else pair.is_last_distinct())
    keep = _last_per_user(ordered["uid"].to_numpy(), history_limit)
    counts = {
        "duplicate_clicks_removed": events.height - ordered.height,
        "clicks_beyond_history_limit": int((~keep).sum()),
    }
    return ordered.filter(pl.Series(keep)).select("uid", "iid", "timestamp"), counts
