"""The results, declared: name, title, event, replicas, rows, parameters and estimator.

Every result's parameters are :class:`xordsim._validate.Param` declarations; where the
parameter is one of :class:`xordsim.config.GDConfig`'s (k, c_eta, init_std, gamma, d,
steps) the declaration is GDConfig's with the result's own default (and range, where the
result needs one: d >= 4, steps >= 1 for Theorem 3.4). The estimator is named by a
dotted string ``"module:function"`` and imported only when the result runs, so this module
imports nothing heavy (no NumPy): the command line builds ``xordsim theorems --help`` and
checks ``--only`` / ``--set`` from it before any simulation code is loaded.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from xordsim._validate import InputError, Param, parse_declared
from xordsim.config import GDConfig

#: Module holding the estimators (imported when a result runs).
ESTIMATORS = "xordsim.theorems.estimators"

_GD = GDConfig.params()


def _gd(name: str, default, **changes) -> Param:
    """GDConfig's declaration of ``name`` with the result's default (and ``changes``)."""
    return dataclasses.replace(_GD[name], default=default, **changes)


def _k(default: int) -> Param:
    return _gd("k", default)


#: init_std = 0 (the default) means sigma_g = c_eta / (16 k^1.5), the largest the results
#: allow; steps = 0 means the theorem's own T.
_INIT_STD = _gd("init_std", 0.0, optional=False, derived="",
                help="sigma_g of the Gaussian init; 0: c_eta / (16 k^1.5), the largest the "
                "results allow")
_STEPS_33 = _gd("steps", 0, help="T, the GD steps; 0: the smallest T of Theorem 3.3")
_STEPS_63 = _gd("steps", 0, help="T, the GD steps; 0: T = ceil(28 (gamma + 1 + 8 c_eta) / "
                "c_eta) of Theorem 6.3")
_GAMMA = _gd("gamma", 8.0, optional=False, derived="", help="margin gamma of the positives' "
             "hinge (Eq. 4; Sec. 6 assumes gamma >= 8)")
_D = _gd("d", 4, low=4, help="patterns per point (the diverse points need d >= 4)")
_CONVENTION = Param("a_convention", "str", "updates",
                    "a_i(t) counts the steps t' < t (updates, the updates that built W_t) or "
                    "t' <= t (inclusive, the paper's literal definition)",
                    choices=("updates", "inclusive"))


def _declare(*params: Param) -> dict[str, Param]:
    return {p.name: p for p in params}


_XOR = (_k(50), _gd("c_eta", 0.1, help="c_eta, the learning-rate constant eta k (Sec. 3 "
                   "assumes c_eta < 1/2)"), _INIT_STD, _STEPS_33)
_XORD = (_k(120), _gd("c_eta", 1 / 410, help="c_eta, the learning-rate constant eta k (Sec. 6 "
                      "assumes c_eta <= 1/410)"), _INIT_STD, _GAMMA, _D, _STEPS_63)


def _thm_6_5(p_pm: float, eps: float, delta: float, ms: tuple) -> dict[str, Param]:
    return _declare(
        _k(120),
        Param("k_small", "int", 2, "filters per sign of the small network (the theorem: k = 2)",
              low=1, high=_GD["k"].high),
        *_XORD[1:],
        Param("p_plus", "float", p_pm, "p+, the probability of a diverse positive point",
              low=0, high=1, high_open=True),
        Param("p_minus", "float", p_pm, "p-, the probability of a diverse negative point",
              low=0, high=1, high_open=True),
        Param("eps", "float", eps, "test-error threshold epsilon", low=0, high=1),
        Param("delta", "float", delta, "failure probability delta", low=0, high=1,
              low_open=True),
        Param("ms", "ints", ms, "the training-set sizes m (m positives and m negatives)",
              low=1, high=10_000),
    )


@dataclass(frozen=True, eq=False)
class Spec:
    """One result: its name, title, event, declared parameters and estimator.

    ``estimator`` is ``"module:function"``; the function takes (params, replicas, seed,
    progress) and returns the result's rows (``rows`` of them per call, ``ms`` rows per
    network for Theorem 6.5).
    """

    name: str
    result: str
    event: str
    estimator: str
    params: dict[str, Param] = field(default_factory=dict)
    replicas: int = 1000
    rows: int = 1

    @property
    def defaults(self) -> dict:
        """Every parameter's default value."""
        return {key: p.default for key, p in self.params.items()}

    def check(self, values: dict) -> dict:
        """Python values for some parameters, checked (:meth:`Param.check`); returns them
        converted. Unknown keys and bad values raise a one-line :class:`InputError`."""
        unknown = sorted(set(values) - set(self.params))
        if unknown:
            raise InputError(f"{self.name}: unknown parameter {unknown[0]!r}; allowed: "
                             f"{', '.join(self.params)}")
        try:
            return {key: self.params[key].check(value, key) for key, value in values.items()}
        except InputError as exc:
            raise InputError(f"{self.name}: {exc}") from None

    def parse(self, pairs: Iterable[str] | None) -> dict:
        """``KEY=VALUE`` strings (``--set``) -> checked values of this result's parameters."""
        try:
            return parse_declared(list(pairs or []), self.params, "--set")
        except InputError as exc:
            raise InputError(f"{self.name}: {exc}") from None

    def load(self) -> Callable:
        """The estimator function (imports the simulation code)."""
        module, _, func = self.estimator.partition(":")
        return getattr(importlib.import_module(module), func)

    def run(self, params: dict, replicas: int, seed: int, progress=None) -> list[dict]:
        """Run the estimator on complete, checked ``params`` (see ``registry.estimate``)."""
        return self.load()(params, replicas, seed, progress)

    def help(self) -> str:
        """This result's ``--set`` keys, one per line, with :meth:`Param.help_text`."""
        width = max(len(key) for key in self.params)
        head = (f"{self.name} ({self.result}): {self.event} "
                f"[{self.replicas} replicas{'' if self.rows == 1 else f'; {self.rows} rows'}]")
        lines = [head] + [f"  {key.ljust(width)}  {_plain(p.help_text())}"
                          for key, p in self.params.items()]
        return "\n".join(lines)


