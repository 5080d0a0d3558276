"""The scores of the generalization-measure benchmark on a benchmark table, fast and exact.

The library behind ``xordsim score`` and the ``rank-agreement`` figure (docs/benchmark.md).
:func:`score_table` scores each measure of a :func:`~xordsim.sweep.benchmark_table` against
a target (``gen.gap`` or ``test_error``, :data:`~xordsim.config.SCORE_TARGET`) with the
definitions of :mod:`xordsim.measures.rank` -- Kendall's τ-b over all networks with its tie
fractions (:func:`~xordsim.measures.rank.kendall_tau`), the granulated Kendall coefficient Ψ
and its ψ per axis (:func:`~xordsim.measures.rank.granulated_kendall`, Jiang et al. 2020,
Sec. 5), the conditional mutual information K
(:func:`~xordsim.measures.rank.conditional_mutual_information`, Jiang et al. 2020, Sec. 6)
and Dziugaite et al.'s (2020) sign error over environments (mean, 90th percentile, max;
:func:`~xordsim.measures.rank.sign_error`) -- each with the 95% percentile bootstrap
interval over the seeds of :func:`~xordsim.measures.rank.bootstrap_scores` (``hp.seed``
resampled with replacement, a seed drawn twice entering as two seeds).

Same numbers, computed differently: the functions of :mod:`xordsim.measures.rank` group a
DataFrame and call scipy once per group, which takes minutes per measure on the quick grid
and hours on the full one. Here the table is encoded once as integer codes, the pairs of
networks that Ψ and the sign error compare (those sharing every hyper-parameter but one,
the seed included) are enumerated once per axis, and τ-b, ψ and the sign errors of all
groups are sums over those pairs (:func:`numpy.bincount`); the CMI's counts over ordered
pairs are kept per pair of seeds, so a bootstrap draw is a weighted sum of counts instead
of a rescoring of an n²-pair table. ``tests/test_score.py`` holds every score against the
functions of :mod:`xordsim.measures.rank` (and the bootstrap against
:func:`~xordsim.measures.rank.bootstrap_scores`) on tables with ties, NaNs and replicas.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import math
from pathlib import Path

import numpy as np
from numba import njit

from xordsim import _jit  # noqa: F401  (first: the package's kernel cache, _jit.py)
from xordsim._validate import InputError
from xordsim.config import SCORE_N_BOOT, SCORE_TARGET

#: The targets a measure can be scored against, and the default one.
TARGETS = SCORE_TARGET.choices
TARGET = SCORE_TARGET.default
#: Bootstrap draws of every interval (resampling the seeds; deterministic given BOOT_SEED).
N_BOOT = SCORE_N_BOOT.default
#: Seed of the bootstrap resampling.
BOOT_SEED = 0
#: The coverage of the intervals.
LEVEL = 0.95
#: The quantile of the sign error reported as ``sign_error.p90``.
SE_QUANTILE = 0.9
#: Largest conditioning set |S| of the CMI (2 in Jiang et al.).
CMI_MAX_SET = 2
#: The seed column of the benchmark table: conditioned on, resampled by the bootstrap.
SEED = "hp.seed"
#: Columns of ``scores.csv`` (one row per measure and score).
SCORE_COLUMNS = ["measure", "score", "estimate", "ci95_low", "ci95_high"]
#: Scores without a bootstrap interval (counts).
COUNTS = ("networks", "excluded")


# ----------------------------------------------------------------------------------------
# measures of a user's module, from the stores' saved weights


def import_module_file(path) -> list[str]:
    """Import the Python file ``path`` (running its ``register`` calls); returns the names
    of the measures it registered. A missing file or one that raises is an InputError."""
    from xordsim.measures import registry

    path = Path(path)
    if path.suffix != ".py" or not path.is_file():
        raise InputError(f"--module must name an existing .py file; got {str(path)!r}")
    before = set(registry.available())
    spec = importlib.util.spec_from_file_location(f"xordsim_user_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - any error in the user's file is bad input
        raise InputError(f"--module {path}: importing it raised {type(exc).__name__}: "
                         f"{exc}") from None
    return [n for n in registry.available() if n not in before]


def measure_columns(stores, names: list[str]) -> tuple[dict, dict]:
    """The values of the measures ``names`` for every network of ``stores``, from their saved
    weights, in :func:`~xordsim.sweep.benchmark_table` row order.

    Returns ``(values, failures)``: name -> float array over the rows (NaN where the measure
    failed), and name -> list of ``(point id, replica, reason)``.
    """
    from xordsim.measures import registry
    from xordsim.sweep.store import Store, load, load_points

    values: dict = {n: [] for n in names}
    failures: dict = {n: [] for n in names}
    for store in stores:
        manifest = Store(store).require_manifest()
        ids = {json.dumps(e["params"], sort_keys=True): e["id"] for e in manifest["points"]}
        rows = load(store)[["id", "replica"]]
        by_id = {}
        for params, point in load_points(store):
            pid = ids[json.dumps(params, sort_keys=True)]
            ev = registry.evaluate(point, names)
            by_id[pid] = ev.values
            for n in names:
                failures[n] += [(pid, r, why) for r, why in ev.failures.get(n, [])]
        for n in names:
            values[n].append(np.array([by_id[i][n][r] if i in by_id else np.nan
                                       for i, r in zip(rows["id"], rows["replica"],
                                                       strict=True)], dtype=float))
    return {n: np.concatenate(v) for n, v in values.items()}, failures


# ----------------------------------------------------------------------------------------
# the table, encoded


def axes_of(table) -> list[str]:
    """The axes scored: the table's ``hp.*`` columns but the seed."""
    return [h for h in table.attrs.get("hp", [c for c in table.columns
                                              if str(c).startswith("hp.")]) if h != SEED]


