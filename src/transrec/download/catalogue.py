"""Where every dataset's public files live: official URLs, where each goes under data/raw/<name>/, pinned digests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

MIND = "https://mind201910small.blob.core.windows.net/release"
ADRESSA = "https://reclab.idi.ntnu.no/dataset"
AMAZON_2014 = "https://snap.stanford.edu/data/amazon/productGraph/categoryFiles"
AMAZON_2018 = "https://datarepo.eng.ucsd.edu/mcauley_group/data/amazon_v2"
# the papers' released processed files, pinned to the commits that added them (a commit's bytes never change)
ADAPTER4REC = (
    "https://raw.githubusercontent.com/westlake-repl/Adapter4Rec/f9e0e0c13d68a946ff55512fb01f113cc41edbdd/Dataset"
)
IISAN = "https://raw.githubusercontent.com/GAIR-Lab/IISAN/96e845528b43d7d270ef92415d59057c6d3bf08e/Dataset"
HM_COMPETITION = "h-and-m-personalized-fashion-recommendations"


@dataclass(frozen=True)
class RemoteFile:
    """One public file: `into` is its path under the raw folder (the folder it unpacks to, for an archive)."""

    url: str
    into: str
    unpack: bool = False
    sha256: str | None = None  # None: not pinned (a file its publisher may re-issue); the manifest records the digest

    @property
    def name(self) -> str:
        """The file's name in the download cache."""
        return self.url.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Release:
    """A dataset as published: its files, its raw format, where images come from, how to get it by hand."""

    name: str
    format: str
    files: tuple[RemoteFile, ...] = ()
    images: str | None = None  # "amazon": item images by the URLs in the metadata
    kaggle: str | None = None  # a Kaggle competition fetched through the Kaggle API
    manual: str = ""


