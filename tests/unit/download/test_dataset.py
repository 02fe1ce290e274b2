"""download_dataset(): a release served by the local server lands in the raw layout the unchanged ingest reads."""

import gzip
import io
import json
import zipfile
from pathlib import Path

import polars as pl
import pytest
from PIL import Image

from http_server import Route
from transrec.data.ingest import ingest
from transrec.download.catalogue import Release, RemoteFile, release
from transrec.download.dataset import download_dataset
from transrec.download.http import DownloadError
from transrec.download.kaggle import MissingCredentials

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "raw"
FAST = {  # the schema's other defaults, with short waits
    "images": False,
    "sha256": {},
    "timeout_s": 2,
    "retries": 2,
    "backoff_s": 0.01,
    "image_workers": 4,
    "per_host": 2,
    "min_interval_s": 0.0,
}


def zipped(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as handle:
        for path in sorted(folder.iterdir()):
            handle.write(path, path.name)  # members at the top, as MIND ships them
    return buffer.getvalue()


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(buffer, "JPEG")
    return buffer.getvalue()


def run(tmp_path, settings, releases, **kwargs):
    out = tmp_path / "data" / "raw" / "ds"
    summary = download_dataset(
        {**FAST, **settings},
        out,
        report=tmp_path / "report.json",
        image_failures=tmp_path / "failures.tsv",
        cache_dir=tmp_path / "cache",
        releases=releases,
        **kwargs,
    )
    return out, summary


def ingest_into(tmp_path, dataset_format, raw_dir):
    out = tmp_path / "ingest"
    return ingest(
        dataset_format,
        raw_dir,
        item_table=out / "items.parquet",
        interaction_table=out / "inter.parquet",
        quarantine=out / "q.tsv",
        report=out / "r.json",
        options={"max_bad_fraction": 1.0},
    )


def test_mind_zips_unpack_into_split_folders_that_ingest_reads(server, tmp_path):
    server.routes["/MINDsmall_train.zip"] = Route(zipped(FIXTURES / "mind" / "train"))
    server.routes["/MINDsmall_dev.zip"] = Route(zipped(FIXTURES / "mind" / "dev"))
    mind = Release(
        "mind_small",
        "mind",
        (
            RemoteFile(server.url("/MINDsmall_train.zip"), "train", unpack=True),
            RemoteFile(server.url("/MINDsmall_dev.zip"), "dev", unpack=True),
        ),
    )
    raw, summary = run(tmp_path, {"release": "mind_small"}, {"mind_small": mind})
    assert sorted(p.relative_to(raw).as_posix() for p in raw.rglob("*") if p.is_file()) == [
        "dev/behaviors.tsv",
        "dev/news.tsv",
        "train/behaviors.tsv",
        "train/news.tsv",
    ]
    expected = ingest_into(tmp_path / "a", "mind", FIXTURES / "mind")
    assert ingest_into(tmp_path / "b", "mind", raw)["interactions"] == expected["interactions"]
    assert [f["file"] for f in summary["files"]] == ["MINDsmall_train.zip", "MINDsmall_dev.zip"]
    assert json.loads((tmp_path / "report.json").read_text())["release"] == "mind_small"
    assert not list(raw.parent.glob(".*"))  # no staging left beside the raw folder


def amazon_release(server, tmp_path) -> Release:
    """Amazon 2014-style reviews and metadata (Python literals), gzipped, with image URLs on the local server."""
    meta = (
        "\n".join(
            [
                repr({"asin": "B0001", "title": "Red Shoe", "imUrl": server.url("/img/B0001.jpg")}),
                repr({"asin": "B0002", "title": "Hat", "imUrl": server.url("/img/B0002.jpg")}),  # answers 404
                repr({"asin": "B0003", "title": "Scarf"}),  # no image URL at all
            ]
        )
        + "\n"
    )
    reviews = "".join(
        json.dumps({"reviewerID": f"A{u}", "asin": a, "unixReviewTime": 1300000000 + i}) + "\n"
        for u in range(2)
        for i, a in enumerate(["B0001", "B0002", "B0003"])
    )
    server.routes["/reviews_Cat_5.json.gz"] = Route(gzip.compress(reviews.encode()))
    server.routes["/meta_Cat.json.gz"] = Route(gzip.compress(meta.encode()))
    server.routes["/img/B0001.jpg"] = Route(jpeg())
    server.routes["/img/B0002.jpg"] = Route(status=404)
    return Release(
        "amazon_2014",
        "amazon",
        (
            RemoteFile(server.url("/reviews_{category}_5.json.gz"), "reviews_{category}_5.json.gz"),
            RemoteFile(server.url("/meta_{category}.json.gz"), "meta_{category}.json.gz"),
        ),
        images="amazon",
    )


def test_amazon_files_and_images_land_where_ingest_looks_and_failures_are_listed(server, tmp_path):
    releases = {"amazon_2014": amazon_release(server, tmp_path)}
    raw, summary = run(tmp_path, {"release": "amazon_2014", "category": "Cat", "images": True}, releases)
    assert (raw / "images" / "B0001.jpg").read_bytes() == jpeg()
    assert summary["images"] == {"requested": 2, "already_there": 0, "fetched": 1, "failed": 1}
    failures = pl.read_csv(tmp_path / "failures.tsv", separator="\t")
    assert failures["path"].to_list() == ["images/B0002.jpg"]
    assert failures["url"].to_list() == [server.url("/img/B0002.jpg")]
    assert "HTTP 404" in failures["reason"][0]
    report = ingest_into(tmp_path, "amazon", raw)
    assert report["items"] == 3 and report["images_found"] == 1  # B0002 and B0003 have no image: the LMDB stage decides

    # a rerun resumes: nothing is fetched again but the image that failed
    for route in server.routes.values():
        route.requests.clear()
    run(tmp_path, {"release": "amazon_2014", "category": "Cat", "images": True}, releases)
    asked = {path: len(route.requests) for path, route in server.routes.items()}
    assert asked == {"/reviews_Cat_5.json.gz": 0, "/meta_Cat.json.gz": 0, "/img/B0001.jpg": 0, "/img/B0002.jpg": 1}


def test_a_404_names_the_url_and_the_manual_way_and_publishes_no_raw_folder(server, tmp_path):
    server.routes["/gone.zip"] = Route(status=404)
    gone = Release(
        "mind_small",
        "mind",
        (RemoteFile(server.url("/gone.zip"), "train", unpack=True),),
        manual="place the files in data/raw/<name>/train",
    )
    with pytest.raises(DownloadError, match=r"gone\.zip: HTTP 404 .* By hand: place the files in data/raw/ds/train"):
        run(tmp_path, {"release": "mind_small"}, {"mind_small": gone})
    assert not (tmp_path / "data" / "raw" / "ds").exists()


def test_pinned_digests_must_name_files_of_the_release():
    with pytest.raises(ValueError, match=r"download.sha256 names \['nope.zip'\]"):
        release("mind_small", sha256={"nope.zip": "0" * 64})
    with pytest.raises(ValueError, match="needs `category`"):
        release("amazon_2018")
    pinned = release("mind_small", sha256={"MINDsmall_dev.zip": "ab" * 32})
    assert [f.sha256 for f in pinned.files] == [None, "ab" * 32]


def test_hm_without_kaggle_credentials_says_what_to_set_or_place(tmp_path):
    with pytest.raises(
        MissingCredentials,
        match=r"set KAGGLE_USERNAME and KAGGLE_KEY .* articles.csv, customers.csv, "
        r"transactions_train.csv .* into data/raw/ds",
    ):
        run(tmp_path, {"release": "hm"}, None, environ={})


def test_hm_through_the_kaggle_api_with_basic_auth_and_a_zipped_file(server, tmp_path):
    api = "/api/v1/competitions/data/download/h-and-m-personalized-fashion-recommendations"
    csvs = {
        name: (FIXTURES / "hm" / name).read_bytes()
        for name in ("articles.csv", "customers.csv", "transactions_train.csv")
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as handle:
        handle.writestr("articles.csv", csvs["articles.csv"])
    server.routes[f"{api}/articles.csv"] = Route(buffer.getvalue())  # served zipped, as Kaggle does for large files
    server.routes[f"{api}/customers.csv"] = Route(csvs["customers.csv"])
    server.routes[f"{api}/transactions_train.csv"] = Route(csvs["transactions_train.csv"])
    raw, _ = run(
        tmp_path,
        {"release": "hm"},
        None,
        environ={"KAGGLE_USERNAME": "u", "KAGGLE_KEY": "k"},
        kaggle_api=server.url("/api/v1"),
    )
    assert {p.name: p.read_bytes() for p in raw.iterdir()} == csvs
    assert server.routes[f"{api}/customers.csv"].authorization == ["Basic dTpr"]  # base64("u:k")
    assert ingest_into(tmp_path, "hm", raw)["interactions"] > 0


def test_download_settings_have_no_defaults_of_their_own_and_name_a_bad_key():
    """The schema fills the download block; a key it lacks or does not know fails naming it."""
    from transrec.download.dataset import DownloadSettings

    settings = DownloadSettings.from_dict({**FAST, "release": "mind_small"})
    assert settings.category is None and settings.timeout_s == 2.0 and isinstance(settings.timeout_s, float)
    for bad, message in [
        ({"retries": None}, "'retries': missing key"),
        ({"retry": 3}, "'retry': unknown key"),
        ({"per_host": 0}, "'per_host'"),
        ({"images": "yes"}, "'images'"),
    ]:
        d = {**FAST, "release": "mind_small", **bad}
        d = {key: value for key, value in d.items() if value is not None}
        with pytest.raises(ValueError, match=f"download settings: {message}"):
            DownloadSettings.from_dict(d)
