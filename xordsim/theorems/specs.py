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


#: How a result's rows are labelled (:meth:`Spec.labels`).
SINGLE, READINGS, CONVENTION, K_M = "single", "readings", "convention", "k_m"

#: What "converged" counts on a row (``converged_means``): runs that reached loss 0 (a
#: global minimum), or runs at a fixed point of GD (loss 0, or a zero subgradient with a
#: positive loss: GD never moves again).
LOSS_0, FIXED_POINT = "loss 0", "fixed point"

#: The verdicts of a row (:func:`xordsim.theorems.verdicts.verdict`).
CONSISTENT, VIOLATED, OUTSIDE = "consistent", "violated", "outside assumptions"
#: A row whose GD runs converged less often than :data:`CONVERGED_MIN` gets this ``flag``.
NON_CONVERGED = "non-converged"
CONVERGED_MIN = 0.95

#: The a_i(t) conventions of Lemmas 3.2 / 6.2, as written in row labels.
CONVENTION_LABELS = {"updates": "(t' < t)", "inclusive": "(t' <= t)"}


@dataclass(frozen=True, eq=False)
class Spec:
    """One result: its name, title, event, declared parameters and estimator.

    ``estimator`` is ``"module:function"``; the function takes (params, replicas, seed,
    progress) and returns the result's rows (``rows`` of them per call, ``ms`` rows per
    network for Theorem 6.5).

    ``event`` is the event whose probability the rows estimate, in one sentence;
    ``doc_anchor`` the id of its section in ``docs/theorems.md``. ``conditional_on_convergence``
    says whether the event includes "GD converges" (True: a run that has not converged
    within T counts as a failure of the event), does not (False: the event is about the
    trajectory or the network after T steps, converged or not) or does not apply (None:
    the event is at initialization); ``convergence`` says why, in a sentence, and
    ``converged_means`` what the rows count as converged (:data:`LOSS_0` or
    :data:`FIXED_POINT`) and ``if_not_converged`` what a run that has not converged means
    for the estimate (a phrase, printed beside flagged rows). ``labelling`` is how rows
    are told apart (:meth:`labels`) and ``shown`` the settings the table always shows
    (others only when not the default).
    """

    name: str
    result: str
    event: str
    estimator: str
    params: dict[str, Param] = field(default_factory=dict)
    replicas: int = 1000
    rows: int = 1
    doc_anchor: str = ""
    conditional_on_convergence: bool | None = None
    convergence: str = ""
    converged_means: str | None = LOSS_0
    if_not_converged: str = ""
    labelling: str = SINGLE
    shown: tuple[str, ...] = ("k",)

    @property
    def defaults(self) -> dict:
        """Every parameter's default value."""
        return {key: p.default for key, p in self.params.items()}

    def labels(self, values: dict | None = None) -> list[str]:
        """The labels of the rows one run with ``values`` (complete or partial parameters;
        missing ones take their defaults) returns, in order; no simulation runs.

        ``lemma3.1``; ``thm3.4a``, ``thm3.4b`` (two readings); ``lemma3.2 (t' < t)`` /
        ``lemma3.2 (t' <= t)`` (the a_i(t) convention); ``thm6.5 k=120 m=64`` (one row
        per network and m; ``large`` / ``small`` added when both networks have the same k).
        """
        v = dict(self.defaults, **(values or {}))
        if self.labelling == READINGS:
            return [f"{self.name}a", f"{self.name}b"]
        if self.labelling == CONVENTION:
            return [f"{self.name} {CONVENTION_LABELS[v['a_convention']]}"]
        if self.labelling == K_M:
            nets = [(v["k"], "large"), (v["k_small"], "small")]
            same = v["k"] == v["k_small"]
            return [f"{self.name} k={k}{f' ({net})' if same else ''} m={m}"
                    for k, net in nets for m in v["ms"]]
        return [self.name]

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


