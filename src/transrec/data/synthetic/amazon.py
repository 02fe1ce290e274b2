"""Amazon 2014 raw layout: 5-core reviews (JSON lines, gz), metadata (Python-literal dicts, gz), images/<asin>.jpg."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from transrec.data.synthetic.content import Content, key_words
from transrec.data.synthetic.files import write_lines
from transrec.data.synthetic.hm import COLOURS
from transrec.data.synthetic.ids import UPPER, random_strings
from transrec.data.synthetic.pictures import PALETTE, corrupt_pictures, write_pictures
from transrec.data.synthetic.words import AMAZON_PATHS, FASHION_CATEGORIES, FASHION_COMMON, content_titles, make_titles
from transrec.data.synthetic.world import World, spread_times
from transrec.logs import progress

log = logging.getLogger(__name__)

REVIEWS = "reviews_Clothing_Shoes_and_Jewelry_5.json.gz"
META = "meta_Clothing_Shoes_and_Jewelry.json.gz"
START = 1262304000  # 2010-01-01
DAY = 86400
SPAN_DAYS = 1664  # to 2014-07-23, the end of the 2014 crawl
NAMES = ["Tonya B.", "J. McDonald", "Amazon Customer", "Sarah", "Mike R.", "Linda K", "Chris", "Emily W.", "D. Smith"]
PRAISE = "great love perfect comfortable cute nice fits quality recommend beautiful".split()


def five_core(world: World, min_reviews: int = 5) -> World:
    """The world with one review per (user, item), keeping users with at least `min_reviews` reviews."""
    user = world.user_of_row()
    key = user * world.n_items + world.items
    keep = np.zeros(len(key), dtype=bool)
    keep[np.unique(key, return_index=True)[1]] = True
    once = world.subset(keep)
    return once.subset(np.repeat(once.lengths >= min_reviews, once.lengths))


def _meta_line(rng: np.random.Generator, asin: str, title: str, category: int, asins: list[str]) -> str:
    """One 2014 metadata record as a Python literal (single quotes), the way the 2014 release wrote it."""
    record: dict = {"asin": asin}
    if rng.random() < 0.7:
        record["related"] = {
            "also_bought": [asins[j] for j in rng.integers(0, len(asins), 3)],
            "also_viewed": [asins[j] for j in rng.integers(0, len(asins), 2)],
        }
    record["title"] = title
    if rng.random() < 0.8:
        record["price"] = float(np.round(rng.uniform(3.0, 120.0), 2))
    record["salesRank"] = {"Clothing": int(rng.integers(1000, 2_000_000))}
    record["imUrl"] = f"http://ecx.images-amazon.com/images/I/{random_strings(rng, 1, 11, UPPER)[0]}.jpg"
    if rng.random() < 0.5:
        record["brand"] = title.split()[0]
    record["categories"] = [AMAZON_PATHS[category]]
    return repr(record)


def write_amazon(
    out_dir: Path,
    world: World,
    content: Content,
    rng: np.random.Generator,
    *,
    picture_size: int = 64,
    max_images: int | None = None,
    corrupt_images: int = 0,
    meta_only_share: float = 0.1,
) -> dict:
    """Write the reviews and metadata files and one picture per reviewed item."""
    world = five_core(world)
    n_items = world.n_items
    n_extra = int(round(n_items * meta_only_share))  # the metadata file lists far more items than are reviewed
    asins = random_strings(rng, n_items + n_extra, 7, UPPER, "B00")
    reviewers = random_strings(rng, world.n_users, 13, UPPER, "A")
    vocab = [c[4].split() for c in FASHION_CATEGORIES]
    categories = np.concatenate([world.item_category, rng.integers(0, world.n_categories, n_extra)])
    words = [w + [COLOURS[k][1].lower()] for w, k in zip(key_words(content, "fashion"), content.colour.tolist())]
    titles = content_titles(rng, words, FASHION_COMMON, (3, 6))  # content words + colour name
    titles += make_titles(rng, categories[n_items:], vocab, FASHION_COMMON, (3, 8), topical=0.7)  # metadata only

    user = world.user_of_row()
    n = len(user)
    day = (spread_times(world, rng, START, SPAN_DAYS * DAY, min_user_span=0.1) - START) // DAY
    unix = (START + day * DAY).tolist()
    dates = [np.datetime64(t, "s").astype(object) for t in range(START, START + SPAN_DAYS * DAY, DAY)]
    review_vocab = [PRAISE + v for v in vocab]
    texts = make_titles(rng, world.item_category[world.items], review_vocab, FASHION_COMMON, (12, 40), topical=0.5)
    summaries = make_titles(rng, world.item_category[world.items], review_vocab, FASHION_COMMON, (2, 5))
    overall = rng.choice([1.0, 2.0, 3.0, 4.0, 5.0], n, p=[0.04, 0.05, 0.11, 0.22, 0.58]).tolist()
    total = rng.geometric(0.5, n) - 1
    helpful = np.minimum(total, rng.integers(0, total + 1)).tolist()
    total = total.tolist()
    named = rng.random(n) < 0.97  # a few 2014 reviews have no reviewerName
    name = rng.integers(0, len(NAMES), n).tolist()
    asin_rank = np.argsort(np.argsort(np.array(asins[:n_items])))
    order = np.lexsort((np.arange(n), day, asin_rank[world.items])).tolist()  # grouped by asin, like the release

    def review(k: int) -> str:
        record: dict = {"reviewerID": reviewers[user[k]], "asin": asins[world.items[k]]}
        if named[k]:
            record["reviewerName"] = NAMES[name[k]]
        d = dates[day[k]]
        record.update(
            helpful=[helpful[k], total[k]],
            reviewText=texts[k] + ".",
            overall=overall[k],
            summary=summaries[k],
            unixReviewTime=unix[k],
            reviewTime=f"{d.month:02d} {d.day}, {d.year}",
        )
        return json.dumps(record)

    n_reviews = write_lines(out_dir / REVIEWS, progress((review(k) for k in order), "amazon reviews", total=n))
    meta_order = rng.permutation(n_items + n_extra).tolist()
    n_meta = write_lines(
        out_dir / META, (_meta_line(rng, asins[i], titles[i], categories[i], asins) for i in meta_order)
    )

    used = np.bincount(world.items, minlength=n_items)
    wanted = np.sort(np.argsort(-used, kind="stable")[: max_images or None])
    wanted = wanted[used[wanted] > 0]
    names = [f"{asins[i]}.jpg" for i in wanted.tolist()]
    paths = write_pictures(
        rng,
        out_dir / "images",
        names,
        world.item_category[wanted],
        PALETTE[content.colour[wanted]],
        picture_size,
        picture_size,
        words=content.words[wanted],
    )
    written = len(paths)
    corrupted = corrupt_pictures(rng, paths, corrupt_images) if corrupt_images else []
    counts = {
        "users": int((world.lengths > 0).sum()),
        "items": int((used > 0).sum()),
        "reviews": n_reviews,
        "meta_records": n_meta,
        "images": written,
        "images_corrupt": len(corrupted),
        "files": [REVIEWS, META],
    }
    log.info("amazon: %s", counts)
    return counts