def _codes(column) -> np.ndarray:
    """Integer codes of a column's values in sorted order (NaN its own, last value), as
    pandas' ``groupby(..., dropna=False, sort=True)`` numbers its groups."""
    import pandas as pd

    codes, _ = pd.factorize(column, sort=True, use_na_sentinel=False)
    return codes.astype(np.int64)


class Encoded:
    """A benchmark table as integer codes: ``hp`` (every ``hp.*`` column, the seed
    included, one row each), ``axes`` (the scored axes), ``seed`` (the seed's code of every
    row, numbered in order of first appearance as :func:`pandas.unique` lists them)."""

    def __init__(self, table, axes: list[str] | None = None):
        import pandas as pd

        if SEED not in table.columns:
            raise InputError(f"the table has no {SEED} column (a benchmark_table has one)")
        self.hp = [str(c) for c in table.columns if str(c).startswith("hp.")]
        self.axes = axes_of(table) if axes is None else list(axes)
        self.codes = {h: _codes(table[h].to_numpy()) for h in self.hp}
        keys = pd.unique(table[SEED])
        self.n_seeds = len(keys)
        self.seed = pd.Index(keys).get_indexer(table[SEED]).astype(np.int64)
        self.n = len(table)
        self._pairs: dict = {}
        self._cells: dict = {}

    def joint_code(self, names) -> np.ndarray:
        """One int64 code per network for its combination of the columns ``names``
        (0 for every network when ``names`` is empty)."""
        if not names:
            return np.zeros(self.n, dtype=np.int64)
        stacked = np.stack([self.codes[h] for h in names], axis=1)
        _, code = np.unique(stacked, axis=0, return_inverse=True)
        return code.reshape(-1).astype(np.int64)

    def group_pairs(self, axis: str):
        """The pairs (i < j) of rows sharing every ``hp.*`` value but ``axis``'s, with the
        group of each pair: ``(i, j, group, n_groups, group_seed)``; ``group_seed`` the seed
        code of each group."""
        if axis in self._pairs:
            return self._pairs[axis]
        group = self.joint_code([h for h in self.hp if h != axis])
        order = np.argsort(group, kind="stable")
        sorted_group = group[order]
        n_groups = int(group.max()) + 1 if self.n else 0
        size = np.bincount(group, minlength=n_groups)
        start = np.concatenate([[0], np.cumsum(size)[:-1]])
        pos = np.arange(self.n)
        after = (start[sorted_group] + size[sorted_group]) - pos - 1  # partners after pos
        total = int(after.sum())
        first = np.repeat(pos, after)
        offset = np.arange(total) - np.repeat(np.cumsum(after) - after, after)
        i, j = order[first], order[first + 1 + offset]
        group_seed = np.zeros(n_groups, dtype=np.int64)
        group_seed[group] = self.seed
        self._pairs[axis] = (i, j, group[i], n_groups, group_seed)
        return self._pairs[axis]

    def cells(self, max_set: int) -> list[tuple[str, np.ndarray, int]]:
        """The conditioning sets S (|S| <= ``max_set``) of the axes, in the order of
        :func:`~xordsim.measures.rank.conditional_mutual_information`: (label, cell code of
        every row, number of cells)."""
        if max_set in self._cells:
            return self._cells[max_set]
        out = []
        for r in range(min(max_set, len(self.axes)) + 1):
            for s in itertools.combinations(self.axes, r):
                code = self.joint_code(s)
                out.append((" & ".join(s) if s else "∅", code,
                            int(code.max()) + 1 if self.n else 1))
        self._cells[max_set] = out
        return out


