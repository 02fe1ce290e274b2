"""Synthetic raw datasets in each dataset's genuine layout, with a planted, transferable signal (docs/synthetic.md)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from transrec.data.synthetic.adressa import write_adressa
from transrec.data.synthetic.amazon import write_amazon
from transrec.data.synthetic.content import DOMAIN, concept_space, domain_categories, draw_content
from transrec.data.synthetic.hm import write_hm
from transrec.data.synthetic.mind import write_mind
from transrec.data.synthetic.world import make_world

log = logging.getLogger(__name__)

FORMATS = ("mind", "adressa", "hm", "amazon")
FORMAT_SEED = {name: k for k, name in enumerate(FORMATS)}


@dataclass(frozen=True)
class Scale:
    """Size of a synthetic dataset."""

    users: int
    items: int
    categories: int
    mean_length: float  # mean interactions of a user above the 5-interaction filter
    max_images: int | None  # pictures written at most (the most used items first); None = every item
    picture_size: tuple[int, int]  # (width, height) of H&M pictures; Amazon's are square at the width
    negatives: tuple[int, int]  # MIND non-clicked candidates per impression (min, max)


SCALES: dict[str, Scale] = {
    "tiny": Scale(200, 300, 6, 12.0, None, (64, 96), (4, 24)),
    "small": Scale(2_000, 2_000, 10, 14.0, None, (64, 96), (4, 24)),
    # the embedded default: a source platform and a target with >= 2,000 test users after the 5-interaction filter
    "demo_source": Scale(4_000, 2_000, 12, 12.0, None, (32, 48), (4, 12)),
    "demo_target": Scale(2_600, 1_500, 12, 7.0, None, (32, 32), (4, 12)),  # the small platform: sparser users
    "medium": Scale(50_000, 20_000, 15, 15.0, 20_000, (96, 144), (4, 16)),
    # MIND-large after the paper's processing: ~700k users, ~80k news, ~10.9M clicks
    "mind_large": Scale(700_000, 80_000, 17, 16.3, 20_000, (96, 144), (4, 12)),
}


def generate(
    dataset_format: str,
    out_dir: str | Path,
    scale: str = "tiny",
    seed: int = 0,
    *,
    corrupt_images: int = 0,
    max_images: int | None = None,
) -> dict:
    """Write one synthetic dataset of `dataset_format` under `out_dir`; return what was written, counted."""
    if dataset_format not in FORMATS:
        raise ValueError(f"unknown synthetic format {dataset_format!r}; expected one of {FORMATS}")
    if scale not in SCALES:
        raise ValueError(f"unknown synthetic scale {scale!r}; expected one of {tuple(SCALES)}")
    if corrupt_images and dataset_format not in ("hm", "amazon"):
        raise ValueError(f"corrupt_images needs an image format (hm, amazon), not {dataset_format!r}")
    size = SCALES[scale]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, FORMAT_SEED[dataset_format]])
    began = time.perf_counter()
    domain = DOMAIN[dataset_format]
    space = concept_space(domain, seed)  # a function of (domain, seed) only: shared by a source and its target
    categories = domain_categories(dataset_format, min(size.categories, 12))
    content = draw_content(rng, space, size.items, categories, coloured=domain == "fashion")
    world = make_world(
        rng,
        item_category=content.category,
        item_factors=content.factors,
        transition=space.transition,
        n_users=size.users,
        mean_length=size.mean_length,
    )
    images = {"corrupt_images": corrupt_images, "max_images": max_images or size.max_images}
    if dataset_format == "mind":
        counts = write_mind(out, world, content, rng, negatives=size.negatives)
    elif dataset_format == "adressa":
        counts = write_adressa(out, world, content, rng)
    elif dataset_format == "hm":
        counts = write_hm(out, world, content, rng, picture_size=size.picture_size, **images)
    else:
        counts = write_amazon(out, world, content, rng, picture_size=size.picture_size[0], **images)
    counts = {"format": dataset_format, "scale": scale, "seed": seed, **counts}
    log.info(
        "synthetic %s (%s, seed %d) written to %s in %.1f s",
        dataset_format,
        scale,
        seed,
        out,
        time.perf_counter() - began,
    )
    return counts
