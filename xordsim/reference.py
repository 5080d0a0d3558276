"""Plain reference implementation: N_W and its subgradient from every pattern of every point.

No mask reduction, no numba: a direct transcription of Eq. 1/2 (with the output scale
alpha), the hinge, squared and logistic losses and their gradients, vectorized over
replicas with NumPy. The tests check the engine against it and ``bench/bench_engine.py``
uses it as the baseline.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from xordsim._validate import check_choice
from xordsim.config import INITS, LOSSES
from xordsim.model import point_loss_weights
from xordsim.patterns import PATTERNS, pattern_index


def _max_response(filters, x, pidx):
    """max_j sigma(f·x_j) per filter and point, and the pattern index that attains it.

    filters (R, k, 2), x (R, n, d, 2), pidx (R, n, d) -> value (R, k, n), argmax (R, k, n).
    Ties between positions go to the lowest pattern index.
    """
    resp = np.einsum("rkc,rndc->rknd", filters, x)
    best = resp.max(axis=-1)
    tied = resp == best[..., None]
    lstar = np.where(tied, pidx[:, None], 4).min(axis=-1)
    return np.maximum(best, 0.0), lstar, best > 0


def reference_init(replicas: int, k: int, init_std: float, seed=0, init: str = "gaussian"):
    """Initial filters w, u (R, k, 2): w then u i.i.d. N(0, init_std^2) from
    ``np.random.default_rng(seed)``; ``init="antisymmetric"``: u = w (so N_{W_0} = 0)."""
    check_choice("init", init, INITS)
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((replicas, k, 2)) * init_std
    if init == "antisymmetric":
        return w, w.copy()
    return w, rng.standard_normal((replicas, k, 2)) * init_std


def reference_output(w, u, x, output_scale: float = 1.0) -> np.ndarray:
    """N_W(x) = alpha sum_j [max_l sigma(w_j·x_l) - max_l sigma(u_j·x_l)] for w, u (R, k, 2)
    and x (R or 1, n, d, 2) -> (R, n); alpha = ``output_scale``."""
    x = np.broadcast_to(np.asarray(x, dtype=np.float64), (w.shape[0],) + np.shape(x)[1:])
    pidx = pattern_index(x)
    vw, _, _ = _max_response(w, x, pidx)
    vu, _, _ = _max_response(u, x, pidx)
    return output_scale * (vw.sum(axis=1) - vu.sum(axis=1))


def reference_point_loss(n, y, margin, loss: str = "hinge"):
    """Per-point loss l(n; y, m) and dl/dn, elementwise (the definitions of
    :func:`xordsim.model.point_loss`): hinge max(0, m - y n); squared (1/2)(n - y m)^2;
    logistic log(1 + e^{-y n}) (as ``logaddexp(0, -y n)``, with dl/dn = -y / (1 + e^{y n})
    as ``-y exp(-logaddexp(0, y n))``)."""
    check_choice("loss", loss, LOSSES)
    if loss == "hinge":
        slack = margin - y * n
        return np.maximum(slack, 0.0), np.where(slack > 0, -y, 0.0)
    if loss == "squared":
        r = n - y * margin
        return 0.5 * r * r, r
    z = y * n
    return np.logaddexp(0.0, -z), -y * np.exp(-np.logaddexp(0.0, z))


def reference_loss_and_grad(w, u, x, y, problem: str = "xord", gamma: float | None = None,
                            loss: str = "hinge", output_scale: float = 1.0):
    """Loss (R,) and (sub)gradients (R, k, 2) for w, u (R, k, 2), x (R, n, d, 2), y (R, n):
    sum_i w_i l(N(x_i); y_i, m_i) with the weights and margins of
    :func:`xordsim.model.point_loss_weights` and l of :func:`reference_point_loss`."""
    R = w.shape[0]
    x = np.broadcast_to(np.asarray(x, dtype=np.float64), (R,) + np.shape(x)[-3:])
    y = np.broadcast_to(np.asarray(y, dtype=np.float64), (R, np.shape(y)[-1]))
    weight, margin = point_loss_weights(y, problem, gamma)
    pidx = pattern_index(x)
    vw, lw, pos_w = _max_response(w, x, pidx)
    vu, lu, pos_u = _max_response(u, x, pidx)
    n_out = output_scale * (vw.sum(axis=1) - vu.sum(axis=1))
    value, slope = reference_point_loss(n_out, y, margin, loss)
    total = (weight * value).sum(axis=1)
    dn = weight * slope * output_scale  # (R, n): d loss / d (unscaled sum) at x_i
    pats = PATTERNS.astype(np.float64)
    gw = np.einsum("rn,rknc->rkc", dn, pos_w[..., None] * pats[lw])
    gu = -np.einsum("rn,rknc->rkc", dn, pos_u[..., None] * pats[lu])
    return total, gw, gu


class ReferenceRun(NamedTuple):
    """What :func:`reference_run` returns: final filters w, u (R, k, 2); converged_step (R,)
    (-1 if never); the recorded steps (S,), and at them the loss and training error
    (R, S) and the filters w_at, u_at (R, S, k, 2)."""

    w: np.ndarray
    u: np.ndarray
    converged_step: np.ndarray
    steps: np.ndarray
    loss: np.ndarray
    train_error: np.ndarray
    w_at: np.ndarray
    u_at: np.ndarray


def reference_run(x, y, w0, u0, lr: float, steps: int, problem: str = "xord",
                  gamma: float | None = None, *, loss: str = "hinge",
                  output_scale: float = 1.0, tol: float = 0.0,
                  record_every: int = 0) -> ReferenceRun:
    """Full-batch GD from (w0, u0), stopping each replica at its first step with
    loss <= ``tol``; every ``record_every`` steps (0: none) the loss, the training error
    and the filters are recorded (a stopped replica keeps its final values)."""
    w = np.array(w0, dtype=np.float64)
    u = np.array(u0, dtype=np.float64)
    R = w.shape[0]
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim == 3:
        x, y = x[None], y[None]
    rec = np.arange(0, steps + 1, record_every) if record_every else np.zeros(0, np.int64)
    S = rec.size
    loss_at = np.zeros((R, S))
    err_at = np.zeros((R, S))
    w_at = np.zeros((R, S) + w.shape[1:])
    u_at = np.zeros((R, S) + u.shape[1:])
    running = np.ones(R, dtype=bool)
    converged = np.full(R, -1)
    last_loss = np.zeros(R)
    last_err = np.zeros(R)
    for t in range(steps + 1):
        idx = np.flatnonzero(running)
        if idx.size:
            xs = x if x.shape[0] == 1 else x[idx]
            ys = y if y.shape[0] == 1 else y[idx]
            value, gw, gu = reference_loss_and_grad(w[idx], u[idx], xs, ys, problem, gamma,
                                                    loss, output_scale)
            last_loss[idx] = value
            if S:  # the training error, only where it is recorded
                out = reference_output(w[idx], u[idx], xs, output_scale)
                last_err[idx] = (np.broadcast_to(ys, out.shape) * out <= 0).mean(axis=1)
        if S and t % record_every == 0:
            i = t // record_every
            loss_at[:, i], err_at[:, i] = last_loss, last_err
            w_at[:, i], u_at[:, i] = w, u
        if idx.size == 0:
            continue
        done = value <= tol
        converged[idx[done]] = t
        running[idx[done]] = False
        if t == steps:
            break
        live = idx[~done]
        w[live] -= lr * gw[~done]
        u[live] -= lr * gu[~done]
    return ReferenceRun(w, u, converged, rec, loss_at, err_at, w_at, u_at)


def reference_train(x, y, w0, u0, lr: float, steps: int, problem: str = "xord",
                    gamma: float | None = None, *, loss: str = "hinge",
                    output_scale: float = 1.0, tol: float = 0.0):
    """Full-batch GD from (w0, u0), stopping each replica when its loss is <= ``tol``
    (for the hinge with tol = 0: exactly 0).

    Returns (w, u, converged_step) with converged_step = -1 where the loss stayed
    above tol for all ``steps`` updates.
    """
    run = reference_run(x, y, w0, u0, lr, steps, problem, gamma, loss=loss,
                        output_scale=output_scale, tol=tol)
    return run.w, run.u, run.converged_step
