"""The scores of xordsim.measures.rank (issue 15): Kendall's τ-b over networks, Jiang et
al.'s granulated Kendall Ψ and conditional mutual information, Dziugaite et al.'s sign
error, and the bootstrap over seeds -- against SciPy, hand values and plain loops."""

from __future__ import annotations

import importlib.util
import itertools
import math

import numpy as np
import pytest
from oracles import tau_b_loop
from scipy import stats

from xordsim._validate import InputError
from xordsim.measures import rank
from xordsim.measures.rank import (
    PANDAS_MISSING,
    bootstrap_scores,
    conditional_mutual_information,
    granulated_kendall,
    granulated_kendall_groups,
    kendall_tau,
    sign_error,
    sign_error_units,
)

pd = pytest.importorskip("pandas")


# A 2 × 3 grid, one network per cell (hand values below refer to it).
#   (a, b):  gap   mu
#   (0, 0):  0.1   1
#   (0, 1):  0.2   3
#   (0, 2):  0.3   2
#   (1, 0):  0.2   2
#   (1, 1):  0.2   1
#   (1, 2):  0.4   4
HAND = [(0, 0, 0.1, 1.0), (0, 1, 0.2, 3.0), (0, 2, 0.3, 2.0),
        (1, 0, 0.2, 2.0), (1, 1, 0.2, 1.0), (1, 2, 0.4, 4.0)]


def hand_table():
    return pd.DataFrame(HAND, columns=["hp.a", "hp.b", "gen.gap", "mu"])


def random_table(seed: int = 0, replicas: int = 3, levels=(2, 3, 3)):
    """A full grid over len(levels) axes with ``replicas`` networks per cell; gap and
    measures rounded so that they tie often."""
    rng = np.random.default_rng(seed)
    rows = []
    for cell in itertools.product(*[range(n) for n in levels]):
        for r in range(replicas):
            gap = round(0.1 * sum(cell) + rng.normal(0, 0.15), 1)
            rows.append((*cell, r, gap, round(gap + rng.normal(0, 0.2), 1),
                         float(rng.integers(0, 3))))
    cols = [f"hp.x{i}" for i in range(len(levels))] + ["replica", "gen.gap", "mu", "coarse"]
    return pd.DataFrame(rows, columns=cols)


# ---------------------------------------------------------------- Kendall's τ-b


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kendall_tau_matches_scipy_with_ties(seed):
    t = random_table(seed)
    for measure in ("mu", "coarse"):
        res = kendall_tau(t, measure)
        x, y = t[measure].to_numpy(), t["gen.gap"].to_numpy()
        ref = stats.kendalltau(x, y, variant="b")
        assert res["flag"] == "ok"
        assert res["tau"] == pytest.approx(ref.statistic, abs=1e-12)
        assert res["p_value"] == pytest.approx(ref.pvalue, abs=1e-12)
        n = len(t)
        assert res["n"] == n and res["pairs"] == n * (n - 1) // 2
        assert res["ties_target"] == rank.tied_pairs(y) > 0
        assert res["tie_fraction_target"] == pytest.approx(res["ties_target"] / res["pairs"])
        assert res["tie_fraction_measure"] == pytest.approx(rank.tied_pairs(x) / res["pairs"])


def test_kendall_tau_hand_and_excluded_rows():
    t = hand_table()
    # Pairs: 15; ties in the gap: the three networks at 0.2 → 3 pairs; in mu: {1, 1}, {2, 2}
    # → 2 pairs. Concordant 9, discordant 1 (hand count; SciPy agrees):
    # τ-b = 8 / √((15 − 2)(15 − 3)) = 8/√156.
    res = kendall_tau(t, "mu")
    assert res["tau"] == pytest.approx(8 / math.sqrt(156))
    assert (res["ties_measure"], res["ties_target"]) == (2, 3)
    assert res["tie_fraction_target"] == pytest.approx(0.2)
    bad = pd.concat([t, pd.DataFrame([(2, 0, np.nan, 1.0), (2, 1, 0.5, np.inf)],
                                     columns=t.columns)], ignore_index=True)
    res2 = kendall_tau(bad, "mu")
    assert res2["excluded"] == 2 and res2["tau"] == res["tau"]


