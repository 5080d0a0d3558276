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

The scores of a benchmark table (pandas in, pandas out; pandas is the optional extra
``[sweep]``, imported inside these functions) take one row per network with its
hyper-parameters in ``hp.*`` columns and its measures and targets (default ``gen.gap``) in
named columns: :func:`kendall_tau` (τ-b over all networks, with tie fractions),
:func:`granulated_kendall` (Jiang et al.'s Ψ), :func:`conditional_mutual_information`
(Jiang et al.'s / the PGDL competition's conditional-independence score), :func:`sign_error`
(Dziugaite et al.'s robust sign error per axis) and :func:`bootstrap_scores` (a percentile
interval over seeds). Each docstring gives its formula, its source and the choices made
where the source leaves room; docs/measures.md ("Scores") summarizes them.
"""

from __future__ import annotations

import importlib.util
import itertools
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from xordsim._validate import InputError

if TYPE_CHECKING:  # pandas is the optional extra [sweep]; imported inside the scores
    import pandas

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


# ---------------------------------------------------------------------------------------
# Scores of a generalization measure on a table of trained networks (issue 15).
#
# A table is a pandas.DataFrame with one row per network: its hyper-parameters in ``hp.*``
# columns, each measure and each target (``gen.gap``, the test error, ...) in a named
# column. Rows whose measure or target is NaN or ±inf are excluded and counted.
# ---------------------------------------------------------------------------------------

#: Prefix of the hyper-parameter columns of a scores table.
HP_PREFIX = "hp."

#: The line of the InputError raised when pandas is missing.
PANDAS_MISSING = ('the scores of xordsim.measures.rank need pandas (not installed); install '
                  'it with: pip install "xordsim[sweep]"')


def _pandas():
    """pandas, or the one-line InputError with the pip line (checked with find_spec, never
    by catching ImportError)."""
    if importlib.util.find_spec("pandas") is None:
        raise InputError(PANDAS_MISSING)
    import pandas as pd
    return pd


def _columns_line(table) -> str:
    cols = [str(c) for c in table.columns]
    more = f", … ({len(cols)} in all)" if len(cols) > 12 else ""
    return ", ".join(cols[:12]) + more


def _check_table(table, measure: str, target: str, axes=None, need_axes: bool = False):
    """The pandas module and the table's axes, after checking every named column."""
    pd = _pandas()
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"table must be a pandas.DataFrame with one row per network; got "
                         f"{type(table).__name__}")
    for role, col in (("measure", measure), ("target", target)):
        if col not in table.columns:
            raise InputError(f"table has no {role} column {col!r}; its columns: "
                             f"{_columns_line(table)}")
        if not pd.api.types.is_numeric_dtype(table[col]) or \
                pd.api.types.is_bool_dtype(table[col]):
            raise InputError(f"{role} column {col!r} must be numeric; got dtype "
                             f"{table[col].dtype}")
    hp = [str(c) for c in table.columns if str(c).startswith(HP_PREFIX)]
    if axes is None:
        axes = list(hp)
    else:
        if isinstance(axes, str):
            axes = [axes]
        axes = list(axes)
        for a in axes:
            if a not in table.columns:
                raise InputError(f"table has no axis column {a!r}; its columns: "
                                 f"{_columns_line(table)}")
            if a in (measure, target):
                raise InputError(f"axis {a!r} is the measure or the target column")
        hp += [a for a in axes if a not in hp]
    if need_axes and not axes:
        raise InputError(f"table has no hyper-parameter ({HP_PREFIX}*) column to score along;"
                         f" its columns: {_columns_line(table)}")
    return pd, axes, hp


