"""Every config mistake fails before the first job, naming the config key (issue: reliability)."""

import copy

import pytest
import yaml

from transrec.studies import grid


@pytest.fixture
def default(repo_root):
    return yaml.safe_load((repo_root / "config/config.yaml").read_text())


def _set(config, path, value):
    node = config
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value


CASES = {
    "unknown method kind": (("methods", "frozen", "kind"), "frozn", r"methods\.frozen.*frozn"),
    "unknown method field": (("methods", "houlsby", "depth"), 3, r"methods\.houlsby.*depth"),
    "ftn n above the encoder depth": (
        ("methods", "fta"),
        {"kind": "ftn", "n": 7, "also_train": []},
        r"methods\.fta.*\b7\b",
    ),
    "missing local encoder folder": (
        ("encoders", "minilm", "path"),
        "/nowhere/minilm",
        r"encoders\.minilm\.path.*does not exist",
    ),
    "hub id typo while offline": (
        ("encoders", "minilm", "path"),
        "sentence-transformers/all-MiniLM-L6-v3",
        r"encoders\.minilm\.path.*all-MiniLM-L6-v3",
    ),
    "ks without 10": (("train", "ks"), [5, 20], r"ks"),
    "empty seeds": (("experiments", "text", "seeds"), [], r"seeds"),
    "empty methods": (("experiments", "text", "methods"), [], r"methods"),
    "fraction 1": (("subsample", "fractions"), [1], r"fractions"),
    "raw source without raw_dir": (("datasets", "mind", "source"), "raw", r"raw_dir"),
    "unknown objective": (("experiments", "text", "objectives"), ["bpr"], r"experiments\.text\.objectives.*bpr"),
    "max_bad_fraction typo": (("datasets", "mind", "max_bad_fractoin"), 0.1, r"max_bad_fractoin"),
    "file role of another format": (("datasets", "mind", "files"), {"articles": "a.csv"}, r"datasets\.mind.*articles"),
    "timing probe without steps to time": (
        ("methods", "frozen", "hparams"),
        {"timing_only": True},
        r"methods\.frozen\.hparams: timing_only needs max_steps_per_epoch",
    ),
    "published rows in a table with columns": (
        ("studies", "a4r_table2", "table", "published"),
        [{"label": "paper", "values": {"hr@10": 6.3}}],
        r"studies\.a4r_table2\.table\.published: a table with columns",
    ),
    "published value the table does not show": (
        ("studies", "a4r_table3_text", "table", "published"),
        [{"label": "paper", "values": {"tpme": 0.2}}],
        r"studies\.a4r_table3_text\.table\.published\[0\]: \['tpme'\]",
    ),
    "published value that is no value": (
        ("studies", "a4r_table3_text", "table", "published"),
        [{"label": "paper", "values": {"hr@20": 6.3}}],
        r"hr@20",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_config_error_names_its_key(default, case, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path, value, message = CASES[case]
    bad = copy.deepcopy(default)
    _set(bad, path, value)
    with pytest.raises(Exception, match=message):
        grid.resolve_config(bad)  # offline, a hub id is looked up in the local cache only: no retries


def test_the_default_config_passes(default):
    grid.resolve_config(default)
