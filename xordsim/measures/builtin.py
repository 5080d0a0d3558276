"""The built-in measures, registered in :mod:`xordsim.measures.registry` on first use.

Every measure is one float per replica of a :class:`~xordsim.measures.registry.TrainedPoint`.
Names: Neyshabur et al.'s keys as their public code names them (``Frobenius1`` ...
``Our bound``, plus the papers' forms ``... (paper)`` and the ``margin`` γ they use);
``arora.*`` Arora et al.'s complexity; ``ntk.*`` the empirical NTK's spectrum on the
training set (Θ/(2kα²)); ``lazy.*`` the lazy-training diagnostics and the lazy limit's
exact test error. Formulas and sources: docs/measures.md.
"""

from __future__ import annotations

import numpy as np

from xordsim.measures import capacity, kernel, lazy, ntk
from xordsim.measures.registry import TrainedPoint, register
from xordsim.model import groups_from_counts, outputs_all_masks

NEYSHABUR = "Neyshabur et al., ICLR 2019 (code: bneyshabur/over-parametrization measures.py)"
ARORA = "Arora et al., ICML 2019, Theorem 5.1"
LAZY = "Jacot et al. 2018; Chizat et al. 2019; Terjek & Gonzalez-Sanchez 2022"


def _cached(point: TrainedPoint, key: str, compute):
    cache = point.cache
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def _groups(point: TrainedPoint):
    cfg = point.config
    return _cached(point, "groups",
                   lambda: groups_from_counts(point.counts, cfg.problem, cfg.margin))


def _capacity(point: TrainedPoint) -> dict:
    def compute():
        return capacity.xord_capacity_measures(point.w, point.u, point.w0, point.u0,
                                               point.replica_counts(),
                                               output_scale=point.config.output_scale)
    return _cached(point, "capacity", compute)


def _capacity_measure(key: str):
    def fn(point: TrainedPoint) -> np.ndarray:
        v = _capacity(point)[key]
        return np.broadcast_to(np.asarray(v, dtype=float), (point.replicas,)).copy()
    fn.__doc__ = f"Neyshabur et al.'s {key!r} of the final network (the 2k filters as units)."
    return fn


def _spectra(point: TrainedPoint) -> dict:
    def compute():
        g = _groups(point)
        out = {}
        for when, w, u in (("init", point.w0, point.u0), ("final", point.w, point.u)):
            ok = np.all(np.isfinite(w), axis=(1, 2)) & np.all(np.isfinite(u), axis=(1, 2))
            ws, us = np.where(ok[:, None, None], w, 0.0), np.where(ok[:, None, None], u, 0.0)
            spec = ntk.ntk_spectrum(ws, us, g.mask, g.count)
            out[when] = {k: np.where(ok, np.asarray(v, dtype=float), np.nan)
                         for k, v in spec.items()}
        return out
    return _cached(point, "spectra", compute)


def _spectrum_measure(when: str, key: str):
    def fn(point: TrainedPoint) -> np.ndarray:
        return _spectra(point)[when][key]
    fn.__doc__ = f"{key} of the empirical NTK Gram Θ/(2kα²) on the training set, at {when}."
    return fn


def _lazy_prediction(point: TrainedPoint):
    def compute():
        cfg = point.config
        f0 = (None if cfg.init == "antisymmetric"
              else outputs_all_masks(point.w0, point.u0, cfg.output_scale))
        return lazy.lazy_predictor(_groups(point), cfg.loss,
                                   eta_prime=lazy.lazy_lr(cfg.eta, cfg.k, cfg.output_scale),
                                   steps=cfg.steps, f0=f0, tol=cfg.tol)
    return _cached(point, "lazy_prediction", compute)


def _lazy_test_error(point: TrainedPoint) -> np.ndarray:
    """Exact test error of the lazy limit's predictor (infinite width, same loss, step, T,
    and f0 = N_{W0}, or 0 with the antisymmetric init); ties count as errors."""
    return lazy.lazy_test_error(_lazy_prediction(point).outputs, point.test_probs)


def _arora(point: TrainedPoint) -> np.ndarray:
    """sqrt(2 yᵀ H⁺ y / n) with the infinite-width kernel H of one max-pool filter; inf when
    y is outside range(H). Depends on the training set only (constant in k)."""
    return kernel.xord_complexity(point.replica_counts())


def _arora_finite(point: TrainedPoint) -> np.ndarray:
    """sqrt(2 yᵀ (Θ₀/(4kα²))⁺ y / n) with the empirical NTK at initialization."""
    return ntk.finite_width_complexity(point.w0, point.u0, point.replica_counts(),
                                       point.config.output_scale)


def _weight_change(point: TrainedPoint) -> np.ndarray:
    """‖W_T − W_0‖_F / ‖W_0‖_F over both filter banks."""
    return lazy.relative_weight_change(point.w0, point.u0, point.w, point.u)


def _kernel_change(point: TrainedPoint) -> np.ndarray:
    """‖Θ_T − Θ_0‖_F / ‖Θ_0‖_F over the 15 pattern sets."""
    return lazy.relative_kernel_change(point.w0, point.u0, point.w, point.u)


def _sector_change(point: TrainedPoint) -> np.ndarray:
    """Fraction of the 2k filters whose 45° sector (the kernel's feature) changed."""
    return lazy.sector_change_fraction(point.w0, point.u0, point.w, point.u)


def _register_all() -> None:
    for key in capacity.KEYS:
        register(key, _capacity_measure(key), needs=("init", "final", "data"),
                 source=NEYSHABUR, _builtin=True)
    register("arora.complexity", _arora, needs=("data",), source=ARORA, _builtin=True)
    register("arora.complexity_finite_width", _arora_finite, needs=("init", "data"),
             source=ARORA, _builtin=True)
    for when, needs in (("init", ("init", "data")), ("final", ("final", "data"))):
        for key in ("rank", "lambda_min", "lambda_min_nonzero"):
            register(f"ntk.{key}.{when}", _spectrum_measure(when, key), needs=needs,
                     source="Jacot et al. 2018; " + ARORA, _builtin=True)
    for name, fn in (("lazy.weight_change", _weight_change),
                     ("lazy.kernel_change", _kernel_change),
                     ("lazy.sector_change", _sector_change)):
        register(name, fn, needs=("init", "final"), source=LAZY, _builtin=True)
    register("lazy.predictor_test_error", _lazy_test_error, needs=("init", "data", "test"),
             source=LAZY, _builtin=True)


_register_all()
