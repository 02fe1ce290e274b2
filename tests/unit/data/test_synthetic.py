"""Tests for the synthetic raw-data generator: genuine layouts, determinism, learnable structure."""

from __future__ import annotations

import ast
import csv
import gzip
import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shared_paths import shared_data_dir
from transrec.data.synthetic import SCALES, generate
from transrec.data.synthetic.hm import ARTICLE_COLUMNS
from transrec.data.synthetic.pictures import PALETTE, draw, texture

RAW_SAMPLES = shared_data_dir() / "raw_samples"
MIND_TIME = re.compile(r"^(\d{1,2})/(\d{1,2})/2019 (\d{1,2}):(\d{2}):(\d{2}) (AM|PM)$")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    """Every format at the tiny scale, generated once for the module (image formats with two corrupt images)."""
    root = tmp_path_factory.mktemp("synthetic")
    out = {}
    for name in ("mind", "adressa", "hm", "amazon"):
        corrupt = 2 if name in ("hm", "amazon") else 0
        out[name] = (root / name, generate(name, root / name, "tiny", seed=7, corrupt_images=corrupt))
    return out


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _tsv(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]


def _structure(sequences: list[list[int]]) -> tuple[float, float]:
    """(share of a user's items in their top-3 categories, P(next item in the last item's category))."""
    top, same, steps, total = 0, 0, 0, 0
    for seq in sequences:
        top += sum(c for _, c in Counter(seq).most_common(3))
        total += len(seq)
        same += sum(a == b for a, b in zip(seq, seq[1:]))
        steps += len(seq) - 1
    return top / total, same / steps


def _structure_gain(sequences: list[list[int]]) -> tuple[float, float]:
    """How much `_structure` exceeds the same sequences with every interaction shuffled across users."""
    flat = np.random.default_rng(0).permutation(np.concatenate(sequences))
    shuffled = np.split(flat, np.cumsum([len(s) for s in sequences])[:-1])
    real, chance = _structure(sequences), _structure([s.tolist() for s in shuffled])
    return real[0] - chance[0], real[1] - chance[1]


def test_mind_layout_and_histories(tiny):
    folder, counts = tiny["mind"]
    news_ids = {}
    for split in ("train", "dev"):
        for row in _tsv(folder / split / "news.tsv"):
            assert len(row) == 8  # NewsID Category SubCategory Title Abstract URL TitleEntities AbstractEntities
            assert re.fullmatch(r"N\d+", row[0]) and row[5].startswith("https://assets.msn.com/labs/mind/")
            for entities in row[6:]:
                parsed = json.loads(entities)
                assert isinstance(parsed, list)
                assert all(
                    set(e) == {"Label", "Type", "WikidataId", "Confidence", "OccurrenceOffsets", "SurfaceForms"}
                    for e in parsed
                )
            news_ids[row[0]] = row[1]
    histories: dict[tuple[str, str], set[str]] = {}
    for split in ("train", "dev"):
        rows = _tsv(folder / split / "behaviors.tsv")
        assert [int(r[0]) for r in rows] == list(range(1, len(rows) + 1))
        for impression_id, user, time, history, impressions in rows:
            assert re.fullmatch(r"U\d+", user)
            month, day, hour, *_ = MIND_TIME.fullmatch(time).groups()
            assert month == "11" and 9 <= int(day) <= 15 and 1 <= int(hour) <= 12
            assert (int(day) == 15) == (split == "dev")
            assert history == "" or all(re.fullmatch(r"N\d+", n) for n in history.split(" "))
            candidates = impressions.split(" ")
            assert all(re.fullmatch(r"N\d+-[01]", c) for c in candidates)
            assert any(c.endswith("-1") for c in candidates) and len(set(candidates)) == len(candidates)
            assert all(c[:-2] in news_ids for c in candidates) and all(n in news_ids for n in history.split(" ") if n)
            histories.setdefault((split, user), set()).add(history)
    assert all(len(h) == 1 for h in histories.values())  # the same history in all of a user's impressions
    grown = [(h, histories[("dev", u)]) for (s, u), h in histories.items() if s == "train" and ("dev", u) in histories]
    assert grown and all(next(iter(dev)).startswith(next(iter(train))) for train, dev in grown)
    assert any(h == {""} for h in histories.values())  # some users have no history
    assert counts["impressions_train"] + counts["impressions_dev"] == counts["impressions"]


