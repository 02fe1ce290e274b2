"""unpack(): zip, tar.gz and gz archives, atomically (a killed unpack leaves nothing taken as done), no escapes."""

import gzip
import io
import tarfile
import zipfile

import pytest

from transrec.download import archive
from transrec.download.archive import unpack


def make_zip(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as handle:
        for name, data in members.items():
            handle.writestr(name, data)
    return path


def make_tar_gz(path, members: dict[str, bytes]):
    with tarfile.open(path, "w:gz") as handle:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            handle.addfile(info, io.BytesIO(data))
    return path


def test_zip_tar_gz_and_gz_unpack_to_their_members(tmp_path):
    unpack(make_zip(tmp_path / "a.zip", {"news.tsv": b"N1\tx\n", "sub/b.txt": b"b"}), tmp_path / "zip")
    assert (tmp_path / "zip" / "news.tsv").read_bytes() == b"N1\tx\n"
    assert (tmp_path / "zip" / "sub" / "b.txt").read_bytes() == b"b"
    unpack(make_tar_gz(tmp_path / "w.tar.gz", {"one_week/20170101": b"{}\n"}), tmp_path / "tar")
    assert (tmp_path / "tar" / "one_week" / "20170101").read_bytes() == b"{}\n"
    (tmp_path / "r.json.gz").write_bytes(gzip.compress(b'{"a": 1}\n'))
    unpack(tmp_path / "r.json.gz", tmp_path / "gz")
    assert (tmp_path / "gz" / "r.json").read_bytes() == b'{"a": 1}\n'


def test_a_killed_unpack_leaves_no_tree_and_the_next_one_cleans_up(tmp_path, monkeypatch):
    source = make_zip(tmp_path / "a.zip", {"x.tsv": b"x"})
    real = archive._extract

    def die_halfway(path, into):
        (into / "half.tsv").write_bytes(b"half")
        raise KeyboardInterrupt  # as a kill would, after part of the tree was written

    monkeypatch.setattr(archive, "_extract", die_halfway)
    with pytest.raises(KeyboardInterrupt):
        unpack(source, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    (tmp_path / ".out.unpacking-99999").mkdir()  # a SIGKILLed unpack cannot clean up after itself
    monkeypatch.setattr(archive, "_extract", real)
    unpack(source, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip", "out"]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["x.tsv"]


def test_an_existing_folder_counts_as_done(tmp_path):
    (tmp_path / "out").mkdir()
    unpack(make_zip(tmp_path / "a.zip", {"x": b"x"}), tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_members_escaping_the_folder_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"member '\.\./evil' would be written outside"):
        unpack(make_zip(tmp_path / "a.zip", {"../evil": b"x"}), tmp_path / "out")
    assert not (tmp_path / "evil").exists() and not (tmp_path / "out").exists()
    with pytest.raises(tarfile.OutsideDestinationError):
        unpack(make_tar_gz(tmp_path / "t.tar.gz", {"../evil": b"x"}), tmp_path / "out2")
    assert not (tmp_path / "evil").exists()
