"""Atomic writes: a full disk is named (path, ENOSPC) and leaves nothing behind; folders move across filesystems."""

from __future__ import annotations

import errno
import io
import os

import polars as pl
import pytest
import torch

from transrec import io as tio
from transrec.train import checkpoint


def test_atomic_write_on_full_disk_names_path_and_leaves_nothing(tmp_path):
    target = tmp_path / "out" / "report.json"
    with pytest.raises(tio.DiskFullError, match=rf"disk full while writing {target} \(.* MiB free") as caught:
        with tio.atomic_path(target, ".json") as tmp:
            tmp.write_text("partial")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert caught.value.errno == errno.ENOSPC
    assert list(target.parent.iterdir()) == []  # neither the output nor the temporary file


def test_writer_that_only_says_it_in_words_is_recognised(tmp_path, monkeypatch):
    def full(self, path, *args, **kwargs):
        raise pl.exceptions.ComputeError("parquet: underlying IO error: No space left on device (os error 28)")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", full)
    with pytest.raises(tio.DiskFullError, match=r"items.parquet.*ComputeError"):
        tio.write_parquet(pl.DataFrame({"a": [1]}), tmp_path / "items.parquet")


def test_other_errors_pass_unchanged(tmp_path):
    with pytest.raises(ValueError, match="^boom$"):
        with tio.atomic_path(tmp_path / "x.txt"):
            raise ValueError("boom")
    assert not tio.is_disk_full(OSError(errno.EACCES, "Permission denied"))


class FullFile(io.BufferedWriter):
    """A file that accepts `room` bytes, then fails as a full disk does."""

    def __init__(self, path, room: int) -> None:
        super().__init__(io.FileIO(path, "wb"))
        self.room = room

    def write(self, data) -> int:
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return super().write(data)


def test_checkpoint_save_on_full_disk_names_the_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "open", lambda path, mode: FullFile(path, 1000), raising=False)
    target = tmp_path / "run" / "last.pt"
    with pytest.raises(tio.DiskFullError, match=rf"disk full while writing {target}"):
        checkpoint.save(target, {"weights": torch.zeros(10_000)})
    assert not target.parent.exists() or list(target.parent.iterdir()) == []


def test_checkpoint_still_round_trips(tmp_path):
    checkpoint.save(tmp_path / "best.pt", {"trainable": {"w": torch.arange(6.0)}, "base": "x"})
    loaded = checkpoint.load(tmp_path / "best.pt")
    assert torch.equal(loaded["trainable"]["w"], torch.arange(6.0)) and loaded["base"] == "x"


def _store(folder):
    folder.mkdir(parents=True)
    (folder / "data.mdb").write_bytes(b"d" * 100)
    (folder / "lock.mdb").write_bytes(b"l")
    return folder


def cross_device(real_replace):
    """os.replace that refuses to move folders between the two 'filesystems' (work -> results)."""

    def replace(source, target):
        if "work" in str(source) and "results" in str(target):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_replace(source, target)

    return replace


def test_replace_dir_copies_then_renames_across_filesystems(tmp_path, monkeypatch):
    work = _store(tmp_path / "work" / "hm.lmdb")
    target = tmp_path / "results" / "images.lmdb"
    _store(target)  # an old store is replaced
    (target / "data.mdb").write_bytes(b"old")
    monkeypatch.setattr(os, "replace", cross_device(os.replace))
    tio.replace_dir(work, target)
    assert (target / "data.mdb").read_bytes() == b"d" * 100 and (target / "lock.mdb").exists()
    assert not work.exists() and sorted(p.name for p in target.parent.iterdir()) == ["images.lmdb"]


def test_replace_dir_same_filesystem_is_a_rename(tmp_path):
    work = _store(tmp_path / "work" / "a.lmdb")
    tio.replace_dir(work, tmp_path / "results" / "a.lmdb")
    assert not work.exists() and (tmp_path / "results" / "a.lmdb" / "data.mdb").exists()


def test_replace_dir_disk_full_during_copy_names_target_and_keeps_work(tmp_path, monkeypatch):
    work = _store(tmp_path / "work" / "hm.lmdb")
    target = tmp_path / "results" / "images.lmdb"
    monkeypatch.setattr(os, "replace", cross_device(os.replace))

    def full_copy(source, destination, *, follow_symlinks=True):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("shutil.copyfile", full_copy)
    with pytest.raises(tio.DiskFullError, match=rf"disk full while writing {target}"):
        tio.replace_dir(work, target)
    assert (work / "data.mdb").exists()  # the finished build survives for the rerun
    assert not target.exists() and not (tmp_path / "results" / ".images.lmdb.copy").exists()