def _finite_rows(table, measure: str, target: str):
    """The rows whose measure and target are finite, and the number of rows dropped."""
    x = table[measure].to_numpy(dtype=float)
    y = table[target].to_numpy(dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    return table.loc[keep], int((~keep).sum())


def _groups(df, keys: list[str]):
    """(key, sub-table) for the groups of rows sharing the values of ``keys`` (NaN is a
    value); the whole table when ``keys`` is empty."""
    if not keys:
        return [((), df)]
    return list(df.groupby(keys, dropna=False, sort=True))


def kendall_tau(table: pandas.DataFrame, measure: str, target: str = "gen.gap"
                ) -> pandas.Series:
    """Kendall's τ-b between a measure and a target over all networks of a table.

    τ-b = (P − Q) / √((n₀ − n₁)(n₀ − n₂)) (Kendall 1945, the coefficient of Jiang et al.,
    *Fantastic Generalization Measures and Where to Find Them*, ICLR 2020, Eq. (3), with
    ties): P, Q the concordant and discordant pairs of networks, n₀ = n(n − 1)/2 the pairs,
    n₁ and n₂ the pairs tied (exactly equal) in the measure and in the target. Computed by
    :func:`scipy.stats.kendalltau` (``variant="b"``; its two-sided p-value).

    With exact test errors many networks tie (wide networks at zero test error): the tie
    fractions n₁/n₀ and n₂/n₀ are reported. A network whose measure or target is NaN or
    ±inf is excluded and counted. When the measure (or the target) is constant over the
    networks, or fewer than two remain, τ is undefined: ``tau`` and ``p_value`` are NaN and
    ``flag`` says why (``"constant"``, ``"constant error"`` -- the target is constant --
    or ``"too few"``; :data:`FLAGS`), with ``reason``.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per network.
    measure, target : str
        Column names (numeric).

    Returns
    -------
    pandas.Series
        ``tau``, ``p_value``, ``n``, ``pairs``, ``ties_measure``, ``ties_target``,
        ``tie_fraction_measure``, ``tie_fraction_target``, ``excluded``, ``flag``,
        ``reason``; named after the measure.

    Raises
    ------
    InputError
        A missing or non-numeric column, a table that is not a DataFrame, or pandas
        missing.
    """
    pd, _, _ = _check_table(table, measure, target)
    df, excluded = _finite_rows(table, measure, target)
    k = kendall(df[measure].to_numpy(float), df[target].to_numpy(float), "networks",
                excluded)
    d = asdict(k)
    del d["level"]
    d["ties_target"] = d.pop("ties_error")
    frac = (lambda t: t / k.pairs) if k.pairs else (lambda t: float("nan"))
    d["tie_fraction_measure"] = frac(k.ties_measure)
    d["tie_fraction_target"] = frac(k.ties_error)
    d["reason"] = k.reason.replace("the test error", f"the target {target!r}")
    order = ["tau", "p_value", "n", "pairs", "ties_measure", "ties_target",
             "tie_fraction_measure", "tie_fraction_target", "excluded", "flag", "reason"]
    return pd.Series({key: d[key] for key in order}, name=measure, dtype=object)


def granulated_kendall_groups(table: pandas.DataFrame, measure: str,
                              target: str = "gen.gap", axes: Sequence[str] | None = None
                              ) -> pandas.DataFrame:
    """ψᵢ per axis with the number of groups used and skipped (see
    :func:`granulated_kendall` for the definition).

    Returns
    -------
    pandas.DataFrame
        Indexed by axis: ``psi`` (ψᵢ, NaN when no group of the axis has a defined τ),
        ``groups`` (groups of networks sharing every other hyper-parameter), ``used``
        (groups averaged), ``one_value`` (skipped: the axis takes a single value in the
        group), ``constant_measure`` and ``constant_target`` (skipped: τ undefined because
        the measure, or only the target, is constant in the group), and ``excluded``
        (networks with a non-finite measure or target, dropped before grouping).
    """
    pd, axes, hp = _check_table(table, measure, target, axes, need_axes=True)
    df, excluded = _finite_rows(table, measure, target)
    rows = {}
    for axis in axes:
        others = [h for h in hp if h != axis]
        taus, groups, one, cm, ct = [], 0, 0, 0, 0
        for _, g in _groups(df, others):
            groups += 1
            if g[axis].nunique(dropna=False) < 2:
                one += 1
                continue
            k = kendall(g[measure].to_numpy(float), g[target].to_numpy(float), "networks")
            if k.flag == "ok":
                taus.append(k.tau)
            elif k.flag == "constant":
                cm += 1
            else:  # "constant error"; "too few" cannot occur with two distinct values
                ct += 1
        rows[axis] = {"psi": float(np.mean(taus)) if taus else float("nan"),
                      "groups": groups, "used": len(taus), "one_value": one,
                      "constant_measure": cm, "constant_target": ct, "excluded": excluded}
    return pd.DataFrame.from_dict(rows, orient="index")


def granulated_kendall(table: pandas.DataFrame, measure: str, target: str = "gen.gap",
                       axes: Sequence[str] | None = None) -> pandas.Series:
    """Jiang et al.'s granulated Kendall coefficient Ψ and its per-axis terms ψᵢ.

    Jiang, Neyshabur, Mobahi, Krishnan & Bengio, *Fantastic Generalization Measures and
    Where to Find Them*, ICLR 2020, Sec. 5 ("granulated Kendall's coefficient")::

        ψᵢ = (1/mᵢ) Σ_{θ₁∈Θ₁} … Σ_{θᵢ₋₁∈Θᵢ₋₁} Σ_{θᵢ₊₁∈Θᵢ₊₁} … Σ_{θₙ∈Θₙ}
                 τ( ∪_{θᵢ∈Θᵢ} {(μ(θ), g(θ))} ),      Ψ = (1/n) Σᵢ ψᵢ,

    with mᵢ = |Θ₁ × … × Θᵢ₋₁ × Θᵢ₊₁ × … × Θₙ|: for axis i, τ within every group of networks
    that share the values of all the other hyper-parameters (so they differ only along
    axis i), averaged over the groups; Ψ the mean over the axes.

    Choices where the paper leaves room (one network per grid cell there):

    * the hyper-parameters are the ``hp.*`` columns (plus any ``axes`` given that lack the
      prefix); a group holds every network of its cell values, so replicas (seeds not in
      an ``hp.*`` column) of a cell all enter the group's τ; τ is τ-b (:func:`kendall`);
    * a group where the axis takes a single value, or where τ is undefined (the measure or
      the target constant in the group: e.g. every network of the group at zero test
      error) is **skipped and counted**; ψᵢ is the mean over the remaining groups (mᵢ is
      their number), NaN when none remains;
    * Ψ is the mean of the ψᵢ that are defined (NaN when none is); the counts are in
      ``result.attrs["groups"]`` (the DataFrame of :func:`granulated_kendall_groups`).

    A constant measure therefore has no defined ψᵢ: every entry is NaN and
    ``attrs["groups"]["constant_measure"]`` counts its groups.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per network, hyper-parameters in ``hp.*`` columns.
    measure, target : str
        Column names (numeric).
    axes : sequence of str, optional
        The axes i; default every ``hp.*`` column.

    Returns
    -------
    pandas.Series
        ψᵢ indexed by axis name, then ``"psi"`` (Ψ); ``attrs["groups"]`` the per-axis
        group counts.
    """
    per_axis = granulated_kendall_groups(table, measure, target, axes)
    pd = _pandas()
    psi = per_axis["psi"].to_numpy(float)
    defined = psi[np.isfinite(psi)]
    out = pd.Series(np.append(psi, float(np.mean(defined)) if defined.size else np.nan),
                    index=[*per_axis.index, "psi"], name=measure, dtype=float)
    out.attrs["groups"] = per_axis
    return out


def _sign(v: np.ndarray) -> np.ndarray:
    return np.sign(v).astype(np.int8)


def conditional_mutual_information(table: pandas.DataFrame, measure: str,
                                   target: str = "gen.gap",
                                   axes: Sequence[str] | None = None,
                                   max_set_size: int = 2,
                                   chunk_pairs: int = 1 << 22) -> pandas.Series:
    """Jiang et al.'s conditional mutual information score K(μ) (the PGDL score).

    Jiang et al., *Fantastic Generalization Measures and Where to Find Them*, ICLR 2020,
    Sec. 6 ("conditional independence test"), the score of the NeurIPS 2020 *Predicting
    Generalization in Deep Learning* competition (Jiang et al., arXiv:2012.07976). Over
    ordered pairs (θ, θ′) of distinct networks::

        V_μ = sgn(μ(θ) − μ(θ′)),   V_g = sgn(g(θ) − g(θ′)),
        U_S = (θ_S, θ′_S)   the values of the hyper-parameters in S of both networks,
        I(V_μ; V_g | U_S) = Σ_u p(u) Σ_{a,b} p(a, b | u) log[p(a, b | u) / (p(a | u) p(b | u))],
        H(V_g | U_S)      = −Σ_u p(u) Σ_b p(b | u) log p(b | u),
        Ĩ_S = I(V_μ; V_g | U_S) / H(V_g | U_S),      K(μ) = min_{S : |S| ≤ max_set_size} Ĩ_S,

    with p the empirical frequencies over the pairs. Ĩ_S lies in [0, 1]: 1 when the
    measure's order determines the target's within every conditioning cell (e.g. μ = g), 0
    when they are conditionally independent. A high K(μ) means no set of at most
    ``max_set_size`` hyper-parameters explains away the measure's relation to the target.

    Choices where the sources leave room:

    * V is the three-valued sign (−1, 0, +1): exact ties (many with exact test errors; a
      constant measure has V_μ ≡ 0 and scores 0) are their own value. The competition's
      script counts a tie as "−" and includes the pairs (θ, θ); neither is done here.
    * p(u) weights each cell u by its number of pairs, as in the paper's formula (the
      competition's script averages the cells with equal weights); S = ∅ (the plain
      normalized mutual information) is included, as in the paper's |S| ≤ 2 (the
      script uses exactly |S| = 2).
    * A set S with H(V_g | U_S) = 0 (the target's order is fixed by the hyper-parameters
      of S alone) makes Ĩ_S = 0/0: it is skipped and listed in ``attrs["skipped"]``; K is
      the minimum over the other sets (NaN when all are skipped). Logs are base 2 (Ĩ does
      not depend on the base).
    * Networks with a non-finite measure or target are excluded and counted.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per network, hyper-parameters in ``hp.*`` columns.
    measure, target : str
        Column names (numeric).
    axes : sequence of str, optional
        The hyper-parameters S is drawn from; default every ``hp.*`` column.
    max_set_size : int
        Largest |S| (2 in the paper).
    chunk_pairs : int
        Pairs compared at once (memory bound; the result does not depend on it).

    Returns
    -------
    pandas.Series
        Ĩ_S for each S (indexed ``"∅"``, ``"hp.a"``, ``"hp.a & hp.b"``, …), then
        ``"cmi"`` = K(μ). ``attrs``: ``argmin`` (the minimizing S), ``skipped`` (the sets
        with H(V_g | U_S) = 0), ``pairs`` (ordered pairs), ``excluded`` (networks).
    """
    if isinstance(max_set_size, bool) or not isinstance(max_set_size, (int, np.integer)) \
            or max_set_size < 0:
        raise InputError(f"max_set_size must be a non-negative integer; got {max_set_size!r}")
    pd, axes, _ = _check_table(table, measure, target, axes)
    df, excluded = _finite_rows(table, measure, target)
    mu = df[measure].to_numpy(float)
    g = df[target].to_numpy(float)
    n = mu.size
    sets = [s for r in range(min(max_set_size, len(axes)) + 1)
            for s in itertools.combinations(axes, r)]
    cells, ncell = [], []
    for s in sets:
        if s:
            codes = df.groupby(list(s), dropna=False, sort=True).ngroup().to_numpy(np.int64)
        else:
            codes = np.zeros(n, dtype=np.int64)
        cells.append(codes)
        ncell.append(int(codes.max()) + 1 if n else 1)
    counts = [np.zeros(c * c * 9, dtype=np.int64) for c in ncell]
    rows = max(1, int(chunk_pairs) // max(n, 1))
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        i = np.arange(start, stop)
        code = (3 * (_sign(mu[i, None] - mu[None, :]) + 1)
                + (_sign(g[i, None] - g[None, :]) + 1)).astype(np.int64)
        off = np.ones(code.shape, dtype=bool)
        off[np.arange(stop - start), i] = False  # drop the pairs (θ, θ)
        for c, codes, cnt in zip(ncell, cells, counts, strict=True):
            u = codes[i, None] * c + codes[None, :]
            cnt += np.bincount((u * 9 + code)[off], minlength=cnt.size)
    values, skipped = {}, []
    for s, c, cnt in zip(sets, ncell, counts, strict=True):
        t = cnt.reshape(c * c, 3, 3).astype(float)  # (u, V_μ, V_g)
        total = t.sum()
        label = " & ".join(s) if s else "∅"
        if total == 0:
            skipped.append(label)
            continue
        pu = t.sum(axis=(1, 2))
        pa = t.sum(axis=2)  # (u, V_μ)
        pb = t.sum(axis=1)  # (u, V_g)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = t * pu[:, None, None] / (pa[:, :, None] * pb[:, None, :])
            mi = np.where(t > 0, t * np.log2(np.where(t > 0, ratio, 1.0)), 0.0).sum() / total
            hb = -np.where(pb > 0, pb * np.log2(np.where(pb > 0, pb / pu[:, None], 1.0)),
                           0.0).sum() / total
        if hb <= 1e-12:
            skipped.append(label)
            continue
        values[label] = max(0.0, float(mi / hb))
    out = pd.Series(values, dtype=float, name=measure)
    if values:
        arg = min(values, key=values.get)
        out["cmi"] = values[arg]
    else:
        arg = None
        out["cmi"] = float("nan")
    out.attrs.update(argmin=arg, skipped=skipped, pairs=n * (n - 1), excluded=excluded)
    return out


#: The units over which :func:`sign_error` takes its statistics.
SIGN_ERROR_UNITS = ("environment", "cell pair")


def sign_error_units(table: pandas.DataFrame, measure: str, target: str = "gen.gap",
                     axes: Sequence[str] | None = None, unit: str = "environment"
                     ) -> pandas.DataFrame:
    """The sign error of every environment (or coupled cell pair) of every axis, the
    distribution that :func:`sign_error` summarizes (its CDF is Dziugaite et al.'s figure).

    Returns
    -------
    pandas.DataFrame
        One row per unit: ``axis``, ``environment`` (the tuple of the other
        hyper-parameters' values, in the order of ``others``), ``values`` (for
        ``unit="cell pair"``: the two values of the axis; else None), ``sign_error`` (NaN
        when every pair of the unit ties in the target), ``pairs`` (scored pairs),
        ``tied_target`` (pairs with Δg = 0, excluded), ``tied_measure`` (scored pairs with
        Δμ = 0, each counting ½), and ``others`` (the names of the other hyper-parameters).
    """
    if unit not in SIGN_ERROR_UNITS:
        raise InputError(f"unit must be one of {', '.join(SIGN_ERROR_UNITS)}; got {unit!r}")
    pd, axes, hp = _check_table(table, measure, target, axes, need_axes=True)
    df, _ = _finite_rows(table, measure, target)
    out = []
    for axis in axes:
        others = [h for h in hp if h != axis]
        for env, g in _groups(df, others):
            env = env if isinstance(env, tuple) else (env,)
            v = pd.factorize(g[axis], use_na_sentinel=False)[0]
            vals = pd.unique(g[axis])
            mu = g[measure].to_numpy(float)
            y = g[target].to_numpy(float)
            i, j = np.triu_indices(mu.size, 1)
            keep = v[i] != v[j]
            i, j = i[keep], j[keep]
            if i.size == 0:
                continue  # the axis takes one value here: no coupled pair
            if unit == "environment":
                parts = [(None, np.ones(i.size, dtype=bool))]
            else:
                lo, hi = np.minimum(v[i], v[j]), np.maximum(v[i], v[j])
                parts = [((vals[a], vals[b]), (lo == a) & (hi == b))
                         for a, b in sorted(set(zip(lo.tolist(), hi.tolist(), strict=True)))]
            for values, sel in parts:
                dm = np.sign(mu[i[sel]] - mu[j[sel]])
                dg = np.sign(y[i[sel]] - y[j[sel]])
                scored = dg != 0
                err = (1.0 - dm[scored] * dg[scored]) / 2.0
                out.append({"axis": axis, "environment": env, "values": values,
                            "sign_error": float(err.mean()) if err.size else float("nan"),
                            "pairs": int(scored.sum()), "tied_target": int((~scored).sum()),
                            "tied_measure": int((dm[scored] == 0).sum()),
                            "others": tuple(others)})
    cols = ["axis", "environment", "values", "sign_error", "pairs", "tied_target",
            "tied_measure", "others"]
    return pd.DataFrame(out, columns=cols)


def sign_error(table: pandas.DataFrame, measure: str, target: str = "gen.gap",
               axes: Sequence[str] | None = None, unit: str = "environment",
               q: float = 0.9) -> pandas.DataFrame:
    """Dziugaite et al.'s robust sign-error statistics of a measure, per axis and overall.

    Dziugaite, Drouin, Neal, Rajkumar, Caballero, Wang, Mitliagkas & Roy, *In Search of
    Robust Measures of Generalization*, NeurIPS 2020, Sec. 3: for a coupled pair of
    networks (θ, θ′) that differ in exactly one hyper-parameter, the sign error of the
    measure μ against the target g is ::

        SE(θ, θ′) = ½ (1 − sgn(μ(θ) − μ(θ′)) · sgn(g(θ) − g(θ′))),

    i.e. 1{sgn Δμ ≠ sgn Δg} when neither difference is zero. For each axis i the pairs are
    grouped by environment e (the values of every other hyper-parameter); the sign error of
    e is the mean SE over its pairs, and the distribution of these over the environments is
    summarized by its mean, its ``q``-quantile (90th percentile; linear interpolation,
    :func:`numpy.quantile`) and its maximum (the robust, worst-case view). ``"all"`` pools
    the environments of every axis.

    Choices where the paper leaves room (its test errors are estimated, so it weights pairs
    by the confidence that Δg ≠ 0; with exact errors no weighting is needed):

    * pairs with Δg = 0 exactly (e.g. two networks at zero test error) have no sign to
      predict: they are **excluded and counted** (``tied_target``); an environment whose
      pairs all tie is skipped and counted (``skipped``);
    * a pair with Δμ = 0 and Δg ≠ 0 scores ½ (a coin flip; counted in ``tied_measure``):
      a constant measure scores ½ everywhere;
    * replicas (seeds not in an ``hp.*`` column) of the two cells are all paired with each
      other; ``unit="cell pair"`` takes the statistics over the coupled pairs of grid
      cells (e, e′) of Dziugaite et al. instead of over environments (the two coincide
      when the axis has two values).

    Parameters
    ----------
    table : pandas.DataFrame
        One row per network, hyper-parameters in ``hp.*`` columns.
    measure, target : str
        Column names (numeric).
    axes : sequence of str, optional
        The axes; default every ``hp.*`` column.
    unit : {"environment", "cell pair"}
        What the distribution is over.
    q : float
        The quantile reported as ``p90``.

    Returns
    -------
    pandas.DataFrame
        Indexed by axis, then ``"all"``: ``mean``, ``p90``, ``max`` of the units' sign
        errors, ``units`` (units with a scored pair), ``skipped`` (units whose pairs all
        tie in g), ``pairs`` (scored pairs), ``pairs_per_unit`` (their mean number),
        ``tied_target``, ``tied_measure``.
    """
    if not 0.0 <= float(q) <= 1.0:
        raise InputError(f"q must be in [0, 1]; got {q!r}")
    units = sign_error_units(table, measure, target, axes, unit)
    pd = _pandas()
    _, axes, _ = _check_table(table, measure, target, axes)
    rows = {}
    for name in [*axes, "all"]:
        u = units if name == "all" else units[units["axis"] == name]
        e = u["sign_error"].to_numpy(float)
        ok = np.isfinite(e)
        e = e[ok]
        nan = float("nan")
        rows[name] = {"mean": float(e.mean()) if e.size else nan,
                      "p90": float(np.quantile(e, q)) if e.size else nan,
                      "max": float(e.max()) if e.size else nan,
                      "units": int(ok.sum()), "skipped": int((~ok).sum()),
                      "pairs": int(u["pairs"].sum()),
                      "pairs_per_unit": float(u["pairs"].to_numpy()[ok].mean())
                      if ok.any() else nan,
                      "tied_target": int(u["tied_target"].sum()),
                      "tied_measure": int(u["tied_measure"].sum())}
    return pd.DataFrame.from_dict(rows, orient="index")


def bootstrap_scores(table: pandas.DataFrame, measure: str,
                     score_fn: Callable[[Any, str], Any], seed_column: str = "replica",
                     n_boot: int = 200, seed: int = 0, level: float = 0.95):
    """A score and its percentile bootstrap interval over seeds.

    The seeds (the distinct values of ``seed_column``) are resampled with replacement
    (Efron & Tibshirani 1993, the percentile interval): each bootstrap table stacks, for
    each of the S draws, every row of the drawn seed, relabelled with the draw's index in
    ``seed_column`` (so a seed drawn twice enters as two seeds, and grouping by ``hp.*``
    columns that include the seed column still works). The interval is the
    ((1 − level)/2, (1 + level)/2) quantiles of the ``n_boot`` bootstrap scores; draws
    whose score is NaN are ignored. Deterministic given ``seed``
    (:func:`numpy.random.default_rng`).

    Parameters
    ----------
    table : pandas.DataFrame
        One row per network.
    measure : str
        The measure column, passed on to ``score_fn``.
    score_fn : callable
        ``score_fn(table, measure)`` -> a float or a pandas.Series of floats (e.g.
        ``lambda t, m: granulated_kendall(t, m)["psi"]``, or ``granulated_kendall``).
    seed_column : str
        The column naming each network's seed (``replica`` in a sweep store, or an
        ``hp.seed`` column).
    n_boot : int
        Bootstrap draws.
    seed : int
        Seed of the resampling.
    level : float
        Coverage of the interval.

    Returns
    -------
    (estimate, low, high)
        Floats, or pandas.Series indexed like ``score_fn``'s result; the estimate is
        ``score_fn`` on the whole table.
    """
    pd = _pandas()
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"table must be a pandas.DataFrame; got {type(table).__name__}")
    for role, col in (("measure", measure), ("seed", seed_column)):
        if col not in table.columns:
            raise InputError(f"table has no {role} column {col!r}; its columns: "
                             f"{_columns_line(table)}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise InputError(f"n_boot must be a positive integer; got {n_boot!r}")
    if not 0.0 < float(level) < 1.0:
        raise InputError(f"level must be in (0, 1); got {level!r}")
    estimate = score_fn(table, measure)
    keys = pd.unique(table[seed_column])
    by_seed = {k: table[table[seed_column] == k] for k in keys}
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(int(n_boot)):
        pick = rng.integers(0, len(keys), size=len(keys))
        parts = [by_seed[keys[p]].assign(**{seed_column: b}) for b, p in enumerate(pick)]
        res = score_fn(pd.concat(parts, ignore_index=True), measure)
        draws.append(np.asarray(res, dtype=float))
    draws = np.array(draws)
    a = (1.0 - float(level)) / 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column gives NaN
        low = np.nanquantile(draws, a, axis=0)
        high = np.nanquantile(draws, 1.0 - a, axis=0)
    if isinstance(estimate, pd.Series):
        return (estimate.astype(float), pd.Series(low, index=estimate.index, name="low"),
                pd.Series(high, index=estimate.index, name="high"))
    return float(estimate), float(low), float(high)


__all__ = ["FLAGS", "HP_PREFIX", "Kendall", "RankAgreement", "SIGN_ERROR_UNITS",
           "bootstrap_scores", "conditional_mutual_information", "granulated_kendall",
           "granulated_kendall_groups", "kendall", "kendall_tau", "rank_agreement",
           "rank_table", "sign_error", "sign_error_units", "tied_pairs"]
