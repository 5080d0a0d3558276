"""``xordsim theorems``: table, JSON schema, --only / --set handling and exit statuses."""

import json

import pytest

from xordsim.cli import main
from xordsim.cli.theorems import JSON_KEYS


def test_cli_table_and_json(tmp_path, capsys):
    out = tmp_path / "rows.json"
    rc = main(["theorems", "--only", "lemma3.1", "thm3.4", "--replicas", "200", "--seed", "3",
               "--json", str(out), "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "200 replicas per row" in text and "Clopper-Pearson" in text
    for word in ("lemma3.1", "thm3.4a", "thm3.4b", "0.750000", "consistent"):
        assert word in text
    rows = json.loads(out.read_text())
    assert [r["name"] for r in rows] == ["lemma3.1", "thm3.4a", "thm3.4b"]
    for r in rows:
        assert set(JSON_KEYS) <= set(r)
        assert isinstance(r["params"], dict) and r["replicas"] == 200
        assert len(r["ci"]) == 2 and r["ci"][0] <= r["estimate"] <= r["ci"][1]
        assert r["exact"] is None or isinstance(r["exact"], float)
        assert isinstance(r["bound"], float)
        assert r["verdict"] in ("consistent", "violated", "outside assumptions")
    assert rows[2]["exact"] is None and rows[1]["exact"] == 0.75


def test_cli_set_applies_to_selected(capsys):
    assert main(["theorems", "--only", "lemma6.1", "--replicas", "100", "--set", "k=60",
                 "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "k=60" in text and "outside assumptions" in text


@pytest.mark.parametrize("argv,needle", [
    (["--only", "lemma3.1", "--set", "bogus=1"], "unknown key 'bogus'"),
    (["--only", "lemma3.1", "--set", "k=abc"], "--set k must be an integer"),
    (["--only", "lemma3.1", "--set", "k=0"], "k must be in"),
    (["--only", "lemma3.1", "--set", "novalue"], "KEY=VALUE"),
    (["--only", "lemma3.1", "thm3.3", "--set", "c_eta=0.2"], "lemma3.1"),
    (["--only", "nope"], "unknown result 'nope'"),
    (["--only", "lemma3.1", "--replicas", "0"], "--replicas must be in"),
    (["--only", "thm6.5", "--set", "ms=0"], "ms must be in"),
    (["--only", "thm6.5", "--set", "p_plus=1.5"], "p_plus must be"),
    (["--only", "thm6.3", "--set", "d=3"], "thm6.3: --set d must be in [4,"),
    (["--only", "lemma6.2", "--set", "a_convention=literal"], "--set a_convention must be one"),
    (["--set", "gamma=10"], "lemma3.1: --set: unknown key 'gamma'; allowed: k"),
])
def test_cli_bad_input_exit_2(argv, needle, capsys):
    assert main(["theorems", *argv, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert len(err.strip().splitlines()) == 1
