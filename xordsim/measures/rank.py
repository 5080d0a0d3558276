"""Rank agreement between a generalization measure and the exact test error (Kendall's τ-b).

Does a measure move with the test error as k grows? For a sweep over grid points (e.g. the
values of k) with R replicas each, :func:`rank_agreement` computes Kendall's τ-b
(:func:`scipy.stats.kendalltau`, ``variant="b"``, its default two-sided p-value) at two
levels:

* **points**: between the per-point medians of the measure and of the test error (one pair
  per grid point; the medians are taken over the point's valid replicas);
* **replicas**: between the measure and the test error of every valid replica (all pairs of
  replicas, within and across grid points).

τ-b = (P − Q) / √((n₀ − n₁)(n₀ − n₂)) with P, Q the concordant and discordant pairs,
n₀ = n(n − 1)/2 the pairs, n₁ and n₂ the pairs tied in the measure and in the error (ties
are exact equalities); n₁ and n₂ are reported. A replica whose measure or error is NaN or
±inf is excluded from both levels and counted; a grid point left with no valid replica is
excluded and counted. τ is undefined when one variable is constant over the compared items
(e.g. a measure that does not depend on k, like the infinite-width kernel's complexity on a
shared training set) or fewer than two items remain: then τ and the p-value are NaN and the
result says so with a flag (``"constant"``: the measure is constant; ``"constant error"``:
only the error is; ``"too few"``) and a reason -- never a bare NaN.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from xordsim._validate import InputError

#: Flags of a :class:`Kendall` result.
FLAGS = ("ok", "constant", "constant error", "too few")


@dataclass(frozen=True)
class Kendall:
    """Kendall's τ-b at one level (``"points"`` or ``"replicas"``).

    Attributes
    ----------
    level : str
    tau, p_value : float
        τ-b and its two-sided p-value; NaN exactly when ``flag != "ok"``.
    n : int
        Items compared (grid points or replicas), after the exclusions.
    pairs : int
        n(n − 1)/2.
    ties_measure, ties_error : int
        Pairs tied in the measure, in the error (n₁, n₂ of τ-b).
    excluded : int
        Items dropped: replicas with a non-finite measure or error, or grid points with
        no valid replica.
    flag : str
        One of :data:`FLAGS`.
    reason : str
        Why τ is undefined ("" when it is defined).
    """

    level: str
    tau: float
    p_value: float
    n: int
    pairs: int
    ties_measure: int
    ties_error: int
    excluded: int
    flag: str
    reason: str


@dataclass(frozen=True)
class RankAgreement:
    """τ-b over replicas, and over grid points when grid points were given (else None);
    the replicas whose measure or whose error is not finite."""

    replicas: Kendall
    points: Kendall | None
    nonfinite_measure: int
    nonfinite_error: int


def tied_pairs(values) -> int:
    """Σ t(t − 1)/2 over the groups of t equal values: the pairs tied in ``values``."""
    _, t = np.unique(np.asarray(values), return_counts=True)
    return int(np.sum(t * (t - 1) // 2))


def kendall(measure, error, level: str = "replicas", excluded: int = 0) -> Kendall:
    """τ-b of finite 1-d ``measure`` and ``error`` of equal length, with the flags of the
    module docstring (``excluded`` is recorded as given)."""
    x = np.asarray(measure, dtype=float)
    y = np.asarray(error, dtype=float)
    n = int(x.size)
    pairs = n * (n - 1) // 2
    tx, ty = tied_pairs(x), tied_pairs(y)
    nan = float("nan")
    if n < 2:
        return Kendall(level, nan, nan, n, pairs, tx, ty, excluded, "too few",
                       f"{n} {level} left after excluding {excluded}: τ needs at least 2")
    const_x, const_y = tx == pairs, ty == pairs
    if const_x:
        what = "and the error are" if const_y else "is"
        return Kendall(level, nan, nan, n, pairs, tx, ty, excluded, "constant",
                       f"the measure {what} constant ({x[0]:.6g}) over the {n} {level}: "
                       "τ is undefined")
    if const_y:
        return Kendall(level, nan, nan, n, pairs, tx, ty, excluded, "constant error",
                       f"the test error is constant ({y[0]:.6g}) over the {n} {level}: "
                       "τ is undefined")
    res = stats.kendalltau(x, y, variant="b")
    return Kendall(level, float(res.statistic), float(res.pvalue), n, pairs, tx, ty,
                   excluded, "ok", "")


def _inputs(measure_values, test_errors, groups):
    x = np.asarray(measure_values, dtype=float)
    y = np.asarray(test_errors, dtype=float)
    if x.shape != y.shape or x.ndim not in (1, 2) or x.size == 0:
        raise InputError("measure_values and test_errors must have equal non-empty shapes "
                         f"(N,) or (points, replicas); got {x.shape}, {y.shape}")
    if x.ndim == 2:
        if groups is not None:
            raise InputError("groups must be None when measure_values has shape "
                             "(points, replicas): the rows are the grid points")
        g = np.repeat(np.arange(x.shape[0]), x.shape[1])
        return x.ravel(), y.ravel(), g
    if groups is None:
        return x, y, None
    g = np.asarray(groups)
    if g.shape != x.shape:
        raise InputError(f"groups must have shape {x.shape} like measure_values; got "
                         f"{g.shape}")
    return x, y, g


def rank_agreement(measure_values, test_errors, groups=None) -> RankAgreement:
    """Kendall's τ-b between a measure and the test error, over replicas and grid points.

    Parameters
    ----------
    measure_values, test_errors : arrays (N,) or (points, replicas)
        One value per replica. With shape (points, replicas) the rows are the grid points.
    groups : array (N,), optional
        The grid point of each replica (e.g. its k) for 1-d inputs; without it only the
        replica level is computed.

    Returns
    -------
    RankAgreement
    """
    x, y, g = _inputs(measure_values, test_errors, groups)
    fx, fy = np.isfinite(x), np.isfinite(y)
    valid = fx & fy
    bad = int((~valid).sum())
    replicas = kendall(x[valid], y[valid], "replicas", bad)
    points = None
    if g is not None:
        keys = np.unique(g)
        mx, my = [], []
        for key in keys:
            sel = valid & (g == key)
            if sel.any():
                mx.append(np.median(x[sel]))
                my.append(np.median(y[sel]))
        points = kendall(np.array(mx), np.array(my), "points", int(keys.size - len(mx)))
    return RankAgreement(replicas, points, int((~fx).sum()), int((~fy).sum()))


def rank_table(measures: dict, errors, groups=None) -> list[dict]:
    """One row per measure and level, in the order of ``measures`` (name -> values, each
    shaped like ``errors``; see :func:`rank_agreement`): a dict with the keys ``measure``,
    the fields of :class:`Kendall`, ``nonfinite_measure`` and ``nonfinite_error``. Plain
    Python values: a DataFrame is ``pandas.DataFrame(rows)``."""
    if not isinstance(measures, dict) or not measures:
        raise InputError("measures must be a non-empty dict of name -> values")
    rows = []
    for name, values in measures.items():
        res = rank_agreement(values, errors, groups)
        for k in (res.points, res.replicas):
            if k is not None:
                rows.append({"measure": str(name), **asdict(k),
                             "nonfinite_measure": res.nonfinite_measure,
                             "nonfinite_error": res.nonfinite_error})
    return rows


__all__ = ["FLAGS", "Kendall", "RankAgreement", "kendall", "rank_agreement", "rank_table",
           "tied_pairs"]
