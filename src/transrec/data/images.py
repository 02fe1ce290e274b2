"""LMDB image store: item id -> size x size RGB JPEG bytes, built resumably in parallel, verified, read lazily."""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import io
import logging
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import lmdb
import numpy as np
import polars as pl
from PIL import Image

from transrec.io import DiskFullError, atomic_path, disk_full_error, free_mib, is_disk_full, replace_dir, write_json
from transrec.locks import exclusive_lock
from transrec.logs import progress

log = logging.getLogger(__name__)

POLICIES = ("placeholder", "drop")
GREY = (128, 128, 128)
BACKGROUND = (255, 255, 255)  # transparent pixels are composited on white, the background of catalogue photos
ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
REPORT_HEADER = "item_id\tstatus\tdetail"
DROP_STATUSES = ("missing", "corrupt")  # report statuses of items left out of the store (policy drop)


def decode_image(data: bytes) -> Image.Image:
    """Decode stored image bytes to an RGB PIL image."""
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


def _scaled_to_8bit(image: Image.Image) -> Image.Image:
    """A single-channel 16-bit, 32-bit integer or float image as 8-bit grey: integers are read as 16-bit values
    (x / 257, so 65535 -> 255; mode I is how PIL opens 16-bit PNGs and TIFFs), floats as 0..1 when none exceeds 1,
    else as 0..255; out-of-range values are clipped."""
    values = np.asarray(image, dtype=np.float64)
    if image.mode == "F":
        scaled = values * 255.0 if values.size and np.nanmax(values) <= 1.0 else values
    else:
        scaled = np.clip(values, 0, 65535) / 257.0
    return Image.fromarray(np.clip(np.rint(np.nan_to_num(scaled)), 0, 255).astype(np.uint8), "L")


def to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB of an image in any mode PIL opens: high bit depths scaled (not clipped), transparency composited on
    BACKGROUND (not dropped), palettes expanded with their transparency, CMYK / YCbCr / HSV / LAB converted."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode == "P" and "transparency" in image.info or mode in ALPHA_MODES:
        rgba = (image.convert("LA") if mode == "La" else image).convert("RGBA")  # un-premultiplies RGBa and La
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (*BACKGROUND, 255)), rgba).convert("RGB")
    if mode.startswith("I") or mode == "F":
        return _scaled_to_8bit(image).convert("RGB")
    if mode == "LAB":
        from PIL import ImageCms

        lab = ImageCms.createProfile("LAB")
        return ImageCms.profileToProfile(image, lab, ImageCms.createProfile("sRGB"), outputMode="RGB")
    return image.convert("RGB")