def _plain(text: str) -> str:
    """``Param.help_text`` escapes % for argparse's argument help; plain text here."""
    return text.replace("%%", "%")


SPECS: dict[str, Spec] = {s.name: s for s in [
    Spec("lemma3.1", "Lemma 3.1", "k/2-2sqrt(k) <= |W0+(i)|,|U0+(i)| <= k/2+2sqrt(k), all i",
         f"{ESTIMATORS}:est_lemma_3_1", _declare(_k(50)), 20000),
    Spec("lemma3.2", "Lemma 3.2", "w_t^(j) = a_i(t) eta x_i + v_t, v_t.x_i>0, |v_t.x_2|<2eta",
         f"{ESTIMATORS}:est_lemma_3_2", _declare(*_XOR, _CONVENTION), 1000),
    Spec("thm3.3", "Theorem 3.3", "global minimum after T and angle(w_T^(j), x_i) bounded",
         f"{ESTIMATORS}:est_thm_3_3", _declare(*_XOR), 1000),
    Spec("thm3.4", "Theorem 3.4", "(a) an empty W0+(i)/U0+(i); (b) GD ends erring on an input",
         f"{ESTIMATORS}:est_thm_3_4",
         _declare(_k(2), _XOR[1], _INIT_STD,
                  _gd("steps", 5000, low=1, help="T, the GD steps")), 10000, 2),
    Spec("lemma6.1", "Lemma 6.1", "||W0+(1) u W0+(3)| - k/2| <= 2sqrt(k)",
         f"{ESTIMATORS}:est_lemma_6_1", _declare(_k(120)), 20000),
    Spec("lemma6.2", "Lemma 6.2", "w_t^(j) = a+(t) eta p_i + v_t, v_t.p_i>0, |v_t.p_2|<2eta",
         f"{ESTIMATORS}:est_lemma_6_2", _declare(*_XORD, _CONVENTION), 1000),
    Spec("thm6.3", "Theorem 6.3", "global minimum recovering f* and angle(w_T^(j), p_i) bounded",
         f"{ESTIMATORS}:est_thm_6_3", _declare(*_XORD), 1000),
    Spec("thm6.4", "Theorem 6.4", "(a) global minimum not recovering f*; (b) and misclassifying"
         " some A_i", f"{ESTIMATORS}:est_thm_6_4", _declare(_k(2), *_XORD[1:]), 2000, 2),
    Spec("thm6.5", "Theorem 6.5", "P(test error <= eps) with m positives + m negatives",
         f"{ESTIMATORS}:est_thm_6_5", _thm_6_5(0.92, 0.019, 0.16, (1, 2, 4, 8)), 1000, 8),
    Spec("thm6.5ex1", "Theorem 6.5", "as thm6.5, the paper's first example (p+-=0.98)",
         f"{ESTIMATORS}:est_thm_6_5_ex1", _thm_6_5(0.98, 0.0049, 0.05, (1, 16, 64)), 1000, 6),
]}

