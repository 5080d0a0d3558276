"""``xordsim theorems``: table, JSON schema, --only / --set handling and exit statuses."""

import json

import pytest

from xordsim.cli import main
from xordsim.cli.theorems import JSON_EXTRA, JSON_KEYS


def test_cli_table_and_json(tmp_path, capsys):
    out = tmp_path / "rows.json"
    rc = main(["theorems", "--only", "lemma3.1", "thm3.4", "--replicas", "200", "--seed", "3",
               "--json", str(out), "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "200 replicas per row" in text and "Clopper-Pearson" in text
    assert "seed 3" in text and "steps=0" in text and text.splitlines()[0].endswith(" s")
    for word in ("lemma3.1", "thm3.4a", "thm3.4b", "0.750000", "consistent", "≥ 0.750"):
        assert word in text
    assert "note thm3.4: (a) and (b) agree on 200/200 replicas" in text
    assert text.splitlines()[-1] == ("3 rows: 3 consistent, 0 violated, 0 outside "
                                     "assumptions; 0 flagged non-converged")
    rows = json.loads(out.read_text())
    assert [r["name"] for r in rows] == ["lemma3.1", "thm3.4a", "thm3.4b"]
    assert [r["label"] for r in rows] == ["lemma3.1", "thm3.4a", "thm3.4b"]
    for r in rows:
        assert list(r) == list(JSON_KEYS + JSON_EXTRA)
        assert isinstance(r["params"], dict) and r["replicas"] == 200
        assert len(r["ci"]) == 2 and r["ci"][0] <= r["estimate"] <= r["ci"][1]
        assert r["exact"] is None or isinstance(r["exact"], float)
        assert isinstance(r["bound"], float)
        assert r["verdict"] in ("consistent", "violated", "outside assumptions")
    assert rows[2]["exact"] is None and rows[1]["exact"] == 0.75
    assert rows[0]["converged"] is None and rows[2]["runs"] == 200
    assert rows[2]["converged_means"] == "fixed point"


def test_cli_flags_non_converged_rows(capsys):
    """Too few steps for Theorem 3.3: the row says how many converged, and the count of
    flagged rows closes the output."""
    assert main(["theorems", "--only", "thm3.3", "lemma3.2", "--replicas", "30",
                 "--set", "steps=3", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "outside assumptions (0 of 30 converged)" in text
    assert "flagged non-converged: 2 row(s)" in text
    assert "thm3.3: 0 of 30 converged (0, 95% CI [0, 0.116]); the event requires " in text
    assert "lemma3.2 (t' < t): 0 of 30 converged" in text
    assert "does not require convergence" in text
    assert text.rstrip().endswith("2 flagged non-converged")
    table = text.split("\nnote ")[0].split("\nflagged")[0]
    assert "e-" not in table and "0.0000" not in table  # significant figures only


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
