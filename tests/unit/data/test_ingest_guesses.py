"""What a reader had to guess is counted in the ingest report, and a large loss to unknown items is warned about."""

from __future__ import annotations

from ingest_helpers import run


def test_guessed_counts_empty_tokens_and_titles(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "items.tsv").write_text("A\tfirst\nB\n")
    (raw / "users.tsv").write_text("u1\tA  B\n")  # two spaces: one empty token
    out = run("released", raw, tmp_path / "out")
    assert out.report["counts"]["empty_item_tokens"] == 1
    assert out.report["guessed"]["items_without_title"] == 1
    assert out.sequence("u1") == [("A", 0), ("B", 2)]


def test_many_unknown_item_references_are_warned_about_naming_the_items_file(tmp_path, caplog):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "items.tsv").write_text("A\tfirst\n")
    (raw / "users.tsv").write_text("u1\tA B\nu2\tA\nu3\tA\nu4\tA B\n")  # 2 of 6 references unknown
    out = run("released", raw, tmp_path / "out", {"max_bad_fraction": 0.2})
    assert out.interactions.height == 4 and out.report["quarantined"] == {"unknown_item": 2}
    assert f"2 of 6 interactions (33.3%) reference items missing from {raw / 'items.tsv'}" in caplog.text
    caplog.clear()
    run("released", raw, tmp_path / "out2", {"max_bad_fraction": 0.5})  # within the limit: no warning
    assert "reference items missing" not in caplog.text
