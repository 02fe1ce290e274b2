"""MIND raw layout: train/ and dev/ folders, each with news.tsv and behaviors.tsv (tab-separated, no header)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from transrec.data.synthetic.content import Content, key_words
from transrec.data.synthetic.files import write_lines
from transrec.data.synthetic.ids import LOWER, UPPER, distinct_integers, random_strings
from transrec.data.synthetic.words import ENGLISH_COMMON, MIND_CATEGORIES, content_titles, make_titles
from transrec.data.synthetic.world import World, spread_times
from transrec.logs import progress

log = logging.getLogger(__name__)

START = 1573257600  # 2019-11-09 00:00:00 UTC: MIND-small train week 9-14 Nov, dev day 15 Nov
DAY = 86400
ENTITY_TYPES = "GPOUL"


def mind_time(epoch: np.ndarray) -> list[str]:
    """MIND's impression time format, e.g. `11/15/2019 8:55:22 AM` (November 2019 only)."""
    offset = epoch - (START - 8 * DAY)  # seconds since 2019-11-01 00:00
    day, second = offset // DAY + 1, offset % DAY
    hour, minute, sec = second // 3600, second % 3600 // 60, second % 60
    return [
        f"11/{d}/2019 {(h % 12) or 12}:{m:02d}:{s:02d} {'AM' if h < 12 else 'PM'}"
        for d, h, m, s in zip(day.tolist(), hour.tolist(), minute.tolist(), sec.tolist())
    ]


def _entities(rng: np.random.Generator, text: str, share: float = 0.65) -> str:
    """A TitleEntities/AbstractEntities JSON list naming the first word of `text`, or `[]`."""
    if rng.random() > share:
        return "[]"
    surface = text.split(" ", 1)[0]
    entity = {
        "Label": surface.title(),
        "Type": ENTITY_TYPES[int(rng.integers(len(ENTITY_TYPES)))],
        "WikidataId": f"Q{int(rng.integers(100, 9_000_000))}",
        "Confidence": round(float(rng.uniform(0.8, 1.0)), 3) if rng.random() < 0.3 else 1.0,
        "OccurrenceOffsets": [0],
        "SurfaceForms": [surface],
    }
    return json.dumps([entity])


def _news_rows(rng: np.random.Generator, world: World, content: Content, news_ids: list[str]) -> list[str]:
    """One news.tsv line per item (NewsID, Category, SubCategory, Title, Abstract, URL, Title/AbstractEntities)."""
    vocab = [words.split() for _, _, words in MIND_CATEGORIES]
    titles = content_titles(rng, key_words(content, "news"), ENGLISH_COMMON, (3, 7))
    abstracts = make_titles(rng, world.item_category, vocab, ENGLISH_COMMON, (12, 30), topical=0.4)
    urls = random_strings(rng, world.n_items, 5, UPPER + LOWER[10:], "https://assets.msn.com/labs/mind/AA")
    sub = rng.integers(0, 1 << 30, world.n_items)
    rows = []
    for i, news_id in enumerate(news_ids):
        category, subcategories, _ = MIND_CATEGORIES[world.item_category[i]]
        abstract = abstracts[i] + "." if rng.random() > 0.05 else ""  # a few news have no abstract, like MIND
        rows.append(
            "\t".join(
                [
                    news_id,
                    category,
                    subcategories[sub[i] % len(subcategories)],
                    titles[i],
                    abstract,
                    urls[i] + ".html",
                    _entities(rng, titles[i]),
                    _entities(rng, abstract) if abstract else "[]",
                ]
            )
        )
    return rows


def _negatives(rng: np.random.Generator, imp: np.ndarray, item: np.ndarray, n_items: int, count: np.ndarray):
    """Non-clicked candidates per impression: uniform items, never a clicked one, no duplicates in an impression."""
    neg_imp = np.repeat(np.arange(len(count)), count)
    neg_item = rng.integers(0, n_items, len(neg_imp))
    clicked = imp.astype(np.int64) * n_items + item
    for _ in range(100):
        key = neg_imp.astype(np.int64) * n_items + neg_item
        first = np.zeros(len(key), dtype=bool)
        first[np.unique(key, return_index=True)[1]] = True
        bad = ~first | np.isin(key, clicked)
        if not bad.any():
            return neg_imp, neg_item
        neg_item[bad] = rng.integers(0, n_items, bad.sum())
    raise RuntimeError("could not draw distinct negatives; the catalogue is too small for the impression size")