def test_mind_sequences_are_learnable(tiny):
    folder, _ = tiny["mind"]
    category = {r[0]: r[1] for split in ("train", "dev") for r in _tsv(folder / split / "news.tsv")}
    names = sorted(set(category.values()))
    sequences = {}
    for row in _tsv(folder / "dev" / "behaviors.tsv") + _tsv(folder / "train" / "behaviors.tsv"):
        sequences.setdefault(row[1], row[3].split(" ") if row[3] else [])
    seqs = [[names.index(category[n]) for n in s] for s in sequences.values() if len(s) >= 5]
    taste_gain, sequential_gain = _structure_gain(seqs)
    assert taste_gain > 0.15 and sequential_gain > 0.3


def test_adressa_events(tiny):
    folder, counts = tiny["adressa"]
    events = sorted(p for p in folder.iterdir() if p.name != "titles_en.tsv")
    assert [p.name for p in events] == [f"201701{d:02d}" for d in range(1, 8)]
    articles, front, users, last_time = 0, 0, set(), 0
    for path in events:
        times = []
        for line in path.read_text(encoding="utf-8").splitlines():
            event = json.loads(line)
            assert event["userId"].startswith("cx:") and isinstance(event["time"], int)
            assert {"eventId", "activeTime", "url", "city", "region", "country", "deviceType", "os"} <= set(event)
            times.append(event["time"])
            users.add(event["userId"])
            if "id" in event:
                articles += 1
                assert re.fullmatch(r"[0-9a-f]{40}", event["id"]) and event["title"]
                assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z", event["publishtime"])
                assert event["canonicalUrl"].startswith("http://www.adressa.no/")
                assert re.fullmatch(r"[a-z]+(\|[a-z]+)?", event["category1"])
            else:
                front += 1
                assert event["url"] == "http://adressa.no" and "title" not in event
        assert times == sorted(times) and times[0] >= last_time
        last_time = times[-1]
    assert (articles, front) == (counts["article_events"], counts["front_page_events"]) and front > 0
    assert len(users) <= counts["users"]


def test_adressa_matches_the_genuine_event_fields(tiny):
    sample = RAW_SAMPLES / "adressa" / "two_events.json"
    if not sample.exists():
        pytest.skip("raw Adressa sample not available")
    genuine_front, genuine_article = json.loads(sample.read_text(encoding="utf-8"))
    folder, _ = tiny["adressa"]
    events = [json.loads(line) for line in (folder / "20170102").read_text(encoding="utf-8").splitlines()]
    front = next(e for e in events if "id" not in e)
    article = next(e for e in events if "id" in e)
    assert set(front) == set(genuine_front)
    assert set(genuine_article) - {"keywords"} <= set(article) | {"keywords"}
    assert set(article) - set(genuine_article) == {"category1"}