# ----------------------------------------------------------------------------------------
# τ-b, ψ and the sign error, per seed


def _tau_b(s, n0, n1, n2) -> np.ndarray:
    """τ-b = (P − Q) / √(n₀ − n₁) / √(n₀ − n₂) (scipy's expression and clipping), NaN where a
    variable is constant (n₁ = n₀ or n₂ = n₀)."""
    s, n0, n1, n2 = (np.asarray(v, dtype=float) for v in (s, n0, n1, n2))
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = s / np.sqrt(n0 - n1) / np.sqrt(n0 - n2)
    return np.where((n1 < n0) & (n2 < n0), np.clip(tau, -1.0, 1.0), np.nan)


def _seed_parts(enc: Encoded, x: np.ndarray, y: np.ndarray, ok: np.ndarray) -> dict:
    """Per seed: Σ τ over the Ψ groups of every axis, the groups used, and the sign errors
    of the environments (the quantities that :func:`_scores_of` sums over drawn seeds).

    For axis i, a group holds the networks (with finite measure and target) that share
    every other ``hp.*`` value, the seed included: :func:`~xordsim.measures.rank.
    granulated_kendall_groups` of one seed's rows. A group is used when the axis takes two
    values in it and neither the measure nor the target is constant there (τ-b defined).
    An environment is the same group; its sign error (:func:`~xordsim.measures.rank.
    sign_error_units`) is the mean of ½(1 − sgn Δμ · sgn Δg) over its pairs with different
    axis values and Δg ≠ 0 (none: not a unit, or NaN and dropped).
    """
    S = enc.n_seeds
    tau_sum = np.zeros((S, len(enc.axes)))
    used = np.zeros((S, len(enc.axes)))
    se: list[list[np.ndarray]] = [[] for _ in range(S)]
    for a, axis in enumerate(enc.axes):
        i, j, grp, n_groups, gseed = enc.group_pairs(axis)
        keep = ok[i] & ok[j]
        i, j, grp = i[keep], j[keep], grp[keep]
        sx = np.sign(x[i] - x[j])
        sy = np.sign(y[i] - y[j])
        coupled = enc.codes[axis][i] != enc.codes[axis][j]

        def count(w, _grp=grp, _n=n_groups):
            return np.bincount(_grp, weights=w, minlength=_n)

        n0 = np.bincount(grp, minlength=n_groups)
        n1 = count((sx == 0).astype(float))
        n2 = count((sy == 0).astype(float))
        s = count(sx * sy)
        two_values = count(coupled.astype(float)) > 0
        tau = _tau_b(s, n0, n1, n2)
        use = two_values & np.isfinite(tau)
        tau_sum[:, a] = np.bincount(gseed[use], weights=tau[use], minlength=S)
        used[:, a] = np.bincount(gseed[use], minlength=S)
        scored = coupled & (sy != 0)
        npairs = count(scored.astype(float))
        err = count(np.where(scored, (1.0 - sx * sy) / 2.0, 0.0))
        unit = npairs > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            value = err / npairs
        for k in range(S):
            se[k].append(value[unit & (gseed == k)])
    return {"tau_sum": tau_sum, "used": used,
            "se": [np.concatenate(v) if v else np.zeros(0) for v in se]}