def write_mind(
    out_dir: Path, world: World, content: Content, rng: np.random.Generator, negatives: tuple[int, int] = (4, 24)
) -> dict:
    """Write train/ and dev/ news.tsv + behaviors.tsv; histories are fixed within a split and grow into dev."""
    n_items, n_users = world.n_items, world.n_users
    news_ids = [f"N{n}" for n in distinct_integers(rng, n_items, 1, max(130_000, 2 * n_items))]
    user_ids = [f"U{n}" for n in distinct_integers(rng, n_users, 1, max(100_000, 2 * n_users))]
    lengths = world.lengths
    no_history = rng.random(n_users) < 0.05  # some users have an empty history, like MIND
    clicks = np.where(no_history, lengths, np.clip(np.rint(lengths * rng.uniform(0.15, 0.45, n_users)), 1, lengths))
    history_len = (lengths - clicks).astype(np.int64)

    user = world.user_of_row()
    is_click = np.arange(len(user)) - world.offsets[user] >= history_len[user]
    click_world = world.subset(is_click)
    time = spread_times(click_world, rng, START, 7 * DAY, min_user_span=0.1)
    c_user, c_item = click_world.user_of_row(), click_world.items
    first = np.r_[True, c_user[1:] != c_user[:-1]]
    new_imp = first | (rng.random(len(c_user)) > 0.2)  # one click in 5 shares the previous impression
    imp = np.cumsum(new_imp) - 1
    imp_first = np.flatnonzero(new_imp)
    imp_user, imp_time = c_user[imp_first], time[imp_first]
    imp_dev = imp_time >= START + 6 * DAY
    n_imp = len(imp_first)

    neg_count = rng.integers(negatives[0], negatives[1] + 1, n_imp)
    neg_imp, neg_item = _negatives(rng, imp, c_item, n_items, neg_count)
    all_imp = np.concatenate([imp, neg_imp])
    all_item = np.concatenate([c_item, neg_item])
    label = np.concatenate([np.ones(len(imp), bool), np.zeros(len(neg_imp), bool)])
    order = np.lexsort((rng.random(len(all_imp)), all_imp))  # candidates in random order within an impression
    pos_token = np.array([f"{n}-1" for n in news_ids], dtype=object)
    neg_token = np.array([f"{n}-0" for n in news_ids], dtype=object)
    tokens = np.where(label[order], pos_token[all_item[order]], neg_token[all_item[order]]).tolist()
    token_offsets = np.concatenate([[0], np.cumsum(np.bincount(all_imp, minlength=n_imp))])

    train_clicks = np.bincount(c_user[~imp_dev[imp]], minlength=n_users)
    flat_ids = np.array(news_ids, dtype=object)[world.items].tolist()
    times = mind_time(imp_time)

    def history(u: int, dev: bool) -> str:
        start = world.offsets[u]
        return " ".join(flat_ids[start : start + history_len[u] + (train_clicks[u] if dev else 0)])

    def lines(selected: np.ndarray, dev: bool) -> Iterator[str]:
        for number, k in enumerate(selected.tolist(), 1):  # ImpressionID = row number, like MIND
            u = imp_user[k]
            impressions = " ".join(tokens[token_offsets[k] : token_offsets[k + 1]])
            yield f"{number}\t{user_ids[u]}\t{times[k]}\t{history(u, dev)}\t{impressions}"

    def shown(u: int, dev: bool) -> np.ndarray:
        start = world.offsets[u]
        return world.items[start : start + history_len[u] + (train_clicks[u] if dev else 0)]

    news = _news_rows(rng, world, content, news_ids)
    counts: dict = {"users": n_users, "news": n_items, "clicks": int(len(world.items)), "impressions": n_imp}
    unused = np.ones(n_items, dtype=bool)
    unused[world.items] = False
    unused[neg_item] = False
    for split, dev in (("train", False), ("dev", True)):
        selected = rng.permutation(np.flatnonzero(imp_dev == dev))  # MIND's rows are not in time order
        users = np.unique(imp_user[selected])
        used = np.zeros(n_items, dtype=bool)
        for u in users.tolist():
            used[shown(u, dev)] = True
        used[all_item[np.isin(all_imp, selected)]] = True
        if not dev:
            used |= unused  # items nothing references are listed in train/news.tsv
        rows = progress(lines(selected, dev), f"mind {split}/behaviors.tsv", total=len(selected))
        counts[f"impressions_{split}"] = write_lines(out_dir / split / "behaviors.tsv", rows)
        counts[f"news_{split}"] = write_lines(out_dir / split / "news.tsv", (news[i] for i in np.flatnonzero(used)))
        counts[f"users_{split}"] = int(len(users))
    log.info("mind: %s", counts)
    return counts