def _encode(image: Image.Image, quality: int) -> bytes:
    """JPEG bytes of an RGB image."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


@functools.lru_cache(maxsize=4)
def placeholder_bytes(size: int, quality: int) -> bytes:
    """The grey image stored in place of a missing or corrupt one (always the same bytes)."""
    return _encode(Image.new("RGB", (size, size), GREY), quality)


def _load(raw_dir: str, image_key: str | None, size: int, quality: int) -> tuple[str, bytes | str, str]:
    """("ok", JPEG bytes of the resized image, source mode), or ("missing" | "corrupt", why, "")."""
    if not image_key:
        return "missing", "no image path (the items table gives none)", ""
    expected = os.path.join(raw_dir, image_key)
    try:
        with open(expected, "rb") as handle:
            data = handle.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return "missing", f"no file at {expected}", ""
    try:
        with Image.open(io.BytesIO(data)) as image:
            original = image.size
            if image.format == "JPEG":
                image.draft("RGB", (size, size))  # DCT scaling: decode at >= size, up to 8x less work
            image.load()
            mode = image.mode
            if image.format == "JPEG" and mode == "RGB" and original == (size, size):
                return "ok", data, mode  # already the stored format: keep the source bytes, no second lossy pass
            rgb = to_rgb(image)
        if rgb.size != (size, size):
            rgb = rgb.resize((size, size), Image.BILINEAR, reducing_gap=2.0)
        return "ok", _encode(rgb, quality), mode
    except Image.UnidentifiedImageError:
        return "corrupt", f"not a recognised image: {image_key}", ""
    except Exception as error:  # PIL raises OSError, SyntaxError, ValueError, DecompressionBombError ...
        return "corrupt", f"{type(error).__name__}: {error} ({image_key})".replace("\t", " ").replace("\n", " "), ""


def _work(task: tuple[str, str | None], raw_dir: str, size: int, quality: int) -> tuple[str, str, bytes | str, str]:
    """Process one (item_id, image_key) in a worker."""
    item_id, image_key = task
    return item_id, *_load(raw_dir, image_key, size, quality)


def _results(
    tasks: list[tuple[str, str | None]], raw_dir: str, size: int, quality: int, workers: int
) -> Iterator[tuple[str, str, bytes | str, str]]:
    """(item_id, status, payload, source mode) per task, in order; decoding runs in `workers` processes (in-process
    if <= 1)."""
    work = functools.partial(_work, raw_dir=raw_dir, size=size, quality=quality)
    if workers <= 1:
        yield from map(work, tasks)
        return
    with multiprocessing.get_context().Pool(workers) as pool:
        yield from pool.imap(work, tasks, chunksize=16)


@contextlib.contextmanager
def _store_errors(lmdb_path: Path) -> Iterator[None]:
    """Name the store when a write fails for lack of space (LMDB reports ENOSPC, or EIO from its memory map)."""
    try:
        yield
    except DiskFullError:
        raise
    except (lmdb.Error, OSError) as error:
        if is_disk_full(error):
            raise disk_full_error(lmdb_path, error) from error
        if "input/output error" in str(error).lower() or getattr(error, "errno", None) == errno.EIO:
            free = free_mib(lmdb_path)
            raise OSError(
                errno.EIO,
                f"Input/output error while writing the LMDB image store {lmdb_path} "
                f"({f'{free:.1f} MiB' if free is not None else 'unknown space'} free on its filesystem): the disk is "
                f"full or failing; free space and rerun (the build resumes from the images already stored) ({error})",
            ) from error
        raise


def check_missing(keys: dict[str, str | None], raw_dir: str, max_missing_fraction: float) -> int:
    """Count items without an image file (stat only, before any decoding); raise when more than
    `max_missing_fraction` of them lack one, so a dataset whose images are mostly missing never trains on
    placeholders. Every missing item is logged with the path it expected."""
    if not 0 <= max_missing_fraction <= 1:
        raise ValueError(f"max_missing_fraction must be in [0, 1], not {max_missing_fraction!r}")
    missing = [
        (item_id, os.path.join(raw_dir, key) if key else "(no image path)")
        for item_id, key in keys.items()
        if not key or not os.path.isfile(os.path.join(raw_dir, key))
    ]
    for item_id, expected in missing:
        log.info("missing image: item %s expected at %s", item_id, expected)
    share = len(missing) / max(len(keys), 1)
    if share > max_missing_fraction:
        shown = "; ".join(f"{item} -> {path}" for item, path in missing[:10])
        raise ValueError(
            f"{raw_dir}: {len(missing)} of {len(keys)} item images are missing ({share:.1%} > max_missing_fraction "
            f"{max_missing_fraction:.1%}): is raw_dir (or its images/ folder) the right one? First: {shown} "
            "(every missing item is listed in this job's log). Raise images.max_missing_fraction to accept it."
        )
    return len(missing)


def _put_all(env: lmdb.Environment, batch: list[tuple[bytes, bytes]]) -> None:
    """Write one chunk in one transaction, doubling the map size until it fits."""
    while True:
        try:
            with env.begin(write=True) as txn:
                for key, value in batch:
                    txn.put(key, value)
            return
        except lmdb.MapFullError:
            grown = env.info()["map_size"] * 2
            log.info("LMDB map full: growing it to %.1f MiB", grown / 2**20)
            env.set_mapsize(grown)


def _read_items(item_table: Path) -> pl.DataFrame:
    """The item_id and image_key columns of the ingest items table, checked."""
    frame = pl.read_parquet(item_table)
    missing = {"item_id", "image_key"} - set(frame.columns)
    if missing:
        raise ValueError(f"{item_table}: missing column(s) {sorted(missing)}; have {frame.columns}")
    frame = frame.select(pl.col("item_id").cast(pl.Utf8), pl.col("image_key").cast(pl.Utf8))
    nulls = frame.with_row_index("row").filter(pl.col("item_id").is_null())["row"].to_list()
    if nulls:
        raise ValueError(f"{item_table}: null item_id in row(s) {nulls[:10]}")
    duplicated = frame.filter(pl.col("item_id").is_duplicated())["item_id"].unique().sort().to_list()
    if duplicated:
        raise ValueError(f"{item_table}: duplicate item_id(s) {duplicated[:10]}")
    return frame


def _stored_state(env: lmdb.Environment, placeholder: bytes) -> tuple[set[str], set[str]]:
    """Keys already in the store, and those holding the placeholder."""
    stored, placeholders = set(), set()
    with env.begin() as txn:
        for key, value in txn.cursor():
            item_id = bytes(key).decode("utf-8")
            stored.add(item_id)
            if value == placeholder:
                placeholders.add(item_id)
    return stored, placeholders


def _stored_size(env: lmdb.Environment) -> tuple[int, int] | None:
    """The pixel size of the first stored image, or None when the store is empty."""
    with env.begin() as txn:
        for _, value in txn.cursor():
            return decode_image(bytes(value)).size
    return None


def _resume(
    env: lmdb.Environment,
    wanted: list[str],
    keys: dict[str, str | None],
    raw: str,
    size: int,
    quality: int,
    policy: str,
) -> tuple[set[str], dict[str, tuple[str, str]], dict[str, int]]:
    """What an earlier (killed) run left: stored keys, report rows of its placeholders, and counts."""
    placeholder = placeholder_bytes(size, quality)
    stored, stored_placeholders = _stored_state(env, placeholder)
    stale = stored - set(wanted)  # the item table changed since the store was written
    if stored and _stored_size(env) != (size, size):
        raise ValueError(
            f"{env.path()} holds images of size {_stored_size(env)}, not {size}x{size}; delete it to rebuild"
        )
    rows: dict[str, tuple[str, str]] = {}
    counts = {
        "items": len(wanted),
        "ok": 0,
        "missing": 0,
        "corrupt": 0,
        "resumed": 0,
        "removed_stale": len(stale),
        "written": 0,
    }
    for item_id in sorted(stored_placeholders - stale):  # re-derive why a placeholder was stored
        status, detail, _ = _load(raw, keys[item_id], size, quality)
        if status == "ok":
            continue  # a genuinely flat grey picture
        counts[status] += 1
        if policy == "placeholder":
            rows[item_id] = ("placeholder", f"{status}: {detail}")
        else:  # the policy changed to drop: the placeholder goes, the item is listed
            stale.add(item_id)
            rows[item_id] = (status, detail)
    if stale:
        _delete(env, stale)
        log.info("removed %d stored images (items no longer listed, or placeholders under policy drop)", len(stale))
    stored -= stale
    counts["resumed"] = len(stored)
    counts["ok"] = len(stored) - len(rows)
    return stored, rows, counts


def build_lmdb(
    item_table: str | Path,
    raw_dir: str | Path,
    lmdb_path: str | Path,
    report: str | Path,
    *,
    size: int = 224,
    policy: str = "placeholder",
    quality: int = 90,
    workers: int = 2,
    commit_every: int = 256,
    map_size: int | None = None,
    max_missing_fraction: float = 0.5,
) -> dict:
    """Store every item's image, resized to size x size, as JPEG keyed by item_id; resume where a killed run stopped.

    Stops before decoding when more than `max_missing_fraction` of the items have no image file; a full disk raises
    an error naming the store."""
    if policy not in POLICIES:
        raise ValueError(f"unknown image policy {policy!r}; expected one of {POLICIES}")
    began = time.perf_counter()
    items = _read_items(Path(item_table))
    wanted = items["item_id"].to_list()
    keys = dict(zip(wanted, items["image_key"].to_list()))
    raw = str(raw_dir)
    lmdb_path = Path(lmdb_path)
    check_missing(keys, raw, max_missing_fraction)
    with _store_errors(lmdb_path):  # a full or failing disk is named, with the store
        lmdb_path.mkdir(parents=True, exist_ok=True)
        _release(lmdb_path)
        env = lmdb.open(
            str(lmdb_path), map_size=map_size or max(2**26, len(wanted) * 48 * 1024), readahead=False, meminit=False
        )
        placeholder = placeholder_bytes(size, quality)
        try:
            stored, rows, counts = _resume(env, wanted, keys, raw, size, quality, policy)
            tasks = [(item_id, keys[item_id]) for item_id in wanted if item_id not in stored]
            log.info(
                "images: %d items, %d already stored, %d to process with %d worker(s)",
                len(wanted),
                len(stored),
                len(tasks),
                workers,
            )
            batch: list[tuple[bytes, bytes]] = []
            converted: Counter[str] = Counter()  # source modes other than 8-bit RGB, by mode
            for item_id, status, payload, mode in progress(
                _results(tasks, raw, size, quality, workers), "images", total=len(tasks)
            ):
                if status == "ok":
                    converted[mode] += mode != "RGB"
                    counts["ok"] += 1
                    counts["written"] += 1
                    batch.append((item_id.encode("utf-8"), payload))
                else:
                    counts[status] += 1
                    if policy == "placeholder":
                        batch.append((item_id.encode("utf-8"), placeholder))
                        rows[item_id] = ("placeholder", f"{status}: {payload}")
                    else:
                        rows[item_id] = (status, payload)
                if len(batch) >= commit_every:  # a kill loses at most this chunk
                    _put_all(env, batch)
                    batch.clear()
            if batch:
                _put_all(env, batch)
            env.sync()
            counts["stored"] = env.stat()["entries"]
            counts["converted_modes"] = dict(sorted((mode, n) for mode, n in converted.items() if n))
        finally:
            env.close()
    counts["placeholder"] = sum(1 for status, _ in rows.values() if status == "placeholder")
    counts["dropped"] = sum(1 for status, _ in rows.values() if status != "placeholder")
    _write_report(Path(report), ((item_id, *rows[item_id]) for item_id in wanted if item_id in rows))
    seconds = time.perf_counter() - began
    counts.update(
        policy=policy,
        size=size,
        seconds=round(seconds, 3),
        images_per_s=round(len(tasks) / seconds, 1) if seconds > 0 else None,
    )
    log.info("images: %s", counts)
    return counts


def build_lmdb_via_work_dir(
    item_table: str | Path,
    raw_dir: str | Path,
    lmdb_path: str | Path,
    report: str | Path,
    work_dir: str | Path,
    **settings,
) -> dict:
    """build_lmdb in a work folder under `work_dir` (a killed build resumes there; Snakemake would delete a half-built
    output), then move it onto `lmdb_path`.

    The work folder is named after the output's absolute path, so workflows sharing one `data/` never share one; a
    lock on it stops a second build of the same output at once, naming the process that holds it."""
    target = Path(lmdb_path).absolute()
    key = hashlib.sha256(str(target).encode()).hexdigest()[:10]
    work = Path(work_dir) / f"{target.parent.name}_{key}.lmdb"
    advice = "another build of this store is running (two Snakemake runs on one workdir?); wait for it or end it"
    with exclusive_lock(work.with_name(work.name + ".lock"), f"the LMDB work folder {work} of {target}", advice):
        counts = build_lmdb(item_table, raw_dir, work, report, **settings)
        replace_dir(work, target)  # copy + rename when data/ and results/ are on different filesystems
    return counts


def _delete(env: lmdb.Environment, keys: Iterable[str]) -> None:
    """Delete `keys` in one transaction."""
    with env.begin(write=True) as txn:
        for key in keys:
            txn.delete(key.encode("utf-8"))


def _write_report(path: Path, rows: Iterable[tuple[str, str, str]]) -> None:
    """The image report: a header, then item_id<TAB>status<TAB>detail per item that has no image of its own."""
    with atomic_path(path, ".tsv") as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(REPORT_HEADER + "\n")
            for item_id, status, detail in rows:
                handle.write(f"{item_id}\t{status}\t{detail}\n")


def expected_keys(item_table: str | Path, report: str | Path) -> list[str]:
    """The item ids a finished store must hold: every item of the table except those its image report lists as
    left out (status missing or corrupt: policy drop)."""
    left_out = set()
    with open(report, encoding="utf-8") as handle:
        for line in handle:
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) >= 2 and fields[1] in DROP_STATUSES:
                left_out.add(fields[0])
    return [item_id for item_id in _read_items(Path(item_table))["item_id"].to_list() if item_id not in left_out]


def verify_lmdb(
    lmdb_path: str | Path, out_json: str | Path, expected_keys: Iterable[str] | None = None, *, size: int = 224
) -> dict:
    """Check that every stored value decodes to a size x size RGB image and, given `expected_keys`, that the store
    holds exactly those keys (none missing, none extra); raise naming the keys if not."""
    lmdb_path = Path(lmdb_path)
    bad: list[dict] = []
    keys: set[str] = set()
    env = _shared_env(lmdb_path)
    try:
        with env.begin() as txn:
            for key, value in progress(txn.cursor(), "verify images", total=env.stat()["entries"]):
                item_id = bytes(key).decode("utf-8")
                keys.add(item_id)
                problem = _check(bytes(value), size)
                if problem:
                    bad.append({"item_id": item_id, "error": problem})
    finally:
        _release(lmdb_path)
    expected = set(expected_keys) if expected_keys is not None else None
    absent = sorted(expected - keys) if expected is not None else []
    extra = sorted(keys - expected) if expected is not None else []
    summary = {
        "path": str(lmdb_path),
        "entries": len(keys),
        "size": size,
        "bad": len(bad),
        "bad_keys": bad[:100],
        "missing_expected": len(absent),
        "missing_expected_keys": absent[:100],
        "unexpected": len(extra),
        "unexpected_keys": extra[:100],
        "expected": len(expected) if expected is not None else None,
        "ok": not bad and not absent and not extra,
    }
    write_json(out_json, summary)
    if bad or absent or extra:
        raise ValueError(
            f"{lmdb_path}: {len(bad)} bad image(s) {[b['item_id'] for b in bad[:20]]}, "
            f"{len(absent)} expected key(s) missing {absent[:20]}, {len(extra)} key(s) not in the item table "
            f"{extra[:20]}: the store does not match the items; delete it and rerun build_lmdb (details in {out_json})"
        )
    log.info("verified %d images in %s", len(keys), lmdb_path)
    return summary


def _check(data: bytes, size: int) -> str | None:
    """Why `data` is not a size x size RGB image, or None."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if image.mode != "RGB" or image.size != (size, size):
                return f"{image.mode} {image.size[0]}x{image.size[1]}, expected RGB {size}x{size}"
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return None


