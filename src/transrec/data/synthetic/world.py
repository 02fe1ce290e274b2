"""The planted world: item factors made from item content, users who follow them, a sequential pattern, popularity."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Knobs:
    """What the generator plants, each a weight in the next-item score (docs/synthetic.md explains each)."""

    taste: float = 8.0  # user taste . item factors: long-term preference over content
    similarity: float = 3.0  # last item . next item: the next item resembles the last one
    transition: float = 6.0  # last item . R . next item: a directed step between content regions (order matters)
    popularity: float = 0.5  # log item weight: a long tail, but a weak predictor alone
    zipf: float = 0.8  # exponent of the item weights (rank^-zipf)
    taste_anchors: int = 2  # a user's taste is the mean factor of this many items plus noise
    taste_noise: float = 0.5


@dataclass(frozen=True)
class World:
    """Who interacted with what, oldest first, plus the hidden structure that made it learnable."""

    item_category: np.ndarray  # (I,) int32
    offsets: np.ndarray  # (U+1,) int64: CSR offsets into `items`
    items: np.ndarray  # (N,) int32: item index of each interaction, per user oldest first
    n_categories: int
    item_factors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # (I, F) unit rows
    user_tastes: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # (U, F)

    @property
    def n_users(self) -> int:
        """Number of users."""
        return len(self.offsets) - 1

    @property
    def n_items(self) -> int:
        """Number of items in the catalogue (some may never be used)."""
        return len(self.item_category)

    @property
    def lengths(self) -> np.ndarray:
        """Interactions per user."""
        return np.diff(self.offsets)

    def user_of_row(self) -> np.ndarray:
        """User index of each interaction row."""
        return np.repeat(np.arange(self.n_users, dtype=np.int64), self.lengths)

    def subset(self, keep: np.ndarray) -> World:
        """The same world keeping only the interaction rows where `keep` is True."""
        counts = np.bincount(self.user_of_row()[keep], minlength=self.n_users)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return World(
            self.item_category, offsets, self.items[keep], self.n_categories, self.item_factors, self.user_tastes
        )


def draw_lengths(
    rng: np.random.Generator, n_users: int, mean_length: float, min_length: int, max_length: int, short_share: float
) -> np.ndarray:
    """Interactions per user: geometric above `min_length`, a few users below it (the >= 5 filter drops them)."""
    lengths = min_length - 1 + rng.geometric(1.0 / max(1.0, mean_length - min_length + 1), n_users)
    short = rng.random(n_users) < short_share
    lengths[short] = rng.integers(2, min_length, short.sum())
    return np.clip(lengths, 1, max_length).astype(np.int64)


def make_world(
    rng: np.random.Generator,
    *,
    item_category: np.ndarray,
    item_factors: np.ndarray,
    transition: np.ndarray,
    n_users: int,
    mean_length: float,
    knobs: Knobs = Knobs(),
    min_length: int = 5,
    max_length: int = 200,
    short_share: float = 0.05,
    chunk: int = 4096,
) -> World:
    """Walk every user's sequence: next item ~ softmax(taste + similarity + transition + popularity), all users at once.

    `item_factors` (I, F) are unit vectors computed from the items' content (content.item_factors), `transition`
    (F, F) is the platform-independent directed pattern; both are shared by a source and its target platform.
    """
    n_items = len(item_category)
    z = item_factors.astype(np.float32)
    weight = (rng.permutation(n_items) + 1.0) ** -knobs.zipf
    log_pop = np.log(weight / weight.sum()).astype(np.float32)
    anchors = rng.choice(n_items, (n_users, knobs.taste_anchors), p=weight / weight.sum())
    tastes = z[anchors].mean(axis=1) + knobs.taste_noise * rng.standard_normal((n_users, z.shape[1])) / np.sqrt(
        z.shape[1]
    )
    tastes = (tastes / np.linalg.norm(tastes, axis=1, keepdims=True)).astype(np.float32)
    step = (knobs.similarity * np.eye(z.shape[1]) + knobs.transition * transition).astype(np.float32)
    z_next = z @ step  # (I, F): last item -> the direction its successor is drawn towards

    lengths = draw_lengths(rng, n_users, mean_length, min_length, max_length, short_share)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    items = np.empty(offsets[-1], dtype=np.int32)
    by_length = np.argsort(-lengths, kind="stable")
    active_at = np.searchsorted(-lengths[by_length], -np.arange(lengths.max()), side="left")  # users longer than t
    for t, n_active in enumerate(active_at):
        for start in range(0, int(n_active), chunk):
            users = by_length[start : min(start + chunk, int(n_active))]
            logits = knobs.taste * (tastes[users] @ z.T) + knobs.popularity * log_pop[None, :]
            if t > 0:
                previous = items[offsets[users] + t - 1]
                logits += z_next[previous] @ z.T
                logits[np.arange(len(users)), previous] = -np.inf  # no immediate repeat
            gumbel = -np.log(-np.log(rng.random(logits.shape, dtype=np.float32) + 1e-12) + 1e-12)
            items[offsets[users] + t] = np.argmax(logits + gumbel, axis=1)
    return World(item_category.astype(np.int32), offsets, items, int(item_category.max()) + 1, z, tastes)


def spread_times(
    world: World, rng: np.random.Generator, start: int, span: int, min_user_span: float = 0.2
) -> np.ndarray:
    """Epoch seconds per interaction, increasing within each user, inside [start, start + span)."""
    user_span = span * rng.uniform(min_user_span, 1.0, world.n_users)
    user_start = start + rng.random(world.n_users) * (span - user_span)
    user = world.user_of_row()
    frac = np.sort(user + rng.random(len(user)) * 0.999999) - user  # sorted within each user
    return (user_start[user] + frac * user_span[user]).astype(np.int64)