def test_oracle_and_constant_measure():
    t = random_table(3)
    t["oracle"] = t["gen.gap"]
    t["const"] = 0.5
    assert kendall_tau(t, "oracle")["tau"] == pytest.approx(1.0)
    k = kendall_tau(t, "const")
    # a constant measure: τ undefined, flagged (never a bare NaN)
    assert math.isnan(k["tau"]) and k["flag"] == "constant" and "constant" in k["reason"]
    # Ψ: the oracle scores 1 on every axis
    psi = granulated_kendall(t, "oracle")
    assert np.allclose(psi.to_numpy(), 1.0)
    # a constant measure has no defined group: NaN with every group counted as skipped
    pc = granulated_kendall(t, "const")
    assert pc.isna().all()
    g = pc.attrs["groups"]
    assert (g["used"] == 0).all() and (g["constant_measure"] == g["groups"]).all()
    # sign error: 0 on every axis for the oracle; ½ for the constant measure
    se = sign_error(t, "oracle")
    assert list(se.index) == ["hp.x0", "hp.x1", "hp.x2", "all"]
    assert (se[["mean", "p90", "max"]] == 0).all().all()
    sc = sign_error(t, "const")
    assert np.allclose(sc[["mean", "p90", "max"]].to_numpy(), 0.5)
    assert (sc["tied_measure"] == sc["pairs"]).all()
    # CMI: the oracle at the maximum, the constant measure at 0
    assert conditional_mutual_information(t, "oracle")["cmi"] == pytest.approx(1.0)
    assert conditional_mutual_information(t, "const")["cmi"] == pytest.approx(0.0, abs=1e-12)


# ---------------------------------------------------------------- granulated Kendall Ψ


def test_granulated_kendall_hand_table():
    t = hand_table()
    # Axis a (groups by b): b = 0: (0.1, 1), (0.2, 2) → τ = 1; b = 1: gap 0.2 and 0.2 →
    # constant target, skipped; b = 2: (0.3, 2), (0.4, 4) → τ = 1. ψ_a = 1.
    # Axis b (groups by a): a = 0: gaps (.1, .2, .3), mu (1, 3, 2): P = 2, Q = 1, no ties
    # → τ = 1/3; a = 1: gaps (.2, .2, .4), mu (2, 1, 4): P = 2, Q = 0, one gap tie →
    # τ = 2/√(3·2) = 2/√6. ψ_b = (1/3 + 2/√6)/2; Ψ = (1 + ψ_b)/2.
    psi_b = (1 / 3 + 2 / math.sqrt(6)) / 2
    res = granulated_kendall(t, "mu")
    assert list(res.index) == ["hp.a", "hp.b", "psi"]
    assert res["hp.a"] == pytest.approx(1.0)
    assert res["hp.b"] == pytest.approx(psi_b)
    assert res["psi"] == pytest.approx((1 + psi_b) / 2)
    g = res.attrs["groups"]
    assert g.loc["hp.a", ["groups", "used", "constant_target", "one_value"]].tolist() == \
        [3, 2, 1, 0]
    assert g.loc["hp.b", ["groups", "used"]].tolist() == [2, 2]
    only_b = granulated_kendall(t, "mu", axes=["hp.b"])
    assert only_b["psi"] == pytest.approx(psi_b)


def granulated_loop(t, measure, axes):
    """Ψ by looping over the grid of the other axes' values."""
    psis = {}
    for axis in axes:
        others = [a for a in axes if a != axis]
        taus = []
        for vals in itertools.product(*[sorted(t[o].unique()) for o in others]):
            sel = np.ones(len(t), dtype=bool)
            for o, v in zip(others, vals, strict=True):
                sel &= (t[o] == v).to_numpy()
            sub = t[sel]
            if sub[axis].nunique() < 2:
                continue
            tau = tau_b_loop(sub[measure].tolist(), sub["gen.gap"].tolist())[0]
            if tau is not None:
                taus.append(tau)
        psis[axis] = float(np.mean(taus)) if taus else float("nan")
    return psis, float(np.nanmean(list(psis.values())))