_AT_INIT = "At initialization: no GD runs, so convergence does not apply."
_FOR_ALL_T = ("Not conditional: 'for all t >= 0' is a property of the whole trajectory, "
              "converged or not. A run at a fixed point of GD (loss 0, or a zero subgradient) "
              "never moves again, so it is checked for every t; a run still moving at T is "
              "checked only up to T, which can only make the estimate larger (the flag says "
              "how many).")
_GLOBAL_MIN = ("Conditional: the event includes 'GD converges to a global minimum' within T "
               "steps, so a run that has not reached loss 0 by T counts as a failure of the "
               "event (it is not left out).")

_FAILS = "the event requires convergence: the other runs count as failures"
_CHECKED_TO_T = "the event does not require convergence: runs still moving are checked up to T"
_TEST_ERROR = "the event does not require convergence: every run counts with its test error"

SPECS: dict[str, Spec] = {s.name: s for s in [
    Spec("lemma3.1", "Lemma 3.1",
         "At initialization every set W0+(i) and U0+(i), i = 1..4, has between "
         "k/2 - 2 sqrt(k) and k/2 + 2 sqrt(k) filters.",
         f"{ESTIMATORS}:est_lemma_3_1", _declare(_k(50)), 20000,
         doc_anchor="lemma-31", convergence=_AT_INIT, converged_means=None),
    Spec("lemma3.2", "Lemma 3.2",
         "At every step t <= T, every filter j in W0+(i), i in {1, 3}, is "
         "w_t^(j) = a_i(t) eta x_i + v_t with v_t.x_i > 0 and |v_t.x_2| < 2 eta.",
         f"{ESTIMATORS}:est_lemma_3_2", _declare(*_XOR, _CONVENTION), 1000,
         doc_anchor="lemma-32", conditional_on_convergence=False, convergence=_FOR_ALL_T,
         converged_means=FIXED_POINT, if_not_converged=_CHECKED_TO_T, labelling=CONVENTION,
         shown=("k", "c_eta", "steps")),
    Spec("thm3.3", "Theorem 3.3",
         "GD reaches loss 0 (a global minimum) within T steps and every filter in W0+(i), "
         "i in {1, 3}, ends within arccos((1 - 2 c_eta)/(1 + c_eta)) of x_i.",
         f"{ESTIMATORS}:est_thm_3_3", _declare(*_XOR), 1000,
         doc_anchor="thm-33", conditional_on_convergence=True, convergence=_GLOBAL_MIN,
         if_not_converged=_FAILS, shown=("k", "c_eta", "steps")),
    Spec("thm3.4", "Theorem 3.4",
         "With k = 2, (a) at initialization W0+(1) or W0+(3) or U0+(2) or U0+(4) is empty, "
         "and (b) after T steps of GD the network errs on at least one of the four points.",
         f"{ESTIMATORS}:est_thm_3_4",
         _declare(_k(2), _XOR[1], _INIT_STD,
                  _gd("steps", 5000, low=1, help="T, the GD steps")), 10000, 2,
         doc_anchor="thm-34", conditional_on_convergence=False,
         convergence="(a) is at initialization. (b): the paper says GD 'converges to a model "
         "which errs'; the row counts every run that ends its T steps with training error "
         "> 0, at a fixed point (a local minimum: zero subgradient) or still moving, so it "
         "is not conditional; 'converged' counts the runs at a fixed point.",
         converged_means=FIXED_POINT, labelling=READINGS, shown=("k", "c_eta", "steps"),
         if_not_converged="the event does not require convergence: every run counts "
         "with its training error after T steps"),
    Spec("lemma6.1", "Lemma 6.1",
         "At initialization the number of filters in W0+(1) u W0+(3) (argmax sets) is "
         "within 2 sqrt(k) of k/2.",
         f"{ESTIMATORS}:est_lemma_6_1", _declare(_k(120)), 20000,
         doc_anchor="lemma-61", convergence=_AT_INIT, converged_means=None),
    Spec("lemma6.2", "Lemma 6.2",
         "At every step t <= T, every filter j in W0+(i), i in {1, 3} (argmax sets), is "
         "w_t^(j) = a+(t) eta p_i + v_t with v_t.p_i > 0 and |v_t.p_2| < 2 eta.",
         f"{ESTIMATORS}:est_lemma_6_2", _declare(*_XORD, _CONVENTION), 1000,
         doc_anchor="lemma-62", conditional_on_convergence=False, convergence=_FOR_ALL_T,
         converged_means=FIXED_POINT, if_not_converged=_CHECKED_TO_T, labelling=CONVENTION,
         shown=("k", "steps")),
    Spec("thm6.3", "Theorem 6.3",
         "Trained on a diverse positive and a diverse negative point, GD reaches loss 0 "
         "within T steps at a network whose sign is f* on every input, and every filter "
         "in W0+(i), i in {1, 3}, ends within arccos((gamma-1-2c_eta)/(gamma-1+c_eta)) of p_i.",
         f"{ESTIMATORS}:est_thm_6_3", _declare(*_XORD), 1000,
         doc_anchor="thm-63", conditional_on_convergence=True, convergence=_GLOBAL_MIN,
         if_not_converged=_FAILS, shown=("k", "steps")),
    Spec("thm6.4", "Theorem 6.4",
         "With k = 2 on the diverse training set, GD reaches loss 0 within T steps at a "
         "network that (a) does not recover f*, (b) misclassifies every point with "
         "P_x = A_i for some i.",
         f"{ESTIMATORS}:est_thm_6_4", _declare(_k(2), *_XORD[1:]), 2000, 2,
         doc_anchor="thm-64", conditional_on_convergence=True,
         convergence=_GLOBAL_MIN + " A k = 2 run that stalls at a local minimum fails both "
         "readings.", if_not_converged=_FAILS, labelling=READINGS, shown=("k", "steps")),
    Spec("thm6.5", "Theorem 6.5",
         "Trained on m positive and m negative points drawn from D (by default "
         "p+ = p- = 0.92), the network after T steps of GD has test error <= eps; the "
         "paper's bound is a lower bound for k = 120 and an upper bound for k = 2.",
         f"{ESTIMATORS}:est_thm_6_5", _thm_6_5(0.92, 0.019, 0.16, (1, 2, 4, 8)), 1000, 8,
         doc_anchor="thm-65", conditional_on_convergence=False,
         convergence="Not conditional: the sample complexity m(eps, delta) is about the "
         "test error of the network GD returns after T steps, converged or not; the flag "
         "marks rows where fewer than 95% of the runs reached loss 0, i.e. where the runs "
         "did not follow the proof's route through Theorems 6.3 and 6.4 (convergence on "
         "diverse training sets).", if_not_converged=_TEST_ERROR, labelling=K_M,
         shown=("p_plus", "eps", "delta", "steps")),
    Spec("thm6.5ex1", "Theorem 6.5",
         "As thm6.5 with the paper's first example (p+ = p- = 0.98, eps = 0.0049, "
         "delta = 0.05): the network after T steps has test error <= eps.",
         f"{ESTIMATORS}:est_thm_6_5_ex1", _thm_6_5(0.98, 0.0049, 0.05, (1, 16, 64)), 1000, 6,
         doc_anchor="thm-65-ex1", conditional_on_convergence=False,
         convergence="As thm6.5: the test error after T steps, converged or not.",
         if_not_converged=_TEST_ERROR, labelling=K_M, shown=("p_plus", "eps", "delta", "steps")),
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


__all__ = ["CONSISTENT", "CONVENTION_LABELS", "CONVERGED_MIN", "FIXED_POINT", "LOSS_0",
           "NON_CONVERGED", "OPTIONS", "OUTSIDE", "SPECS", "Spec", "VIOLATED",
           "check_overrides", "get", "parse_overrides", "resolve", "result_names",
           "settings_help"]
