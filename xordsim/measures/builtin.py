"""The built-in measures, registered in :mod:`xordsim.measures.registry` on first use.

Every measure is one float per replica of a :class:`~xordsim.measures.registry.TrainedPoint`.
Names: Neyshabur et al.'s keys as their public code names them (``Frobenius1`` ...
``Our bound``, plus the papers' forms ``... (paper)`` and the ``margin`` γ they use);
``arora.*`` Arora et al.'s complexity; ``ntk.*`` the empirical NTK's spectrum on the
training set (Θ/(2kα²)); ``lazy.*`` the lazy-training diagnostics and the lazy limit's
exact test error; the benchmark's standard measures ``dist.init``, ``path.norm``,
``sharpness.pacbayes`` (Jiang et al., ICLR 2020) and the sanity line ``oracle``.
Formulas and sources: docs/measures.md.

Every measure is deterministic and a function of the replica alone (never of the chunk
it is computed in): where a measure draws noise, the stream of replica r is seeded from
the SHA-256 of its own initial filters (:func:`replica_seed`).
"""

from __future__ import annotations

import hashlib

import numpy as np

from xordsim.measures import capacity, kernel, lazy, ntk
from xordsim.measures.registry import TrainedPoint, register
from xordsim.model import groups_from_counts, outputs_all_masks

NEYSHABUR = "Neyshabur et al., ICLR 2019 (code: bneyshabur/over-parametrization measures.py)"
ARORA = "Arora et al., ICML 2019, Theorem 5.1"
LAZY = "Jacot et al. 2018; Chizat et al. 2019; Terjek & Gonzalez-Sanchez 2022"
JIANG = "Jiang et al., Fantastic Generalization Measures and Where to Find Them, ICLR 2020"

#: ``sharpness.pacbayes``: the largest allowed rise of the mean training error under noise,
#: the number of noise draws it is averaged over, the search range of sigma and the number
#: of bisection steps on log10(sigma).
SHARPNESS_TOL = 0.1
SHARPNESS_DRAWS = 8
SHARPNESS_RANGE = (1e-4, 1e2)
SHARPNESS_STEPS = 14

#: Standard deviation of the ``oracle``'s Gaussian noise (0: the exact test error itself).
ORACLE_NOISE = 0.0

#: Most floats of noise drawn at once by ``sharpness.pacbayes`` (bounds its memory).
_NOISE_BLOCK = 1 << 22


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
        spectra = ntk.training_set_spectra(point.w0, point.u0, point.w, point.u, g.mask,
                                           g.count)
        # a measure is a float per replica: NaN (not rank -1) where the filters diverged
        return {when: {k: np.where(spec["n"] < 0, np.nan, np.asarray(v, dtype=float))
                       for k, v in spec.items()} for when, spec in spectra.items()}
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


def replica_seed(point: TrainedPoint, r: int, salt: str) -> np.random.SeedSequence:
    """The seed of replica ``r``'s noise for the measure ``salt``: four 32-bit words of the
    SHA-256 of ``salt`` and the replica's initial filters w0, u0 (little-endian float64).

    Depends on the replica's own weights only, so its value is the same in any chunk, in
    any order, alone or in a larger point.
    """
    h = hashlib.sha256(salt.encode())
    for a in (point.w0[r], point.u0[r]):
        h.update(np.ascontiguousarray(a, dtype="<f8").tobytes())
    digest = h.digest()
    return np.random.SeedSequence([int.from_bytes(digest[4 * i:4 * i + 4], "little")
                                   for i in range(4)])


def _finite_rows(*arrays: np.ndarray) -> np.ndarray:
    ok = np.ones(arrays[0].shape[0], dtype=bool)
    for a in arrays:
        ok &= np.all(np.isfinite(a.reshape(a.shape[0], -1)), axis=1)
    return ok


def _dist_init(point: TrainedPoint) -> np.ndarray:
    """Distance from initialization sqrt(‖w − w0‖²_F + ‖u − u0‖²_F) over both filter banks.

    Jiang et al. 2020 ``dist.init`` (Eq. 40: Σ_layers ‖W_i − W_i⁰‖²_F; its square root
    here) after Nagarajan & Kolter 2019; the fixed output layer ±α does not move, so only
    the filters count. It equals Neyshabur et al.'s ``Distance1``.
    """
    d2 = (np.sum((point.w - point.w0) ** 2, axis=(1, 2))
          + np.sum((point.u - point.u0) ** 2, axis=(1, 2)))
    return np.sqrt(d2)