@pytest.mark.parametrize("seed", [0, 4])
def test_granulated_kendall_matches_loop(seed):
    t = random_table(seed)
    axes = ["hp.x0", "hp.x1", "hp.x2"]
    for measure in ("mu", "coarse"):
        per_axis, psi = granulated_loop(t, measure, axes)
        res = granulated_kendall(t, measure)
        for a in axes:
            assert res[a] == pytest.approx(per_axis[a], abs=1e-12)
        assert res["psi"] == pytest.approx(psi, abs=1e-12)
    g = granulated_kendall_groups(t, "mu")
    assert g.loc["hp.x0", "groups"] == 9 and g.loc["hp.x1", "groups"] == 6


# ---------------------------------------------------------------- sign error


def test_sign_error_hand_table():
    t = hand_table()
    # Axis a, environments b = 0, 1, 2 (one pair each): b = 0: Δg < 0, Δμ < 0 → 0;
    # b = 1: Δg = 0 → excluded, environment skipped; b = 2: Δg < 0, Δμ < 0 → 0.
    # Axis b, environments a = 0 (3 pairs, errors 0, 0, 1 → 1/3) and a = 1 (the pair
    # (0.2, 0.2) excluded; 2 pairs, errors 0, 0 → 0).
    # all: units (0, 0, 1/3, 0): mean 1/12, max 1/3, 90th percentile 0.7·(1/3).
    se = sign_error(t, "mu")
    assert se.loc["hp.a", ["mean", "p90", "max"]].tolist() == [0.0, 0.0, 0.0]
    assert se.loc["hp.a", ["units", "skipped", "pairs", "tied_target"]].tolist() == \
        [2, 1, 2, 1]
    assert se.loc["hp.b", "mean"] == pytest.approx(1 / 6)
    assert se.loc["hp.b", "p90"] == pytest.approx(0.9 / 3)
    assert se.loc["hp.b", "max"] == pytest.approx(1 / 3)
    assert se.loc["hp.b", ["units", "pairs", "tied_target"]].tolist() == [2, 5, 1]
    assert se.loc["all", "mean"] == pytest.approx(1 / 12)
    assert se.loc["all", "p90"] == pytest.approx(0.7 / 3)
    assert se.loc["all", "max"] == pytest.approx(1 / 3)
    assert se.loc["all", ["units", "pairs", "tied_target"]].tolist() == [4, 7, 2]
    # Per cell pair (Dziugaite et al.'s unit): axis b, a = 0 has the cell pairs
    # (0,1) → 0, (0,2) → 0, (1,2) → 1; a = 1 has (0,1) tied, (0,2) → 0, (1,2) → 0.
    cp = sign_error(t, "mu", unit="cell pair")
    assert cp.loc["hp.b", ["units", "skipped"]].tolist() == [5, 1]
    assert cp.loc["hp.b", "mean"] == pytest.approx(1 / 5)
    assert cp.loc["hp.b", "max"] == 1.0


def test_sign_error_measure_tie_counts_half():
    t = pd.DataFrame({"hp.a": [0, 1], "gen.gap": [0.1, 0.2], "mu": [1.0, 1.0]})
    se = sign_error(t, "mu")
    assert se.loc["hp.a", "mean"] == 0.5 and se.loc["hp.a", "tied_measure"] == 1


def sign_error_loop(t, measure, axes, unit):
    """Every pair of rows that differ in exactly one axis, by brute force."""
    units = {}
    rows = t.to_dict("records")
    for i, j in itertools.combinations(range(len(rows)), 2):
        r, s = rows[i], rows[j]
        diff = [a for a in axes if r[a] != s[a]]
        if len(diff) != 1:
            continue
        axis = diff[0]
        env = tuple(r[a] for a in axes if a != axis)
        key = (axis, env) if unit == "environment" else \
            (axis, env, tuple(sorted((r[axis], s[axis]))))
        dg = np.sign(r["gen.gap"] - s["gen.gap"])
        if dg == 0:
            units.setdefault(key, [])
            continue
        dm = np.sign(r[measure] - s[measure])
        units.setdefault(key, []).append(0.5 * (1 - dm * dg))
    out = {}
    for name in [*axes, "all"]:
        errs = [np.mean(v) for k, v in units.items() if v and name in (k[0], "all")]
        out[name] = (np.mean(errs), np.quantile(errs, 0.9), np.max(errs), len(errs))
    return out


