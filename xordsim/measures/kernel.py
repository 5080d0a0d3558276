"""The infinite-width kernel of the max-pool network and Arora et al.'s complexity.

Sources: Arora, Du, Hu, Li, Wang, *Fine-Grained Analysis of Optimization and
Generalization for Overparameterized Two-Layer Neural Networks*, ICML 2019 (seed
``002_*``): the Gram matrix H^∞ of a two-layer ReLU network with fixed ±1 output weights
(their Eq. (3)-(4), H^∞_ij = E_w[x_i·x_j 1{w·x_i ≥ 0, w·x_j ≥ 0}] =
x_i·x_j (π − arccos(x_i·x_j)) / (2π) for unit-norm x) and the data-dependent complexity
sqrt(2 yᵀ(H^∞)⁻¹y / n) of their Theorem 5.1 (generalization bound).

**Adaptation to the max-pool network of Eq. 2.** A filter w of N_W contributes
max_{l∈A} σ(w·p_l) on a point with pattern set A; its gradient is
1{max_{l∈A} w·p_l > 0}·p_{l*(A)} with l*(A) the argmax (ties to the lowest index). The
infinite-width kernel of one filter, with the patterns normalised to unit norm
(p̂ = p/√2, so that singletons reproduce Arora et al.'s H^∞ exactly), is

    H(A, B) = E_{w~N(0, I₂)}[1{max_{l∈A} w·p_l > 0} 1{max_{l∈B} w·p_l > 0}
              p̂_{l*(A)}·p̂_{l*(B)}].

The integrand depends on w only through the signs of s = w·p1, t = w·p2 and the order of
|s| and |t|, which are constant on the 8 open sectors of 45° between the lines s = 0,
t = 0, |s| = |t| (the axes and the diagonals). A standard Gaussian w falls in each with
probability 1/8, so H is the exact average of the integrand over one direction per
sector; its entries are multiples of 1/8. It is indexed by pattern-set mask (16 × 16,
like ``TrainResult.outputs``; row and column 0, the empty set, are zero).

The empirical NTK of N_W with 2k filters and output scale α satisfies
Θ ≈ α²·2k·E[φ(A)·φ(B)] = 4kα²·H, i.e. Θ/(2kα²) → 2H as k → ∞ (φ = 1{·}p has
|p|² = 2; see :mod:`xordsim.measures.ntk`).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from xordsim._validate import InputError, check_float
from xordsim.model import check_counts
from xordsim.patterns import PATTERNS

#: Default relative tolerance on eigenvalues: an eigenvalue counts as zero when it is at
#: most ``RANK_RTOL`` times the largest one.
RANK_RTOL = 1e-9

#: Default relative tolerance of the range test: y is in range(H) when the part of y
#: orthogonal to the eigenvectors of the nonzero eigenvalues has norm at most
#: ``RANGE_RTOL``·‖y‖.
RANGE_RTOL = 1e-8


def _unit_patterns() -> np.ndarray:
    return PATTERNS.astype(np.float64) / np.sqrt(2.0)


def _features(w: np.ndarray) -> np.ndarray:
    """φ̂(A) = 1{max_{l∈A} w·p_l > 0}·p̂_{l*(A)} for directions w (N, 2) on all 16 masks:
    (N, 16, 2); argmax ties to the lowest pattern index, the empty set gives 0."""
    resp = w @ PATTERNS.T.astype(np.float64)  # (N, 4)
    feats = np.zeros((w.shape[0], 16, 2))
    members = (np.arange(16)[:, None] >> np.arange(4)) & 1  # (16, 4)
    unit = _unit_patterns()
    for M in range(1, 16):
        r = np.where(members[M] == 1, resp, -np.inf)
        star = np.argmax(r, axis=1)  # first maximum: ties to the lowest index
        on = np.take_along_axis(r, star[:, None], axis=1)[:, 0] > 0
        feats[:, M] = unit[star] * on[:, None]
    return feats


@lru_cache(maxsize=1)
def _h_inf() -> np.ndarray:
    angles = np.pi / 8 + np.arange(8) * np.pi / 4  # one direction inside each 45° sector
    dirs = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    f = _features(dirs)  # (8, 16, 2), entries 0, ±1/√2
    H = np.einsum("sai,sbi->ab", f, f) / 8.0
    H = np.round(H * 8.0) / 8.0  # exact: every entry is a multiple of 1/8
    H.flags.writeable = False
    return H


def xord_h_inf() -> np.ndarray:
    """The exact infinite-width NTK of one filter of the max-pool network, on pattern sets.

    H(A, B) = E_{w~N(0,I₂)}[1{max_{l∈A} w·p_l > 0}·1{max_{l∈B} w·p_l > 0}·
    p̂_{l*(A)}·p̂_{l*(B)}] with p̂ = p/√2 and l* the argmax over the set (ties to the
    lowest index): Arora et al. (ICML 2019, Eq. (3)-(4)) H^∞ with the ReLU unit replaced by
    the filter's max-pool over the point's patterns. The integrand is constant on the 8
    sectors of 45° bounded by the axes and the diagonals, so H is their exact average.

    Returns
    -------
    H : ndarray (16, 16), read-only
        Indexed by pattern-set mask (bit l-1 for p_l, as in :mod:`xordsim.patterns`);
        row and column 0 (the empty set) are zero; entries are multiples of 1/8. On the
        15 non-empty sets H has rank 8 and eigenvalues 0 (×7), 1/4 (×3), (25 − √481)/8,
        3/2 (×2), 2, (25 + √481)/8. Singletons give Arora et al.'s H^∞ of the unit
        patterns: H({l}, {l}) = 1/2, and 0 between orthogonal or opposite patterns.
    """
    return _h_inf()


def arora_h_inf(X) -> np.ndarray:
    """Arora et al.'s infinite-width Gram matrix for unit-norm inputs.

    H^∞_ij = E_{w~N(0,I)}[x_i·x_j 1{w·x_i ≥ 0} 1{w·x_j ≥ 0}]
    = x_i·x_j (π − arccos(x_i·x_j)) / (2π)  (Arora et al., ICML 2019, Eq. (3)-(4)).

    Parameters
    ----------
    X : array (n, D)
        Inputs, one per row, each of Euclidean norm 1 (to 1e-9).

    Returns
    -------
    ndarray (n, n)
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise InputError(f"X must have shape (n, D) with n, D >= 1; got {X.shape}")
    if not np.all(np.isfinite(X)) or np.any(np.abs(np.linalg.norm(X, axis=1) - 1) > 1e-9):
        raise InputError("X must have finite rows of unit norm (to 1e-9)")
    n, D = X.shape
    G = X @ X.T
    theta = np.empty((n, n))
    # the angle as 2 atan2(|x_i - x_j|, |x_i + x_j|): accurate near 0 and π, where
    # arccos(x_i·x_j) loses half the digits; rows in chunks of about 10^7 numbers
    step = max(1, 10**7 // max(1, n * D))
    for i in range(0, n, step):
        xi = X[i:i + step, None, :]
        theta[i:i + step] = 2.0 * np.arctan2(np.linalg.norm(xi - X[None], axis=-1),
                                             np.linalg.norm(xi + X[None], axis=-1))
    return G * (np.pi - theta) / (2 * np.pi)


def _check_rtol(name: str, value: float) -> float:
    return check_float(name, value, 0, 1, high_open=True)


def arora_complexity(H, y, n: int | None = None, *, rank_rtol: float = RANK_RTOL,
                     range_rtol: float = RANGE_RTOL) -> float:
    """Arora et al.'s data-dependent complexity sqrt(2 yᵀ H⁺ y / n).

    Their Theorem 5.1 bounds the test error of a wide two-layer ReLU network trained by
    GD on the squared loss by sqrt(2 yᵀ(H^∞)⁻¹y / n) + O(...) when H^∞ is positive
    definite. On XORD it is not (rank ≤ 8 on the 15 pattern sets): this function uses the
    pseudo-inverse and returns ``inf`` when y is outside range(H) — then no function of
    the kernel's span interpolates the labels and the bound is vacuous. y is in range(H)
    when ‖y − P y‖ ≤ ``range_rtol``·‖y‖, P the projector on the eigenvectors of the
    eigenvalues above ``rank_rtol``·λ_max.

    Parameters
    ----------
    H : array (m, m)
        A symmetric positive semi-definite Gram matrix (H^∞, or Θ₀/(4kα²) for the
        finite-width version).
    y : array (m,)
        Labels (any reals).
    n : int, optional
        The number of training points (default m). Repeated points: with H = E K Eᵀ
        (E the n × G indicator of the G distinct inputs, K their Gram) and y = E c,
        yᵀH⁺y = cᵀK⁺c and y ∈ range(H) iff c ∈ range(K), so ``arora_complexity(K, c, n)``
        equals the complexity over the n points.
    rank_rtol, range_rtol : float in [0, 1)
        The tolerances above (defaults :data:`RANK_RTOL`, :data:`RANGE_RTOL`).

    Returns
    -------
    float
        sqrt(2 yᵀH⁺y / n), or ``inf`` when y is outside range(H).
    """
    H = np.asarray(H, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if H.ndim != 2 or H.shape[0] != H.shape[1] or H.shape[0] < 1:
        raise InputError(f"H must be a square matrix (m, m) with m >= 1; got {H.shape}")
    if y.shape != H.shape[:1]:
        raise InputError(f"y must have shape ({H.shape[0]},) to match H; got {y.shape}")
    if not (np.all(np.isfinite(H)) and np.all(np.isfinite(y))):
        raise InputError("H and y must be finite")
    n = H.shape[0] if n is None else n
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InputError(f"n must be an integer >= 1, got {n!r}")
    rank_rtol = _check_rtol("rank_rtol", rank_rtol)
    range_rtol = _check_rtol("range_rtol", range_rtol)
    return float(_complexity(H[None], y[None], np.array([n]), rank_rtol, range_rtol)[0])


def _complexity(H, y, n, rank_rtol, range_rtol) -> np.ndarray:
    """sqrt(2 yᵀH⁺y/n) for stacks H (R, m, m), y (R, m), n (R,); inf outside the range."""
    lam, V = np.linalg.eigh(0.5 * (H + np.swapaxes(H, -1, -2)))
    top = np.max(np.abs(lam), axis=-1, keepdims=True)
    keep = lam > rank_rtol * top
    coef = np.einsum("rmi,rm->ri", V, y)  # coordinates of y in the eigenbasis
    inv = np.where(keep, 1.0 / np.where(keep, lam, 1.0), 0.0)
    quad = np.sum(coef**2 * inv, axis=-1)
    outside = np.sqrt(np.sum(np.where(keep, 0.0, coef**2), axis=-1))
    norm = np.linalg.norm(y, axis=-1)
    out = np.sqrt(2.0 * np.maximum(quad, 0.0) / n)
    return np.where(outside > range_rtol * norm, np.inf, out)


def _check_masks(name: str, masks) -> np.ndarray:
    masks = np.asarray(masks)
    if masks.dtype.kind not in "iu" or masks.ndim != 1 or masks.size < 1 \
            or np.any(masks < 1) or np.any(masks > 15):
        raise InputError(f"{name} must be a non-empty 1-d array of integer masks in [1, 15]")
    return masks.astype(np.int64)


def _check_kernel(kernel) -> np.ndarray:
    """A kernel on the 16 masks, (16, 16) or (R, 16, 16); default :func:`xord_h_inf`."""
    if kernel is None:
        return xord_h_inf()
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim not in (2, 3) or kernel.shape[-2:] != (16, 16) \
            or not np.all(np.isfinite(kernel)):
        raise InputError(f"kernel must be finite with shape (16, 16) or (R, 16, 16); "
                         f"got {kernel.shape}")
    return kernel


def xord_gram(masks, kernel=None) -> np.ndarray:
    """The Gram matrix K(x_i, x_j) = kernel[M_i, M_j] over n points given by their masks.

    Parameters
    ----------
    masks : int array (n,)
        Pattern-set masks (1..15) of the points (:func:`xordsim.patterns.point_masks`);
        repeated masks give repeated rows (the Gram over points, as Arora et al. define it).
    kernel : array (16, 16) or (R, 16, 16), optional
        A kernel on pattern sets (default :func:`xord_h_inf`; e.g. Θ₀/(4kα²) from
        :func:`xordsim.measures.ntk.ntk_all_masks`).

    Returns
    -------
    ndarray (n, n), or (R, n, n) for a stack of kernels.
    """
    masks = _check_masks("masks", masks)
    kernel = _check_kernel(kernel)
    return kernel[..., masks[:, None], masks[None, :]]


def points_from_counts(counts) -> tuple[np.ndarray, np.ndarray]:
    """The points of a training set given as counts over the pattern sets, as masks.

    ``counts`` (2, 16) of non-negative integers: ``counts[1, M]`` positives and
    ``counts[0, M]`` negatives with pattern set M (:func:`xordsim.data.mask_counts`,
    :func:`xordsim.data.sample_mask_counts`). Returns (masks (n,) int64, y (n,) float ±1),
    positives first, each in increasing mask order.
    """
    counts = check_counts(counts)
    if counts.shape[0] != 1:
        raise InputError(f"counts must have shape (2, 16) here; got {counts.shape}")
    masks = np.concatenate([np.repeat(np.arange(16), counts[0, 1]),
                            np.repeat(np.arange(16), counts[0, 0])])
    y = np.concatenate([np.ones(counts[0, 1].sum()), -np.ones(counts[0, 0].sum())])
    return masks.astype(np.int64), y


def xord_complexity(counts, kernel=None, *, rank_rtol: float = RANK_RTOL,
                    range_rtol: float = RANGE_RTOL) -> np.ndarray:
    """Arora et al.'s complexity sqrt(2 yᵀH⁺y / n) of XORD training sets given as counts.

    The Gram over the n points is H = E K Eᵀ, K the kernel on the distinct pattern sets
    present and E the points' indicator, and y = E c (a pattern set has one label,
    f*). Then yᵀH⁺y = cᵀK⁺c and y ∈ range(H) iff c ∈ range(K) (see
    :func:`arora_complexity`), so the complexity is sqrt(2 cᵀK⁺c / n) with n the number of
    points — it depends on the counts only through which sets occur and n. A pattern set
    present with both labels (impossible under f*) puts y outside the range: ``inf``.

    Parameters
    ----------
    counts : int array (2, 16) or (R, 2, 16)
        Training sets as counts (row 0 negatives, row 1 positives).
    kernel : array (16, 16) or (R, 16, 16), optional
        Default :func:`xord_h_inf` (the infinite-width complexity); Θ₀/(4kα²) per replica
        gives the finite-width version (:func:`xordsim.measures.ntk.finite_width_complexity`).
    rank_rtol, range_rtol : float
        As in :func:`arora_complexity`.

    Returns
    -------
    ndarray (R,)
    """
    counts = check_counts(counts)
    kernel = _check_kernel(kernel)
    rank_rtol = _check_rtol("rank_rtol", rank_rtol)
    range_rtol = _check_rtol("range_rtol", range_rtol)
    R = counts.shape[0]
    if kernel.ndim == 3 and kernel.shape[0] not in (1, R):
        raise InputError(f"kernel has {kernel.shape[0]} matrices for {R} training sets")
    K = np.broadcast_to(kernel if kernel.ndim == 3 else kernel[None], (R, 16, 16))
    present = counts > 0  # (R, 2, 16)
    c = present[:, 1].astype(float) - present[:, 0].astype(float)  # (R, 16), 0 if absent
    both = np.any(present[:, 0] & present[:, 1], axis=1)
    on = present.any(axis=1)  # (R, 16)
    Km = K * (on[:, :, None] & on[:, None, :])  # absent sets: zero rows and columns
    n = counts.sum(axis=(1, 2))
    out = _complexity(Km, c, n, rank_rtol, range_rtol)
    return np.where(both, np.inf, out)
