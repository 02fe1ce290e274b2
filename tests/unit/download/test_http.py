"""fetch(): resume by Range, retries on cut and stalled responses, fatal 404, redirects, pinned checksums."""

import hashlib

import pytest

from http_server import Route
from transrec.download.http import DownloadError, Policy, TransientError, fetch

BODY = bytes(range(256)) * 40  # 10,240 bytes
DIGEST = hashlib.sha256(BODY).hexdigest()
FAST = Policy(timeout_s=2, retries=3, backoff_s=0.01)


def test_fetches_a_file_and_returns_its_digest(server, tmp_path):
    server.routes["/f.bin"] = Route(BODY)
    assert fetch(server.url("/f.bin"), tmp_path / "f.bin", policy=FAST) == DIGEST
    assert (tmp_path / "f.bin").read_bytes() == BODY
    assert not (tmp_path / "f.bin.part").exists()


def test_a_response_cut_halfway_is_resumed_from_the_byte_it_stopped_at(server, tmp_path):
    server.routes["/f.bin"] = route = Route(BODY, cut_first=1)
    fetch(server.url("/f.bin"), tmp_path / "f.bin", policy=FAST, sha256=DIGEST)
    assert (tmp_path / "f.bin").read_bytes() == BODY
    assert route.requests == [None, f"bytes={len(BODY) // 2}-"]  # the second request asks only for the rest


def test_a_stalled_response_times_out_and_resumes(server, tmp_path):
    server.routes["/f.bin"] = route = Route(BODY, stall_first=1, stall_s=2)
    fetch(server.url("/f.bin"), tmp_path / "f.bin", policy=Policy(timeout_s=0.3, retries=2, backoff_s=0.01))
    assert (tmp_path / "f.bin").read_bytes() == BODY
    assert route.requests == [None, f"bytes={len(BODY) // 2}-"]


def test_a_killed_download_continues_from_its_partial_file(server, tmp_path):
    server.routes["/f.bin"] = route = Route(BODY)
    (tmp_path / "f.bin.part").write_bytes(BODY[:1000])  # what a killed process left behind
    fetch(server.url("/f.bin"), tmp_path / "f.bin", policy=FAST, sha256=DIGEST)
    assert route.requests == ["bytes=1000-"]
    assert (tmp_path / "f.bin").read_bytes() == BODY


def test_a_complete_partial_file_is_published_after_a_416(server, tmp_path):
    server.routes["/f.bin"] = Route(BODY)
    (tmp_path / "f.bin.part").write_bytes(BODY)  # killed between the last byte and the rename
    assert fetch(server.url("/f.bin"), tmp_path / "f.bin", policy=FAST) == DIGEST


def test_a_server_ignoring_range_restarts_the_file(server, tmp_path):
    server.routes["/f.bin"] = Route(BODY, ranges=False)
    (tmp_path / "f.bin.part").write_bytes(b"x" * 500)
    fetch(server.url("/f.bin"), tmp_path / "f.bin", policy=FAST, sha256=DIGEST)
    assert (tmp_path / "f.bin").read_bytes() == BODY


def test_404_stops_at_once_naming_the_url_and_the_manual_way(server, tmp_path):
    server.routes["/gone.zip"] = route = Route(status=404)
    with pytest.raises(DownloadError, match=r"gone\.zip: HTTP 404 \(not found\)\. By hand: see the site"):
        fetch(server.url("/gone.zip"), tmp_path / "gone.zip", policy=FAST, manual="By hand: see the site")
    assert len(route.requests) == 1 and not list(tmp_path.iterdir())


@pytest.mark.parametrize("status, word", [(401, "unauthorised"), (403, "forbidden")])
def test_401_and_403_stop_at_once(server, tmp_path, status, word):
    server.routes["/x"] = route = Route(status=status)
    with pytest.raises(DownloadError, match=f"HTTP {status} \\({word}\\)"):
        fetch(server.url("/x"), tmp_path / "x", policy=FAST)
    assert len(route.requests) == 1


def test_redirects_are_followed(server, tmp_path):
    server.routes["/real.bin"] = Route(BODY)
    server.routes["/moved.bin"] = Route(redirect=server.url("/real.bin"))
    assert fetch(server.url("/moved.bin"), tmp_path / "f.bin", policy=FAST) == DIGEST


def test_a_checksum_mismatch_stops_naming_url_and_both_digests(server, tmp_path):
    server.routes["/f.bin"] = Route(BODY)
    wrong = "0" * 64
    with pytest.raises(DownloadError, match=f"/f.bin: checksum mismatch .* expected sha256 {wrong}, got {DIGEST}"):
        fetch(server.url("/f.bin"), tmp_path / "f.bin", policy=FAST, sha256=wrong)
    assert not (tmp_path / "f.bin").exists() and not (tmp_path / "f.bin.part").exists()


def test_retries_give_up_keeping_the_partial_file_for_the_next_run(server, tmp_path):
    server.routes["/f.bin"] = route = Route(BODY, cut_first=10)
    with pytest.raises(TransientError, match="cut short"):
        fetch(server.url("/f.bin"), tmp_path / "f.bin", policy=Policy(timeout_s=2, retries=1, backoff_s=0.01))
    assert len(route.requests) == 2
    assert (tmp_path / "f.bin.part").read_bytes() == BODY[: len(BODY) * 3 // 4]  # half, then half of the rest


def test_an_existing_file_is_verified_not_fetched(server, tmp_path):
    server.routes["/f.bin"] = route = Route(BODY)
    (tmp_path / "f.bin").write_bytes(BODY)
    assert fetch(server.url("/f.bin"), tmp_path / "f.bin", policy=FAST, sha256=DIGEST) == DIGEST
    assert route.requests == []