def _path_norm(point: TrainedPoint) -> np.ndarray:
    """Path norm α² Σ_j (‖w_j‖² + ‖u_j‖²) = α²‖W‖²_F.

    Jiang et al. 2020 ``path.norm`` (Eq. 44): Σ_i f_{W∘W}(1)[i], the network with every
    weight squared evaluated on the all-ones input, biases 0; Neyshabur et al. 2015's ℓ2
    path norm is its square root. For the max-pool network every path runs input entry →
    filter j → output, with weight product ``w_j[i] · (±α)``; with the all-ones input all d
    patterns are equal, so the max-pool selects one and the sum over paths is
    α² Σ_j (‖w_j‖² + ‖u_j‖²).
    """
    alpha = point.config.output_scale
    return alpha ** 2 * (np.sum(point.w ** 2, axis=(1, 2)) + np.sum(point.u ** 2, axis=(1, 2)))


def noisy_train_error(point: TrainedPoint, w: np.ndarray, u: np.ndarray,
                      replica: np.ndarray) -> np.ndarray:
    """Exact training error of networks ``w, u`` (B, k, 2), network b trained on the set of
    replica ``replica[b]`` of ``point``: the fraction of its training points with y·N ≤ 0,
    through the 15 pattern sets (N on every mask with the point's output scale)."""
    out = outputs_all_masks(w, u, point.config.output_scale)
    counts = point.replica_counts()[replica]
    wrong = counts[:, 1] * (out <= 0) + counts[:, 0] * (out >= 0)
    return wrong.sum(axis=1) / counts.sum(axis=(1, 2))


