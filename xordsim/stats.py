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