def environment_sign_errors(table, measure: str, target: str = TARGET,
                            enc: Encoded | None = None) -> np.ndarray:
    """The sign error of every environment of every axis with a scored pair (Dziugaite et
    al.'s distribution, whose CDF the ``rank-agreement`` figure draws): the finite values of
    :func:`~xordsim.measures.rank.sign_error_units`, seed by seed."""
    enc = Encoded(table) if enc is None else enc
    x = table[measure].to_numpy(float)
    y = table[target].to_numpy(float)
    parts = _seed_parts(enc, x, y, np.isfinite(x) & np.isfinite(y))
    return np.concatenate(parts["se"]) if parts["se"] else np.zeros(0)


def _scores_of(parts: dict, counts: np.ndarray, cells: np.ndarray, pick, axes) -> dict:
    """Every score of the table made of the seeds ``pick`` (with repeats), from the per-seed
    parts of Ψ and the sign error and the pair counts ``counts`` of the CMI
    (:func:`pair_counts`; τ-b and the tie fractions from the counts of S = ∅)."""
    tau, ties_x, ties_y = tau_from_counts(counts[:9])
    tau_sum = parts["tau_sum"][pick].sum(axis=0)
    used = parts["used"][pick].sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        psi = np.where(used > 0, tau_sum / used, np.nan)
    se = np.concatenate([parts["se"][p] for p in pick])
    out = {"tau": tau, "tie_fraction.measure": ties_x, "tie_fraction.target": ties_y,
           "psi": float(np.mean(psi[np.isfinite(psi)])) if np.isfinite(psi).any()
           else np.nan}
    out.update({f"psi.{a}": float(v) for a, v in zip(axes, psi, strict=True)})
    out.update({"sign_error.mean": float(se.mean()) if se.size else np.nan,
                "sign_error.p90": float(np.quantile(se, SE_QUANTILE)) if se.size else np.nan,
                "sign_error.max": float(se.max()) if se.size else np.nan,
                "cmi": cmi_from_counts(counts, cells)})
    return out


# ----------------------------------------------------------------------------------------
# τ-b and the conditional mutual information, from pair counts per pair of seeds


class PairCounts:
    """Counts over ordered pairs of rows (θ, θ′), per pair of seeds, for every conditioning
    set S of the CMI (:meth:`Encoded.cells`; S = ∅ first).

    ``full`` ``(seeds², L)``: row s · seeds + t counts the pairs with θ of seed s and θ′ of
    seed t, the pairs (θ, θ) included; column (cell-pair offset of S + u · cells + u′) · 9 +
    (sgn Δμ + 1) · 3 + sgn Δg + 1 for the cells u, u′ of θ and θ′ under S. ``diag``
    ``(seeds, L)``: the pairs (θ, θ) alone. ``cells``: the set of every cell pair (row of
    the ``(-1, 3, 3)`` view). Integer counts held as float64 (exact below 2⁵³). Rows with a
    non-finite measure or target are left out.
    """

    def __init__(self, full: np.ndarray, diag: np.ndarray, cells: np.ndarray):
        self.full, self.diag, self.cells = full, diag, cells

    def of_draw(self, weights) -> np.ndarray:
        """The counts of the table in which seed s enters ``weights[s]`` times (1 each: the
        table itself; a bootstrap draw's multiplicities): Σ_{s,t} w_s w_t C_{s,t} −
        Σ_s w_s D_s, every ordered pair of distinct rows of the stacked table (a seed drawn
        twice pairs each network with its copy: a tie in both)."""
        w = np.asarray(weights, dtype=float)
        return np.outer(w, w).ravel() @ self.full - w @ self.diag


