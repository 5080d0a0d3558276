"""Event functions: weights in, one boolean per replica out (hand-checkable)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from xordsim import _jit  # noqa: F401  (first: the package's kernel cache, _jit.py)
from xordsim.data import xor_dataset
from xordsim.diagnostics import angles_to, argmax_sets, positive_sets
from xordsim.patterns import (
    A_MASKS,
    PATTERNS,
    mask_label,
)

#: The XOR points x1..x4 of Sec. 3.1 as rows (4, 2).
XOR_POINTS = xor_dataset()[0][:, 0, :].astype(float)
P = PATTERNS.astype(float)


# ----------------------------------------------------------------------------------------
# event functions (pure: weights in, per-replica booleans out)


def exploration_xor_event(w0, u0) -> np.ndarray:
    """Lemma 3.1: k/2 - 2 sqrt(k) <= |W0+(i)|, |U0+(i)| <= k/2 + 2 sqrt(k) for i = 1..4."""
    k = np.asarray(w0).shape[-2]
    lo, hi = k / 2 - 2 * math.sqrt(k), k / 2 + 2 * math.sqrt(k)
    ok = np.ones(np.asarray(w0).shape[:-2], bool)
    for f in (w0, u0):
        sizes = positive_sets(f, XOR_POINTS).sum(axis=-2)  # (..., 4)
        ok &= np.all((sizes >= lo) & (sizes <= hi), axis=-1)
    return ok


def exploration_xord_event(w0) -> np.ndarray:
    """Lemma 6.1: ||W0+(1) ∪ W0+(3)| - k/2| <= 2 sqrt(k) with the argmax sets of Sec. 6."""
    k = np.asarray(w0).shape[-2]
    sets = argmax_sets(w0)
    size = (sets[..., 0] | sets[..., 2]).sum(axis=-1)
    return np.abs(size - k / 2) <= 2 * math.sqrt(k)


def insufficient_exploration_event(w0, u0) -> np.ndarray:
    """Theorem 3.4 (a): W0+(1) or W0+(3) empty, or U0+(2) or U0+(4) empty (Sec. 3.1 sets)."""
    sw = positive_sets(w0, XOR_POINTS).sum(axis=-2)
    su = positive_sets(u0, XOR_POINTS).sum(axis=-2)
    return (sw[..., 0] == 0) | (sw[..., 2] == 0) | (su[..., 1] == 0) | (su[..., 3] == 0)


def clustering_event(ws, counts, members, direction, ortho, eta: float) -> np.ndarray:
    """Lemmas 3.2 / 6.2 on a trajectory: for every snapshot s and every member j,
    v = w_s^(j) - counts[s] * eta * direction has v·direction > 0 and |v·ortho| < 2 eta.

    ws (R, S, k, 2); counts (R, S); members (R, k) bool; returns (R,) bool.
    Non-finite weights (a diverged run) fail.

    In one pass (:func:`_clustering_ok`, a replica stops at its first failing filter),
    with the terms formed as ``ws @ direction - (counts * eta) * (direction @ direction)``:
    for the directions of the lemmas (entries +-1) every product is exact, so each
    comparison is the one of that NumPy expression, bit for bit.
    """
    ws = np.ascontiguousarray(ws, dtype=np.float64)
    direction = np.asarray(direction, float)
    ortho = np.asarray(ortho, float)
    counts = np.asarray(counts, np.float64)
    members = np.asarray(members, bool)
    ok = np.empty(ws.shape[0], dtype=np.bool_)
    _clustering_ok(ws, counts, members, float(direction[0]), float(direction[1]),
                   float(ortho[0]), float(ortho[1]), float(direction @ direction),
                   float(direction @ ortho), float(eta), ok)
    return ok


@njit(cache=True)
def _clustering_ok(ws, counts, members, d0, d1, o0, o1, dd, do, eta, ok):  # pragma: no cover
    """The loop of :func:`clustering_event`: ok[r] for every replica r (one thread: about
    3 ms for 78 replicas x 501 snapshots x 120 filters, less than a parallel launch costs
    on a busy machine, and it compiles in half the time)."""
    R, S, k = ws.shape[0], ws.shape[1], ws.shape[2]
    bound = 2 * eta
    for r in range(R):
        good = True
        for s in range(S):
            c = counts[r, s] * eta
            a, b = c * dd, c * do
            for j in range(k):
                if members[r, j]:
                    w0, w1 = ws[r, s, j, 0], ws[r, s, j, 1]
                    if not ((w0 * d0 + w1 * d1) - a > 0 and abs((w0 * o0 + w1 * o1) - b)
                            < bound):
                        good = False
                        break
            if not good:
                break
        ok[r] = good


def angle_event(w, members, direction, max_angle: float) -> np.ndarray:
    """angle(w^(j), direction) <= max_angle for every member j: (R,) bool."""
    ang = angles_to(w, np.asarray(direction, float)[None])[..., 0]  # (R, k)
    ok = (ang <= max_angle + 1e-12) & np.isfinite(ang)
    return np.all(ok | ~np.asarray(members, bool), axis=-1)


def misclassifies_some_a(outputs) -> np.ndarray:
    """Theorem 6.4 (second part): some A_i whose points all get the wrong sign."""
    masks = np.array(A_MASKS)
    wrong = np.asarray(outputs)[:, masks] * mask_label(masks) <= 0
    return wrong.any(axis=1)


def small_test_error(test_error, eps: float) -> np.ndarray:
    """Theorem 6.5: the network GD returned has test error <= eps (a diverged run, whose
    test error is NaN, fails)."""
    test_error = np.asarray(test_error, dtype=float)
    return (test_error <= eps) & np.isfinite(test_error)