@pytest.mark.parametrize("unit", ["environment", "cell pair"])
def test_sign_error_matches_loop(unit):
    t = random_table(5, replicas=1, levels=(2, 3, 4))
    axes = ["hp.x0", "hp.x1", "hp.x2"]
    ref = sign_error_loop(t, "mu", axes, unit)
    se = sign_error(t, "mu", unit=unit)
    for name, (mean, p90, mx, n) in ref.items():
        assert se.loc[name, ["mean", "p90", "max"]].tolist() == \
            pytest.approx([mean, p90, mx], abs=1e-12)
        assert se.loc[name, "units"] == n
    units = sign_error_units(t, "mu", unit=unit)
    assert set(units["axis"]) == set(axes)


# ---------------------------------------------------------------- CMI


def cmi_empty_set_loop(t, measure):
    """I(V_μ; V_g)/H(V_g) over the ordered pairs of distinct rows, by counting."""
    mu, g = t[measure].to_numpy(), t["gen.gap"].to_numpy()
    joint = {}
    for i in range(len(t)):
        for j in range(len(t)):
            if i != j:
                key = (np.sign(mu[i] - mu[j]), np.sign(g[i] - g[j]))
                joint[key] = joint.get(key, 0) + 1
    n = sum(joint.values())
    pa, pb = {}, {}
    for (a, b), c in joint.items():
        pa[a] = pa.get(a, 0) + c / n
        pb[b] = pb.get(b, 0) + c / n
    mi = sum(c / n * math.log2(c / n / (pa[a] * pb[b])) for (a, b), c in joint.items())
    h = -sum(p * math.log2(p) for p in pb.values())
    return mi / h


def test_cmi_empty_set_matches_loop_and_chunks():
    t = random_table(6, replicas=2)
    res = conditional_mutual_information(t, "mu", max_set_size=0)
    assert list(res.index) == ["∅", "cmi"]
    assert res["∅"] == pytest.approx(cmi_empty_set_loop(t, "mu"), abs=1e-12)
    full = conditional_mutual_information(t, "mu")
    small = conditional_mutual_information(t, "mu", chunk_pairs=7)
    pd.testing.assert_series_equal(full, small)
    assert full["cmi"] == full.drop("cmi").min()
    assert full.attrs["argmin"] in full.index
    assert len(full) - 1 + len(full.attrs["skipped"]) == 1 + 3 + 3  # |S| ≤ 2 of 3 axes


def test_cmi_oracle_is_max_and_noise_is_near_zero():
    rng = np.random.default_rng(7)
    rows = [(a, b, r) for a in range(3) for b in range(3) for r in range(30)]
    t = pd.DataFrame(rows, columns=["hp.a", "hp.b", "replica"])
    t["gen.gap"] = 0.1 * t["hp.a"] - 0.05 * t["hp.b"] + rng.normal(0, 0.1, len(t))
    t["oracle"] = t["gen.gap"]
    t["noise"] = rng.normal(size=len(t))
    t["mixed"] = t["gen.gap"] + rng.normal(0, 0.05, len(t))
    oracle = conditional_mutual_information(t, "oracle")
    assert oracle["cmi"] == pytest.approx(1.0) and np.allclose(oracle.to_numpy(), 1.0)
    noise = conditional_mutual_information(t, "noise")
    assert 0.0 <= noise["cmi"] < 0.01
    mixed = conditional_mutual_information(t, "mixed")["cmi"]
    assert noise["cmi"] < mixed < 1.0


# ---------------------------------------------------------------- bootstrap