RELEASES: dict[str, Release] = {
    "mind_small": Release(
        "mind_small",
        "mind",
        (
            RemoteFile(f"{MIND}/MINDsmall_train.zip", "train", unpack=True),
            RemoteFile(f"{MIND}/MINDsmall_dev.zip", "dev", unpack=True),
        ),
        manual="MIND: https://msnews.github.io (accept the licence there); unzip the train and dev zips into "
        "data/raw/<name>/train and data/raw/<name>/dev, then use source: raw",
    ),
    "mind_large": Release(
        "mind_large",
        "mind",
        (
            RemoteFile(f"{MIND}/MINDlarge_train.zip", "train", unpack=True),
            RemoteFile(f"{MIND}/MINDlarge_dev.zip", "dev", unpack=True),
        ),
        manual="MIND: https://msnews.github.io (accept the licence there); unzip MINDlarge_train.zip and "
        "MINDlarge_dev.zip into data/raw/<name>/train and dev, then use source: raw",
    ),
    "adressa_one_week": Release(
        "adressa_one_week",
        "adressa",
        (
            RemoteFile(f"{ADRESSA}/one_week.tar.gz", "events", unpack=True),
            RemoteFile(f"{ADAPTER4REC}/Adressa/Adressa_news_base.tsv", "Adressa_news_base.tsv"),  # English titles
        ),
        manual="Adressa: https://reclab.idi.ntnu.no/dataset (one_week.tar.gz); unpack it into data/raw/<name>, "
        "then use source: raw",
    ),
    "amazon_2014": Release(
        "amazon_2014",
        "amazon",
        (
            RemoteFile(AMAZON_2014 + "/reviews_{category}_5.json.gz", "reviews_{category}_5.json.gz"),
            RemoteFile(AMAZON_2014 + "/meta_{category}.json.gz", "meta_{category}.json.gz"),
        ),
        images="amazon",
        manual="Amazon 2014: https://jmcauley.ucsd.edu/data/amazon/ (per-category 5-core reviews "
        "and metadata); place both .json.gz files in data/raw/<name>, then use source: raw",
    ),
    "amazon_2018": Release(
        "amazon_2018",
        "amazon",
        (
            RemoteFile(AMAZON_2018 + "/categoryFilesSmall/{category}_5.json.gz", "{category}_5.json.gz"),
            RemoteFile(AMAZON_2018 + "/metaFiles2/meta_{category}.json.gz", "meta_{category}.json.gz"),
        ),
        images="amazon",
        manual="Amazon 2018: https://nijianmo.github.io/amazon/ (per-category 5-core and "
        "metadata); place both .json.gz files in data/raw/<name>, then use source: raw",
    ),
    "adapter4rec_amazon": Release(
        "adapter4rec_amazon",
        "released",
        (
            RemoteFile(f"{ADAPTER4REC}/Amazon/amazon_2w_users.tsv", "users.tsv"),
            RemoteFile(f"{ADAPTER4REC}/Amazon/amazon_2w_items.tsv", "items.tsv"),
        ),
        manual="https://github.com/westlake-repl/Adapter4Rec/tree/main/Dataset/Amazon: place users.tsv and "
        "items.tsv in data/raw/<name>",
    ),
    "iisan_instruments": Release(
        "iisan_instruments",
        "released",
        (
            RemoteFile(f"{IISAN}/Instrument/am_Musical_Instruments_users_10K.tsv", "users.tsv"),
            RemoteFile(f"{IISAN}/Instrument/Musical_Instruments_items.tsv", "items.tsv"),
        ),
        manual="https://github.com/GAIR-Lab/IISAN/tree/main/Dataset/Instrument: place the two tsv files in "
        "data/raw/<name> as users.tsv and items.tsv",
    ),
    "iisan_scientific": Release(
        "iisan_scientific",
        "released",
        (
            RemoteFile(f"{IISAN}/Scientific/am_Industrial_and_Scientific_users.tsv", "users.tsv"),
            RemoteFile(f"{IISAN}/Scientific/Industrial_and_Scientific_items.tsv", "items.tsv"),
        ),
        manual="https://github.com/GAIR-Lab/IISAN/tree/main/Dataset/Scientific: place the two tsv files in "
        "data/raw/<name> as users.tsv and items.tsv",
    ),
    "hm": Release(
        "hm",
        "hm",
        kaggle=HM_COMPETITION,
        manual=(
            f"H&M: join https://www.kaggle.com/competitions/{HM_COMPETITION} (accept its rules), download "
            "articles.csv, customers.csv, transactions_train.csv (and the images/ folder for image runs) into "
            "data/raw/<name>, then use source: raw"
        ),
    ),
}
NEEDS_CATEGORY = ("amazon_2014", "amazon_2018")


def release(
    name: str,
    category: str | None = None,
    sha256: dict[str, str] | None = None,
    releases: Mapping[str, Release] | None = None,
) -> Release:
    """The release `name` (of RELEASES, or of `releases`), its URLs filled in with the Amazon `category`, digests
    pinned by `sha256` {file name: digest}."""
    releases = RELEASES if releases is None else releases
    if name not in releases:
        raise ValueError(f"unknown download release {name!r}; known: {sorted(releases)}")
    chosen = releases[name]
    if name in NEEDS_CATEGORY and not category:
        raise ValueError(
            f"download release {name} needs `category` (as the release spells it, e.g. Clothing_Shoes_and_Jewelry)"
        )
    files = []
    for remote in chosen.files:
        remote = replace(remote, url=remote.url.format(category=category), into=remote.into.format(category=category))
        pinned = (sha256 or {}).get(remote.name) or remote.sha256
        files.append(replace(remote, sha256=pinned))
    unknown = sorted(set(sha256 or {}) - {f.name for f in files})
    if unknown:
        raise ValueError(
            f"download.sha256 names {unknown}, which release {name} does not have; its files: {[f.name for f in files]}"
        )
    return replace(chosen, files=tuple(files))
