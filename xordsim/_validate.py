"""Input validation at the package boundary, and declared parameters.

Every check raises :class:`InputError` with a one-line message naming the
parameter and the allowed range; the CLI turns it into exit status 2. A
:class:`Param` declares a parameter once (kind, default, range or choices, help);
configs (:mod:`xordsim.config`), figure settings and the CLI are built from
declarations, and the bad-input tests are generated from them. This module
imports nothing heavy (the CLI builds its parser from it).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any


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
    lo = "-inf" if low is None else _num(low)
    hi = "inf" if high is None else _num(high)
    return f"{left}{lo}, {hi}{right}"


def _num(x) -> str:
    """A bound as typed: integers in full (up to 10^15), other numbers with ``:g``."""
    if float(x).is_integer() and abs(x) <= 1e15:
        return str(int(x))
    return f"{x:g}"


# ----------------------------------------------------------------------------------------
# declared parameters: every constraint written once, checked at the boundary, and the
# source of the help text and of the generated bad-input tests

#: Kinds of declared parameter.
KINDS = ("int", "float", "str", "bool", "seed", "ints", "floats")

_BOOL_TRUE, _BOOL_FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


@dataclass(frozen=True)
class Param:
    """One declared parameter: its kind, default, allowed range or choices and help.

    ``kind`` is one of :data:`KINDS` (``seed``: any integer >= 0, as NumPy's
    ``SeedSequence`` takes it; ``ints`` / ``floats``: a non-empty comma-separated list).
    ``optional`` allows ``None`` (the value is then derived, e.g. eta = c_eta / k).
    """

    name: str
    kind: str
    default: Any
    help: str = ""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple | None = None
    optional: bool = False
    derived: str = ""
    pattern: str = ""
    pattern_text: str = ""

    @property
    def option(self) -> str:
        """The command-line spelling, ``--name-with-dashes``."""
        return "--" + self.name.replace("_", "-")

    def check(self, value, label: str | None = None):
        """Return ``value`` converted and checked; raise :class:`InputError` naming ``label``."""
        label = label or self.name
        if value is None and self.optional:
            return None
        kind = self.kind
        if kind in ("int", "seed"):
            low = 0 if kind == "seed" else self.low
            return check_int(label, value, low, self.high)
        if kind == "float":
            return check_float(label, value, self.low, self.high, self.low_open, self.high_open)
        if kind == "bool":
            if not (isinstance(value, bool) or type(value).__name__ == "bool_"):
                raise InputError(f"{label} must be true or false, got {value!r}")
            return bool(value)
        if kind == "str":
            if not isinstance(value, str):
                raise InputError(f"{label} must be a string, got {value!r}")
            if self.choices is not None:
                check_choice(label, value, self.choices)
            elif not value.strip():
                raise InputError(f"{label} must not be empty")
            elif self.pattern and not re.fullmatch(self.pattern, value):
                raise InputError(f"{label} must be {self.describe()}; got {value!r}")
            return value
        if kind in ("ints", "floats"):
            if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
                raise InputError(f"{label} must be a list of numbers, got {value!r}")
            one = Param(self.name, kind[:-1], None, low=self.low, high=self.high,
                        low_open=self.low_open, high_open=self.high_open)
            out = tuple(one.check(v, label) for v in value)
            if not out:
                raise InputError(f"{label} must list at least one value")
            return out
        raise TypeError(f"unknown parameter kind {kind!r}")  # pragma: no cover

    def parse(self, raw: str, label: str | None = None):
        """Convert the command-line string ``raw`` and check it (``label`` names the option)."""
        label = label or self.option
        text = raw.strip()
        if self.optional and text.lower() in ("none", "auto"):
            return None
        try:
            if self.kind in ("int", "seed"):
                value = _parse_int(text)
            elif self.kind == "float":
                value = float(text)
            elif self.kind == "bool":
                low = text.lower()
                if low not in _BOOL_TRUE + _BOOL_FALSE:
                    raise ValueError(raw)
                value = low in _BOOL_TRUE
            elif self.kind == "ints":
                value = tuple(_parse_int(v) for v in text.split(","))
            elif self.kind == "floats":
                value = tuple(float(v) for v in text.split(","))
            else:
                value = raw
        except ValueError:
            raise InputError(f"{label} must be {self.describe()}, got {raw!r}") from None
        return self.check(value, label)

    def describe(self) -> str:
        """The allowed values in words: 'an integer in [1, 1e+07]', 'one of xor, xord' ..."""
        if self.choices is not None:
            return "one of " + ", ".join(map(str, self.choices))
        if self.pattern_text:
            return self.pattern_text
        noun = {"int": "an integer", "seed": "an integer", "float": "a finite number",
                "bool": "true or false", "str": "a non-empty string",
                "ints": "a comma-separated list of integers",
                "floats": "a comma-separated list of numbers"}[self.kind]
        low = 0 if self.kind == "seed" else self.low
        if self.kind in ("bool", "str") or (low is None and self.high is None):
            return noun
        closed = self.kind not in ("float", "floats")
        rng = _range(low, self.high, closed or not self.low_open, closed or not self.high_open)
        return f"{noun} in {rng}"

    def help_text(self) -> str:
        """One help line: the description, allowed values and default in one style."""
        if self.optional and self.default is None:
            default = self.derived or "derived"
        elif isinstance(self.default, tuple):
            default = ",".join(map(_fmt_default, self.default))
        else:
            default = _fmt_default(self.default)
        text = f"{self.help}; " if self.help else ""
        return f"{text}{self.describe()} (default: {default})".replace("%", "%%")

    def bad_values(self) -> list[str]:
        """Command-line strings this parameter must reject (for the generated tests)."""
        bad = ["", "abc"]
        if self.kind in ("int", "seed", "float", "ints", "floats"):
            bad += ["nan", "inf", "-inf", "1e400"]
        if self.kind in ("int", "seed", "ints"):
            bad += ["1.5"]
        low = 0 if self.kind == "seed" else self.low
        if low is not None:
            bad.append(_fmt_default(low - 1 if self.kind in ("int", "seed", "ints") or
                                    not self.low_open else low))
        if self.high is not None:
            bad.append(_fmt_default(self.high + 1 if self.kind in ("int", "ints") or
                                    not self.high_open else self.high))
            if self.kind in ("int", "ints"):
                bad.append(str(10 ** 30))
        if self.choices is not None:
            bad.append("not-a-choice")
        if self.kind == "bool":
            bad.append("maybe")
        return [b for b in bad if not (self.optional and b.strip().lower() in ("none", "auto"))]


def _parse_int(text: str) -> int:
    """Integers as typed: '12', '-3', '1_000'; also '1e6' when it is exactly an integer."""
    try:
        return int(text)
    except ValueError:
        value = float(text)
        if not math.isfinite(value) or value != int(value) or abs(value) > 2**63:
            raise ValueError(text) from None
        return int(value)


def _fmt_default(v) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def param(kind: str, default, help: str = "", **constraints):
    """A dataclass field carrying its :class:`Param` declaration (name filled in later)."""
    from dataclasses import field

    return field(default=default,
                 metadata={"param": dict(kind=kind, default=default, help=help, **constraints)})


_DECLARED: dict = {}


def declared_params(cls) -> dict[str, Param]:
    """The :class:`Param` of every field of a config dataclass declared with :func:`param`
    (built once per class; do not mutate the returned dict)."""
    found = _DECLARED.get(cls)
    if found is None:
        from dataclasses import fields

        found = _DECLARED[cls] = {f.name: Param(f.name, **f.metadata["param"])
                                  for f in fields(cls) if "param" in f.metadata}
    return found


def parse_declared(pairs: list[str] | None, params: dict[str, Param], what: str = "--set"
                   ) -> dict:
    """Parse ``KEY=VALUE`` strings against declared ``params``; returns only the keys given."""
    out: dict = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise InputError(f"{what} expects KEY=VALUE, got {pair!r}")
        if key not in params:
            raise InputError(f"{what}: unknown key {key!r}; allowed: {', '.join(sorted(params))}")
        out[key] = params[key].parse(raw, f"{what} {key}")
    return out


def available_memory() -> int:
    """Bytes of memory available to this process (MemAvailable, else physical memory)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return 2**40