@njit(cache=True)
def _count_pairs(x, y, seed, cv, cells, offset, n_seeds, block, out):  # pragma: no cover
    """out[s · S + t, offset_q + (u · c_q + u′) · 9 + (sgn Δx + 1) · 3 + sgn Δy + 1] += 1
    for every ordered pair of rows (i, j), i = j included, and every set q (its cell codes
    ``cv[q]``, ``cells[q]`` cells). The signs of ``block`` rows at a time are held in an
    int8 matrix; the rows are sorted by seed, so the writes of one row stay in one segment
    of ``out`` per seed."""
    m = x.size
    code = np.empty((min(block, m), m), dtype=np.int8)
    for start in range(0, m, block):
        stop = min(m, start + block)
        for i in range(start, stop):
            for j in range(m):
                dx = x[i] - x[j]
                dy = y[i] - y[j]
                v = 4
                if dx > 0:
                    v += 3
                elif dx < 0:
                    v -= 3
                if dy > 0:
                    v += 1
                elif dy < 0:
                    v -= 1
                code[i - start, j] = v
        for q in range(cells.size):
            c = cells[q]
            for i in range(start, stop):
                base = offset[q] + cv[q, i] * c * 9
                row = seed[i] * n_seeds
                for j in range(m):
                    out[row + seed[j], base + cv[q, j] * 9 + code[i - start, j]] += 1


#: Rows of the sign matrix held at once by the pair counting (rows x networks int8 bytes
#: at most 2^24, 16 MiB).
SIGN_BYTES = 1 << 24


