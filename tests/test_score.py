"""``xordsim score``: scores of measures on sweep stores, end to end on a tiny store."""

from __future__ import annotations

import csv

import pytest

from xordsim.cli import main

TINY = {"problem": "xord", "data": "fresh", "replicas": 2, "seed": 3, "measures": "all",
        "save_weights": True, "fixed": {"d": 4, "steps": 60},
        "grid": {"k": [2, 8], "m": [3, 12], "c_eta": [0.1, 0.3]}}

MODULE = '''
import numpy as np
import xordsim as xs

@xs.measures.register("test.halfbad", needs=("final",))
def halfbad(point):
    """sum of |w|; raises on replica 1."""
    if point.replicas > 1:
        raise ValueError("whole point refused")
    return np.abs(point.w).sum(axis=(1, 2))
'''


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from xordsim.sweep import run

    path = tmp_path_factory.mktemp("score") / "tiny"
    run(TINY, path, quiet=True)
    return path


def _rows(path) -> dict:
    with open(path) as f:
        return {(r["measure"], r["score"]): r for r in csv.DictReader(f)}


def test_score_end_to_end_oracle_is_perfect(store, tmp_path, capsys):
    out = tmp_path / "s"
    assert main(["score", str(store), "--measure", "oracle", "--measure", "#parameter",
                 "--target", "test_error", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[1].startswith("oracle")  # sorted by Psi: the oracle first
    rows = _rows(out / "scores.csv")
    assert float(rows[("oracle", "tau")]["estimate"]) == 1.0
    assert float(rows[("oracle", "psi")]["estimate"]) == 1.0
    assert float(rows[("oracle", "sign_error.max")]["estimate"]) == 0.0
    assert float(rows[("oracle", "cmi")]["estimate"]) == 1.0
    assert ("#parameter", "psi.hp.k") in rows


def test_score_is_deterministic(store, tmp_path):
    for name in ("a", "b"):
        assert main(["score", str(store), "--measure", "dist.init", "--out",
                     str(tmp_path / name)]) == 0
    assert (tmp_path / "a" / "scores.csv").read_text() == \
        (tmp_path / "b" / "scores.csv").read_text()


def test_module_measure_failing_on_some_replicas(store, tmp_path, capsys):
    mod = tmp_path / "mine.py"
    mod.write_text(MODULE.replace("point.replicas > 1", "point.w.shape[0] > 1 or "
                                  "point.config.k == 8"))
    assert main(["score", str(store), "--module", str(mod), "--measure", "test.halfbad",
                 "--out", str(tmp_path / "s")]) == 0
    text = capsys.readouterr().out
    assert "test.halfbad: failed on" in text
    rows = _rows(tmp_path / "s" / "scores.csv")
    # the k = 8 points fail on every replica (NaN, excluded); the k = 2 ones are scored
    assert int(rows[("test.halfbad", "excluded")]["estimate"]) == 8
    assert int(rows[("test.halfbad", "networks")]["estimate"]) == 16
    from xordsim.measures import registry

    assert "test.halfbad" not in registry.available()  # unregistered after the command


@pytest.mark.parametrize("case", ["no_store", "unknown_measure", "missing_module",
                                  "raising_module", "no_weights"])
def test_bad_input_one_line_exit_2(case, store, tmp_path, capsys):
    out = tmp_path / "s"
    argv = ["score", str(store), "--out", str(out)]
    if case == "no_store":
        argv[1] = str(tmp_path / "nothing")
    elif case == "unknown_measure":
        argv += ["--measure", "no such measure"]
    elif case == "missing_module":
        argv += ["--module", str(tmp_path / "absent.py")]
    elif case == "raising_module":
        (tmp_path / "bad.py").write_text("raise RuntimeError('boom')\n")
        argv += ["--module", str(tmp_path / "bad.py")]
    else:
        from xordsim.sweep import run

        plain = tmp_path / "plain"
        run(dict(TINY, save_weights=False, measures=["oracle"], grid={"k": [2, 8]}), plain,
            quiet=True)
        (tmp_path / "m.py").write_text(MODULE)
        argv = ["score", str(plain), "--module", str(tmp_path / "m.py"), "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("xordsim score: error:")
    assert not (out / "scores.csv").exists()
