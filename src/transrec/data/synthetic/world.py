"""Latent structure shared by every synthetic format: item categories, popularity, user tastes, sequences."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class World:
    """Who interacted with what, oldest first, plus the hidden structure that made it learnable."""

    item_category: np.ndarray  # (I,) int32
    user_tastes: np.ndarray  # (U, K) int32: each user's preferred categories, strongest first
    offsets: np.ndarray  # (U+1,) int64: CSR offsets into `items`
    items: np.ndarray  # (N,) int32: item index of each interaction, per user oldest first
    n_categories: int

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
        return World(self.item_category, self.user_tastes, offsets, self.items[keep], self.n_categories)


def make_world(
    rng: np.random.Generator,
    *,
    n_users: int,
    n_items: int,
    n_categories: int,
    mean_length: float,
    min_length: int = 5,
    max_length: int = 200,
    short_share: float = 0.05,
    tastes: int = 3,
    p_stay: float = 0.55,
    p_explore: float = 0.08,
    zipf: float = 0.7,
) -> World:
    """Draw categories, popularity and tastes, then walk every user's sequence (all users at once)."""
    if n_items < n_categories:
        raise ValueError(f"need at least one item per category: {n_items} items < {n_categories} categories")
    tastes = min(tastes, n_categories)
    category_share = rng.dirichlet(np.full(n_categories, 3.0))
    item_category = np.concatenate(
        [np.arange(n_categories), rng.choice(n_categories, n_items - n_categories, p=category_share)]
    ).astype(np.int32)
    rng.shuffle(item_category)
    weight = (rng.permutation(n_items) + 1.0) ** -zipf  # popularity skew over the whole catalogue

    order = np.argsort(item_category, kind="stable")
    cum = np.cumsum(weight[order])
    cat_end = np.searchsorted(item_category[order], np.arange(n_categories), side="right")
    cat_start = np.concatenate([[0], cat_end[:-1]])
    cat_hi = cum[cat_end - 1]
    cat_lo = np.concatenate([[0.0], cat_hi[:-1]])

    mass = np.bincount(item_category, weights=weight, minlength=n_categories)
    gumbel = np.log(mass / mass.sum())[None, :] - np.log(-np.log(rng.random((n_users, n_categories))))
    user_tastes = np.argsort(-gumbel, axis=1)[:, :tastes].astype(np.int32)
    taste_weight = np.sort(rng.random((n_users, tastes)) + 0.3, axis=1)[:, ::-1]
    taste_cum = np.cumsum(taste_weight, axis=1)
    taste_cum /= taste_cum[:, -1:]

    lengths = min_length - 1 + rng.geometric(1.0 / max(1.0, mean_length - min_length + 1), n_users)
    short = rng.random(n_users) < short_share  # below the 5-interaction filter, on purpose
    lengths[short] = rng.integers(2, min_length, short.sum())
    lengths = np.clip(lengths, 1, max_length).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    items = np.empty(offsets[-1], dtype=np.int32)

    def draw_item(category: np.ndarray) -> np.ndarray:
        target = cat_lo[category] + rng.random(len(category)) * (cat_hi[category] - cat_lo[category])
        pos = np.clip(np.searchsorted(cum, target, side="right"), cat_start[category], cat_end[category] - 1)
        return order[pos]

    by_length = np.argsort(-lengths, kind="stable")
    active_at = np.searchsorted(-lengths[by_length], -np.arange(lengths.max()), side="left")  # users longer than t
    current = np.zeros(n_users, dtype=np.int64)
    for t, n_active in enumerate(active_at):
        users = by_length[:n_active]
        pick = (taste_cum[users] < rng.random(n_active)[:, None]).sum(axis=1)
        category = user_tastes[users, np.minimum(pick, tastes - 1)].astype(np.int64)
        if t > 0:  # sequential signal: the next item often stays in the last item's category
            stay = rng.random(n_active) < p_stay
            category[stay] = current[users[stay]]
        explore = rng.random(n_active) < p_explore
        category[explore] = rng.integers(0, n_categories, explore.sum())
        chosen = draw_item(category)
        if t > 0:  # an immediate repeat is redrawn once, so repeats stay possible but rare
            again = chosen == items[offsets[users] + t - 1]
            chosen[again] = draw_item(category[again])
        items[offsets[users] + t] = chosen
        current[users] = category
    return World(item_category, user_tastes, offsets, items, n_categories)


def spread_times(
    world: World, rng: np.random.Generator, start: int, span: int, min_user_span: float = 0.2
) -> np.ndarray:
    """Epoch seconds per interaction, increasing within each user, inside [start, start + span)."""
    user_span = span * rng.uniform(min_user_span, 1.0, world.n_users)
    user_start = start + rng.random(world.n_users) * (span - user_span)
    user = world.user_of_row()
    frac = np.sort(user + rng.random(len(user)) * 0.999999) - user  # sorted within each user
    return (user_start[user] + frac * user_span[user]).astype(np.int64)
