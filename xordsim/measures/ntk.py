"""The empirical neural tangent kernel of the max-pool network, exact through the masks.

Source: Jacot, Gabriel, Hongler, *Neural Tangent Kernel*, NeurIPS 2018 (the NTK
Θ(x, x') = ∇_W N(x)·∇_W N(x')); Terjék & González-Sánchez, *A Framework for
Overparameterized Learning*, 2022 (seed ``004_*``: the smallest NTK eigenvalue at
initialization, assumed bounded away from zero).

**Adaptation.** With output scale α, N_W(x) = α Σ_j [max_l σ(w_j·x_l) − max_l σ(u_j·x_l)],
so ∇_{w_j}N(x) = α·φ_j(P_x) and ∇_{u_j}N(x) = −α·φ_j'(P_x), where for a filter in the
(s, t) = (w·p1, w·p2) coordinates of :mod:`xordsim.model`

    φ(A) = GRAD_A[c, A]·sign(s)·p1 + GRAD_B[c, A]·sign(t)·p2,

c = :func:`xordsim.model.channel_class` (the 8 sectors of 45°) and the tables of the
model's reduction (the engine's subgradient: σ'(0) = 0, argmax ties to the lowest index).
φ depends on the filter only through c and whether s or t is exactly 0 — 32 *types* —
so, with p1·p2 = 0 and |p|² = 2,

    Θ(A, B) = 2α² Σ_types n_type (ga_type(A) ga_type(B) + gb_type(A) gb_type(B)),

n_type the number of the 2k filters (w and u together) of that type: O(k) to count the
types, O(32·16²) for Θ on all 16 masks, then indexing for any training set. Since the
8 sectors have probability 1/8 under any isotropic init, Θ/(2kα²) → Σ_c G_c/8 = 2H
(:func:`xordsim.measures.kernel.xord_h_inf`) as k → ∞, at every init scale; Θ only
changes when a filter changes sector.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numba import njit, prange

from xordsim import _jit  # noqa: F401  (first: the package's kernel cache, _jit.py)
from xordsim._validate import InputError, check_float
from xordsim.measures.kernel import (
    RANGE_RTOL,
    RANK_RTOL,
    _check_masks,
    _check_rtol,
    xord_complexity,
)
from xordsim.model import GRAD_A, GRAD_B, N_CLASSES, channel_class

#: Filter types: 4 c + 2 [s == 0] + [t == 0], c the sector class.
N_TYPES = 4 * N_CLASSES


@lru_cache(maxsize=1)
def _type_grams() -> np.ndarray:
    """Per-type feature Gram 2(ga ga' + gb gb') on the 16 masks: (32, 256)."""
    out = np.zeros((N_TYPES, 16, 16))
    for c in range(N_CLASSES):
        for zs in (0, 1):
            for zt in (0, 1):
                sign_s = 0.0 if zs else (-1.0 if c & 4 else 1.0)
                sign_t = 0.0 if zt else (-1.0 if c & 2 else 1.0)
                ga = GRAD_A[c] * sign_s
                gb = GRAD_B[c] * sign_t
                out[4 * c + 2 * zs + zt] = 2.0 * (np.outer(ga, ga) + np.outer(gb, gb))
    out = out.reshape(N_TYPES, 256)
    out.flags.writeable = False
    return out


@njit(cache=True)
def _filter_type(s: float, t: float) -> int:
    return 4 * channel_class(s, t) + 2 * (s == 0.0) + (t == 0.0)


@njit(cache=True, parallel=True)
def _type_counts(w, u):
    """Counts of the 32 filter types of w and u together, per network: (R, 32)."""
    R, k = w.shape[0], w.shape[1]
    out = np.zeros((R, 32), np.int64)
    for r in prange(R):
        for j in range(k):
            for f in (w, u):
                s = f[r, j, 0] + f[r, j, 1]
                t = f[r, j, 0] - f[r, j, 1]
                out[r, _filter_type(s, t)] += 1
    return out


@njit(cache=True, parallel=True)
def _classes(w):
    """Sector class (channel_class) of every filter: (R, k) int64."""
    R, k = w.shape[0], w.shape[1]
    out = np.empty((R, k), np.int64)
    for r in prange(R):
        for j in range(k):
            out[r, j] = channel_class(w[r, j, 0] + w[r, j, 1], w[r, j, 0] - w[r, j, 1])
    return out


def _as_filters(w, u) -> tuple[np.ndarray, np.ndarray, bool]:
    w = np.asarray(w, dtype=np.float64)
    u = np.asarray(u, dtype=np.float64)
    if w.ndim not in (2, 3) or w.shape[-1] != 2 or w.shape != u.shape or w.shape[-2] < 1:
        raise InputError(f"w and u must have equal shapes (k, 2) or (R, k, 2) with k >= 1; "
                         f"got {w.shape}, {u.shape}")
    single = w.ndim == 2
    w = np.ascontiguousarray(w.reshape((-1,) + w.shape[-2:]))
    u = np.ascontiguousarray(u.reshape((-1,) + u.shape[-2:]))
    return w, u, single


def sector_classes(w) -> np.ndarray:
    """The sector class :func:`xordsim.model.channel_class` of every filter of ``w``
    ((k, 2) or (R, k, 2)) -> (k,) or (R, k): the 8 sectors of 45° that fix the kernel
    features (class = 4 [w·p1 < 0] + 2 [w·p2 < 0] + [|w·p2| wins over |w·p1|])."""
    w = np.asarray(w, dtype=np.float64)
    if w.ndim not in (2, 3) or w.shape[-1] != 2:
        raise InputError(f"w must have shape (k, 2) or (R, k, 2); got {w.shape}")
    out = _classes(np.ascontiguousarray(w.reshape((-1,) + w.shape[-2:])))
    return out[0] if w.ndim == 2 else out


def ntk_all_masks(w, u, output_scale: float = 1.0) -> np.ndarray:
    """The empirical NTK Θ(A, B) of N_W on all 16 pattern-set masks.

    Θ(A, B) = Σ_j ∇_{w_j}N(A)·∇_{w_j}N(B) + Σ_j ∇_{u_j}N(A)·∇_{u_j}N(B) (Jacot et al.
    2018), with the engine's subgradient; computed from the counts of the 32 filter types
    (module docstring) in O(R·k + R·32·256).

    Parameters
    ----------
    w, u : arrays (k, 2) or (R, k, 2)
        The filters (all finite).
    output_scale : float > 0
        α of N = α Σ(...); Θ scales as α².

    Returns
    -------
    ndarray (16, 16) or (R, 16, 16); row and column 0 (the empty set) are zero.
    """
    w, u, single = _as_filters(w, u)
    alpha = check_float("output_scale", output_scale, 0, low_open=True)
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(u))):
        raise InputError("w and u must be finite (a diverged replica has no kernel)")
    theta = (_type_counts(w, u) @ _type_grams()).reshape(-1, 16, 16) * alpha**2
    return theta[0] if single else theta


def xord_ntk_gram(w, u, masks, output_scale: float = 1.0) -> np.ndarray:
    """The empirical NTK Gram Θ(x_i, x_j) on training points given by their masks.

    Θ = ∇_W N·∇_W N over the 4k parameters of both filter banks (Jacot et al. 2018),
    exact through the masks: :func:`ntk_all_masks` once, then indexed.

    Parameters
    ----------
    w, u : arrays (k, 2) or (R, k, 2)
    masks : int array (n,)
        Pattern-set masks 1..15 of the points (:func:`xordsim.patterns.point_masks`).
    output_scale : float > 0
        α.

    Returns
    -------
    ndarray (n, n) or (R, n, n)
    """
    masks = _check_masks("masks", masks)
    theta = ntk_all_masks(w, u, output_scale)
    return theta[..., masks[:, None], masks[None, :]]


def gram_spectrum(gram, counts=None, *, rank_rtol: float = RANK_RTOL) -> dict[str, np.ndarray]:
    """Rank, λ_min, smallest nonzero and largest eigenvalue of Gram matrices over points.

    The Gram is given on G distinct inputs with multiplicities ``counts``: the Gram over
    the n = Σ counts points is E K Eᵀ (E the indicator of the inputs), whose nonzero
    eigenvalues are those of D^{1/2} K D^{1/2} (D = diag counts) and whose other n − rank
    eigenvalues are 0. An eigenvalue is zero when it is at most ``rank_rtol``·λ_max.

    Parameters
    ----------
    gram : array (G, G) or (R, G, G)
        Symmetric positive semi-definite.
    counts : array (G,) or (R, G), optional
        Multiplicities ≥ 0 (0: a padding input); default 1 each.
    rank_rtol : float in [0, 1)

    Returns
    -------
    dict of arrays (R,) (scalars' shape () for a single Gram): ``rank`` (int), ``n``
    (points), ``lambda_min`` (0 when rank < n), ``lambda_min_nonzero`` (NaN when rank is
    0), ``lambda_max``.
    """
    gram = np.asarray(gram, dtype=np.float64)
    if gram.ndim not in (2, 3) or gram.shape[-1] != gram.shape[-2] or gram.shape[-1] < 1 \
            or not np.all(np.isfinite(gram)):
        raise InputError(f"gram must be finite with shape (G, G) or (R, G, G); got {gram.shape}")
    rank_rtol = _check_rtol("rank_rtol", rank_rtol)
    single = gram.ndim == 2
    K = gram[None] if single else gram
    if counts is None:
        cnt = np.ones(K.shape[:2])
    else:
        cnt = np.asarray(counts, dtype=np.float64)
        cnt = cnt[None] if cnt.ndim == 1 else cnt
        if cnt.shape != K.shape[:2] or np.any(cnt < 0) or np.any(cnt != np.round(cnt)):
            raise InputError(f"counts must be non-negative integers of shape {K.shape[:2]}; "
                             f"got {np.shape(counts)}")
    root = np.sqrt(cnt)
    lam = np.linalg.eigvalsh(root[:, :, None] * K * root[:, None, :])
    top = np.maximum(lam[:, -1], 0.0)
    nonzero = lam > rank_rtol * top[:, None]
    rank = nonzero.sum(axis=1)
    n = cnt.sum(axis=1).astype(np.int64)
    smallest = np.where(nonzero, lam, np.inf).min(axis=1)
    out = {"rank": rank, "n": n,
           "lambda_min": np.where(rank < n, 0.0, lam[:, 0]),
           "lambda_min_nonzero": np.where(rank > 0, smallest, np.nan),
           "lambda_max": top}
    return {key: v[0] for key, v in out.items()} if single else out


def ntk_spectrum(w, u, masks, counts=None, *, normalize: bool = True,
                 rank_rtol: float = RANK_RTOL) -> dict[str, np.ndarray]:
    """Spectrum of the empirical NTK Gram of each network on its training set.

    Parameters
    ----------
    w, u : arrays (k, 2) or (R, k, 2)
    masks : int array (G,) or (R, G)
        The training set's distinct pattern sets (e.g. ``TrainResult.groups.mask``, one
        row per replica or one shared row).
    counts : array like ``masks``, optional
        Points per entry (``groups.count``; 0 for padding); default 1 each.
    normalize : bool
        Report the eigenvalues of Θ/(2kα²) (which → those of 2H over the same points as
        k → ∞); Θ ∝ α², so the normalised spectrum does not depend on α. False: of Θ
        with α = 1.
    rank_rtol : float

    Returns
    -------
    dict as :func:`gram_spectrum`.
    """
    w, u, single = _as_filters(w, u)
    theta = ntk_all_masks(w, u) / (2.0 * w.shape[1] if normalize else 1.0)
    R = theta.shape[0]
    M = np.asarray(masks)
    M = M[None] if M.ndim == 1 else M
    if M.ndim != 2 or M.shape[0] not in (1, R) or M.dtype.kind not in "iu" \
            or np.any(M < 0) or np.any(M > 15):
        raise InputError(f"masks must be integer masks in [0, 15] of shape (G,) or ({R}, G); "
                         f"got {np.shape(masks)}")
    M = np.broadcast_to(M, (R, M.shape[1]))
    if counts is not None:
        counts = np.asarray(counts, dtype=np.float64)
        counts = np.broadcast_to(counts[None] if counts.ndim == 1 else counts, M.shape)
    rows = np.arange(R)[:, None, None]
    gram = theta[rows, M[:, :, None], M[:, None, :]]
    out = gram_spectrum(gram, counts, rank_rtol=rank_rtol)
    return {key: v[0] for key, v in out.items()} if single else out


#: Width to which :func:`training_set_spectra` pads every training set's groups (at most
#: 2 x 15 distinct (pattern set, label) groups), so that a replica's eigenvalues do not
#: depend on the other replicas computed with it (NumPy's batched ``eigvalsh`` rounds
#: differently per matrix size): the same numbers in any chunk of a sweep.
SPECTRUM_GROUPS = 32


def training_set_spectra(w0, u0, w, u, masks, counts, *,
                         rank_rtol: float = RANK_RTOL) -> dict[str, dict]:
    """Spectrum of Θ/(2kα²) on each replica's training set at init and at the end.

    ``w0, u0, w, u`` (R, k, 2); ``masks``, ``counts`` (Rd, G) the training sets' groups
    (:class:`xordsim.model.Groups` ``mask`` and ``count``; the Gram is over the n points,
    repeated pattern sets included), padded to :data:`SPECTRUM_GROUPS`. Replicas with
    non-finite filters get NaN (rank and n -1). Returns ``{"init": ..., "final": ...}``,
    each the dict of :func:`gram_spectrum` with arrays (R,).
    """
    masks, counts = np.asarray(masks), np.asarray(counts)
    G = max(SPECTRUM_GROUPS, masks.shape[-1])
    pm = np.zeros((*masks.shape[:-1], G), dtype=masks.dtype)
    pc = np.zeros((*counts.shape[:-1], G), dtype=counts.dtype)
    pm[..., :masks.shape[-1]] = masks
    pc[..., :counts.shape[-1]] = counts
    out = {}
    for name, a, b in (("init", w0, u0), ("final", w, u)):
        ok = np.all(np.isfinite(a), axis=(1, 2)) & np.all(np.isfinite(b), axis=(1, 2))
        ws, us = np.where(ok[:, None, None], a, 0.0), np.where(ok[:, None, None], b, 0.0)
        spec = ntk_spectrum(ws, us, pm, pc, rank_rtol=rank_rtol)
        out[name] = {key: np.where(ok, v, -1 if key in ("rank", "n") else np.nan)
                     for key, v in spec.items()}
    return out


def result_ntk_spectra(result, *, rank_rtol: float = RANK_RTOL) -> dict[str, dict]:
    """:func:`training_set_spectra` of a :class:`xordsim.engine.TrainResult` (its
    ``groups`` are the training sets)."""
    g = result.groups
    return training_set_spectra(result.w0, result.u0, result.w, result.u, g.mask, g.count,
                                rank_rtol=rank_rtol)


def finite_width_complexity(w0, u0, counts, output_scale: float = 1.0, *,
                            rank_rtol: float = RANK_RTOL,
                            range_rtol: float = RANGE_RTOL) -> np.ndarray:
    """The finite-width complexity sqrt(2 yᵀ(Θ₀/(4kα²))⁺y / n) per replica.

    Θ₀/(4kα²) → H (:func:`xordsim.measures.kernel.xord_h_inf`) as k → ∞, so this tends
    to the infinite-width complexity; at finite k it varies with k and the replica.
    Θ₀ ∝ α², so α cancels (the argument is kept for symmetry with the engine's option).

    Parameters
    ----------
    w0, u0 : arrays (k, 2) or (R, k, 2)
        Initial filters.
    counts : int array (2, 16) or (R, 2, 16)
        Training sets as counts (one shared, or one per replica).
    output_scale : float > 0

    Returns
    -------
    ndarray (R,) (shape (1,) for a single network and training set).
    """
    w0, u0, _ = _as_filters(w0, u0)
    alpha = check_float("output_scale", output_scale, 0, low_open=True)
    kernel = ntk_all_masks(w0, u0, alpha) / (4.0 * w0.shape[1] * alpha**2)
    counts = np.asarray(counts)
    counts = counts[None] if counts.ndim == 2 else counts
    if counts.ndim != 3:
        raise InputError(f"counts must have shape (2, 16) or (R, 2, 16); got {counts.shape}")
    R = max(kernel.shape[0], counts.shape[0])
    if kernel.shape[0] not in (1, R) or counts.shape[0] not in (1, R):
        raise InputError(f"counts has {counts.shape[0]} training sets for {kernel.shape[0]} "
                         f"networks (give 1 or as many)")
    return xord_complexity(np.broadcast_to(counts, (R,) + counts.shape[1:]),
                           np.broadcast_to(kernel, (R, 16, 16)),
                           rank_rtol=rank_rtol, range_rtol=range_rtol)