_ENVS: dict[str, lmdb.Environment] = {}  # one read-only environment per store per process
_ENVS_PID = os.getpid()


def _shared_env(path: Path) -> lmdb.Environment:
    """This process's read-only environment of a store (py-lmdb refuses to open one store twice in a process)."""
    global _ENVS_PID
    if _ENVS_PID != os.getpid():
        # forked: the inherited handles are the parent's, yet py-lmdb counts them as open here; closing the
        # child's copies releases them without touching the parent
        for env in _ENVS.values():
            env.close()
        _ENVS.clear()
        _ENVS_PID = os.getpid()
    key = str(path.resolve())
    env = _ENVS.get(key)
    if env is None:
        if not (path / "data.mdb").exists():
            raise FileNotFoundError(f"no LMDB image store at {path}")
        env = _ENVS[key] = lmdb.open(key, readonly=True, lock=False, readahead=False, max_readers=512)
    return env


def _release(path: Path) -> None:
    """Close this process's read-only environment of a store, if open (before writing to it)."""
    if _ENVS_PID == os.getpid():
        env = _ENVS.pop(str(path.resolve()), None)
        if env is not None:
            env.close()


class LmdbImageReader:
    """Read-only access to an image store, opened lazily once per process (safe in DataLoader workers)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def get(self, item_id: str) -> bytes | None:
        """The stored bytes of `item_id`, or None."""
        with _shared_env(self.path).begin() as txn:
            return txn.get(str(item_id).encode("utf-8"))

    def __getitem__(self, item_id: str) -> bytes:
        data = self.get(item_id)
        if data is None:
            raise KeyError(f"item {item_id!r} has no image in {self.path}")
        return data

    def __contains__(self, item_id: object) -> bool:
        return self.get(str(item_id)) is not None

    def __len__(self) -> int:
        return _shared_env(self.path).stat()["entries"]

    def __getstate__(self) -> dict:
        return {"path": self.path}  # only the path travels; each process opens its own environment

    def __setstate__(self, state: dict) -> None:
        self.path = state["path"]

    def close(self) -> None:
        """Close this process's environment of the store (it reopens on next use)."""
        _release(self.path)
