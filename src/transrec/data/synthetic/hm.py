"""H&M raw layout: articles.csv, customers.csv, transactions_train.csv and images/0xx/0xxxxxxxxx.jpg."""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

import numpy as np

from transrec.data.synthetic.content import Content, key_words
from transrec.data.synthetic.files import write_bytes, write_lines
from transrec.data.synthetic.ids import HEX, distinct_integers, random_strings
from transrec.data.synthetic.pictures import PALETTE, corrupt_pictures, write_pictures
from transrec.data.synthetic.words import FASHION_CATEGORIES, FASHION_COMMON, content_titles, make_titles
from transrec.data.synthetic.world import World, spread_times
from transrec.logs import progress

log = logging.getLogger(__name__)

START = 1537401600  # 2018-09-20, the first day of transactions_train.csv
DAY = 86400
SPAN_DAYS = 734  # to 2020-09-22
ARTICLE_COLUMNS = [
    "article_id",
    "product_code",
    "prod_name",
    "product_type_no",
    "product_type_name",
    "product_group_name",
    "graphical_appearance_no",
    "graphical_appearance_name",
    "colour_group_code",
    "colour_group_name",
    "perceived_colour_value_id",
    "perceived_colour_value_name",
    "perceived_colour_master_id",
    "perceived_colour_master_name",
    "department_no",
    "department_name",
    "index_code",
    "index_name",
    "index_group_no",
    "index_group_name",
    "section_no",
    "section_name",
    "garment_group_no",
    "garment_group_name",
    "detail_desc",
]
CUSTOMER_COLUMNS = ["customer_id", "FN", "Active", "club_member_status", "fashion_news_frequency", "age", "postal_code"]
# (colour_group_code, colour_group_name, perceived value id/name, perceived master id/name), aligned with PALETTE
COLOURS = [
    (9, "Black", 4, "Dark", 5, "Black"),
    (10, "White", 3, "Light", 9, "White"),
    (42, "Red", 2, "Bright", 18, "Red"),
    (72, "Blue", 5, "Medium", 2, "Blue"),
    (62, "Green", 5, "Medium", 19, "Green"),
    (82, "Yellow", 2, "Bright", 8, "Yellow"),
    (51, "Light Pink", 3, "Light", 4, "Pink"),
    (83, "Brown", 4, "Dark", 12, "Brown"),
    (7, "Grey", 5, "Medium", 12, "Grey"),
    (71, "Light Blue", 3, "Light", 2, "Blue"),
    (43, "Dark Red", 4, "Dark", 18, "Red"),
    (32, "Orange", 2, "Bright", 8, "Orange"),
    (61, "Turquoise", 5, "Medium", 21, "Turquoise"),
    (69, "Purple", 5, "Medium", 13, "Lilac Purple"),
    (13, "Beige", 3, "Light", 11, "Beige"),
    (66, "Dark Green", 4, "Dark", 20, "Khaki green"),
    (73, "Dark Blue", 4, "Dark", 2, "Blue"),
]
APPEARANCES = [(1010016, "Solid"), (1010017, "Stripe"), (1010001, "All over pattern"), (1010010, "Melange")]
# (index_code, index_name, index_group_no, index_group_name, section_no, section_name)
INDEXES = [
    ("A", "Ladieswear", 1, "Ladieswear", 16, "Womens Everyday Basics"),
    ("B", "Lingeries/Tights", 1, "Ladieswear", 61, "Womens Lingerie"),
    ("D", "Divided", 2, "Divided", 53, "Divided Collection"),
    ("F", "Menswear", 3, "Menswear", 20, "Contemporary Smart"),
    ("H", "Children Sizes 92-140", 4, "Baby/Children", 77, "Kids Girl"),
]
GARMENT_GROUP_NO = {
    "Trousers": 1009,
    "Dresses Ladies": 1013,
    "Knitwear": 1003,
    "Jersey Basic": 1002,
    "Under-, Nightwear": 1017,
    "Shoes": 1020,
    "Accessories": 1019,
    "Outdoor": 1007,
    "Shorts": 1025,
    "Skirts": 1012,
    "Swimwear": 1018,
    "Socks and Tights": 1021,
}


def image_key(article_id: str) -> str:
    """The picture path of an article, relative to the raw folder (`images/010/0108775015.jpg`)."""
    return f"images/{article_id[:3]}/{article_id}.jpg"


