"""Input validation at the package boundary.

Every check raises :class:`InputError` with a one-line message naming the
parameter and the allowed range; the CLI turns it into exit status 2.
"""

from __future__ import annotations

import math
from numbers import Integral, Real


class InputError(ValueError):
    """A user-supplied value is outside its allowed range (one-line message)."""


def check_int(name: str, value, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as int, or raise if it is not an integer in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise InputError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise InputError(f"{name} must be in {_range(low, high, True, True)}, got {value}")
    return value


def check_float(
    name: str,
    value,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a finite float in the given (half-)open or closed range."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise InputError(f"{name} must be a number, got {value!r}")
    value = float(value)
    bad = not math.isfinite(value)
    if low is not None:
        bad |= value <= low if low_open else value < low
    if high is not None:
        bad |= value >= high if high_open else value > high
    if bad:
        raise InputError(
            f"{name} must be a finite number in {_range(low, high, not low_open, not high_open)},"
            f" got {value}"
        )
    return value


def check_choice(name: str, value, choices) -> str:
    """Return ``value`` if it is one of ``choices``."""
    if value not in choices:
        raise InputError(f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}")
    return value


def _range(low, high, low_closed: bool, high_closed: bool) -> str:
    left = "[" if low is not None and low_closed else "("
    right = "]" if high is not None and high_closed else ")"
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    return f"{left}{lo}, {hi}{right}"


def parse_settings(pairs: list[str] | None, defaults: dict) -> dict:
    """Parse ``KEY=VALUE`` strings (``--set``) against ``defaults``.

    Each value is converted to the type of its default (bool accepts
    true/false/1/0; a default of ``None`` keeps the string). Unknown keys and
    unconvertible values raise :class:`InputError`. Returns only the keys given.
    """
    out: dict = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise InputError(f"--set expects KEY=VALUE, got {pair!r}")
        if key not in defaults:
            raise InputError(f"--set: unknown key {key!r}; allowed: {', '.join(sorted(defaults))}")
        default = defaults[key]
        try:
            if isinstance(default, bool):
                low = raw.strip().lower()
                if low not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(raw)
                value = low in ("true", "1", "yes")
            elif isinstance(default, int):
                value = int(raw)
            elif isinstance(default, float):
                value = float(raw)
            elif isinstance(default, (tuple, list)):
                kind = type(default[0]) if default else float
                value = tuple(kind(v) for v in raw.split(",") if v.strip())
            else:
                value = raw
        except ValueError:
            raise InputError(
                f"--set {key}: expected {type(default).__name__}, got {raw!r}"
            ) from None
        out[key] = value
    return out
