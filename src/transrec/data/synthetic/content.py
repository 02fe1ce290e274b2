"""Item content drawn from a concept space shared by a source and its target platform, and the factors it implies."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from transrec.data.synthetic.pictures import PALETTE
from transrec.data.synthetic.words import ADRESSA_TO_MIND, FASHION_CATEGORIES, MIND_CATEGORIES

# Which concept space a raw format draws its items from: a source and its target share one (that is what transfers).
DOMAIN = {"mind": "news", "adressa": "news", "hm": "fashion", "amazon": "fashion"}
N_COLOURS = len(PALETTE)  # the picture colours (hm.COLOURS names them in the same order)


@dataclass(frozen=True)
class ContentKnobs:
    """How item content makes item factors (docs/synthetic.md)."""

    dim: int = 16  # latent factor size
    key_words: int = 2  # content words per item, drawn from its category's vocabulary
    topic: float = 1.0  # weight of the category's own direction
    words: float = 1.0  # weight of the content words' directions (their sum / sqrt(key_words))
    colour: float = 0.8  # weight of the colour's direction (fashion items; pictures and titles show it)
    colour_own_share: float = 0.5  # share of fashion items in their category's own colour (the rest: any colour)


@dataclass(frozen=True)
class Space:
    """The concept directions of one domain: categories, words, colours, and the directed sequential pattern."""

    topic: np.ndarray  # (C, F)
    word: np.ndarray  # (C, W, F)
    colour: np.ndarray  # (N_COLOURS, F)
    transition: np.ndarray  # (F, F) orthogonal: where the next item's factors are pulled from the last item's
    vocab_size: np.ndarray  # (C,) words in each category's vocabulary


@dataclass(frozen=True)
class Content:
    """What each item is made of, and the unit factor vector that content implies."""

    category: np.ndarray  # (I,) int32, index into the domain's categories (MIND's or FASHION_CATEGORIES)
    words: np.ndarray  # (I, key_words) int32, word index inside the category's vocabulary
    colour: np.ndarray  # (I,) int32 palette index (fashion), -1 for news
    factors: np.ndarray  # (I, F) float32 unit rows


def vocabularies(domain: str) -> list[list[str]]:
    """The English concept words of each category of `domain` (what titles show, and what factors are made of)."""
    if domain == "news":
        return [words.split()[:12] for _, _, words in MIND_CATEGORIES]
    return [entry[4].split() for entry in FASHION_CATEGORIES]


def concept_space(domain: str, seed: int, knobs: ContentKnobs = ContentKnobs()) -> Space:
    """The directions of `domain`, a function of (domain, seed) only, so a source and its target share them."""
    rng = np.random.default_rng([seed, zlib.crc32(domain.encode())])
    vocab = vocabularies(domain)
    n_cat, n_words, dim = len(vocab), max(len(v) for v in vocab), knobs.dim
    topic = rng.standard_normal((n_cat, dim)) / np.sqrt(dim)
    word = rng.standard_normal((n_cat, n_words, dim)) / np.sqrt(dim)
    colour = rng.standard_normal((N_COLOURS, dim)) / np.sqrt(dim)
    transition = np.linalg.qr(rng.standard_normal((dim, dim)))[0]
    sizes = np.array([len(v) for v in vocab], dtype=np.int64)
    return Space(topic, word, colour, transition, sizes)


def draw_content(
    rng: np.random.Generator,
    space: Space,
    n_items: int,
    categories: np.ndarray,
    knobs: ContentKnobs = ContentKnobs(),
    *,
    coloured: bool,
) -> Content:
    """Draw each item's category (among `categories`), content words and colour; compute its factors."""
    share = rng.dirichlet(np.full(len(categories), 3.0))
    picks = np.concatenate(
        [np.arange(len(categories)), rng.choice(len(categories), n_items - len(categories), p=share)]
    )
    rng.shuffle(picks)
    category = np.asarray(categories)[picks].astype(np.int32)
    words = np.stack(
        [rng.choice(int(space.vocab_size[c]), knobs.key_words, replace=False) for c in category.tolist()]
    ).astype(np.int32)
    if coloured:
        own = rng.random(n_items) < knobs.colour_own_share
        colour = np.where(own, category % N_COLOURS, rng.integers(0, N_COLOURS, n_items)).astype(np.int32)
    else:
        colour = np.full(n_items, -1, dtype=np.int32)
    return Content(category, words, colour, item_factors(space, category, words, colour, knobs))


def item_factors(
    space: Space, category: np.ndarray, words: np.ndarray, colour: np.ndarray, knobs: ContentKnobs = ContentKnobs()
) -> np.ndarray:
    """Unit factor vectors: topic + content words (+ colour), a deterministic function of the content alone."""
    z = knobs.topic * space.topic[category]
    z = z + knobs.words * space.word[category[:, None], words].sum(axis=1) / np.sqrt(words.shape[1])
    has_colour = colour >= 0
    z[has_colour] += knobs.colour * space.colour[colour[has_colour]]
    return (z / np.linalg.norm(z, axis=1, keepdims=True)).astype(np.float32)


def domain_categories(dataset_format: str, n_categories: int) -> np.ndarray:
    """The categories a format's items are drawn from (Adressa: its 12 sections, mapped onto the news concepts)."""
    if dataset_format == "adressa":
        return np.array(ADRESSA_TO_MIND[:n_categories])
    return np.arange(n_categories)


def key_words(content: Content, domain: str, surface: list[list[str]] | None = None) -> list[list[str]]:
    """Each item's content words as text: the English concept words, or `surface` words (Norwegian)
    at the same index."""
    vocab = vocabularies(domain)
    words = []
    for c, picks in zip(content.category.tolist(), content.words.tolist()):
        names = surface[c] if surface is not None else vocab[c]
        words.append([names[w] for w in picks])
    return words