#: Fraction of the available memory a request may take.
MEMORY_FRACTION = 0.8


def fits_in_memory(nbytes: float) -> bool:
    """Whether ``nbytes`` fit in :data:`MEMORY_FRACTION` of the available memory."""
    return nbytes <= MEMORY_FRACTION * available_memory()


def check_memory(option: str, nbytes: float, what: str = "arrays") -> None:
    """Refuse up front a request whose arrays would need more than the available memory."""
    if not fits_in_memory(nbytes):
        avail = available_memory()
        raise InputError(f"{option}: the {what} would need {_bytes(nbytes)}, more than the "
                         f"{_bytes(avail)} of memory available; reduce {option}")


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} B"  # pragma: no cover


class Declared:
    """Base of the frozen config dataclasses (:class:`xordsim.config.GDConfig`, the MNIST
    configs): validation from the field declarations when built, ``replace`` with a
    one-line error for an unknown name, and ``to_dict`` / ``from_dict`` round trips."""

    def __post_init__(self):
        self.validate()

    @classmethod
    def params(cls) -> dict[str, Param]:
        """The declared parameters by field name (kind, default, range, help)."""
        return declared_params(cls)

    def validate(self):
        """Check every field against its declaration (converting ints to floats where a
        float is declared); raise :class:`InputError` naming the first bad one."""
        for name, p in self.params().items():
            value = getattr(self, name)
            checked = p.check(value, name)
            if checked is not value:
                object.__setattr__(self, name, checked)
        return self

    def replace(self, **changes):
        """``dataclasses.replace`` with a one-line error for an unknown name."""
        unknown = sorted(set(changes) - set(self.params()))
        if unknown:
            raise InputError(f"{type(self).__name__} has no parameter {unknown[0]!r}; "
                             f"allowed: {', '.join(self.params())}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready (round-trips through :meth:`from_dict`)."""
        return {name: getattr(self, name) for name in self.params()}

    @classmethod
    def from_dict(cls, values):
        """Build a config from a mapping (e.g. read from JSON); unknown keys are an error."""
        if not isinstance(values, dict):
            raise InputError(f"a {cls.__name__} is a mapping of parameters, got {values!r}")
        unknown = sorted(set(values) - set(cls.params()))
        if unknown:
            raise InputError(f"{cls.__name__}: unknown parameter {unknown[0]!r}; allowed: "
                             f"{', '.join(cls.params())}")
        return cls(**values)
