"""How numbers are printed: significant figures, never fixed decimals.

One place for every number a reader sees (CLI summaries, theorem tables, captions, the
report): 3 significant digits by default, integers exactly, and probabilities that round
to 1 written as ``1 − 2.2·10⁻¹⁷³`` so that the distance from 1 stays visible. Plain ASCII
is available for CSV headers and terminals that need it (``unicode=False``).
"""

from __future__ import annotations

import math
from numbers import Integral, Real

_SUP = str.maketrans("0123456789-+", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺")


def sig(x, digits: int = 3, *, unicode: bool = True) -> str:
    """``x`` with ``digits`` significant digits: 5e-05 -> '5.00·10⁻⁵', 0.5 -> '0.500',
    1234567 (an int) -> '1234567', 0.0 -> '0', NaN -> 'nan'.

    Fixed notation for 10⁻³ <= |x| < 10⁴ (10^digits for more digits), otherwise a power of
    ten. Integers (and floats
    that are exactly integers below 10⁶) print exactly.
    """
    if x is None:
        return "—" if unicode else "-"
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, Integral):
        return str(int(x))
    if not isinstance(x, Real):
        return str(x)
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return ("∞" if unicode else "inf") if x > 0 else ("−∞" if unicode else "-inf")
    if x == 0:
        return "0"
    if x.is_integer() and abs(x) < 1e6:
        return str(int(x))
    exponent = math.floor(math.log10(abs(x)))
    mantissa = round(x / 10**exponent, digits - 1)
    if abs(mantissa) >= 10:  # 9.999 rounds up to 10.0
        mantissa /= 10
        exponent += 1
    if -3 <= exponent < max(digits, 4):
        decimals = max(digits - 1 - exponent, 0)
        return f"{x:.{decimals}f}"
    return f"{mantissa:.{digits - 1}f}{_pow10(exponent, unicode)}"


def _pow10(exponent: int, unicode: bool) -> str:
    if unicode:
        return "·10" + str(exponent).translate(_SUP)
    return f"e{exponent:+03d}"


def prob(p, digits: int = 3, *, unicode: bool = True) -> str:
    """A probability: like :func:`sig`, but one that rounds to 1 at ``digits`` digits is
    written ``1 − q`` with q = 1 − p in :func:`sig` form (``1 − 2.16·10⁻¹⁷³``).

    ``p`` may also be given as the pair ``(1, q)`` when 1 − p underflows in floating point.
    """
    if isinstance(p, tuple):
        one, q = p
        return f"1 {'−' if unicode else '-'} {sig(q, digits, unicode=unicode)}"
    if p is None:
        return sig(None, unicode=unicode)
    p = float(p)
    if 0 < 1 - p < 0.5 * 10 ** (-digits) and not p == 1:
        return f"1 {'−' if unicode else '-'} {sig(1 - p, digits, unicode=unicode)}"
    return sig(p, digits, unicode=unicode)


def sig_log10(log10, digits: int = 3, *, unicode: bool = True) -> str:
    """The number 10**``log10`` in :func:`sig` form, also where it underflows a float:
    ``sig_log10(-415.98)`` -> '1.04·10⁻⁴¹⁶' (for probabilities such as 1 − 1.04·10⁻⁴¹⁶,
    written with :func:`prob` as ``prob((1, sig_log10(...)))``)."""
    if log10 is None:
        return sig(None, unicode=unicode)
    log10 = float(log10)
    if not math.isfinite(log10):
        return sig(0.0 if log10 < 0 else log10, digits, unicode=unicode)
    exponent = math.floor(log10)
    if -3 <= exponent < max(digits, 4):
        return sig(10.0**log10, digits, unicode=unicode)
    mantissa = round(10.0 ** (log10 - exponent), digits - 1)
    if mantissa >= 10:
        mantissa /= 10
        exponent += 1
    return f"{mantissa:.{digits - 1}f}{_pow10(exponent, unicode)}"


def interval(low, high, digits: int = 3, *, unicode: bool = True, probability: bool = False
             ) -> str:
    """``[low, high]`` on one line, each end in :func:`sig` (or :func:`prob`) form."""
    f = prob if probability else sig
    return f"[{f(low, digits, unicode=unicode)}, {f(high, digits, unicode=unicode)}]"


__all__ = ["interval", "prob", "sig", "sig_log10"]
