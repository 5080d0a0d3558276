"""Exact probabilities of the events at initialization, and the paper's bounds."""

from __future__ import annotations

import math

from scipy import stats

from xordsim.data import MaskDistribution
from xordsim.fmt import prob, sig_log10
from xordsim.patterns import (
    A_MASKS,
    DIVERSE_NEGATIVE_MASK,
    DIVERSE_POSITIVE_MASK,
)
from xordsim.theorems.verdicts import C_NEGLIGIBLE

# ----------------------------------------------------------------------------------------
# exact values and bounds


def binom_central_prob(k: int, half_width: float) -> float:
    """P(|B - k/2| <= half_width) for B ~ Binomial(k, 1/2)."""
    lo = math.ceil(k / 2 - half_width - 1e-12)
    hi = math.floor(k / 2 + half_width + 1e-12)
    lo, hi = max(lo, 0), min(hi, k)
    if hi < lo:
        return 0.0
    return float(stats.binom.cdf(hi, k, 0.5) - stats.binom.cdf(lo - 1, k, 0.5))


def exact_lemma_3_1(k: int) -> float:
    """P(event of Lemma 3.1) at i.i.d. Gaussian initialization.

    A filter's direction is uniform on the circle; its signs on x1 and x2 are
    two independent fair bits (the four cones where (w·x1 > 0, w·x2 > 0) take
    each value have angle pi/2), and w·x3 = -w·x1, w·x4 = -w·x2. So
    |W0+(1)| and |W0+(2)| are independent Binomial(k, 1/2), |W0+(3)| = k - |W0+(1)|,
    |W0+(4)| = k - |W0+(2)|, and the interval is symmetric around k/2: the event is
    four independent events |B - k/2| <= 2 sqrt(k) (two for w, two for u).
    """
    return binom_central_prob(k, 2 * math.sqrt(k)) ** 4


def exact_lemma_6_1(k: int) -> float:
    """|W0+(1) ∪ W0+(3)| ~ Binomial(k, 1/2) (argmax pattern uniform over 4)."""
    return binom_central_prob(k, 2 * math.sqrt(k))


def exact_thm_3_4a(k: int) -> float:
    """P(some W0+(i), i in {1,3}, or U0+(i), i in {2,4}, is empty).

    W0+(1) = ∅ or W0+(3) = ∅ iff all k bits [w·x1 > 0] agree: prob 2^(1-k); the u
    filters are independent: P = 1 - (1 - 2^(1-k))^2 (= 3/4 for k = 2).
    """
    q = 2.0 ** (1 - k)
    return 1.0 - (1.0 - q) ** 2


def clustering_bound(k: int, factor: float) -> float:
    """1 - sqrt(factor k) / (sqrt(pi) e^{8k}) (Lemma 3.2: factor 8; Lemma 6.2: factor 2)."""
    return 1.0 - math.exp(0.5 * math.log(factor * k) - 0.5 * math.log(math.pi) - 8.0 * k)


def clustering_deficit_log10(k: int, factor: float) -> float:
    """log10 of 1 - :func:`clustering_bound` = sqrt(factor k) / (sqrt(pi) e^{8k}), computed
    in log space (the deficit underflows a float for k >= 90 or so)."""
    return (0.5 * math.log(factor * k) - 0.5 * math.log(math.pi) - 8.0 * k) / math.log(10)


def clustering_bound_text(k: int, factor: float, unicode: bool = True) -> str:
    """:func:`clustering_bound` written out, ``1 − 2.16·10⁻¹⁷³`` (it rounds to 1 in floats)."""
    return prob((1, sig_log10(clustering_deficit_log10(k, factor), unicode=unicode)),
                unicode=unicode)


def m2_lower_bound(p_plus: float, p_minus: float, delta: float, c: float = C_NEGLIGIBLE):
    """Theorem 6.5: m2(eps, delta) >= 2 log(48 delta / (33 (1 - c))) / log(p+ p-)."""
    return 2 * math.log(48 * delta / (33 * (1 - c))) / math.log(p_plus * p_minus)


def thm_6_5_bound(p_plus: float, p_minus: float, m: int, large: bool
                  ) -> tuple[float, str, float | None]:
    """Theorem 6.5's bound on P(test error <= eps) at sample size m: (bound, relation,
    log10(1 - bound) where it is kept exactly, else None).

    The large network (k >= 120): P >= (p+ p-)^m (1 - c - 16 e^-8), a lower bound; the
    small one (k = 2): P <= 1 - (p+ p-)^m (1 - c) 33/48, an upper bound, whose deficit
    1 - bound is also returned in log10 (it underflows for large m).
    """
    diverse = (p_plus * p_minus) ** m
    if large:
        return diverse * (1 - C_NEGLIGIBLE - 16 * math.exp(-8)), ">=", None
    deficit = None
    if p_plus * p_minus > 0:
        deficit = m * math.log10(p_plus * p_minus) + math.log10((1 - C_NEGLIGIBLE) * 33 / 48)
    return 1 - diverse * (1 - C_NEGLIGIBLE) * 33 / 48, "<=", deficit


def thm_6_5_distribution(p_plus: float, p_minus: float, d: int = 4) -> MaskDistribution:
    """A distribution with the given p+, p- and p* = min((1-p+)/4, (1-p-)/4), prior 1/2.

    D+: P_x = {1,2,3,4} w.p. p+, A_3 = {1,2,4} and A_4 = {2,3,4} w.p. (1-p+)/2 each;
    D-: P_x = {2,4} w.p. p-, A_1 = {2} and A_2 = {4} w.p. (1-p-)/2 each.
    """
    pos = {DIVERSE_POSITIVE_MASK: p_plus, A_MASKS[2]: (1 - p_plus) / 2,
           A_MASKS[3]: (1 - p_plus) / 2}
    neg = {DIVERSE_NEGATIVE_MASK: p_minus, A_MASKS[0]: (1 - p_minus) / 2,
           A_MASKS[1]: (1 - p_minus) / 2}
    return MaskDistribution(d=d, pos=pos, neg=neg, prior_pos=0.5)
