"""Tests for the LMDB image store: build (policies, resume, map growth), verify, reader, decode."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import lmdb
import numpy as np
import polars as pl
import pytest
from PIL import Image

from shared_paths import shared_data_dir
from transrec.data import images
from transrec.data.images import LmdbImageReader, build_lmdb, decode_image, expected_keys, verify_lmdb

REAL_HM = shared_data_dir() / "raw_samples" / "hm"
COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (220, 220, 40)]


def _jpeg(colour: tuple[int, int, int], size: tuple[int, int], fmt: str = "JPEG", mode: str = "RGB") -> bytes:
    """A flat image of `colour`, encoded."""
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).convert(mode).save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture()
def raw(tmp_path: Path) -> tuple[Path, Path]:
    """A raw folder with varied good images, a missing file, a null key, a truncated and a junk file."""
    folder = tmp_path / "raw"
    (folder / "images").mkdir(parents=True)
    rows = []
    for i in range(24):
        size = [(300, 450), (224, 224), (96, 64), (500, 750)][i % 4]
        fmt, mode = ("PNG", "RGBA") if i % 6 == 5 else ("JPEG", "L" if i % 7 == 6 else "RGB")
        key = f"images/{i:03d}.{'png' if fmt == 'PNG' else 'jpg'}"
        (folder / key).write_bytes(_jpeg(COLOURS[i % 4], size, fmt, mode))
        rows.append((f"item{i:02d}", key))
    good = _jpeg((10, 10, 10), (300, 300))
    (folder / "images/trunc.jpg").write_bytes(good[: len(good) // 3])
    (folder / "images/junk.jpg").write_bytes(b"this is not an image at all")
    rows += [("gone", "images/gone.jpg"), ("nokey", None), ("trunc", "images/trunc.jpg"), ("junk", "images/junk.jpg")]
    table = tmp_path / "items.parquet"
    pl.DataFrame(rows, schema={"item_id": pl.Utf8, "image_key": pl.Utf8}, orient="row").write_parquet(table)
    return folder, table


def _report(path: Path) -> dict[str, tuple[str, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "item_id\tstatus\tdetail"
    return {row.split("\t")[0]: tuple(row.split("\t")[1:]) for row in lines[1:]}


def _store(path: Path) -> dict[str, bytes]:
    env = lmdb.open(str(path), readonly=True, lock=False)
    with env.begin() as txn:
        data = {bytes(k).decode(): bytes(v) for k, v in txn.cursor()}
    env.close()
    return data


def test_round_trip_with_placeholders(raw, tmp_path):
    folder, table = raw
    counts = build_lmdb(table, folder, tmp_path / "db", tmp_path / "report.tsv", workers=1)
    stored = _store(tmp_path / "db")
    assert len(stored) == 28 and counts["stored"] == 28
    assert (counts["ok"], counts["missing"], counts["corrupt"], counts["placeholder"]) == (24, 2, 2, 4)
    for i in range(24):
        image = decode_image(stored[f"item{i:02d}"])
        assert image.mode == "RGB" and image.size == (224, 224)
        expected = np.array(
            Image.new("RGB", (1, 1), COLOURS[i % 4])
            .convert("L" if i % 7 == 6 else "RGB")
            .convert("RGB")
            .getpixel((0, 0))
        )
        assert np.abs(np.asarray(image)[112, 112].astype(int) - expected).max() < 25
    grey = np.asarray(decode_image(stored["gone"]))
    assert np.abs(grey.astype(int) - 128).max() <= 2
    report = _report(tmp_path / "report.tsv")
    assert set(report) == {"gone", "nokey", "trunc", "junk"}
    assert report["gone"] == ("placeholder", f"missing: no file at {folder}/images/gone.jpg")  # the path expected
    assert report["nokey"] == ("placeholder", "missing: no image path (the items table gives none)")
    assert report["trunc"][0] == "placeholder" and report["trunc"][1].startswith("corrupt: ")
    assert report["junk"][1] == "corrupt: not a recognised image: images/junk.jpg"
    verify = verify_lmdb(tmp_path / "db", tmp_path / "verify.json", expected_keys(table, tmp_path / "report.tsv"))
    assert verify["ok"] and verify["entries"] == verify["expected"] == 28


def test_drop_policy_stores_nothing_for_bad_images(raw, tmp_path):
    folder, table = raw
    counts = build_lmdb(table, folder, tmp_path / "db", tmp_path / "report.tsv", policy="drop", workers=1)
    assert set(_store(tmp_path / "db")) == {f"item{i:02d}" for i in range(24)}
    assert (counts["dropped"], counts["placeholder"], counts["missing"], counts["corrupt"]) == (4, 0, 2, 2)
    report = _report(tmp_path / "report.tsv")
    assert {k: v[0] for k, v in report.items()} == {
        "gone": "missing",
        "nokey": "missing",
        "trunc": "corrupt",
        "junk": "corrupt",
    }


def test_worker_pool_gives_the_same_store(raw, tmp_path):
    folder, table = raw
    build_lmdb(table, folder, tmp_path / "one", tmp_path / "r1.tsv", workers=1)
    build_lmdb(table, folder, tmp_path / "two", tmp_path / "r2.tsv", workers=2)
    assert _store(tmp_path / "one") == _store(tmp_path / "two")
    assert (tmp_path / "r1.tsv").read_text() == (tmp_path / "r2.tsv").read_text()


def test_resume_after_interruption_skips_stored_keys(raw, tmp_path, monkeypatch):
    folder, table = raw
    real_load = images._load
    calls: list[str | None] = []

    def dying_load(raw_dir, image_key, size, quality):
        if len(calls) == 10:
            raise RuntimeError("killed")
        calls.append(image_key)
        return real_load(raw_dir, image_key, size, quality)

    monkeypatch.setattr(images, "_load", dying_load)
    with pytest.raises(RuntimeError, match="killed"):
        build_lmdb(table, folder, tmp_path / "db", tmp_path / "report.tsv", workers=1, commit_every=4)
    before = set(_store(tmp_path / "db"))
    assert len(before) == 8  # two committed chunks of 4; the third chunk was lost with the kill
    assert not (tmp_path / "report.tsv").exists()

    seen: list[str] = []
    monkeypatch.setattr(images, "_load", lambda d, k, s, q: (seen.append(k), real_load(d, k, s, q))[1])
    counts = build_lmdb(table, folder, tmp_path / "db", tmp_path / "report.tsv", workers=1, commit_every=4)
    keys = dict(pl.read_parquet(table).iter_rows())
    assert sorted(seen, key=str) == sorted((v for k, v in keys.items() if k not in before), key=str)  # once each
    assert counts["resumed"] == 8 and counts["written"] == 24 - 8 and counts["stored"] == 28

    monkeypatch.undo()
    build_lmdb(table, folder, tmp_path / "clean", tmp_path / "clean.tsv", workers=1)
    assert _store(tmp_path / "db") == _store(tmp_path / "clean")
    assert (tmp_path / "report.tsv").read_text() == (tmp_path / "clean.tsv").read_text()


def test_rerun_rebuilds_the_report_of_stored_placeholders(raw, tmp_path):
    folder, table = raw
    first = build_lmdb(table, folder, tmp_path / "db", tmp_path / "report.tsv", workers=1)
    report = (tmp_path / "report.tsv").read_text()
    (tmp_path / "report.tsv").unlink()
    again = build_lmdb(table, folder, tmp_path / "db", tmp_path / "report.tsv", workers=1)
    assert (tmp_path / "report.tsv").read_text() == report
    assert again["written"] == 0 and again["resumed"] == 28
    assert {k: again[k] for k in ("ok", "missing", "corrupt", "placeholder")} == {
        k: first[k] for k in ("ok", "missing", "corrupt", "placeholder")
    }


def test_switching_to_drop_removes_stored_placeholders(raw, tmp_path):
    folder, table = raw
    build_lmdb(table, folder, tmp_path / "db", tmp_path / "report.tsv", workers=1)
    counts = build_lmdb(table, folder, tmp_path / "db", tmp_path / "report.tsv", policy="drop", workers=1)
    assert set(_store(tmp_path / "db")) == {f"item{i:02d}" for i in range(24)}
    assert counts["dropped"] == 4 and counts["written"] == 0
    assert {v[0] for v in _report(tmp_path / "report.tsv").values()} == {"missing", "corrupt"}


def test_stale_keys_are_removed_and_map_grows(raw, tmp_path):
    folder, table = raw
    build_lmdb(table, folder, tmp_path / "db", tmp_path / "report.tsv", workers=1, map_size=1 << 15)
    smaller = tmp_path / "fewer.parquet"
    pl.read_parquet(table).head(5).write_parquet(smaller)
    counts = build_lmdb(smaller, folder, tmp_path / "db", tmp_path / "report.tsv", workers=1)
    assert counts["removed_stale"] == 23 and set(_store(tmp_path / "db")) == {f"item{i:02d}" for i in range(5)}


def test_bad_inputs_raise_clear_errors(raw, tmp_path):
    folder, table = raw
    with pytest.raises(ValueError, match="policy"):
        build_lmdb(table, folder, tmp_path / "db", tmp_path / "r.tsv", policy="skip")
    twice = tmp_path / "twice.parquet"
    pl.DataFrame({"item_id": ["a", "b", "a"], "image_key": [None, None, None]}).write_parquet(twice)
    with pytest.raises(ValueError, match=r"twice.parquet: duplicate item_id.*'a'"):
        build_lmdb(twice, folder, tmp_path / "db", tmp_path / "r.tsv")
    no_key = tmp_path / "nokey.parquet"
    pl.DataFrame({"item_id": ["a"]}).write_parquet(no_key)
    with pytest.raises(ValueError, match="image_key"):
        build_lmdb(no_key, folder, tmp_path / "db", tmp_path / "r.tsv")
    build_lmdb(table, folder, tmp_path / "db", tmp_path / "r.tsv", workers=1, size=64)
    with pytest.raises(ValueError, match="size"):
        build_lmdb(table, folder, tmp_path / "db", tmp_path / "r.tsv", workers=1, size=224)


def test_verify_names_bad_and_missing_keys(raw, tmp_path):
    folder, table = raw
    build_lmdb(table, folder, tmp_path / "db", tmp_path / "report.tsv", policy="drop", workers=1)
    env = lmdb.open(str(tmp_path / "db"))
    with env.begin(write=True) as txn:
        txn.put(b"item03", b"\xff\xd8 broken")
        txn.put(b"item05", _jpeg((1, 2, 3), (100, 100)))
    env.close()
    with pytest.raises(
        ValueError, match=r"2 bad image\(s\) \['item03', 'item05'\], 1 expected key\(s\) missing \['gone'\]"
    ):
        verify_lmdb(tmp_path / "db", tmp_path / "verify.json", ["item00", "gone"])
    summary = pickle.loads(pickle.dumps(__import__("json").loads((tmp_path / "verify.json").read_text())))
    assert summary["bad"] == 2 and "100x100" in summary["bad_keys"][1]["error"] and not summary["ok"]
    with pytest.raises(FileNotFoundError):
        verify_lmdb(tmp_path / "nowhere", tmp_path / "v.json")


def test_reader_is_lazy_pickleable_and_names_missing_keys(raw, tmp_path):
    folder, table = raw
    build_lmdb(table, folder, tmp_path / "db", tmp_path / "report.tsv", policy="drop", workers=1)
    reader = LmdbImageReader(tmp_path / "db")
    assert str((tmp_path / "db").resolve()) not in images._ENVS  # lazy: nothing opened yet
    assert len(reader) == 24 and "item01" in reader and "gone" not in reader
    assert decode_image(reader["item01"]).size == (224, 224)
    assert reader.get("gone") is None
    with pytest.raises(KeyError, match=r"'gone'.*db"):
        reader["gone"]
    copy = pickle.loads(pickle.dumps(reader))
    assert copy.__getstate__() == {"path": tmp_path / "db"} and copy["item02"] == reader["item02"]
    old = images._ENVS[str((tmp_path / "db").resolve())]
    images._ENVS_PID = -1  # as if forked: the next access opens a fresh environment
    assert reader.get("item00") is not None and images._ENVS[str((tmp_path / "db").resolve())] is not old
    reader.close()
    assert str((tmp_path / "db").resolve()) not in images._ENVS
    with pytest.raises(FileNotFoundError):
        len(LmdbImageReader(tmp_path / "absent"))


class _Images:
    """A map-style dataset over a reader (module level, so DataLoader workers can import it)."""

    def __init__(self, reader: LmdbImageReader, keys: list[str]) -> None:
        self.reader, self.keys = reader, keys

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, i: int):
        import torch

        return torch.from_numpy(np.asarray(decode_image(self.reader[self.keys[i]])).copy())


def test_reader_in_a_two_worker_dataloader(raw, tmp_path):
    torch = pytest.importorskip("torch")
    folder, table = raw
    build_lmdb(table, folder, tmp_path / "db", tmp_path / "report.tsv", policy="drop", workers=1)
    reader = LmdbImageReader(tmp_path / "db")
    keys = [f"item{i:02d}" for i in range(24)]
    assert len(reader) == 24  # opened in the parent first: workers must reopen their own
    loader = torch.utils.data.DataLoader(_Images(reader, keys), batch_size=4, num_workers=2)
    batches = list(loader)
    assert len(batches) == 6 and all(b.shape == (4, 224, 224, 3) for b in batches)
    assert torch.equal(batches[0][1], _Images(reader, keys)[1])


@pytest.mark.realdata
@pytest.mark.skipif(not (REAL_HM / "images").is_dir(), reason="real H&M raw sample images not available")
def test_real_hm_images(tmp_path):
    paths = sorted((REAL_HM / "images").rglob("*.jpg"))
    table = tmp_path / "items.parquet"
    pl.DataFrame(
        {"item_id": [p.stem for p in paths], "image_key": [str(p.relative_to(REAL_HM)) for p in paths]}
    ).write_parquet(table)
    counts = build_lmdb(table, REAL_HM, tmp_path / "db", tmp_path / "report.tsv", workers=2)
    assert counts["ok"] == len(paths) and counts["missing"] == counts["corrupt"] == 0
    assert verify_lmdb(tmp_path / "db", tmp_path / "verify.json", [p.stem for p in paths])["ok"]
    original = np.asarray(Image.open(paths[0]).convert("RGB").resize((224, 224)), dtype=float)
    stored = np.asarray(decode_image(LmdbImageReader(tmp_path / "db")[paths[0].stem]), dtype=float)
    assert np.abs(original - stored).mean() < 6  # draft decoding + JPEG q90 stay close to a full-quality resize


def test_mostly_missing_images_stop_before_decoding_naming_expected_paths(raw, tmp_path):
    folder, table = raw
    for path in list((folder / "images").glob("0*.jpg"))[:14]:
        path.unlink()  # with gone and nokey: 16 of 28 items lack a file
    expected = (
        rf"16 of 28 item images are missing \(57.1% > max_missing_fraction 50.0%\).*item\d\d -> {folder}/images/0"
    )
    with pytest.raises(ValueError, match=expected):
        build_lmdb(table, folder, tmp_path / "db", tmp_path / "report.tsv", workers=1)
    assert not (tmp_path / "db").exists() and not (tmp_path / "report.tsv").exists()
    counts = build_lmdb(table, folder, tmp_path / "db", tmp_path / "report.tsv", workers=1, max_missing_fraction=0.6)
    assert counts["missing"] == 16
    report = _report(tmp_path / "report.tsv")
    assert sum(detail.startswith(f"missing: no file at {folder}/images/") for _, detail in report.values()) == 15


def test_verify_against_expected_keys_under_drop(raw, tmp_path):
    folder, table = raw
    build_lmdb(table, folder, tmp_path / "db", tmp_path / "report.tsv", policy="drop", workers=1)
    keys = expected_keys(table, tmp_path / "report.tsv")
    assert keys == [f"item{i:02d}" for i in range(24)]  # gone, nokey, trunc, junk were dropped
    assert verify_lmdb(tmp_path / "db", tmp_path / "verify.json", keys)["ok"]
    with pytest.raises(
        ValueError, match=r"0 expected key\(s\) missing \[\], 1 key\(s\) not in the item table \['item2"
    ):
        verify_lmdb(tmp_path / "db", tmp_path / "verify.json", keys[:-1])


@pytest.mark.parametrize(
    ("message", "said"),
    [
        ("mdb_txn_commit: No space left on device", "disk full while writing"),
        ("mdb_put: Input/output error", "the disk is full or failing"),
    ],
)
def test_store_write_failure_names_store_and_disk(raw, tmp_path, monkeypatch, message, said):
    folder, table = raw

    def failing_put(env, batch):
        raise lmdb.Error(message)

    monkeypatch.setattr(images, "_put_all", failing_put)
    with pytest.raises(OSError, match=rf"{said}.*{tmp_path / 'db'}|{tmp_path / 'db'}.*{said}"):
        build_lmdb(table, folder, tmp_path / "db", tmp_path / "report.tsv", workers=1)


# --- every PIL mode to 8-bit RGB (issue 16): expected pixels computed by hand -------------------------------------


def _palette(mode: str, index_fill, transparency=None) -> Image.Image:
    """A flat palette image whose index 3 is (200, 100, 50)."""
    image = Image.new(mode, (6, 6), index_fill)
    image.putpalette([0, 0, 0, 10, 20, 30, 40, 50, 60, 200, 100, 50])
    if transparency is not None:
        image.info["transparency"] = transparency
    return image


def _array(values: float, dtype: str) -> Image.Image:
    return Image.fromarray(np.full((6, 6), values, dtype=dtype))


ON_WHITE = 127  # 255 * (1 - 128/255): what the white background adds at alpha 128
MODES = {  # name: (image, expected RGB)
    "1": (Image.new("1", (6, 6), 1), (255, 255, 255)),
    "L": (Image.new("L", (6, 6), 77), (77, 77, 77)),
    "P": (_palette("P", 3), (200, 100, 50)),
    "P_transparent": (_palette("P", 3, transparency=3), (255, 255, 255)),  # the hidden colour must not show
    "PA": (_palette("PA", (3, 128)), (227, 177, 152)),  # c * 128/255 + 127
    "RGBA": (Image.new("RGBA", (6, 6), (200, 0, 0, 128)), (227, ON_WHITE, ON_WHITE)),
    "RGBa": (Image.new("RGBA", (6, 6), (200, 0, 0, 128)).convert("RGBa"), (227, ON_WHITE, ON_WHITE)),
    "LA": (Image.new("LA", (6, 6), (100, 128)), (177, 177, 177)),  # 100 * 128/255 + 127 = 177.2
    "La": (Image.new("LA", (6, 6), (100, 128)).convert("La"), (177, 177, 177)),
    "CMYK": (Image.new("CMYK", (6, 6), (0, 255, 255, 0)), (255, 0, 0)),
    "YCbCr": (Image.new("YCbCr", (6, 6), (128, 128, 128)), (128, 128, 128)),
    "HSV": (Image.new("HSV", (6, 6), (0, 255, 255)), (255, 0, 0)),
    "LAB": (Image.new("LAB", (6, 6), (128, 128, 128)), (119, 119, 119)),  # L* 50.2 -> Y 0.1845 -> sRGB 0.467
    "I;16": (_array(30000, "uint16"), (117, 117, 117)),  # 30000 / 257 = 116.7 (PIL's own convert: 255)
    "I;16B": (Image.frombytes("I;16B", (6, 6), np.full((6, 6), 30000, ">u2").tobytes()), (117, 117, 117)),
    "I": (_array(30000, "int32"), (117, 117, 117)),
    "I_clipped": (_array(70000, "int32"), (255, 255, 255)),
    "I_negative": (_array(-5, "int32"), (0, 0, 0)),
    "F_unit": (_array(0.5, "float32"), (128, 128, 128)),  # 0..1 floats: 0.5 * 255 = 127.5 -> 128
    "F_bytes": (_array(200.0, "float32"), (200, 200, 200)),
}


@pytest.mark.parametrize("name", sorted(MODES))
def test_every_mode_converts_to_the_hand_computed_pixel(name):
    image, expected = MODES[name]
    rgb = images.to_rgb(image)
    assert rgb.mode == "RGB" and rgb.size == image.size
    assert all(abs(a - b) <= 1 for a, b in zip(rgb.getpixel((3, 3)), expected)), (rgb.getpixel((3, 3)), expected)


FILES = {  # name: (file format, source mode PIL reopens it in)
    "L": ("PNG", "L"),
    "P": ("PNG", "P"),
    "P_transparent": ("PNG", "P"),
    "RGBA": ("PNG", "RGBA"),
    "LA": ("PNG", "LA"),
    "I;16": ("PNG", "I;16"),  # the 16-bit grey PNG once stored with mean 254.5
    "CMYK": ("JPEG", "CMYK"),
    "F_unit": ("TIFF", "F"),
    "LAB": ("TIFF", "LAB"),
}


def test_build_stores_each_file_mode_correctly_and_counts_conversions(tmp_path):
    folder = tmp_path / "raw" / "images"
    folder.mkdir(parents=True)
    rows = []
    for name, (fmt, _) in FILES.items():
        key = f"images/{name.replace(';', '_')}.{fmt.lower()}"
        MODES[name][0].save(tmp_path / "raw" / key, fmt, **({"quality": 100} if fmt == "JPEG" else {}))
        rows.append((name, key))
    table = tmp_path / "items.parquet"
    pl.DataFrame(rows, schema={"item_id": pl.Utf8, "image_key": pl.Utf8}, orient="row").write_parquet(table)
    counts = build_lmdb(table, tmp_path / "raw", tmp_path / "s.lmdb", tmp_path / "r.tsv", size=16, workers=1)
    stored = _store(tmp_path / "s.lmdb")
    for name in FILES:
        pixel = decode_image(stored[name]).getpixel((8, 8))
        assert all(abs(a - b) <= 3 for a, b in zip(pixel, MODES[name][1])), (name, pixel)  # JPEG of a flat image
    modes = [mode for _, mode in FILES.values()]
    assert counts["converted_modes"] == {mode: modes.count(mode) for mode in sorted(set(modes))}
    assert counts["ok"] == len(FILES) and _report(tmp_path / "r.tsv") == {}


def test_shared_work_folder_is_per_output_and_locked(tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    (raw / "images").mkdir(parents=True)
    Image.new("RGB", (8, 8), (1, 2, 3)).save(raw / "images" / "a.png")
    table = tmp_path / "items.parquet"
    pl.DataFrame({"item_id": ["a"], "image_key": ["images/a.png"]}).write_parquet(table)
    shared = tmp_path / "shared_data" / "interim" / "lmdb"
    seen = []
    real_build = images.build_lmdb

    def build_and_record(item_table, raw_dir, work, report, **settings):
        seen.append(Path(work))
        assert Path(work).parent == shared and (Path(str(work) + ".lock")).exists()
        return real_build(item_table, raw_dir, work, report, **settings)

    monkeypatch.setattr(images, "build_lmdb", build_and_record)
    for workflow in ("one", "two"):  # two workflow directories, one shared data/
        out = tmp_path / workflow / "results" / "images" / "hm"
        images.build_lmdb_via_work_dir(table, raw, out / "images.lmdb", out / "report.tsv", shared, size=8, workers=1)
        assert _store(out / "images.lmdb").keys() == {"a"}
    assert seen[0] != seen[1] and all(p.name.startswith("hm_") for p in seen)
    assert not any(p.exists() for p in seen)  # moved into place


def test_a_second_build_of_the_same_store_stops_naming_the_holder(tmp_path):
    from transrec.locks import LockedError, exclusive_lock

    target = (tmp_path / "results" / "images" / "hm" / "images.lmdb").absolute()
    key = __import__("hashlib").sha256(str(target).encode()).hexdigest()[:10]
    lock = tmp_path / "interim" / f"hm_{key}.lmdb.lock"
    with exclusive_lock(lock, "held by this test", "n/a"):
        with pytest.raises(LockedError, match=rf"LMDB work folder .* is in use by pid {__import__('os').getpid()} "):
            images.build_lmdb_via_work_dir(
                tmp_path / "x.parquet", tmp_path, target, tmp_path / "r.tsv", tmp_path / "interim"
            )