def test_hm_csv_files_and_images(tiny):
    folder, counts = tiny["hm"]
    with open(folder / "articles.csv", encoding="utf-8", newline="") as handle:
        articles = list(csv.DictReader(handle))
    assert list(articles[0]) == ARTICLE_COLUMNS
    sample = RAW_SAMPLES / "hm" / "articles.csv"
    if sample.exists():  # the excerpt was re-saved by pandas: one extra unnamed index column first
        assert sample.read_text(encoding="utf-8").splitlines()[0] == "," + ",".join(ARTICLE_COLUMNS)
        assert (folder / "transactions_train.csv").read_text().splitlines()[0] == (
            RAW_SAMPLES / "hm" / "transactions_train.csv"
        ).read_text().splitlines()[0]
        assert (folder / "customers.csv").read_text().splitlines()[0] == (
            RAW_SAMPLES / "hm" / "customers.csv"
        ).read_text().splitlines()[0]
    ids = [a["article_id"] for a in articles]
    assert all(re.fullmatch(r"0\d{9}", i) for i in ids) and len(set(ids)) == len(ids)
    assert all(a["product_code"] == a["article_id"][:7] for a in articles)
    with open(folder / "transactions_train.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == counts["transactions"]
    assert all(re.fullmatch(r"20(18|19|20)-\d\d-\d\d", r["t_dat"]) for r in rows)
    assert [r["t_dat"] for r in rows] == sorted(r["t_dat"] for r in rows)
    assert all(re.fullmatch(r"[0-9a-f]{64}", r["customer_id"]) and r["article_id"] in set(ids) for r in rows)
    assert all(0 < float(r["price"]) < 1 and r["sales_channel_id"] in {"1", "2"} for r in rows)
    with_image = [i for i in ids if (folder / "images" / i[:3] / f"{i}.jpg").exists()]
    assert len(with_image) == counts["images"] and 0 < len(ids) - len(with_image) < len(ids) * 0.1
    broken = 0
    for i in with_image:
        try:
            with Image.open(folder / "images" / i[:3] / f"{i}.jpg") as image:
                image.load()
                assert image.size == SCALES["tiny"].picture_size
        except OSError:
            broken += 1
    assert broken == counts["images_corrupt"] == 2


def test_hm_purchases_follow_tastes_and_pictures_follow_categories(tiny):
    folder, _ = tiny["hm"]
    with open(folder / "articles.csv", encoding="utf-8", newline="") as handle:
        articles = {a["article_id"]: a for a in csv.DictReader(handle)}
    names = sorted({a["product_type_name"] for a in articles.values()})
    by_customer: dict[str, list[int]] = {}
    with open(folder / "transactions_train.csv", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            by_customer.setdefault(row["customer_id"], []).append(
                names.index(articles[row["article_id"]]["product_type_name"])
            )
    taste_gain, sequential_gain = _structure_gain([s for s in by_customer.values() if len(s) >= 5])
    assert taste_gain > 0.08 and sequential_gain > 0.2  # fashion tastes also follow colour, not category alone
    # a nearest-centroid classifier on mean picture colour recovers most categories
    features, labels = [], []
    for article_id, article in articles.items():
        path = folder / "images" / article_id[:3] / f"{article_id}.jpg"
        try:
            pixels = np.asarray(Image.open(path).convert("RGB"), dtype=float)
        except OSError:
            continue
        centre = pixels[
            pixels.shape[0] // 3 : 2 * pixels.shape[0] // 3, pixels.shape[1] // 3 : 2 * pixels.shape[1] // 3
        ]
        features.append(np.concatenate([centre.mean(axis=(0, 1)), pixels.std(axis=(0, 1))]))
        labels.append(names.index(article["product_type_name"]))
    features, labels = np.array(features), np.array(labels)
    centroids = np.array([features[labels == c].mean(axis=0) for c in range(len(names))])
    predicted = np.argmin(((features[:, None] - centroids[None]) ** 2).sum(-1), axis=1)
    assert (predicted == labels).mean() > 0.4  # chance is 1/6; half the articles wear their category colour


def test_pictures_show_each_content_word_as_a_texture():
    def picture(words: tuple[int, ...]) -> np.ndarray:
        return draw(np.random.default_rng(0), "disc", PALETTE[2], 32, 48, words=words).astype(float)

    base, top, bottom = picture((0, 5)), slice(0, 24), slice(24, 48)
    assert np.array_equal(base, picture((0, 5)))
    other_first = picture((3, 5))  # the first word shades the top half only
    assert np.abs(base[top] - other_first[top]).mean() > 5 and np.array_equal(base[bottom], other_first[bottom])
    other_second = picture((0, 6))
    assert np.array_equal(base[top], other_second[top]) and np.abs(base[bottom] - other_second[bottom]).mean() > 5
    patterns = [texture(word, 32, 32) for word in range(8)]  # a category's vocabulary: 8 distinct textures
    assert min(np.abs(a - b).mean() for i, a in enumerate(patterns) for b in patterns[i + 1 :]) > 0.3
    # relative coordinates: a 32 x 48 picture resized to 32 x 32 shows the square picture's texture
    stretched = np.asarray(Image.fromarray(texture(6, 32, 48).astype(np.float32)).resize((32, 32), Image.BILINEAR))
    assert np.abs(stretched - texture(6, 32, 32)).mean() < 0.15


def test_amazon_reviews_meta_and_images(tiny):
    folder, counts = tiny["amazon"]
    reviews_file = next(folder.glob("reviews_*_5.json.gz"))
    meta_file = next(folder.glob("meta_*.json.gz"))
    with gzip.open(reviews_file, "rt", encoding="utf-8") as handle:
        reviews = [json.loads(line) for line in handle]
    assert len(reviews) == counts["reviews"]
    fields = {
        "reviewerID",
        "asin",
        "reviewerName",
        "helpful",
        "reviewText",
        "overall",
        "summary",
        "unixReviewTime",
        "reviewTime",
    }
    assert all(set(r) in (fields, fields - {"reviewerName"}) for r in reviews)
    assert any("reviewerName" not in r for r in reviews)
    for r in reviews:
        assert re.fullmatch(r"A[0-9A-Z]{13}", r["reviewerID"]) and re.fullmatch(r"B00[0-9A-Z]{7}", r["asin"])
        day = np.datetime64(r["unixReviewTime"], "s").astype(object)
        assert r["reviewTime"] == f"{day.month:02d} {day.day}, {day.year}" and r["unixReviewTime"] % 86400 == 0
        assert r["overall"] in (1.0, 2.0, 3.0, 4.0, 5.0) and r["helpful"][0] <= r["helpful"][1]
    per_user = Counter(r["reviewerID"] for r in reviews)
    assert min(per_user.values()) >= 5  # a 5-core file
    assert len({(r["reviewerID"], r["asin"]) for r in reviews}) == len(reviews)
    with gzip.open(meta_file, "rt", encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    assert lines[0].startswith("{'asin': '")  # Python literals, not JSON
    with pytest.raises(json.JSONDecodeError):
        json.loads(lines[0])
    meta = [ast.literal_eval(line) for line in lines]
    assert all({"asin", "title", "imUrl", "categories"} <= set(m) for m in meta)
    assert all(isinstance(m["categories"], list) and isinstance(m["categories"][0], list) for m in meta)
    reviewed = {r["asin"] for r in reviews}
    assert reviewed < {m["asin"] for m in meta}  # the metadata lists more items than are reviewed
    assert {p.stem for p in (folder / "images").glob("*.jpg")} == reviewed


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    for name in ("mind", "amazon"):
        first = generate(name, tmp_path / "a" / name, seed=3)
        second = generate(name, tmp_path / "b" / name, seed=3)
        other = generate(name, tmp_path / "c" / name, seed=4)
        assert first == second
        assert _digest(tmp_path / "a" / name) == _digest(tmp_path / "b" / name)
        assert _digest(tmp_path / "a" / name) != _digest(tmp_path / "c" / name)
        assert other["format"] == name


def test_rerun_replaces_the_image_folder_and_caps_images(tmp_path):
    generate("hm", tmp_path, seed=1, max_images=20)
    counts = generate("hm", tmp_path, seed=1, max_images=10)
    assert counts["images"] == 10 and len(list((tmp_path / "images").rglob("*.jpg"))) == 10
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_bad_arguments_raise(tmp_path):
    with pytest.raises(ValueError, match="unknown synthetic format"):
        generate("movielens", tmp_path)
    with pytest.raises(ValueError, match="unknown synthetic scale"):
        generate("mind", tmp_path, scale="huge")
    with pytest.raises(ValueError, match="image format"):
        generate("mind", tmp_path, corrupt_images=1)


def test_adressa_english_titles_speak_the_news_concepts(tiny):
    """The released-style English table has one title per article, in MIND's concept words (what transfers)."""
    from transrec.data.synthetic.content import vocabularies

    folder, counts = tiny["adressa"]
    rows = [line.split("\t") for line in (folder / "titles_en.tsv").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == counts["articles"] and all(re.fullmatch(r"[0-9a-f]{40}", r[0]) for r in rows)
    concepts = {w for words in vocabularies("news") for w in words}
    assert all(len(concepts & set(r[1].lower().split())) >= 1 for r in rows)