def sharpness_bisection(point: TrainedPoint, tol: float = SHARPNESS_TOL,
                        draws: int = SHARPNESS_DRAWS, sigma_range=SHARPNESS_RANGE,
                        steps: int = SHARPNESS_STEPS) -> tuple[np.ndarray, np.ndarray]:
    """The bracket (sigma_lo, sigma_hi) (R,) of ``sharpness.pacbayes``'s bisection.

    For replica r, rise(σ) = mean over ``draws`` noise draws ε_1..ε_D of
    err_train(W ⊙ (1 + σ ε_i)) − err_train(W), every entry of w and u multiplied by its own
    1 + σ·N(0, 1), the same draws ε_i for every σ (seeded by :func:`replica_seed`).
    Bisection on log10 σ over ``sigma_range``, ``steps`` halvings, keeps rise(σ_lo) ≤ tol
    < rise(σ_hi); when rise(σ_max) ≤ tol both are σ_max, when rise(σ_min) > tol both are
    σ_min. NaN for a replica with non-finite weights.
    """
    R, k = point.replicas, point.k
    lo_b, hi_b = (float(np.log10(x)) for x in sigma_range)
    ok = _finite_rows(point.w, point.u)
    lo = np.full(R, lo_b)
    hi = np.full(R, hi_b)
    rows = np.flatnonzero(ok)
    block = max(1, _NOISE_BLOCK // (4 * draws * k))
    for b0 in range(0, rows.size, block):
        idx = rows[b0:b0 + block]
        xi_w = np.empty((idx.size, draws, k, 2))
        xi_u = np.empty((idx.size, draws, k, 2))
        for i, r in enumerate(idx):
            rng = np.random.default_rng(replica_seed(point, int(r), "sharpness.pacbayes"))
            xi_w[i] = rng.standard_normal((draws, k, 2))
            xi_u[i] = rng.standard_normal((draws, k, 2))
        noise = (idx, xi_w, xi_u, noisy_train_error(point, point.w[idx], point.u[idx], idx))

        def rise(log_sigma: np.ndarray, sel: np.ndarray, noise=noise) -> np.ndarray:
            return _rise(point, noise, log_sigma, sel)

        ends = rise(np.repeat([hi_b, lo_b], idx.size), np.tile(np.arange(idx.size), 2))
        top_ok, bottom_bad = ends[:idx.size] <= tol, ends[idx.size:] > tol
        blo, bhi = np.full(idx.size, lo_b), np.full(idx.size, hi_b)
        blo[top_ok] = hi_b
        bhi[bottom_bad & ~top_ok] = lo_b
        search = np.flatnonzero(~top_ok & ~bottom_bad)
        for _ in range(steps if search.size else 0):
            mid = 0.5 * (blo[search] + bhi[search])
            good = rise(mid, search) <= tol
            blo[search[good]] = mid[good]
            bhi[search[~good]] = mid[~good]
        lo[idx], hi[idx] = blo, bhi
    sig_lo, sig_hi = 10.0 ** lo, 10.0 ** hi
    sig_lo[~ok] = np.nan
    sig_hi[~ok] = np.nan
    return sig_lo, sig_hi


def _rise(point: TrainedPoint, noise: tuple, log_sigma: np.ndarray,
          sel: np.ndarray) -> np.ndarray:
    """Mean noisy training error minus the unperturbed one, for the block's networks
    ``sel`` at log10 σ ``log_sigma`` (``noise``: replicas, ε of w and u, base errors)."""
    idx, xi_w, xi_u, base = noise
    draws, k = xi_w.shape[1], xi_w.shape[2]
    s = (10.0 ** log_sigma)[:, None, None, None]
    wn = (point.w[idx[sel], None] * (1.0 + s * xi_w[sel])).reshape(-1, k, 2)
    un = (point.u[idx[sel], None] * (1.0 + s * xi_u[sel])).reshape(-1, k, 2)
    err = noisy_train_error(point, wn, un, np.repeat(idx[sel], draws))
    return err.reshape(sel.size, draws).mean(axis=1) - base[sel]


def _sharpness(point: TrainedPoint) -> np.ndarray:
    """Magnitude-aware PAC-Bayes sharpness 1/σ*² (larger: sharper, predicts more error).

    σ* is the largest σ (bisection on log10 σ in [1e-4, 1e2], 14 steps) such that the mean
    training error over 8 draws of multiplicative Gaussian noise W ← W ⊙ (1 + σε) exceeds
    the unperturbed training error by at most 0.1 (:func:`sharpness_bisection`).
    Jiang et al. 2020 ``pacbayes.mag.flatness`` (Eq. 52 with their 0.1 deviation of the
    training accuracy; they add ε' = 10⁻³ to |w| in the noise scale, here the noise is
    purely multiplicative), reported as 1/σ² like their ``pacbayes.mag.sharpness``.
    Training errors are exact (through the pattern sets); the noise of replica r is seeded
    from its initial filters, so the value is deterministic and independent of chunking.
    """
    sig_lo, _ = sharpness_bisection(point)
    return 1.0 / sig_lo ** 2


def oracle_measure(scale: float = ORACLE_NOISE, seed: int = 0):
    """A measure ``test_error + scale · z_r`` with z_r ~ N(0, 1) seeded by ``seed`` and the
    replica's initial filters (:func:`replica_seed`); ``scale = 0`` gives the exact test
    error itself. Register another scale with ``register("oracle.0.01",
    oracle_measure(0.01), needs=("init", "outcome"))``."""
    scale = float(scale)
    if not (np.isfinite(scale) and scale >= 0):
        raise ValueError(f"oracle scale must be a finite number >= 0; got {scale!r}")

    def fn(point: TrainedPoint) -> np.ndarray:
        te = np.asarray(point.test_error, dtype=float)
        if scale == 0:
            return te.copy()
        z = np.array([np.random.default_rng(replica_seed(point, r, f"oracle:{seed}"))
                      .standard_normal() for r in range(point.replicas)])
        return te + scale * z

    fn.__doc__ = (f"Oracle: the exact test error plus Gaussian noise of std {scale:g} "
                  "(a sanity line for the scores).")
    return fn


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
    register("dist.init", _dist_init, needs=("init", "final"),
             source=JIANG + "; Nagarajan & Kolter 2019", _builtin=True)
    register("path.norm", _path_norm, needs=("final",),
             source=JIANG + "; Neyshabur et al. 2015", _builtin=True)
    register("sharpness.pacbayes", _sharpness, needs=("init", "final", "data"),
             source=JIANG + " (pacbayes.mag.flatness); Keskar et al. 2017", _builtin=True)
    register("oracle", oracle_measure(), needs=("init", "outcome"),
             source="sanity line: exact test error plus Gaussian noise of std ORACLE_NOISE",
             _builtin=True)


_register_all()
