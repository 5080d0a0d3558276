"""Kendall's τ-b rank agreement (xordsim.measures.rank) against hand values, a plain-loop
τ-b and SciPy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from oracles import tau_b_loop
from scipy import stats

from xordsim._validate import InputError
from xordsim.measures.rank import (
    FLAGS,
    Kendall,
    kendall,
    rank_agreement,
    rank_table,
    tied_pairs,
)


def test_hand_example_without_ties():
    # pairs of (1,1) (2,3) (3,2) (4,4): only (2,3)-(3,2) is discordant: P = 5, Q = 1
    k = kendall([1, 2, 3, 4], [1, 3, 2, 4])
    assert k.tau == pytest.approx(4 / 6, rel=1e-15)
    assert (k.n, k.pairs, k.ties_measure, k.ties_error, k.flag) == (4, 6, 0, 0, "ok")
    assert k.p_value == pytest.approx(stats.kendalltau([1, 2, 3, 4], [1, 3, 2, 4]).pvalue)


def test_hand_example_with_ties():
    # x = 1 2 2 3, y = 1 2 3 3: P = 4, Q = 0, one pair tied in x, one in y:
    # τ-b = 4 / √((6 − 1)(6 − 1)) = 0.8
    k = kendall([1, 2, 2, 3], [1, 2, 3, 3])
    assert k.tau == pytest.approx(0.8, rel=1e-15)
    assert (k.ties_measure, k.ties_error) == (1, 1)
    # reversing the error's order flips the sign
    assert kendall([1, 2, 2, 3], [3, 2, 1, 1]).tau == pytest.approx(-0.8, rel=1e-15)


def test_against_loop_and_scipy(rng):
    for _ in range(30):
        n = int(rng.integers(3, 40))
        x = rng.integers(0, 6, size=n).astype(float)  # many ties
        y = np.round(rng.normal(size=n), 1)
        if tied_pairs(x) == n * (n - 1) // 2 or tied_pairs(y) == n * (n - 1) // 2:
            continue
        k = kendall(x, y)
        tau, tx, ty = tau_b_loop(x, y)
        assert k.tau == pytest.approx(tau, rel=1e-12, abs=1e-15)
        assert (k.ties_measure, k.ties_error) == (tx, ty)
        ref = stats.kendalltau(x, y, variant="b")
        assert k.tau == pytest.approx(ref.statistic, rel=1e-12, abs=1e-15)
        assert k.p_value == pytest.approx(ref.pvalue, rel=1e-12, abs=1e-15)


def test_constant_measure_is_flagged_not_silent():
    k = kendall(np.full(5, 2.5), [0.1, 0.2, 0.1, 0.3, 0.0])
    assert k.flag == "constant" and math.isnan(k.tau) and math.isnan(k.p_value)
    assert "measure is constant" in k.reason and "2.5" in k.reason
    assert k.ties_measure == k.pairs == 10
    both = kendall(np.ones(3), np.zeros(3))
    assert both.flag == "constant" and "and the error are constant" in both.reason
    err = kendall([1.0, 2.0, 3.0], [0.0, 0.0, 0.0])
    assert err.flag == "constant error" and "test error is constant" in err.reason
    few = kendall([1.0], [2.0], excluded=3)
    assert few.flag == "too few" and few.excluded == 3 and few.pairs == 0
    assert {k.flag, err.flag, few.flag, "ok"} == set(FLAGS)


def test_nonfinite_values_are_counted_and_excluded():
    x = np.array([1.0, np.nan, 3.0, np.inf, 5.0, 6.0, 2.0])
    y = np.array([0.5, 0.4, np.nan, 0.2, 0.1, 0.05, 0.3])
    res = rank_agreement(x, y)
    assert res.nonfinite_measure == 2 and res.nonfinite_error == 1
    assert res.replicas.excluded == 3 and res.replicas.n == 4
    keep = np.isfinite(x) & np.isfinite(y)
    assert res.replicas.tau == pytest.approx(stats.kendalltau(x[keep], y[keep]).statistic)
    assert res.replicas.tau == pytest.approx(-1.0)
    assert res.points is None


def test_grid_points_use_medians():
    # three grid points (k = 2, 20, 200) of three replicas; the measure's medians are
    # 3, 2, 1 and the error's medians 0.3, 0.2, 0.1: τ over points = 1
    k = np.repeat([2, 20, 200], 3)
    measure = np.array([9, 3, 1, 2, 2, 0, 1, 1, 5], dtype=float)
    error = np.array([0.3, 0.3, 0.0, 0.2, 0.25, 0.1, 0.1, 0.0, 0.4])
    res = rank_agreement(measure, error, groups=k)
    assert res.points.tau == pytest.approx(1.0) and res.points.n == 3
    assert res.points.level == "points" and res.replicas.level == "replicas"
    assert res.replicas.n == 9
    assert res.replicas.tau == pytest.approx(stats.kendalltau(measure, error).statistic)
    # the same as (points, replicas) arrays
    res2 = rank_agreement(measure.reshape(3, 3), error.reshape(3, 3))
    assert res2 == res


def test_grid_point_without_valid_replica_is_excluded():
    groups = np.array([1, 1, 2, 2, 3, 3, 4, 4])
    measure = np.array([1.0, 1.0, np.nan, np.nan, 3.0, 3.0, 4.0, 4.0])
    error = np.array([0.4, 0.4, 0.1, 0.1, 0.2, 0.2, 0.1, 0.1])
    res = rank_agreement(measure, error, groups)
    assert res.points.excluded == 1 and res.points.n == 3
    assert res.points.tau == pytest.approx(-1.0)


def test_measure_constant_over_points_but_not_replicas():
    """A k-independent measure (e.g. a kernel complexity on one shared training set):
    constant medians over the grid points, flagged as such."""
    groups = np.repeat([2, 20, 200], 3)
    measure = np.tile([1.0, 2.0, 3.0], 3)
    error = np.array([0.3, 0.2, 0.35, 0.2, 0.1, 0.15, 0.05, 0.0, 0.1])
    res = rank_agreement(measure, error, groups)
    assert res.points.flag == "constant" and math.isnan(res.points.tau)
    assert res.replicas.flag == "ok" and math.isfinite(res.replicas.tau)


def test_rank_table_rows():
    groups = np.repeat([2, 20], 4)
    error = np.array([0.3, 0.2, 0.3, 0.25, 0.1, 0.0, 0.05, 0.1])
    measures = {"shrinks": error * 10 + 1, "flat": np.ones(8)}
    rows = rank_table(measures, error, groups)
    assert [(r["measure"], r["level"]) for r in rows] == [
        ("shrinks", "points"), ("shrinks", "replicas"), ("flat", "points"),
        ("flat", "replicas")]
    assert rows[0]["tau"] == pytest.approx(1.0) and rows[1]["tau"] == pytest.approx(1.0)
    assert rows[2]["flag"] == rows[3]["flag"] == "constant"
    fields = {"measure", "nonfinite_measure", "nonfinite_error", *Kendall.__dataclass_fields__}
    assert all(set(r) == fields for r in rows)
    assert all(isinstance(r["tau"], float) and isinstance(r["n"], int) for r in rows)


def test_bad_input():
    with pytest.raises(InputError, match="measure_values and test_errors"):
        rank_agreement([1.0, 2.0], [1.0])
    with pytest.raises(InputError, match="measure_values and test_errors"):
        rank_agreement([], [])
    with pytest.raises(InputError, match="groups must have shape"):
        rank_agreement([1.0, 2.0], [1.0, 2.0], groups=[1])
    with pytest.raises(InputError, match="groups must be None"):
        rank_agreement(np.ones((2, 2)), np.ones((2, 2)), groups=[1, 2, 3, 4])
    with pytest.raises(InputError, match="measures must be"):
        rank_table({}, [1.0])