def pair_counts(enc: Encoded, x: np.ndarray, y: np.ndarray, ok: np.ndarray,
                max_set: int = CMI_MAX_SET) -> PairCounts:
    """The :class:`PairCounts` of measure ``x`` and target ``y`` (rows ``ok``): one pass
    over the ordered pairs of rows (a numba loop; integer counts, so the result does not
    depend on the order)."""
    sets = enc.cells(max_set)
    S = enc.n_seeds
    idx = np.flatnonzero(ok)
    idx = idx[np.argsort(enc.seed[idx], kind="stable")]
    seed = enc.seed[idx]
    cells = np.array([c for _, _, c in sets], dtype=np.int64)
    width = cells * cells * 9
    offset = np.concatenate([[0], np.cumsum(width)[:-1]]).astype(np.int64)
    cv = np.stack([cell[idx] for _, cell, _ in sets]) if sets else np.zeros((0, idx.size))
    full = np.zeros((S * S, int(width.sum())), dtype=np.int64)
    _count_pairs(np.ascontiguousarray(x[idx], dtype=float),
                 np.ascontiguousarray(y[idx], dtype=float), seed.astype(np.int64),
                 np.ascontiguousarray(cv, dtype=np.int64), cells, offset, S,
                 max(1, SIGN_BYTES // max(idx.size, 1)), full)
    diag = np.zeros((S, int(width.sum())), dtype=np.int64)
    for q in range(len(sets)):
        c = cells[q]
        np.add.at(diag, (seed, offset[q] + (cv[q] * c + cv[q]) * 9 + 4), 1)
    group = np.concatenate([np.full(c * c, q) for q, c in enumerate(cells)])
    return PairCounts(full.astype(float), diag.astype(float), group)


def tau_from_counts(c9: np.ndarray) -> tuple[float, float, float]:
    """Kendall's τ-b and the tie fractions n₁/n₀, n₂/n₀ from the 9 counts (sgn Δμ, sgn Δg)
    over ordered pairs of distinct networks: P − Q = (C₊₊ + C₋₋ − C₊₋ − C₋₊)/2, n₀ the
    pairs, n₁ and n₂ those tied in μ and in g; τ-b = (P − Q)/√(n₀ − n₁)/√(n₀ − n₂) with
    scipy's expression and clipping (:func:`~xordsim.measures.rank.kendall`), NaN when a
    variable is constant or fewer than two networks remain."""
    t = np.asarray(c9, dtype=float).reshape(3, 3) / 2.0  # ordered -> unordered pairs
    n0 = t.sum()
    n1, n2 = t[1, :].sum(), t[:, 1].sum()
    if n0 == 0:
        return float("nan"), float("nan"), float("nan")
    s = t[2, 2] + t[0, 0] - t[2, 0] - t[0, 2]
    tau = float(_tau_b(s, n0, n1, n2))
    return tau, float(n1 / n0), float(n2 / n0)


def cmi_from_counts(counts: np.ndarray, cells: np.ndarray) -> float:
    """K(μ) = min over the sets S of Ĩ_S = I(V_μ; V_g | U_S) / H(V_g | U_S) from the counts
    over ordered pairs of distinct networks (:class:`PairCounts`; ``cells`` the set of each
    cell pair), as :func:`~xordsim.measures.rank.conditional_mutual_information` defines
    and computes it (base-2 logs; a set with H(V_g | U_S) = 0 or no pair is skipped; NaN if
    every set is)."""
    t = np.asarray(counts, dtype=float).reshape(-1, 3, 3)
    n_sets = int(cells.max()) + 1
    pu = t.sum(axis=(1, 2))
    pa = t.sum(axis=2)
    pb = t.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = t * pu[:, None, None] / (pa[:, :, None] * pb[:, None, :])
        mi = np.where(t > 0, t * np.log2(np.where(t > 0, ratio, 1.0)), 0.0).sum(axis=(1, 2))
        hb = -np.where(pb > 0, pb * np.log2(np.where(pb > 0, pb / pu[:, None], 1.0)),
                       0.0).sum(axis=1)
    total = np.bincount(cells, weights=pu, minlength=n_sets)
    with np.errstate(divide="ignore", invalid="ignore"):
        mi = np.bincount(cells, weights=mi, minlength=n_sets) / total
        hb = np.bincount(cells, weights=hb, minlength=n_sets) / total
    keep = (total > 0) & (hb > 1e-12)
    return float(np.maximum(0.0, mi[keep] / hb[keep]).min()) if keep.any() else float("nan")


# ----------------------------------------------------------------------------------------
# every score with its interval


def _interval(values: np.ndarray) -> tuple[float, float]:
    """The percentile interval of the bootstrap draws (NaN draws ignored), as
    :func:`~xordsim.measures.rank.bootstrap_scores` takes it."""
    v = values[np.isfinite(values)]
    if not v.size:
        return float("nan"), float("nan")
    a = (1.0 - LEVEL) / 2.0
    return float(np.quantile(v, a)), float(np.quantile(v, 1.0 - a))


def _boot_stats(enc: Encoded, table, measure: str, target: str, n_boot: int,
                seed: int) -> dict:
    """Every score of one measure: name -> (estimate, low, high), the interval from
    ``n_boot`` draws of the seeds (:func:`numpy.random.default_rng` ``(seed)``, the draws
    of :func:`~xordsim.measures.rank.bootstrap_scores`)."""
    x = table[measure].to_numpy(float)
    y = table[target].to_numpy(float)
    ok = np.isfinite(x) & np.isfinite(y)
    parts = _seed_parts(enc, x, y, ok)
    pc = pair_counts(enc, x, y, ok)
    S = enc.n_seeds
    est = _scores_of(parts, pc.of_draw(np.ones(S)), pc.cells, np.arange(S), enc.axes)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        pick = rng.integers(0, S, size=S)
        draws.append(_scores_of(parts, pc.of_draw(np.bincount(pick, minlength=S)), pc.cells,
                                pick, enc.axes))
    return {name: (float(est[name]), *_interval(np.array([d[name] for d in draws],
                                                         dtype=float)))
            for name in est}


def score_table(table, measures: list[str], target: str = TARGET, n_boot: int = N_BOOT,
                seed: int = BOOT_SEED) -> list[dict]:
    """Score each measure of the benchmark table ``table`` against ``target``.

    Returns one dict per measure, sorted by Ψ (best first, undefined last): ``measure``,
    ``networks`` (rows), ``excluded`` (rows with a non-finite measure or target), and
    ``scores``: score name -> (estimate, low, high), the 95% percentile bootstrap interval
    over the seeds (``hp.seed`` resampled with replacement, ``n_boot`` draws, ``seed``).
    Scores: ``tau`` (τ-b over all networks), ``tie_fraction.measure``/``.target``, ``psi``
    (Ψ) and ``psi.AXIS`` (ψ of each axis), ``sign_error.mean``/``.p90``/``.max`` (over
    every axis' environments), ``cmi`` (K, conditioning sets of at most
    :data:`CMI_MAX_SET` axes). The seed is conditioned on: Ψ's groups and the sign error's
    environments hold networks of one seed; it is not an axis.
    """
    if target not in TARGETS:
        raise InputError(f"target must be one of {', '.join(TARGETS)}; got {target!r}")
    for col in [*measures, target]:
        if col not in table.columns:
            raise InputError(f"the table has no column {col!r}")
    n_boot = SCORE_N_BOOT.check(n_boot)
    enc = Encoded(table)
    out = []
    for m in measures:
        ok = np.isfinite(table[m].to_numpy(float)) & np.isfinite(table[target].to_numpy(float))
        out.append({"measure": m, "networks": int(len(table)), "excluded": int((~ok).sum()),
                    "scores": _boot_stats(enc, table, m, target, n_boot, seed)})
    return sorted(out, key=lambda r: _psi_key(r["scores"]["psi"][0]))


def _psi_key(psi: float) -> float:
    return -psi if math.isfinite(psi) else math.inf


# ----------------------------------------------------------------------------------------
# outputs


def score_rows(results: list[dict]) -> list[list]:
    """The rows of ``scores.csv`` (:data:`SCORE_COLUMNS`)."""
    rows = []
    for r in results:
        rows.append([r["measure"], "networks", r["networks"], "", ""])
        rows.append([r["measure"], "excluded", r["excluded"], "", ""])
        for k, (e, lo, hi) in r["scores"].items():
            rows.append([r["measure"], k, e, lo, hi])
    return rows


def format_scores(results: list[dict], target: str, n_boot: int = N_BOOT) -> str:
    """The printed table: one row per measure, sorted by Ψ (best first)."""
    from xordsim import fmt

    def s(x: float) -> str:
        return "-" if not math.isfinite(x) else fmt.sig(x, 3)

    def ci(t) -> str:
        return f"{s(t[0])} [{s(t[1])}, {s(t[2])}]"

    width = max([len(r["measure"]) for r in results] + [7])
    cols = ("psi", "tau", "cmi", "sign_error.mean", "sign_error.p90", "sign_error.max")
    head = ("Psi", "tau_b", "CMI K", "SE mean", "SE p90", "SE max")
    lines = [f"{'measure':<{width}}  " + "  ".join(f"{h:<22}" for h in head) + "  excluded"]
    for r in results:
        lines.append(f"{r['measure']:<{width}}  "
                     + "  ".join(f"{ci(r['scores'][c]):<22}" for c in cols)
                     + f"  {r['excluded']}/{r['networks']}")
    lines.append(f"Target {target}; estimate [95% percentile bootstrap interval over the "
                 f"seeds, {n_boot} draws]; sorted by Psi; excluded: networks with a "
                 f"non-finite measure or target. Psi per axis and tie fractions: scores.csv.")
    return "\n".join(lines)


def write_scores(path, results: list[dict]) -> Path:
    """Write ``scores.csv`` (:func:`score_rows`) atomically to ``path``."""
    from xordsim.io import write_csv

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_csv(path, SCORE_COLUMNS, score_rows(results))


__all__ = ["BOOT_SEED", "CMI_MAX_SET", "COUNTS", "Encoded", "LEVEL", "N_BOOT", "PairCounts",
           "SCORE_COLUMNS", "SEED", "SE_QUANTILE", "TARGET", "TARGETS", "axes_of",
           "cmi_from_counts", "environment_sign_errors", "format_scores", "import_module_file",
           "measure_columns", "pair_counts", "score_rows", "score_table", "tau_from_counts",
           "write_scores"]
