"""The planted world: its factors come from content, are recoverable, and shuffling content removes the advantage."""

import numpy as np
import pytest

from transrec.data.synthetic.content import concept_space, domain_categories, draw_content, item_factors
from transrec.data.synthetic.world import Knobs, make_world

N_USERS, N_ITEMS = 1500, 800


def hit_rate(scores: np.ndarray, target: np.ndarray, k: int = 10) -> float:
    """HR@k in percent, ties counted against the target."""
    hit = scores[np.arange(len(target)), target]
    return float(((scores >= hit[:, None]).sum(axis=1) <= k).mean() * 100)


def predictors(shuffle: bool) -> dict[str, float]:
    """HR@10 of the last item for popularity, an oracle of the true factors, and a predictor of content factors."""
    rng = np.random.default_rng(0)
    space = concept_space("news", 42)
    content = draw_content(rng, space, N_ITEMS, domain_categories("mind", 12), coloured=False)
    planted = content.factors[rng.permutation(N_ITEMS)] if shuffle else content.factors
    knobs = Knobs()
    world = make_world(
        rng,
        item_category=content.category,
        item_factors=planted,
        transition=space.transition,
        n_users=N_USERS,
        mean_length=10.0,
        knobs=knobs,
    )
    users = np.flatnonzero(world.lengths >= 5)
    ends = world.offsets[users + 1]
    last, previous = world.items[ends - 1], world.items[ends - 2]
    seen = np.ones(len(world.items), dtype=bool)
    seen[ends - 1] = False
    counts = np.bincount(world.items[seen], minlength=N_ITEMS).astype(float)
    step = knobs.similarity * np.eye(space.transition.shape[0]) + knobs.transition * space.transition

    def score(factors: np.ndarray, taste: np.ndarray) -> np.ndarray:
        s = (
            knobs.taste * taste @ factors.T
            + (factors[previous] @ step) @ factors.T
            + knobs.popularity * np.log1p(counts)
        )
        s[np.arange(len(users)), previous] = -np.inf  # history masked, as in evaluation
        return s

    z = content.factors  # what a content model can know: factors from each item's own content
    history_taste = np.stack([z[world.items[world.offsets[u] : e - 1]].mean(axis=0) for u, e in zip(users, ends)])
    popularity = np.tile(counts, (len(users), 1))
    popularity[np.arange(len(users)), previous] = -np.inf
    return {
        "popularity": hit_rate(popularity, last),
        "oracle": hit_rate(score(planted, world.user_tastes[users]), last),
        "content": hit_rate(score(z, history_taste), last),
    }


@pytest.fixture(scope="module")
def planted():
    return predictors(shuffle=False)


@pytest.fixture(scope="module")
def shuffled():
    return predictors(shuffle=True)


def test_the_true_factors_score_far_above_popularity(planted):
    assert planted["oracle"] > 3 * planted["popularity"]


def test_popularity_is_a_weak_predictor(planted):
    assert planted["popularity"] < 12


def test_content_factors_recover_most_of_the_signal(planted):
    assert planted["content"] > 2 * planted["popularity"]
    assert planted["content"] > 0.6 * planted["oracle"]


def test_shuffled_content_removes_the_content_advantage(planted, shuffled):
    assert shuffled["content"] < shuffled["popularity"] + 2
    assert shuffled["oracle"] > 3 * shuffled["popularity"]  # the world is as learnable by ids, just not from content


def test_factors_are_a_function_of_content_alone():
    """Two platforms drawing the same content get the same factors (the space depends on domain and seed only)."""
    a, b = concept_space("fashion", 5), concept_space("fashion", 5)
    category, words, colour = np.array([0, 3]), np.array([[0, 1], [2, 4]]), np.array([2, -1])
    assert np.allclose(item_factors(a, category, words, colour), item_factors(b, category, words, colour))
    assert not np.allclose(concept_space("news", 5).topic, concept_space("news", 6).topic)
    assert np.allclose(np.linalg.norm(item_factors(a, category, words, colour), axis=1), 1.0)
