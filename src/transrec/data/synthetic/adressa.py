"""Adressa raw layout: one-week event files `20170101` ... `20170107`, JSON lines, one page view a line."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from urllib.parse import quote

import numpy as np

from transrec.data.synthetic.content import Content, key_words
from transrec.data.synthetic.files import write_lines
from transrec.data.synthetic.ids import HEX, LOWER, distinct_integers, random_strings
from transrec.data.synthetic.words import (
    ADRESSA_CATEGORIES,
    ADRESSA_TO_MIND,
    ENGLISH_COMMON,
    NORWEGIAN_COMMON,
    content_titles,
)
from transrec.data.synthetic.world import World, spread_times
from transrec.logs import progress

log = logging.getLogger(__name__)

START = 1483225200  # 2017-01-01 00:00 in Trondheim (UTC+1): the one-week release cuts its files at local midnight
DAY = 86400
AUTHORS = ["camilla kilnes", "espen rasmussen", "kari nordmann", "ola hansen", "ingrid berg", "lars johansen"]
DEVICES = [
    ("Mobile", "iPhone OS"),
    ("Mobile", "Android"),
    ("Tablet", "Android"),
    ("Desktop", "Windows"),
    ("Desktop", "Macintosh"),
]
PLACES = [("trondheim", "sor-trondelag"), ("oslo", "oslo"), ("bergen", "hordaland"), ("steinkjer", "nord-trondelag")]
REFERRERS = ["direct", "internal", "search", "social"]
SECTION_OF = {mind: section for section, mind in enumerate(ADRESSA_TO_MIND)}  # news concept -> Adressa section
ENGLISH_TITLES = "titles_en.tsv"  # article id -> English title, the form the Adapter4Rec release ships


def norwegian_vocabulary() -> list[list[str]]:
    """Norwegian surface words indexed like the news concepts (MIND categories); [] where no section maps."""
    surface: list[list[str]] = [[] for _ in range(max(ADRESSA_TO_MIND) + 1)]
    for section, (_, _, words) in enumerate(ADRESSA_CATEGORIES):
        surface[ADRESSA_TO_MIND[section]] = words.split()
    return surface


def _lower_escapes(url: str) -> str:
    """Percent escapes in lower case, as Adressa writes them (`nytt%c3%a5rsbilder`)."""
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), url)


def _article_heads(
    rng: np.random.Generator, world: World, titles: list[str], article_ids: list[str], first_read: np.ndarray
) -> list[str]:
    """Per article, the JSON of its own fields without the closing brace (events append theirs)."""
    vocab = [words.split() for _, _, words in ADRESSA_CATEGORIES]
    published = first_read - rng.integers(1800, 2 * DAY, world.n_items)
    heads = []
    for i, article_id in enumerate(article_ids):
        category = SECTION_OF[int(world.item_category[i])]
        section, subsections, _ = ADRESSA_CATEGORIES[category]
        sub = subsections[int(rng.integers(len(subsections)))]
        date = np.datetime64(int(published[i]), "s").astype(str)
        path = f"{section}/{sub}/{date[:4]}/{date[5:7]}/{date[8:10]}"
        slug = "-".join(titles[i].split())
        number = 14_000_000 + int(rng.integers(0, 999_999))
        words = titles[i].lower().split()
        fields = {
            "profile": [
                {
                    "item": w,
                    "groups": [{"count": 1, "group": "concept", "weight": round(float(rng.uniform(0.3, 1.0)), 4)}],
                }
                for w in dict.fromkeys(words[:3])
            ]
            + [{"item": section, "groups": [{"count": 1, "group": "category", "weight": 0.1171875}]}],
            "canonicalUrl": _lower_escapes(f"http://www.adressa.no/{path}/{quote(slug)}-{number}.ece"),
            "publishtime": f"{date}.000Z",
            "keywords": ",".join(dict.fromkeys(vocab[category][j] for j in rng.integers(0, 12, 4))),
            "id": article_id,
            "title": titles[i],
            "url": _lower_escapes(f"http://adressa.no/{path}/{quote(slug.lower())}-{number}.ece"),
            "author": sorted({AUTHORS[j] for j in rng.integers(0, len(AUTHORS), int(rng.integers(1, 3)))}),
            "category1": f"{section}|{sub}" if sub != section else section,
        }
        heads.append(json.dumps(fields)[:-1])
    return heads


def write_adressa(
    out_dir: Path, world: World, content: Content, rng: np.random.Generator, front_page_share: float = 0.12
) -> dict:
    """Write seven daily event files (an article view per interaction, front-page views without an article id) and
    the English titles table (each Norwegian content word rendered by its news concept)."""
    n_reads = len(world.items)
    article_ids = random_strings(rng, world.n_items, 40, HEX)
    user_ids = [
        f"cx:{a}:{b}"
        for a, b in zip(random_strings(rng, world.n_users, 25, LOWER), random_strings(rng, world.n_users, 13, LOWER))
    ]
    read_time = spread_times(world, rng, START, 7 * DAY)
    first_read = np.full(world.n_items, START + 3 * DAY, dtype=np.int64)
    np.minimum.at(first_read, world.items, read_time)
    titles = content_titles(rng, key_words(content, "news", norwegian_vocabulary()), NORWEGIAN_COMMON, (3, 6))
    english = content_titles(rng, key_words(content, "news"), ENGLISH_COMMON, (3, 6))
    write_lines(out_dir / ENGLISH_TITLES, (f"{a}\t{t}" for a, t in zip(article_ids, english)))
    heads = _article_heads(rng, world, titles, article_ids, first_read)

    n_front = int(round(n_reads * front_page_share))
    front_user = rng.integers(0, world.n_users, n_front)
    front_time = START + rng.integers(0, 7 * DAY, n_front)
    user = np.concatenate([world.user_of_row(), front_user])
    when = np.concatenate([read_time, front_time])
    item = np.concatenate([world.items, np.full(n_front, -1, dtype=np.int32)])
    n_events = len(user)
    event_id = distinct_integers(rng, n_events, 100_000_000, 999_999_999).tolist()
    active = rng.integers(3, 240, n_events).tolist()
    device = rng.integers(0, len(DEVICES), n_events).tolist()
    place = rng.integers(0, len(PLACES), n_events).tolist()
    referrer = rng.integers(0, len(REFERRERS), n_events).tolist()
    day = (when - START) // DAY

    def line(k: int) -> str:
        city, region = PLACES[place[k]]
        device_type, os_name = DEVICES[device[k]]
        if item[k] < 0:  # a front-page view: no article id, no title (like the first event of two_events.json)
            return (
                f'{{"eventId": {event_id[k]}, "city": "{city}", "activeTime": {active[k]}, "url": "http://adressa.no", '
                f'"referrerHostClass": "direct", "region": "{region}", "time": {when[k]}, '
                f'"userId": "{user_ids[user[k]]}", '
                f'"sessionStart": false, "deviceType": "{device_type}", "sessionStop": false, "country": "no", '
                f'"os": "{os_name}"}}'
            )
        return (
            f'{heads[item[k]]}, "activeTime": {active[k]}, "referrerHostClass": "{REFERRERS[referrer[k]]}", '
            f'"sessionStop": false, "userId": "{user_ids[user[k]]}", "sessionStart": false, '
            f'"referrerUrl": "http://adressa.no", "eventId": {event_id[k]}, "city": "{city}", "country": "no", '
            f'"region": "{region}", "referrerSearchEngine": "Internal", "deviceType": "{device_type}", '
            f'"time": {when[k]}, "os": "{os_name}"}}'
        )

    order = np.lexsort((np.arange(n_events), when))  # time order within a file, ties in sequence order
    files = []
    for d in range(7):
        rows = order[day[order] == d].tolist()
        name = f"201701{d + 1:02d}"
        write_lines(out_dir / name, progress((line(k) for k in rows), f"adressa {name}", total=len(rows)))
        files.append(name)
    counts = {
        "users": world.n_users,
        "articles": world.n_items,
        "article_events": n_reads,
        "front_page_events": n_front,
        "events": n_events,
        "files": files,
    }
    log.info("adressa: %s", counts)
    return counts
