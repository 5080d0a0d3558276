"""The networks of Eq. 1 and Eq. 2, their hinge losses and closed-form subgradients.

Conventions (documented in the README):

* sigma'(0) = 0 and the hinge's subgradient at its kink is 0;
* a point is classified correctly iff y * N_W(x) > 0;
* argmax ties between patterns go to the lowest pattern index.

**Reduction.** For a filter w let s = w·p1 and t = w·p2, so the four pattern
responses are (s, t, -s, -t). Of the pattern pair {p1, p3} exactly one, ``a``,
has a non-negative response |s| (p1 when s >= 0), and of {p2, p4} one, ``b``,
has response |t|. For a point with pattern set M the filter contributes
max_{l in M} sigma(w·p_l), which is max(|s|, |t|) if a, b in M, |s| if only a,
|t| if only b, and 0 otherwise; the subgradient goes to the argmax pattern. A
filter is therefore described by a *class* (a, b, which of a/b wins when both
are present) -- 8 classes -- and by |s|, |t|. Summing |s|, |t|, max(|s|,|t|)
over the filters of each class gives N_W on every mask in O(k + 8) operations,
and the loss gradient of every filter follows from 8 class coefficients.

The XOR network of Eq. 1 is the case d = 1: sigma(w·x) with x a single pattern.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from xordsim._validate import InputError, check_float
from xordsim.patterns import ALL_MASKS, PATTERNS, mask_label, point_masks

N_CLASSES = 8


def _build_tables():
    """Per class c and mask M: which sums give the value, which side gets the gradient."""
    val_a = np.zeros((N_CLASSES, 16))  # coefficient of sum |s|
    val_b = np.zeros((N_CLASSES, 16))  # coefficient of sum |t|
    val_max = np.zeros((N_CLASSES, 16))  # coefficient of sum max(|s|, |t|)
    grad_a = np.zeros((N_CLASSES, 16))
    grad_b = np.zeros((N_CLASSES, 16))
    for c in range(N_CLASSES):
        a = 0 if c >> 2 == 0 else 2
        b = 1 if (c >> 1) & 1 == 0 else 3
        a_wins = (c & 1) == 0
        for M in range(16):
            in_a, in_b = bool(M >> a & 1), bool(M >> b & 1)
            if in_a and in_b:
                val_max[c, M] = 1
                grad_a[c, M], grad_b[c, M] = a_wins, not a_wins
            elif in_a:
                val_a[c, M] = grad_a[c, M] = 1
            elif in_b:
                val_b[c, M] = grad_b[c, M] = 1
    return val_a, val_b, val_max, grad_a, grad_b


VAL_A, VAL_B, VAL_MAX, GRAD_A, GRAD_B = _build_tables()


@njit(cache=True, inline="always")
def channel_class(s: float, t: float) -> int:
    """Class of a filter with s = w·p1, t = w·p2 (see module docstring); ties -> lowest index."""
    a_idx = 0 if s >= 0.0 else 1  # a = p1 (index 0) or p3 (index 2)
    b_idx = 0 if t >= 0.0 else 1  # b = p2 (index 1) or p4 (index 3)
    abs_s, abs_t = abs(s), abs(t)
    a_first = a_idx == 0 or b_idx == 1  # pattern index of a below that of b
    a_wins = abs_s > abs_t or (abs_s == abs_t and a_first)
    return 4 * a_idx + 2 * b_idx + (0 if a_wins else 1)


@njit(cache=True)
def class_sums(w, cls, sums):
    """Fill ``cls`` (k,) with the classes of filters ``w`` (k, 2) and ``sums`` (8, 3) with
    per-class sums of |s|, |t| and max(|s|, |t|)."""
    sums[:] = 0.0
    for j in range(w.shape[0]):
        s = w[j, 0] + w[j, 1]
        t = w[j, 0] - w[j, 1]
        c = channel_class(s, t)
        cls[j] = c
        abs_s, abs_t = abs(s), abs(t)
        sums[c, 0] += abs_s
        sums[c, 1] += abs_t
        sums[c, 2] += max(abs_s, abs_t)


@njit(cache=True, inline="always")
def mask_value(sums, mask, val_a, val_b, val_max) -> float:
    """sum_j max_{l in mask} sigma(w_j·p_l) from the class sums."""
    v = 0.0
    for c in range(8):
        v += val_a[c, mask] * sums[c, 0] + val_b[c, mask] * sums[c, 1]
        v += val_max[c, mask] * sums[c, 2]
    return v


@njit(cache=True)
def loss_grad_classes(w, u, gmask, gy, gweight, gmargin, cls_w, cls_u, sums_w, sums_u,
                 coef_a, coef_b, out_n, val_a, val_b, val_max, grad_a, grad_b):
    """Hinge loss (Eq. 4 / Sec. 3.1 form) and the class coefficients of its subgradient.

    Groups g of identical points (same mask and label) carry ``gweight`` (the sum of
    the points' loss weights) and ``gmargin``. On return ``out_n[g]`` holds N_W on
    group g and ``coef_a[c]`` / ``coef_b[c]`` the derivative of the loss with respect
    to the response of side a / b of a *w* filter of class c (negate for u filters).
    Returns the loss.
    """
    class_sums(w, cls_w, sums_w)
    class_sums(u, cls_u, sums_u)
    coef_a[:] = 0.0
    coef_b[:] = 0.0
    loss = 0.0
    for g in range(gmask.shape[0]):
        M = gmask[g]
        n = mask_value(sums_w, M, val_a, val_b, val_max) - mask_value(
            sums_u, M, val_a, val_b, val_max)
        out_n[g] = n
        slack = gmargin[g] - gy[g] * n
        if slack > 0.0 and gweight[g] > 0.0:
            loss += gweight[g] * slack
            dn = -gweight[g] * gy[g]  # d loss / d N on this group
            for c in range(8):
                coef_a[c] += dn * grad_a[c, M]
                coef_b[c] += dn * grad_b[c, M]
    return loss


@njit(cache=True)
def filter_grad(w, cls, coef_a, coef_b, sign, ga, gb):
    """Gradient of each filter as ga·p1 + gb·p2 (``sign`` = +1 for w filters, -1 for u)."""
    for j in range(w.shape[0]):
        c = cls[j]
        s = w[j, 0] + w[j, 1]
        t = w[j, 0] - w[j, 1]
        # d(response of a)/dw = p_a = sign(s)·p1; sigma'(0) = 0 kills a zero response
        ga[j] = sign * coef_a[c] * (1.0 if s > 0.0 else (-1.0 if s < 0.0 else 0.0))
        gb[j] = sign * coef_b[c] * (1.0 if t > 0.0 else (-1.0 if t < 0.0 else 0.0))


@njit(cache=True)
def outputs_from_sums(sums_w, sums_u, out, val_a, val_b, val_max):
    """N_W on all 16 masks into ``out`` (16,) from the class sums of w and u."""
    out[0] = 0.0
    for M in range(1, 16):
        out[M] = mask_value(sums_w, M, val_a, val_b, val_max) - mask_value(
            sums_u, M, val_a, val_b, val_max)


@njit(cache=True, parallel=True)
def _outputs_all_masks(w, u, val_a, val_b, val_max):
    R, k = w.shape[0], w.shape[1]
    out = np.zeros((R, 16))
    for r in prange(R):
        cls = np.empty(k, np.int64)
        sums_w = np.empty((8, 3))
        sums_u = np.empty((8, 3))
        class_sums(w[r], cls, sums_w)
        class_sums(u[r], cls, sums_u)
        outputs_from_sums(sums_w, sums_u, out[r], val_a, val_b, val_max)
    return out


def _as_batch(w, u):
    w = np.asarray(w, dtype=np.float64)
    u = np.asarray(u, dtype=np.float64)
    if w.ndim not in (2, 3) or w.shape[-1] != 2 or w.shape != u.shape:
        raise InputError(f"w and u must have equal shapes (k, 2) or (R, k, 2); got {w.shape}, {u.shape}")
    return w.reshape((-1,) + w.shape[-2:]), u.reshape((-1,) + u.shape[-2:]), w.ndim == 2


def outputs_all_masks(w, u) -> np.ndarray:
    """N_W on every mask: shape (R, 16) (column 0, the empty set, is 0)."""
    w, u, _ = _as_batch(w, u)
    return _outputs_all_masks(w, u, VAL_A, VAL_B, VAL_MAX)


def network_output(w, u, x) -> np.ndarray:
    """N_W(x) of Eq. 2 (Eq. 1 when d = 1) for filters w, u of shape (k, 2) or (R, k, 2).

    ``x`` holds points of shape (..., d, 2); returns shape ``x.shape[:-2]`` for a
    single network, or (R,) + that for a batch.
    """
    w, u, single = _as_batch(w, u)
    out = outputs_all_masks(w, u)[:, point_masks(x)]
    return out[0] if single else out


def test_error_exact(outputs: np.ndarray, joint_probs: np.ndarray) -> np.ndarray:
    """Exact test error sum_M P(y, M)·[y·N(M) <= 0] from N on all masks (R, 16)."""
    wrong_neg = (-outputs <= 0).astype(float)
    wrong_pos = (outputs <= 0).astype(float)
    return wrong_neg @ joint_probs[0] + wrong_pos @ joint_probs[1]


def recovers_f_star(outputs: np.ndarray, masks=ALL_MASKS) -> np.ndarray:
    """Whether sign N_W(M) = f*(M) on every given mask (R,) -- Theorems 6.3 / 6.4."""
    masks = np.asarray(masks)
    return np.all(outputs[:, masks] * mask_label(masks) > 0, axis=1)


@dataclass(frozen=True)
class Groups:
    """A training set reduced to groups of identical points (same mask and label).

    Arrays have shape (Rd, G) with Rd = 1 (shared) or R (one set per replica);
    padding groups have weight and count 0.
    """

    mask: np.ndarray  # int64
    y: np.ndarray  # float64, ±1
    weight: np.ndarray  # float64, sum of the loss weights of the group's points
    margin: np.ndarray  # float64
    count: np.ndarray  # float64, number of points


def point_loss_weights(y, problem: str = "xord", gamma: float | None = None):
    """Per-point loss weight and margin: the single definition of the training loss.

    ``'xord'`` (Eq. 4): a positive has weight 1/(number of positives) and margin
    ``gamma`` (default 8, the paper's analysis needs gamma >= 8), a negative weight
    1/(number of negatives) and margin 1. ``'xor'`` (Sec. 3.1): weight 1 and margin 1
    for every point (``gamma``, if given, is the positives' margin).
    Returns (weight, margin), each shaped like ``y``.
    """
    y = np.asarray(y)
    if problem not in ("xor", "xord"):
        raise InputError(f"problem must be one of xor, xord; got {problem!r}")
    if gamma is None:
        gamma = 8.0 if problem == "xord" else 1.0
    gamma = check_float("gamma", gamma, 0, low_open=True)
    pos = y > 0
    margin = np.where(pos, gamma, 1.0)
    if problem == "xor":
        return np.ones(y.shape), margin
    n_pos = np.maximum(pos.sum(axis=-1, keepdims=True), 1)
    n_neg = np.maximum((~pos).sum(axis=-1, keepdims=True), 1)
    return np.where(pos, 1.0 / n_pos, 1.0 / n_neg), margin


def loss_groups(x, y, problem: str = "xord", gamma: float | None = None) -> Groups:
    """Reduce training points to loss groups (weights from :func:`point_loss_weights`).

    ``x`` has shape (n, d, 2) or (R, n, d, 2); ``y`` (n,) or (R, n).
    """
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim == 3:
        x, y = x[None], y[None]
    if x.ndim != 4 or x.shape[-1] != 2 or y.shape != x.shape[:2]:
        raise InputError(f"x must have shape (n, d, 2) or (R, n, d, 2) with y (n,) or (R, n); got {x.shape}, {y.shape}")
    if not np.all(np.abs(y) == 1):
        raise InputError("labels y must be ±1")
    weight, margin = point_loss_weights(y, problem, gamma)
    Rd, n = y.shape
    keys = point_masks(x) * 2 + (y > 0)  # (mask, label) pair as 0..31
    flat = (np.arange(Rd)[:, None] * 32 + keys).ravel()
    count = np.bincount(flat, minlength=Rd * 32).reshape(Rd, 32).astype(float)
    wsum = np.bincount(flat, weights=weight.ravel(), minlength=Rd * 32).reshape(Rd, 32)
    msum = np.bincount(flat, weights=margin.ravel(), minlength=Rd * 32).reshape(Rd, 32)
    G = int((count > 0).sum(axis=1).max())
    order = np.argsort(count == 0, axis=1, kind="stable")[:, :G]  # present keys first
    take = lambda a: np.take_along_axis(a, order, axis=1)  # noqa: E731
    cnt = take(count)
    present = cnt > 0
    key = order
    return Groups(
        mask=np.where(present, key // 2, 1).astype(np.int64),
        y=np.where(key % 2 == 1, 1.0, -1.0),
        weight=take(wsum),
        margin=np.where(present, take(msum) / np.maximum(cnt, 1), 1.0),
        count=cnt,
    )



def loss_and_grad(w, u, groups: Groups) -> tuple[float, np.ndarray, np.ndarray]:
    """Loss and its closed-form subgradient for one network (w, u of shape (k, 2)).

    ``groups`` must be shared (Rd = 1). Returns (loss, dloss/dw, dloss/du).
    """
    w = np.asarray(w, dtype=np.float64)
    u = np.asarray(u, dtype=np.float64)
    k = w.shape[0]
    cls_w, cls_u = np.empty(k, np.int64), np.empty(k, np.int64)
    sums_w, sums_u = np.empty((8, 3)), np.empty((8, 3))
    ca, cb = np.empty(8), np.empty(8)
    out_n = np.empty(groups.mask.shape[1])
    loss = loss_grad_classes(w, u, groups.mask[0], groups.y[0], groups.weight[0],
                             groups.margin[0], cls_w, cls_u, sums_w, sums_u, ca, cb, out_n,
                             VAL_A, VAL_B, VAL_MAX, GRAD_A, GRAD_B)
    grads = []
    for filters, cls, sign in ((w, cls_w, 1.0), (u, cls_u, -1.0)):
        ga, gb = np.empty(k), np.empty(k)
        filter_grad(filters, cls, ca, cb, sign, ga, gb)
        grads.append(np.stack([ga + gb, ga - gb], axis=1))
    return float(loss), grads[0], grads[1]