def test_bootstrap_is_deterministic_and_brackets_the_estimate():
    t = random_table(8, replicas=8)
    psi = lambda tab, m: granulated_kendall(tab, m)["psi"]  # noqa: E731
    a = bootstrap_scores(t, "mu", psi, n_boot=40, seed=3)
    b = bootstrap_scores(t, "mu", psi, n_boot=40, seed=3)
    c = bootstrap_scores(t, "mu", psi, n_boot=40, seed=4)
    assert a == b and a != c
    est, lo, hi = a
    assert est == pytest.approx(granulated_kendall(t, "mu")["psi"])
    assert lo < est < hi
    tau = bootstrap_scores(t, "mu", lambda tab, m: kendall_tau(tab, m)["tau"], n_boot=40)
    assert tau[1] < tau[0] < tau[2]


def test_bootstrap_series_and_relabelled_seeds():
    # The seed column is itself an hp.* column: a seed drawn twice must enter as two seeds
    # (else its rows would form one group with duplicated networks).
    t = random_table(9, replicas=6).rename(columns={"replica": "hp.seed"})
    est, lo, hi = bootstrap_scores(t, "mu", lambda tab, m: sign_error(tab, m)["mean"],
                                   seed_column="hp.seed", n_boot=30)
    assert list(est.index) == list(lo.index) == ["hp.x0", "hp.x1", "hp.x2", "hp.seed", "all"]
    assert np.isfinite(est).all() and (lo <= hi).all()

    seen = []

    def record(tab, m):
        seen.append(sorted(tab["hp.seed"].unique()))
        return 0.0

    bootstrap_scores(t, "mu", record, seed_column="hp.seed", n_boot=3)
    assert all(s == list(range(6)) for s in seen[1:])


# ---------------------------------------------------------------- bad input


def test_missing_pandas_gives_the_pip_line(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "pandas" else real(name, *a))
    t = hand_table()
    calls = [lambda: kendall_tau(t, "mu"), lambda: granulated_kendall(t, "mu"),
             lambda: conditional_mutual_information(t, "mu"), lambda: sign_error(t, "mu"),
             lambda: bootstrap_scores(t, "mu", lambda a, b: 0.0, seed_column="hp.a")]
    for call in calls:
        with pytest.raises(InputError) as e:
            call()
        assert str(e.value) == PANDAS_MISSING
        assert 'pip install "xordsim[sweep]"' in str(e.value)


@pytest.mark.parametrize("call, name", [
    (lambda t: kendall_tau(t, "nope"), "nope"),
    (lambda t: kendall_tau(t, "mu", target="test.error"), "test.error"),
    (lambda t: granulated_kendall(t, "mu", axes=["hp.zz"]), "hp.zz"),
    (lambda t: conditional_mutual_information(t, "missing"), "missing"),
    (lambda t: sign_error(t, "mu", axes=["hp.c"]), "hp.c"),
    (lambda t: bootstrap_scores(t, "mu", lambda a, b: 0.0, seed_column="seed"), "seed"),
])
def test_bad_column_names_are_one_line_errors(call, name):
    with pytest.raises(InputError) as e:
        call(hand_table())
    msg = str(e.value)
    assert repr(name) in msg and "\n" not in msg


def test_other_bad_inputs():
    t = hand_table()
    with pytest.raises(InputError, match="DataFrame"):
        kendall_tau(t.to_dict(), "mu")
    with pytest.raises(InputError, match="numeric"):
        kendall_tau(t.assign(mu="x"), "mu")
    with pytest.raises(InputError, match="no hyper-parameter"):
        granulated_kendall(t[["gen.gap", "mu"]], "mu")
    with pytest.raises(InputError, match="unit"):
        sign_error(t, "mu", unit="pair")
    with pytest.raises(InputError, match="max_set_size"):
        conditional_mutual_information(t, "mu", max_set_size=-1)
    with pytest.raises(InputError, match="n_boot"):
        bootstrap_scores(t, "mu", lambda a, b: 0.0, seed_column="hp.a", n_boot=0)
