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


# ----------------------------------------------------------------------------------------
# the fast library (xordsim.sweep.scores) against the definitions of xordsim.measures.rank


def _hand_table(seed: int = 0):
    """A table with 3 axes, 3 seeds, 2 networks per cell and seed (replicas within a seed),
    ties in the measure and the target, a NaN measure and a NaN axis value."""
    import itertools

    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows = []
    for s, a, b, c, _rep in itertools.product(range(3), (1, 2, 3), ("u", "v"), (0.5, np.nan),
                                             range(2)):
        gap = float(rng.integers(0, 4)) / 4  # coarse: many ties
        rows.append({"hp.a": a, "hp.b": b, "hp.c": c, "hp.seed": s, "gen.gap": gap,
                     "test_error": gap + 0.1 * rng.random(),
                     "good": gap + 0.3 * rng.standard_normal(),
                     "tied": float(rng.integers(0, 3)), "const": 1.0,
                     "holes": rng.random()})
    t = pd.DataFrame(rows)
    t.loc[[3, 17, 40], "holes"] = np.nan
    t.attrs["hp"] = [c for c in t.columns if c.startswith("hp.")]
    return t


@pytest.mark.parametrize("measure", ["good", "tied", "const", "holes"])
@pytest.mark.parametrize("target", ["gen.gap", "test_error"])
def test_fast_scores_equal_the_rank_definitions(measure, target):
    import numpy as np

    from xordsim.measures import rank
    from xordsim.sweep.scores import axes_of, score_table

    t = _hand_table()
    axes = axes_of(t)
    assert axes == ["hp.a", "hp.b", "hp.c"]
    (r,) = score_table(t, [measure], target, n_boot=7, seed=5)
    sc = {k: v[0] for k, v in r["scores"].items()}
    kt = rank.kendall_tau(t, measure, target)
    gk = rank.granulated_kendall(t, measure, target, axes)
    se = rank.sign_error(t, measure, target, axes).loc["all"]
    cmi = rank.conditional_mutual_information(t, measure, target, axes)["cmi"]
    want = {"tau": kt["tau"], "tie_fraction.measure": kt["tie_fraction_measure"],
            "tie_fraction.target": kt["tie_fraction_target"], "psi": gk["psi"],
            **{f"psi.{a}": gk[a] for a in axes}, "sign_error.mean": se["mean"],
            "sign_error.p90": se["p90"], "sign_error.max": se["max"], "cmi": cmi}
    assert set(sc) == set(want)
    for k, v in want.items():
        assert np.isclose(sc[k], float(v), rtol=1e-12, atol=1e-14, equal_nan=True), k
    assert r["excluded"] == int((~np.isfinite(t[measure])).sum())
    if measure == "const":  # tau and psi undefined, sign error 1/2 (coin flips), CMI 0
        assert np.isnan(sc["tau"]) and np.isnan(sc["psi"]) and sc["sign_error.max"] == 0.5
        assert sc["cmi"] == 0.0
    # the intervals are rank.bootstrap_scores' (same draws of the seeds)
    for name, fn in [("psi", lambda d, m: rank.granulated_kendall(d, m, target, axes)["psi"]),
                     ("cmi", lambda d, m: rank.conditional_mutual_information(
                         d, m, target, axes)["cmi"]),
                     ("tau", lambda d, m: rank.kendall_tau(d, m, target)["tau"]),
                     ("sign_error.max", lambda d, m: rank.sign_error(d, m, target,
                                                                     axes).loc["all", "max"])]:
        _, lo, hi = rank.bootstrap_scores(t, measure, fn, seed_column="hp.seed", n_boot=7,
                                          seed=5)
        assert np.allclose(r["scores"][name][1:], (lo, hi), rtol=1e-12, atol=1e-14,
                           equal_nan=True), name


def test_fast_scores_perfect_and_constant_measures():
    import numpy as np

    from xordsim.sweep.scores import score_table

    t = _hand_table(1)
    t["same"] = t["test_error"]
    best, const = score_table(t, ["same", "const"], "test_error", n_boot=5)
    assert best["measure"] == "same"  # sorted by Psi, undefined last
    for k in ("tau", "psi", "psi.hp.a", "psi.hp.b", "psi.hp.c", "cmi"):
        # (P - Q) / sqrt(n0 - n1) / sqrt(n0 - n2), scipy's expression, can round to 1 - 1e-16
        assert best["scores"][k] == pytest.approx((1.0, 1.0, 1.0), rel=1e-14), k
    assert best["scores"]["sign_error.max"] == (0.0, 0.0, 0.0)
    assert np.isnan(const["scores"]["psi"][0]) and const["scores"]["cmi"][0] == 0.0


def test_score_table_bad_input():
    from xordsim._validate import InputError
    from xordsim.sweep.scores import score_table

    t = _hand_table()
    with pytest.raises(InputError, match="target must be one of gen.gap, test_error"):
        score_table(t, ["good"], "train_error")
    with pytest.raises(InputError, match="n_boot must be"):
        score_table(t, ["good"], n_boot=0)
    with pytest.raises(InputError, match="no column 'nope'"):
        score_table(t, ["nope"])
    with pytest.raises(InputError, match="no hp.seed column"):
        score_table(t.drop(columns=["hp.seed"]), ["good"])


def test_environment_sign_errors_are_the_rank_units():
    import numpy as np

    from xordsim.measures import rank
    from xordsim.sweep.scores import axes_of, environment_sign_errors

    t = _hand_table(2)
    for m in ("good", "holes", "const"):
        u = rank.sign_error_units(t, m, "gen.gap", axes_of(t))["sign_error"].to_numpy(float)
        want = np.sort(u[np.isfinite(u)])
        got = np.sort(environment_sign_errors(t, m, "gen.gap"))
        assert got.size == want.size > 0 and np.allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("option", ["target", "n_boot"])
def test_declared_options_refuse_every_bad_value(option, store, tmp_path, capsys):
    """The bad values of --target and --n-boot come from their declarations (config)."""
    from xordsim.config import SCORE_N_BOOT, SCORE_TARGET

    p = {"target": SCORE_TARGET, "n_boot": SCORE_N_BOOT}[option]
    for bad in p.bad_values():
        out = tmp_path / "s"
        assert main(["score", str(store), p.option, str(bad), "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and p.option in err, (bad, err)
        assert not out.exists()