#: The run-wide options of ``xordsim theorems`` (``--replicas``, ``--seed``).
OPTIONS: dict[str, Param] = {
    "replicas": dataclasses.replace(_GD["replicas"], default=None, optional=True,
                                    derived="per result", help="replicas per row"),
    "seed": _GD["seed"],
}


def result_names() -> list[str]:
    """The results' names, in registry order (the ``--only`` choices)."""
    return list(SPECS)


def get(name: str, what: str = "result") -> Spec:
    """The spec of ``name``; an unknown name raises a one-line :class:`InputError`."""
    if name not in SPECS:
        raise InputError(f"unknown {what} {name!r}; choose from {', '.join(SPECS)}")
    return SPECS[name]


def resolve(names=None) -> list[Spec]:
    """Specs for ``names`` (all when None or empty), in registry order; unknown names raise."""
    if not names:
        return list(SPECS.values())
    if isinstance(names, str):
        names = [names]
    names = list(dict.fromkeys(names))
    unknown = [n for n in names if n not in SPECS]
    if unknown:
        raise InputError(f"--only: unknown result {unknown[0]!r}; choose from "
                         f"{', '.join(SPECS)}")
    return [SPECS[n] for n in SPECS if n in names]


def _specs(selection) -> list[Spec]:
    """Specs or result names (None: all) -> specs."""
    if selection is None or isinstance(selection, str) or any(
            isinstance(s, str) for s in selection):
        return resolve(selection)
    return list(selection)


def parse_overrides(specs, pairs) -> dict[str, dict]:
    """``--set KEY=VALUE`` strings -> per-result checked values.

    ``specs``: the selected results, as :class:`Spec` objects or names (None: all). Every
    key must be a parameter of every selected result (else a one-line :class:`InputError`
    naming the result, the key and the allowed keys).
    """
    return {spec.name: spec.parse(pairs) for spec in _specs(specs)}


def check_overrides(specs, overrides) -> dict[str, dict]:
    """Python overrides -> per-result checked values.

    ``specs``: the selected results, as :class:`Spec` objects or names (None: all).
    ``overrides`` is None, a list of ``KEY=VALUE`` strings (applied to every selected
    result, as ``--set``) or a dict result name -> {parameter: value}; names of results
    that are not selected are ignored, unknown names raise.
    """
    specs = _specs(specs)
    if overrides is None:
        return {spec.name: {} for spec in specs}
    if isinstance(overrides, str):
        overrides = [overrides]
    if isinstance(overrides, (list, tuple)):
        return parse_overrides(specs, overrides)
    if not isinstance(overrides, dict):
        raise InputError(f"overrides must be a dict of result name -> parameters or a list "
                         f"of KEY=VALUE strings, got {overrides!r}")
    for name, values in overrides.items():
        get(name, "result in overrides")
        if not isinstance(values, dict):
            raise InputError(f"overrides[{name!r}] must be a dict of parameters, got "
                             f"{values!r}")
    return {spec.name: spec.check(overrides.get(spec.name, {})) for spec in specs}


def settings_help() -> str:
    """Every result with its ``--set`` keys (allowed values and default), as plain text."""
    return "\n".join(spec.help() for spec in SPECS.values())


__all__ = ["OPTIONS", "SPECS", "Spec", "check_overrides", "get", "parse_overrides", "resolve",
           "result_names", "settings_help"]
