"""Confidence intervals for Monte Carlo summaries.

Closed forms through ``scipy.special`` (the beta and Student-t quantiles), which imports in
a fraction of the time ``scipy.stats`` takes: a small ``xordsim train`` run is mostly
start-up.
"""

from __future__ import annotations

import numpy as np
from scipy import special


def proportion_ci(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper–Pearson) interval for a binomial proportion.

    The bounds are beta quantiles: B(a/2; k, n-k+1) and B(1-a/2; k+1, n-k), with 0 and 1
    at k = 0 and k = n (the same interval as ``scipy.stats.binomtest(k, n)
    .proportion_ci(method='exact')``, computed in closed form rather than by root finding).
    """
    k, n = int(successes), int(n)
    if n == 0:
        return (float("nan"), float("nan"))
    alpha = 1.0 - level
    low = 0.0 if k == 0 else float(special.betaincinv(k, n - k + 1, alpha / 2))
    high = 1.0 if k == n else float(special.betaincinv(k + 1, n - k, 1 - alpha / 2))
    return low, high


def mean_ci(values, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t interval of the finite entries of ``values``: (mean, low, high)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (float("nan"),) * 3
    mean = float(v.mean())
    if v.size == 1 or np.all(v == v[0]):
        return mean, mean, mean
    half = float(special.stdtrit(v.size - 1, 0.5 + level / 2) * v.std(ddof=1) / np.sqrt(v.size))
    return mean, mean - half, mean + half


#: Bootstrap resamples of :func:`bounded_mean_ci`.
N_BOOT = 4000


def bounded_mean_ci(values, level: float = 0.95, *, low: float = 0.0, high: float = 1.0,
                    seed: int = 0, n_boot: int = N_BOOT) -> tuple[float, float, float]:
    """Mean and a 95% interval of a quantity bounded in ``[low, high]`` (an error rate):
    (mean, lower end, upper end), never outside ``[low, high]``.

    Used for every mean of per-replica errors (which are skewed: most replicas 0, a few
    large). Two cases:

    * values not all equal: the BCa bootstrap (bias-corrected and accelerated, Efron 1987)
      with ``n_boot`` resamples from a generator seeded by ``seed`` (the same numbers give
      the same interval); its ends are means of resamples, hence inside the range of the
      data;
    * all n values equal to c (e.g. every replica has test error 0): a bootstrap says
      nothing, so an exact distribution-free bound is used. A mean above c by
      (high - c) t needs mass >= t away from c, and then n draws all equal c with
      probability <= (1 - t)^n; the same below c. With r = (a/2)^{1/n} the interval is
      [low + (c - low) r, c + (high - c)(1 - r)]; for c = 0 it is [0, 1 - (a/2)^{1/n}]
      (about 3.7/n), the Clopper–Pearson interval of 0 successes in n.

    Non-finite values (diverged replicas) are dropped, as in :func:`mean_ci`.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    n = v.size
    if n == 0:
        return (float("nan"),) * 3
    mean = float(v.mean())
    alpha = 1.0 - level
    if np.all(v == v[0]):
        c = float(v[0])
        r = (alpha / 2) ** (1.0 / n)
        return mean, low + (c - low) * r, c + (high - c) * (1.0 - r)
    rng = np.random.default_rng(seed)
    boot = np.empty(n_boot)
    block = max(1, int(2**22 // n))
    for b0 in range(0, n_boot, block):
        b1 = min(n_boot, b0 + block)
        boot[b0:b1] = v[rng.integers(0, n, size=(b1 - b0, n))].mean(axis=1)
    below = (np.count_nonzero(boot < mean) + 0.5 * np.count_nonzero(boot == mean)) / n_boot
    z0 = special.ndtri(np.clip(below, 1.0 / n_boot, 1 - 1.0 / n_boot))
    jack = (v.sum() - v) / (n - 1)
    d = jack.mean() - jack
    denom = 6.0 * float((d**2).sum()) ** 1.5
    a = float((d**3).sum()) / denom if denom > 0 else 0.0
    ends = []
    for q in (alpha / 2, 1 - alpha / 2):
        z = z0 + special.ndtri(q)
        ends.append(float(np.quantile(boot, special.ndtr(z0 + z / (1 - a * z)))))
    lo, hi = min(ends), max(ends)
    return mean, max(low, min(lo, mean)), min(high, max(hi, mean))
