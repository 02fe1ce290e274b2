"""Unpack a downloaded archive (zip, tar[.gz], .gz) atomically: a killed unpack leaves no tree that looks done."""

from __future__ import annotations

import gzip
import os
import shutil
import tarfile
import zipfile
from pathlib import Path

ARCHIVES = (".zip", ".tar.gz", ".tgz", ".tar", ".gz")


def is_archive(name: str) -> bool:
    """Whether `name` ends in a suffix unpack() knows."""
    return name.lower().endswith(ARCHIVES)


def unpack(archive: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Extract `archive` into the folder `dest`; an existing `dest` is taken as done.

    The tree is built in a hidden sibling and renamed onto `dest` at the end, so `dest` exists only complete; leftovers
    of a killed unpack are removed first. Members escaping the folder (absolute paths, `..`, links) are refused.
    """
    archive, dest = Path(archive), Path(dest)
    if dest.is_dir():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    for stale in dest.parent.glob(f".{dest.name}.unpacking-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = dest.parent / f".{dest.name}.unpacking-{os.getpid()}"
    tmp.mkdir()
    try:
        _extract(archive, tmp)
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _extract(archive: Path, into: Path) -> None:
    name = archive.name.lower()
    if name.endswith(".zip") or zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as handle:
            for member in handle.namelist():
                _check_member(archive, into, member)
            handle.extractall(into)
    elif name.endswith((".tar.gz", ".tgz", ".tar")):
        with tarfile.open(archive) as handle:
            handle.extractall(into, filter="data")  # refuses absolute paths, `..` and links leaving the folder
    elif name.endswith(".gz"):
        with gzip.open(archive, "rb") as source, open(into / archive.name[: -len(".gz")], "wb") as target:
            shutil.copyfileobj(source, target, 1 << 20)
    else:
        raise ValueError(f"{archive}: not an archive this unpacker knows ({', '.join(ARCHIVES)})")


def _check_member(archive: Path, into: Path, member: str) -> None:
    target = (into / member).resolve()
    if not target.is_relative_to(into.resolve()):
        raise ValueError(f"{archive}: member {member!r} would be written outside the unpack folder: refused")