def _articles(rng: np.random.Generator, world: World, content: Content) -> tuple[list[str], list[list]]:
    """Article ids (products of 1-3 colour variants) and their articles.csv rows (colour columns from the content)."""
    n = world.n_items
    order = np.lexsort((rng.random(n), world.item_category))  # variants of a product share a category
    sizes = rng.integers(1, 4, n)
    product_of = np.empty(n, dtype=np.int64)
    product, left = -1, 0
    for i in order.tolist():
        if left == 0:
            product, left = product + 1, int(sizes[product + 1])
        product_of[i], left = product, left - 1
    codes = distinct_integers(rng, product + 1, 108_775, 959_462)
    variant = np.empty(n, dtype=np.int64)
    for p_items in np.split(order, np.flatnonzero(np.diff(product_of[order])) + 1):
        variant[p_items] = np.sort(rng.choice(np.arange(1, 60), len(p_items), replace=False))
    article_ids = [f"{codes[product_of[i]]:07d}{variant[i]:03d}" for i in range(n)]

    vocab = [c[4].split() for c in FASHION_CATEGORIES]
    names = content_titles(rng, key_words(content, "fashion"), FASHION_COMMON, (2, 3))
    descriptions = make_titles(rng, world.item_category, vocab, FASHION_COMMON, (8, 20), topical=0.5)
    appearance = rng.integers(0, len(APPEARANCES), n)
    index = rng.integers(0, len(INDEXES), n)
    department = rng.integers(1000, 9000, len(FASHION_CATEGORIES))
    rows = []
    for i, article_id in enumerate(article_ids):
        type_no, type_name, group_name, garment, _ = FASHION_CATEGORIES[world.item_category[i]]
        index_code, index_name, group_no, group_label, section_no, section_name = INDEXES[index[i]]
        rows.append(
            [
                article_id,
                article_id[:7],
                names[i],
                type_no,
                type_name,
                group_name,
                *APPEARANCES[appearance[i]],
                *COLOURS[content.colour[i]],
                int(department[world.item_category[i]]),
                garment,
                index_code,
                index_name,
                group_no,
                group_label,
                section_no,
                section_name,
                GARMENT_GROUP_NO[garment],
                garment,
                descriptions[i] + ".",
            ]
        )
    return article_ids, rows


def _csv_text(header: list[str], rows: list[list]) -> bytes:
    """CSV with minimal quoting, as pandas and the Kaggle release write it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def write_hm(
    out_dir: Path,
    world: World,
    content: Content,
    rng: np.random.Generator,
    *,
    picture_size: tuple[int, int] = (64, 96),
    max_images: int | None = None,
    corrupt_images: int = 0,
    no_image_share: float = 0.02,
) -> dict:
    """Write the three CSV files and one picture per article (a few articles have none, like the real data)."""
    article_ids, article_rows = _articles(rng, world, content)
    write_bytes(out_dir / "articles.csv", _csv_text(ARTICLE_COLUMNS, article_rows))

    customer_ids = random_strings(rng, world.n_users, 64, HEX)
    postal = random_strings(rng, max(1, world.n_users // 5), 64, HEX)
    n = world.n_users
    fn = np.where(rng.random(n) < 0.35, "1.0", "")
    status = rng.choice(["ACTIVE", "PRE-CREATE", "LEFT CLUB"], n, p=[0.93, 0.065, 0.005])
    news = rng.choice(["NONE", "Regularly", "Monthly"], n, p=[0.64, 0.35, 0.01])
    age = rng.integers(16, 80, n)
    customer_rows = [
        [
            customer_ids[u],
            fn[u],
            fn[u],
            status[u],
            news[u],
            "" if age[u] == 16 else int(age[u]),
            postal[u % len(postal)],
        ]
        for u in range(n)
    ]
    write_bytes(out_dir / "customers.csv", _csv_text(CUSTOMER_COLUMNS, customer_rows))

    day = (spread_times(world, rng, START, SPAN_DAYS * DAY, min_user_span=0.05) - START) // DAY
    dates = [str(np.datetime64(START + d * DAY, "s").astype("datetime64[D]")) for d in range(SPAN_DAYS)]
    base_price = np.round(rng.uniform(4.99, 199.99, world.n_items), 2) / 590.0  # the release scales SEK prices
    price = (base_price[world.items] * np.where(rng.random(len(day)) < 0.2, 0.7, 1.0)).tolist()
    channel = np.where(rng.random(len(day)) < 0.3, 1, 2).tolist()
    user = world.user_of_row()
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(np.array(customer_ids))] = np.arange(n)
    order = np.lexsort((np.arange(len(day)), rank[user], day)).tolist()  # by day, then customer, then sequence
    items, user_l, day_l = world.items.tolist(), user.tolist(), day.tolist()
    lines = (
        f"{dates[day_l[k]]},{customer_ids[user_l[k]]},{article_ids[items[k]]},{price[k]!r},{channel[k]}" for k in order
    )
    lines = progress(lines, "hm transactions_train.csv", total=len(order))
    header = "t_dat,customer_id,article_id,price,sales_channel_id"
    n_rows = write_lines(out_dir / "transactions_train.csv", _with_header(header, lines)) - 1

    used = np.bincount(world.items, minlength=world.n_items)
    wanted = np.argsort(-used, kind="stable")
    wanted = wanted[rng.random(len(wanted)) >= no_image_share][: max_images or None]
    wanted = np.sort(wanted)
    names = [image_key(article_ids[i])[len("images/") :] for i in wanted.tolist()]
    width, height = picture_size
    paths = write_pictures(
        rng,
        out_dir / "images",
        names,
        world.item_category[wanted],
        PALETTE[content.colour[wanted]],
        width,
        height,
        words=content.words[wanted],
    )
    written = len(paths)
    corrupted = corrupt_pictures(rng, paths, corrupt_images) if corrupt_images else []
    counts = {
        "users": n,
        "articles": world.n_items,
        "transactions": n_rows,
        "images": written,
        "articles_without_image": world.n_items - written,
        "images_corrupt": len(corrupted),
    }
    log.info("hm: %s", counts)
    return counts


def _with_header(header: str, lines):
    """`header`, then `lines`."""
    yield header
    yield from lines
