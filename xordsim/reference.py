"""Plain reference implementation: N_W and its subgradient from every pattern of every point.

No mask reduction, no numba: a direct transcription of Eq. 1/2 and the hinge
losses, vectorized over replicas with NumPy. The tests check the engine against
it and ``bench/bench_engine.py`` uses it as the baseline.
"""

from __future__ import annotations

import numpy as np

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


def reference_output(w, u, x) -> np.ndarray:
    """N_W(x) for w, u (R, k, 2) and x (R or 1, n, d, 2) -> (R, n)."""
    x = np.broadcast_to(np.asarray(x, dtype=np.float64), (w.shape[0],) + np.shape(x)[1:])
    pidx = pattern_index(x)
    vw, _, _ = _max_response(w, x, pidx)
    vu, _, _ = _max_response(u, x, pidx)
    return vw.sum(axis=1) - vu.sum(axis=1)


def reference_loss_and_grad(w, u, x, y, problem: str = "xord", gamma: float | None = None):
    """Loss (R,) and subgradients (R, k, 2) for w, u (R, k, 2), x (R, n, d, 2), y (R, n)."""
    R = w.shape[0]
    x = np.broadcast_to(np.asarray(x, dtype=np.float64), (R,) + np.shape(x)[-3:])
    y = np.broadcast_to(np.asarray(y, dtype=np.float64), (R, np.shape(y)[-1]))
    weight, margin = point_loss_weights(y, problem, gamma)
    pidx = pattern_index(x)
    vw, lw, pos_w = _max_response(w, x, pidx)
    vu, lu, pos_u = _max_response(u, x, pidx)
    n_out = vw.sum(axis=1) - vu.sum(axis=1)
    slack = margin - y * n_out
    active = slack > 0
    loss = np.where(active, weight * slack, 0.0).sum(axis=1)
    dn = np.where(active, -weight * y, 0.0)  # (R, n): d loss / d N(x_i)
    pats = PATTERNS.astype(np.float64)
    gw = np.einsum("rn,rknc->rkc", dn, pos_w[..., None] * pats[lw])
    gu = -np.einsum("rn,rknc->rkc", dn, pos_u[..., None] * pats[lu])
    return loss, gw, gu


def reference_train(x, y, w0, u0, lr: float, steps: int, problem: str = "xord",
                    gamma: float | None = None):
    """Full-batch GD from (w0, u0), stopping each replica when its loss is exactly 0.

    Returns (w, u, converged_step) with converged_step = -1 where the loss stayed
    positive for all ``steps`` updates.
    """
    w = np.array(w0, dtype=np.float64)
    u = np.array(u0, dtype=np.float64)
    R = w.shape[0]
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim == 3:
        x, y = x[None], y[None]
    running = np.ones(R, dtype=bool)
    converged = np.full(R, -1)
    for t in range(steps + 1):
        idx = np.flatnonzero(running)
        if idx.size == 0:
            break
        xs = x if x.shape[0] == 1 else x[idx]
        ys = y if y.shape[0] == 1 else y[idx]
        loss, gw, gu = reference_loss_and_grad(w[idx], u[idx], xs, ys, problem, gamma)
        done = loss == 0
        converged[idx[done]] = t
        running[idx[done]] = False
        if t == steps:
            break
        live = idx[~done]
        w[live] -= lr * gw[~done]
        u[live] -= lr * gu[~done]
    return w, u, converged
