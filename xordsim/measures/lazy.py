"""Lazy-training diagnostics and the lazy limit's predictor, exact on the pattern sets.

Sources: Jacot, Gabriel, Hongler, *Neural Tangent Kernel*, NeurIPS 2018 (GD on a wide
network follows kernel GD in function space with the NTK); Chizat, Oyallon, Bach, *On
Lazy Training in Differentiable Programming*, NeurIPS 2019 (the relative weight change as
the lazy-regime diagnostic); Terjék & González-Sánchez, *A Framework for
Overparameterized Learning*, 2022 (seed ``004_*``: lazy training, relative weight and
kernel change); Arora et al., ICML 2019 (seed ``002_*``: the squared-loss kernel
predictor).

**Diagnostics.** Per replica: ‖W_T − W_0‖_F / ‖W_0‖_F over both filter banks,
‖Θ_T − Θ_0‖_F / ‖Θ_0‖_F over the 15 pattern sets (:func:`~xordsim.measures.ntk.ntk_all_masks`),
and the fraction of the 2k filters whose sector class (the 8 sectors of 45° of
:func:`xordsim.model.channel_class`, which fix a filter's kernel features) changed. On
the max-pool network Θ depends on the filters only through their sectors, so the kernel
moves only when filters change sector.

**The lazy limit.** A lazily trained network of width k → ∞ computes GD in function space
with the kernel Θ ≈ 4kα²·H (:func:`~xordsim.measures.kernel.xord_h_inf`):

    f_{t+1}(A) = f_t(A) − η'·Σ_i w_i ℓ'(f_t(x_i), y_i)·H(A, P_{x_i}),  η' = 4ηkα²,

on all 16 pattern sets at once, with f₀ = 0 (antisymmetric init u⁰ = w⁰) or f₀ = N_{W₀}.
Losses as the engine's (weights w_i and margins from :func:`xordsim.model.point_loss_weights`):
hinge w_i·max(0, m_i − y_i f) (m = γ for positives, 1 for negatives), squared
½ w_i (f − t_i)² with targets t = y·m (γ and −1), logistic w_i log(1 + e^{−y_i f}).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from xordsim import _jit  # noqa: F401  (first: the package's kernel cache, _jit.py)
from xordsim._validate import InputError, check_choice, check_float, check_int
from xordsim.measures.kernel import RANK_RTOL, _check_kernel, _check_rtol
from xordsim.measures.ntk import _as_filters, ntk_all_masks, sector_classes
from xordsim.model import Groups, test_error_exact

#: The losses of the predictor (codes for the kernel: 0, 1, 2).
LOSSES = ("hinge", "squared", "logistic")

#: Default relative tolerance for ties: |f(A)| ≤ TIE_RTOL·max_B |f(B)| counts as f(A) = 0.
TIE_RTOL = 1e-9


# -- diagnostics ---------------------------------------------------------------------------

def _finite_rows(*arrays) -> np.ndarray:
    return np.logical_and.reduce([np.all(np.isfinite(a), axis=(1, 2)) for a in arrays])


def relative_weight_change(w0, u0, w, u) -> np.ndarray:
    """‖W_T − W_0‖_F / ‖W_0‖_F with W = (w, u) both filter banks, per replica.

    Parameters
    ----------
    w0, u0, w, u : arrays (k, 2) or (R, k, 2)
        Initial and final filters.

    Returns
    -------
    ndarray (R,) (shape () for single networks); NaN where a weight is not finite.
    """
    w0, u0, single = _as_filters(w0, u0)
    w, u, _ = _as_filters(w, u)
    if w.shape != w0.shape:
        raise InputError(f"final filters {w.shape} must match the initial ones {w0.shape}")
    with np.errstate(invalid="ignore", divide="ignore"):
        num = np.sqrt(np.sum((w - w0) ** 2, axis=(1, 2)) + np.sum((u - u0) ** 2, axis=(1, 2)))
        den = np.sqrt(np.sum(w0**2, axis=(1, 2)) + np.sum(u0**2, axis=(1, 2)))
        out = np.where(_finite_rows(w0, u0, w, u), num / den, np.nan)
    return out[0] if single else out


def relative_kernel_change(w0, u0, w, u) -> np.ndarray:
    """‖Θ_T − Θ_0‖_F / ‖Θ_0‖_F over the 15 pattern sets, per replica.

    Θ from :func:`xordsim.measures.ntk.ntk_all_masks` (the output scale cancels). NaN
    where a weight is not finite.
    """
    w0, u0, single = _as_filters(w0, u0)
    w, u, _ = _as_filters(w, u)
    if w.shape != w0.shape:
        raise InputError(f"final filters {w.shape} must match the initial ones {w0.shape}")
    ok = _finite_rows(w0, u0, w, u)
    z = lambda a: np.where(ok[:, None, None], a, 0.0)  # noqa: E731
    t0 = ntk_all_masks(z(w0), z(u0))
    t1 = ntk_all_masks(z(w), z(u))
    with np.errstate(invalid="ignore", divide="ignore"):  # Θ₀ = 0 (all filters 0): NaN
        out = np.linalg.norm(t1 - t0, axis=(1, 2)) / np.linalg.norm(t0, axis=(1, 2))
    out = np.where(ok, out, np.nan)
    return out[0] if single else out


def sector_change_fraction(w0, u0, w, u) -> np.ndarray:
    """Fraction of the 2k filters whose sector class changed between W_0 and W_T.

    The class is :func:`xordsim.model.channel_class` (8 sectors of 45° bounded by the
    axes and the diagonals: the sign of w·p1, of w·p2, and which of |w·p1|, |w·p2| is
    larger), which fixes the filter's kernel features — not the 4 sign classes. NaN where
    a weight is not finite.
    """
    w0, u0, single = _as_filters(w0, u0)
    w, u, _ = _as_filters(w, u)
    if w.shape != w0.shape:
        raise InputError(f"final filters {w.shape} must match the initial ones {w0.shape}")
    changed = (np.sum(sector_classes(w) != sector_classes(w0), axis=1)
               + np.sum(sector_classes(u) != sector_classes(u0), axis=1))
    out = np.where(_finite_rows(w0, u0, w, u), changed / (2.0 * w.shape[1]), np.nan)
    return out[0] if single else out


def lazy_diagnostics(result) -> dict[str, np.ndarray]:
    """The three diagnostics of a :class:`xordsim.engine.TrainResult`, per replica (R,):
    ``weight_change``, ``kernel_change``, ``sector_change`` (NaN for diverged replicas)."""
    args = (result.w0, result.u0, result.w, result.u)
    return {"weight_change": relative_weight_change(*args),
            "kernel_change": relative_kernel_change(*args),
            "sector_change": sector_change_fraction(*args)}


# -- the lazy limit's predictor ------------------------------------------------------------

def lazy_lr(eta: float, k: int, output_scale: float = 1.0) -> float:
    """η' = 4ηkα²: the function-space step that matches GD with step η on a network of 2k
    filters and output scale α (Θ ≈ 4kα²·H)."""
    eta = check_float("eta", eta, 0, low_open=True)
    k = check_int("k", k, 1)
    alpha = check_float("output_scale", output_scale, 0, low_open=True)
    return 4.0 * eta * k * alpha**2


@dataclass(frozen=True)
class LazyPrediction:
    """Output of :func:`lazy_predictor` for R training sets.

    Attributes
    ----------
    outputs : (R, 16)
        f_T on every mask (column 0, the empty set, is f₀'s — 0 unless given).
    steps : (R,) int
        Updates performed.
    converged : (R,) bool
        The loss fell to ``tol`` or below (with ``tol = 0``: the hinge's exact zero loss;
        the squared and logistic losses then run all the steps).
    loss : (R,)
        The loss of f_T on the training set.
    """

    outputs: np.ndarray
    steps: np.ndarray
    converged: np.ndarray
    loss: np.ndarray


@njit(cache=True, inline="always")
def _dloss(code, f, y, weight, margin):
    """(loss, d loss / d f) of one group."""
    if weight <= 0.0:
        return 0.0, 0.0
    if code == 0:  # hinge
        if margin - y * f > 0.0:
            return weight * (margin - y * f), -weight * y
        return 0.0, 0.0
    if code == 1:  # squared, target y * margin
        r = f - y * margin
        return 0.5 * weight * r * r, weight * r
    z = -y * f  # logistic: log(1 + e^z)
    if z > 0.0:
        loss = z + np.log1p(np.exp(-z))
        d = 1.0 / (1.0 + np.exp(-z))
    else:
        e = np.exp(z)
        loss = np.log1p(e)
        d = e / (1.0 + e)
    return weight * loss, -weight * y * d


@njit(cache=True, parallel=True)
def _predict(code, mask, y, weight, margin, data_idx, f0, kernel, kidx, eta, steps, tol,
             out, n_steps, converged, loss_out):
    R = out.shape[0]
    G = mask.shape[1]
    for r in prange(R):
        rd = data_idx[r]
        K = kernel[kidx[r]]
        f = out[r]
        f[:] = f0[r]
        coef = np.zeros(16)
        delta = np.zeros(16)
        step = 0
        done = False
        loss = 0.0
        while True:
            coef[:] = 0.0
            loss = 0.0
            for g in range(G):
                M = mask[rd, g]
                lg, dg = _dloss(code, f[M], y[rd, g], weight[rd, g], margin[rd, g])
                loss += lg
                coef[M] += dg
            if loss <= tol:
                done = True
                break
            if step == steps:
                break
            moved = False
            for A in range(16):
                s = 0.0
                for M in range(16):
                    s += coef[M] * K[A, M]
                delta[A] = eta * s
                moved |= delta[A] != 0.0
            if not moved:  # the loss's gradient is orthogonal to the kernel: a fixed point
                break
            for A in range(16):
                f[A] -= delta[A]
            step += 1
        n_steps[r] = step
        converged[r] = done
        loss_out[r] = loss


def _setup(groups, f0, kernel):
    """Broadcast groups (Rd, G), f0 and kernel to R replicas."""
    if not isinstance(groups, Groups):
        raise InputError(f"groups must be a Groups (xordsim.model.loss_groups or "
                         f"groups_from_counts); got {type(groups).__name__}")
    Rd = groups.mask.shape[0]
    kernel = _check_kernel(kernel)
    K = kernel if kernel.ndim == 3 else kernel[None]
    if f0 is None:
        F = np.zeros((1, 16))
    else:
        F = np.asarray(f0, dtype=np.float64)
        F = F[None] if F.ndim == 1 else F
        if F.ndim != 2 or F.shape[1] != 16 or not np.all(np.isfinite(F)):
            raise InputError(f"f0 must be finite outputs on the 16 masks, (16,) or (R, 16); "
                             f"got {np.shape(f0)}")
    R = max(Rd, F.shape[0], K.shape[0])
    for name, size in (("groups", Rd), ("f0", F.shape[0]), ("kernel", K.shape[0])):
        if size not in (1, R):
            raise InputError(f"{name} has {size} rows for {R} replicas (give 1 or {R})")
    F = np.ascontiguousarray(np.broadcast_to(F, (R, 16)))
    return R, F, np.ascontiguousarray(K), Rd


def lazy_predictor(groups: Groups, loss: str = "hinge", *, eta_prime: float = 0.4,
                   steps: int = 5000, f0=None, kernel=None, tol: float = 0.0) -> LazyPrediction:
    """GD in function space with the infinite-width kernel: the lazy limit's predictor.

    f_{t+1}(A) = f_t(A) − η'·Σ_g W_g ℓ'(f_t(M_g), y_g)·K(A, M_g) on all 16 masks, the sum
    over the loss groups g (identical points: mask M_g, label y_g, summed weight W_g,
    margin m_g); K = H (:func:`xordsim.measures.kernel.xord_h_inf`) by default. This is
    what GD with step η computes on a network of 2k filters with output scale α when it
    trains lazily and k → ∞ (Jacot et al. 2018), with η' = 4ηkα² (:func:`lazy_lr`).
    Stops like the engine (:class:`xordsim.config.GDConfig` ``tol``): at the first step
    whose loss is ≤ ``tol`` (default 0: the hinge's exact zero loss; the squared and
    logistic losses then run all the steps), at a fixed point (the update is exactly 0),
    or after ``steps`` updates. For the squared
    loss the limit (η' < 2/λ_max(W^{1/2}K_SS W^{1/2})) is :func:`lazy_squared_limit`.

    Parameters
    ----------
    groups : Groups
        From :func:`xordsim.model.loss_groups` or :func:`xordsim.model.groups_from_counts`
        (with the run's problem and γ): (Rd, G) arrays.
    loss : {"hinge", "squared", "logistic"}
    eta_prime : float > 0
        η' (default 0.4 = 4ηk for the paper's η = c_η/k, c_η = 0.1, α = 1).
    steps : int >= 0
    f0 : array (16,) or (R, 16), optional
        Initial function on the masks (default 0, the antisymmetric init; N_{W₀} =
        α·:func:`xordsim.model.outputs_all_masks` for a random init).
    kernel : array (16, 16) or (R, 16, 16), optional
        Default H; Θ₀/(4kα²) (:func:`xordsim.measures.ntk.ntk_all_masks`) gives the
        linearised finite-width network.
    tol : float >= 0

    Returns
    -------
    LazyPrediction
    """
    code = LOSSES.index(check_choice("loss", loss, LOSSES))
    eta_prime = check_float("eta_prime", eta_prime, 0, low_open=True)
    steps = check_int("steps", steps, 0)
    tol = check_float("tol", tol, 0)
    R, F, K, Rd = _setup(groups, f0, kernel)
    out = np.empty((R, 16))
    n_steps = np.zeros(R, np.int64)
    converged = np.zeros(R, np.bool_)
    loss_out = np.zeros(R)
    data_idx = np.arange(R) if Rd > 1 else np.zeros(R, np.int64)
    kidx = np.arange(R) if K.shape[0] > 1 else np.zeros(R, np.int64)
    _predict(code, groups.mask, groups.y, groups.weight, groups.margin, data_idx, F, K, kidx,
             eta_prime, steps, tol, out, n_steps, converged, loss_out)
    return LazyPrediction(out, n_steps, converged, loss_out)


def lazy_squared_limit(groups: Groups, f0=None, kernel=None, *,
                       rank_rtol: float = RANK_RTOL) -> np.ndarray:
    """The squared-loss lazy limit in closed form: a weighted least-squares fit.

    f_∞ = f₀ + K_{·S} α*, α* = (W^{1/2} K_SS)⁺ W^{1/2} (t − f₀(S)), W = diag(W_g), t the
    targets y·m (γ for positives, −1 for negatives), S the groups' masks. Derivation:
    the residual r = f(S) − t obeys W^{1/2} r_{t+1} = (I − η' M) W^{1/2} r_t with
    M = W^{1/2} K_SS W^{1/2}, which converges (η' < 2/λ_max(M)) to the projection of
    W^{1/2} r₀ on null(M): the residual of the weighted least-squares problem
    min_β ‖W^{1/2}(K_SS β − (t − f₀(S)))‖, whose every solution gives the same function.
    When t − f₀(S) is outside range(K_SS) (e.g. a training set with {1}, {3} and {1,3},
    whose targets break N{1,3} = N{1} + N{3}) this is not the pseudo-inverse interpolant
    K_{·S} K_SS⁺ (t − f₀(S)), and the training loss stays positive.

    Parameters
    ----------
    groups, f0, kernel
        As in :func:`lazy_predictor`.
    rank_rtol : float in [0, 1)
        Singular values of W^{1/2}K_SS at most ``rank_rtol`` times the largest count as 0.

    Returns
    -------
    ndarray (R, 16): f_∞ on every mask.
    """
    rank_rtol = _check_rtol("rank_rtol", rank_rtol)
    R, F, K, Rd = _setup(groups, f0, kernel)
    idx = lambda a: np.broadcast_to(a, (R,) + a.shape[1:])  # noqa: E731
    mask, y, weight, margin = (idx(a) for a in (groups.mask, groups.y, groups.weight,
                                                groups.margin))
    KK = np.broadcast_to(K, (R, 16, 16))
    rows = np.arange(R)[:, None]
    K_SS = KK[rows[:, :, None], mask[:, :, None], mask[:, None, :]]  # (R, G, G)
    K_AS = KK[rows[:, :, None], np.arange(16)[None, :, None], mask[:, None, :]]  # (R, 16, G)
    root = np.sqrt(np.maximum(weight, 0.0))
    resid = y * margin - np.take_along_axis(F, mask, axis=1)
    A = root[:, :, None] * K_SS * (weight > 0)[:, None, :]  # padding groups: no column
    alpha = np.einsum("rgh,rh->rg", np.linalg.pinv(A, rcond=rank_rtol), root * resid)
    return F + np.einsum("rag,rg->ra", K_AS, alpha)


def ties(outputs, tie_rtol: float = TIE_RTOL) -> np.ndarray:
    """Masks A ≥ 1 where the predictor is tied: |f(A)| ≤ ``tie_rtol``·max_{B≥1} |f(B)|,
    (R, 16) bool (column 0, the empty set, is False).

    A tie means f(A) = 0 up to rounding (e.g. forced by a symmetry of the training set);
    :func:`lazy_test_error` counts it as an error, as ``test_error_exact`` counts
    y·f ≤ 0, instead of letting floating-point noise pick a sign.
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    outputs = outputs[None] if outputs.ndim == 1 else outputs
    if outputs.ndim != 2 or outputs.shape[1] != 16:
        raise InputError(f"outputs must have shape (16,) or (R, 16); got {np.shape(outputs)}")
    tie_rtol = _check_rtol("tie_rtol", tie_rtol)
    scale = np.max(np.abs(outputs[:, 1:]), axis=1, keepdims=True)
    out = np.abs(outputs) <= tie_rtol * scale
    out[:, 0] = False  # the empty set is no point
    return out


def lazy_test_error(outputs, joint_probs, tie_rtol: float = TIE_RTOL) -> np.ndarray:
    """Exact test error of a predictor on the masks, ties counted as errors.

    Σ_M P(y, M)·[y·f(M) ≤ 0] (:func:`xordsim.model.test_error_exact`) after setting the
    tied outputs (:func:`ties`) to 0. ``joint_probs`` is a distribution's
    ``joint_mask_probs()`` (2, 16): any distribution, not only the training one.
    Returns (R,).
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    outputs = outputs[None] if outputs.ndim == 1 else outputs
    tied = ties(outputs, tie_rtol)
    joint = np.asarray(joint_probs, dtype=np.float64)
    if joint.shape != (2, 16):
        raise InputError(f"joint_probs must have shape (2, 16); got {joint.shape}")
    return test_error_exact(np.where(tied, 0.0, outputs), joint)
