"""The networks of Eq. 1 and Eq. 2, their losses and closed-form subgradients.

The network, with output scale alpha (1 in the paper),
N_W(x) = alpha sum_{j=1}^k [max_l sigma(w_j·x_l) - max_l sigma(u_j·x_l)], is trained on a
loss sum_i w_i l(N(x_i); y_i, m_i) with per-point weight w_i and margin m_i
(:func:`point_loss_weights`) and l one of (:func:`point_loss`): the hinge of Eq. 4
max(0, m - y n), the squared loss (1/2)(n - y m)^2, or the logistic loss log(1 + e^{-y n}).

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
and the loss gradient of every filter follows from 8 class coefficients. The loss
enters only through dl/dN on each loss group (:func:`group_loss`): the class
coefficients are sum over groups of (group weight) (dl/dN) alpha (GRAD_A / GRAD_B).

The XOR network of Eq. 1 is the case d = 1: sigma(w·x) with x a single pattern.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic, overload

from xordsim import _jit  # noqa: F401  (first: the package's kernel cache, _jit.py)
from xordsim._validate import InputError, check_choice, check_float
from xordsim.config import LOSSES, default_gamma
from xordsim.patterns import ALL_MASKS, mask_label, point_masks

N_CLASSES = 8

#: Loss codes of the kernels, in the order of :data:`xordsim.config.LOSSES`.
HINGE, SQUARED, LOGISTIC = 0, 1, 2
LOSS_CODES = {name: code for code, name in enumerate(LOSSES)}


def loss_code(loss: str) -> int:
    """The kernels' code of the loss named ``loss`` (one of :data:`~xordsim.config.LOSSES`)."""
    return LOSS_CODES[check_choice("loss", loss, LOSSES)]


def check_output_scale(output_scale) -> float:
    """``output_scale`` (alpha) as a float; it must be finite and > 0."""
    return check_float("output_scale", output_scale, 0, low_open=True)


def _build_tables():
    """Tables of the reduction, indexed by sign class ab = 2[s<0] + [t<0] (a = p1 or p3,
    b = p2 or p4), class c = 2 ab + [b wins over a when both are present], and mask M.

    SEL[ab, M]: which per-class sum gives the filter's value on M (0: none, 1: |s|,
    2: |t|, 3: max(|s|, |t|)). GRAD_A[c, M] / GRAD_B[c, M]: 1 if side a / b receives
    the subgradient on M (the argmax pattern; ties -> lowest index).
    """
    sel = np.zeros((4, 16), dtype=np.int64)
    grad_a = np.zeros((N_CLASSES, 16))
    grad_b = np.zeros((N_CLASSES, 16))
    for c in range(N_CLASSES):
        ab, b_wins = c >> 1, c & 1
        a = 0 if ab >> 1 == 0 else 2
        b = 1 if ab & 1 == 0 else 3
        for M in range(16):
            in_a, in_b = bool(M >> a & 1), bool(M >> b & 1)
            sel[ab, M] = 3 if in_a and in_b else (1 if in_a else (2 if in_b else 0))
            grad_a[c, M] = in_a and not (in_b and b_wins)
            grad_b[c, M] = in_b and not (in_a and not b_wins)
    return sel, grad_a, grad_b


SEL, GRAD_A, GRAD_B = _build_tables()


class Tables(NamedTuple):
    """The reduction's constant tables for the kernels: SEL (4, 16) int64, GRAD_A and
    GRAD_B (8, 16)."""

    sel: np.ndarray
    grad_a: np.ndarray
    grad_b: np.ndarray


TABLES = Tables(SEL, GRAD_A, GRAD_B)


class LossGroups(NamedTuple):
    """Loss groups as the kernels read them (see :class:`Groups`): mask int64, y, weight,
    margin, count float64, each (G,) for one training set or (Rd, G) for all of them."""

    mask: np.ndarray
    y: np.ndarray
    weight: np.ndarray
    margin: np.ndarray
    count: np.ndarray


class Scratch(NamedTuple):
    """Working arrays of one network: its filters in (s, t) coordinates sw, tw, su, tu (k,),
    the class sums D (4, 4), the class coefficients coef_a, coef_b (8,), and N_W on every
    group out_n (G,)."""

    sw: np.ndarray
    tw: np.ndarray
    su: np.ndarray
    tu: np.ndarray
    D: np.ndarray
    coef_a: np.ndarray
    coef_b: np.ndarray
    out_n: np.ndarray


@njit(cache=True, inline="always")
def class_flags(s: float, t: float):
    """(a = p3, b = p4, b wins over a) for a filter with s = w·p1, t = w·p2.

    a is the pattern of {p1, p3} with response |s| (p1 when s = 0), b that of {p2, p4}
    with response |t|; b wins when |t| > |s|, or on a tie when its index is lower
    (a = p3, b = p2): argmax ties go to the lowest pattern index.
    """
    abs_s, abs_t = abs(s), abs(t)
    s_neg = s < 0.0
    t_neg = t < 0.0
    b_wins = abs_t > abs_s or (abs_t == abs_s and s_neg and not t_neg)
    return s_neg, t_neg, b_wins


@njit(cache=True)
def channel_class(s: float, t: float) -> int:
    """Class c = 4 [a = p3] + 2 [b = p4] + [b wins] of a filter (see :func:`class_flags`)."""
    s_neg, t_neg, b_wins = class_flags(s, t)
    return 4 * s_neg + 2 * t_neg + b_wins


#: Reassociation lets LLVM vectorize the sums over filters; NaN/inf semantics are kept.
FASTMATH = {"reassoc", "contract", "nsz", "arcp"}


@njit(cache=True, fastmath=FASTMATH)
def accumulate(s, t, sign, D):
    """Add ``sign`` times the per-class sums of |s|, |t| and max(|s|, |t|) of the filters
    (s, t of shape (k,)) to columns 1..3 of ``D`` (4, 4), rows = sign class
    2 [a = p3] + [b = p4]. Returns sum_j max(|s_j|, |t_j|) (NaN or inf if a response is)."""
    a0 = a1 = a2 = a3 = 0.0
    b0 = b1 = b2 = b3 = 0.0
    m0 = m1 = m2 = m3 = 0.0
    for j in range(s.shape[0]):
        sj, tj = s[j], t[j]
        abs_s, abs_t = abs(sj), abs(tj)
        mx = max(abs_s, abs_t)
        s_neg = 1.0 if sj < 0.0 else 0.0
        t_neg = 1.0 if tj < 0.0 else 0.0
        f0 = (1.0 - s_neg) * (1.0 - t_neg)
        f1 = (1.0 - s_neg) * t_neg
        f2 = s_neg * (1.0 - t_neg)
        f3 = s_neg * t_neg
        a0 += f0 * abs_s
        a1 += f1 * abs_s
        a2 += f2 * abs_s
        a3 += f3 * abs_s
        b0 += f0 * abs_t
        b1 += f1 * abs_t
        b2 += f2 * abs_t
        b3 += f3 * abs_t
        m0 += f0 * mx
        m1 += f1 * mx
        m2 += f2 * mx
        m3 += f3 * mx
    D[0, 1] += sign * a0
    D[1, 1] += sign * a1
    D[2, 1] += sign * a2
    D[3, 1] += sign * a3
    D[0, 2] += sign * b0
    D[1, 2] += sign * b1
    D[2, 2] += sign * b2
    D[3, 2] += sign * b3
    D[0, 3] += sign * m0
    D[1, 3] += sign * m1
    D[2, 3] += sign * m2
    D[3, 3] += sign * m3
    return m0 + m1 + m2 + m3


@njit(cache=True, inline="always")
def mask_output(D, M, sel) -> float:
    """N_W on mask M: sum over sign classes of the selected column of ``D``."""
    return D[0, sel[0, M]] + D[1, sel[1, M]] + D[2, sel[2, M]] + D[3, sel[3, M]]


@njit(cache=True, inline="always")
def hinge_active(weight, margin, y, n) -> bool:
    """Whether a group (loss weight, margin, label y) misses its margin at output n:
    weight > 0 and margin - y n > 0. For the hinge that is where it is active (the counters
    a_i(t), a+(t) count these steps); every loss counts the same event."""
    return weight > 0.0 and margin - y * n > 0.0


@njit(cache=True, inline="always")
def point_loss(kind, n, y, margin):
    """Loss of one point of unit weight at output n, and its derivative in n.

    ``kind`` is :data:`HINGE`, :data:`SQUARED` or :data:`LOGISTIC`; y = +-1 the label and
    m = ``margin`` (gamma for positives, 1 for negatives: :func:`point_loss_weights`):

    * hinge (Eq. 4): l = max(0, m - y n), dl/dn = -y where m - y n > 0, else 0 (the
      subgradient at the kink is 0);
    * squared: l = (1/2) (n - t)^2 with target t = y m (gamma for positives, -1 for
      negatives), dl/dn = n - t;
    * logistic: l = log(1 + e^{-y n}) = softplus(-y n), computed stably as
      max(-z, 0) + log1p(e) with z = y n and e = e^{-|z|}, and dl/dn = -y / (1 + e^{z}),
      as -y e / (1 + e) for z > 0 and -y / (1 + e) otherwise (the margin is unused).

    Returns (l, dl/dn).
    """
    if kind == HINGE:
        slack = margin - y * n
        if slack > 0.0:
            return slack, -y
        return 0.0, 0.0
    if kind == SQUARED:
        r = n - y * margin
        return 0.5 * r * r, r
    z = y * n
    e = np.exp(-abs(z))
    return max(-z, 0.0) + np.log1p(e), -y * (e if z > 0.0 else 1.0) / (1.0 + e)


class HingeLoss(NamedTuple):
    """The hinge loss (Eq. 4) of a network with output scale ``alpha``, as the kernels take
    it. Each loss is its own type (:data:`LOSS_TYPES`), so that every kernel that takes one
    is compiled once per loss, with that loss's own loop (:func:`group_loss`)."""

    alpha: float


class SquaredLoss(NamedTuple):
    """The squared loss with output scale ``alpha`` (see :class:`HingeLoss`)."""

    alpha: float


class LogisticLoss(NamedTuple):
    """The logistic loss with output scale ``alpha`` (see :class:`HingeLoss`)."""

    alpha: float


#: The kernels' loss type of each loss code (the order of :data:`xordsim.config.LOSSES`).
LOSS_TYPES = (HingeLoss, SquaredLoss, LogisticLoss)


def kernel_loss(loss: str = "hinge", output_scale: float = 1.0):
    """The loss named ``loss`` with output scale alpha = ``output_scale`` as the kernels take
    it: a :class:`HingeLoss`, :class:`SquaredLoss` or :class:`LogisticLoss`."""
    return LOSS_TYPES[loss_code(loss)](check_output_scale(output_scale))


def kernel_groups(groups: LossGroups, loss) -> LossGroups:
    """The loss groups as :func:`group_loss` reads them for ``loss`` (:func:`kernel_loss`).

    For the hinge the output scale is folded into the groups, W max(0, m - y alpha N) =
    (alpha W) max(0, m / alpha - y N): weights times alpha, margins divided by alpha, so
    that the hinge's loop runs on the unscaled network exactly as the paper's (at
    alpha = 1 the groups are returned as they are, so nothing changes bit for bit). The
    other losses read the groups as they are and apply alpha in their loop.
    """
    if isinstance(loss, HingeLoss) and loss.alpha != 1.0:
        return groups._replace(weight=groups.weight * loss.alpha,
                               margin=groups.margin / loss.alpha)
    return groups


@njit(cache=True)
def group_loss(sc, groups, tables, active, loss):
    """The training loss over groups of identical points, and its derivative.

    loss = sum_g W_g l(alpha N_g; y_g, m_g), with W_g the sum of the loss weights of the
    group's points, m_g their margin, l the loss (:func:`point_loss`) and alpha its output
    scale -- both given by ``loss``, a :class:`HingeLoss`, :class:`SquaredLoss` or
    :class:`LogisticLoss` (:func:`kernel_loss`); N_g is the unscaled network on the
    group's mask.

    ``sc`` is a :class:`Scratch` whose ``D`` holds the class sums (:func:`forward`),
    ``groups`` a :class:`LossGroups` of one training set (each (G,)) as
    :func:`kernel_groups` prepares it for ``loss``; ``tables`` is :data:`TABLES`. On
    return ``sc.coef_a[c]``, ``sc.coef_b[c]`` are the derivative of the loss with respect
    to the response of side a / b of a w filter of class c (negate for u filters):
    sum_g W_g (dl/dn)(alpha N_g) alpha GRAD_A[c, M_g]; ``sc.out_n[g]`` is the output on
    group g (alpha N_g; for the hinge N_g, its margins being divided by alpha), of the
    sign of the network's; ``active[g]`` is incremented where the group misses its
    margin, y alpha N_g < m_g (:func:`hinge_active`). Groups of weight 0 (padding)
    contribute nothing. Returns the loss.

    Compiled once per loss type, each with only its own loop (:func:`_hinge_groups` or
    :func:`_smooth_groups`): the paper's hinge path is as fast as without the others.
    """
    return _group_loss_of(loss, sc, groups, tables, active)


def _group_loss_of(loss, sc, groups, tables, active):  # pragma: no cover - compiled only
    """The loop of :func:`group_loss` for the type of ``loss`` (chosen at compile time)."""
    raise NotImplementedError("called from compiled code only")


@overload(_group_loss_of, jit_options={"cache": True})
def _group_loss_of_impl(loss, sc, groups, tables, active):
    cls = getattr(loss, "instance_class", None)
    if cls is HingeLoss:
        return lambda loss, sc, groups, tables, active: _hinge_groups(
            sc, groups, tables, active)
    if cls is SquaredLoss:
        return lambda loss, sc, groups, tables, active: _smooth_groups(
            sc, groups, tables, active, SQUARED, loss.alpha)
    if cls is LogisticLoss:
        return lambda loss, sc, groups, tables, active: _smooth_groups(
            sc, groups, tables, active, LOGISTIC, loss.alpha)
    return None


@njit(cache=True)
def _hinge_groups(sc, groups, tables, active):
    """:func:`group_loss` for the hinge (Eq. 4), on the unscaled network N_g with alpha
    folded into the groups (:func:`kernel_groups`): W max(0, m - y alpha N) =
    (alpha W) max(0, m / alpha - y N). Its loop is the paper's, unchanged."""
    D, coef_a, coef_b, out_n = sc.D, sc.coef_a, sc.coef_b, sc.out_n
    gmask, gy, gweight, gmargin = groups.mask, groups.y, groups.weight, groups.margin
    sel, grad_a, grad_b = tables.sel, tables.grad_a, tables.grad_b
    coef_a[:] = 0.0
    coef_b[:] = 0.0
    loss = 0.0
    for g in range(gmask.shape[0]):
        M = gmask[g]
        n = mask_output(D, M, sel)
        out_n[g] = n
        if hinge_active(gweight[g], gmargin[g], gy[g], n):
            active[g] += 1
            loss += gweight[g] * (gmargin[g] - gy[g] * n)
            dn = -gweight[g] * gy[g]  # d loss / d N on this group
            for c in range(8):
                coef_a[c] += dn * grad_a[c, M]
                coef_b[c] += dn * grad_b[c, M]
    return loss


@njit(cache=True)
def _smooth_groups(sc, groups, tables, active, kind, alpha):
    """:func:`group_loss` for the squared and logistic losses (``kind`` a constant)."""
    D, coef_a, coef_b, out_n = sc.D, sc.coef_a, sc.coef_b, sc.out_n
    gmask, gy, gweight, gmargin = groups.mask, groups.y, groups.weight, groups.margin
    sel, grad_a, grad_b = tables.sel, tables.grad_a, tables.grad_b
    coef_a[:] = 0.0
    coef_b[:] = 0.0
    loss = 0.0
    for g in range(gmask.shape[0]):
        M = gmask[g]
        n = alpha * mask_output(D, M, sel)
        out_n[g] = n
        weight = gweight[g]
        if not weight > 0.0:
            continue
        if hinge_active(weight, gmargin[g], gy[g], n):
            active[g] += 1
        value, slope = point_loss(kind, n, gy[g], gmargin[g])
        loss += weight * value
        dn = alpha * (weight * slope)  # d loss / d (unscaled N) on this group
        for c in range(8):
            coef_a[c] += dn * grad_a[c, M]
            coef_b[c] += dn * grad_b[c, M]
    return loss


@njit(cache=True)
def forward(sw, tw, su, tu, D):
    """Fill D = (class sums of w) - (class sums of u).

    Returns the larger over w and u of the mean filter response mean_j max(|s_j|, |t_j|)
    (NaN or inf if any response is), which the engine compares with ``max_weight``.
    """
    D[:] = 0.0
    size_w = accumulate(sw, tw, 1.0, D)
    size_u = accumulate(su, tu, -1.0, D)
    if not (size_w <= np.inf and size_u <= np.inf):
        return np.nan
    return max(size_w, size_u) / sw.shape[0]


@njit(cache=True, fastmath=FASTMATH)
def descend(s, t, coef_a, coef_b, scale):
    """One GD step on filters in (s, t) coordinates; ``scale`` = +-2 eta (w / u filters).

    The subgradient of a filter of class c is ga p1 + gb p2 with ga = coef_a[c] sign(s)
    (sigma'(0) = 0 kills a zero response), so s = w·p1 moves by -2 eta ga and t by
    -2 eta gb. The 8 coefficients are hoisted so that the loop vectorizes.
    Returns whether any filter moved.
    """
    ca0, ca1, ca2, ca3 = coef_a[0], coef_a[1], coef_a[2], coef_a[3]
    ca4, ca5, ca6, ca7 = coef_a[4], coef_a[5], coef_a[6], coef_a[7]
    cb0, cb1, cb2, cb3 = coef_b[0], coef_b[1], coef_b[2], coef_b[3]
    cb4, cb5, cb6, cb7 = coef_b[4], coef_b[5], coef_b[6], coef_b[7]
    moved = 0.0
    for j in range(s.shape[0]):
        sj, tj = s[j], t[j]
        s_neg, t_neg, b_wins = class_flags(sj, tj)
        if s_neg:
            if t_neg:
                a_c, b_c = (ca7, cb7) if b_wins else (ca6, cb6)
            else:
                a_c, b_c = (ca5, cb5) if b_wins else (ca4, cb4)
        else:
            if t_neg:
                a_c, b_c = (ca3, cb3) if b_wins else (ca2, cb2)
            else:
                a_c, b_c = (ca1, cb1) if b_wins else (ca0, cb0)
        ds = scale * a_c * (1.0 if sj > 0.0 else (-1.0 if s_neg else 0.0))
        dt = scale * b_c * (1.0 if tj > 0.0 else (-1.0 if t_neg else 0.0))
        moved += abs(ds) + abs(dt)
        s[j] = sj - ds
        t[j] = tj - dt
    return moved != 0.0


# ----------------------------------------------------------------------------------------
# The channel-SIMD kernel's primitives (xordsim.engine picks them for large k; the
# derivation is in :func:`descend_simd`). Per replica the same arithmetic as descend /
# forward / group_loss, written so that LLVM vectorises every loop over channels: no
# branch and no gather in a channel loop, boolean masks combined with & and | (a
# short-circuit `and` / `or` keeps a loop scalar), constant tables laid out by mask.


def _check_grad_structure() -> None:
    """The facts :func:`descend_simd` folds in, checked on the tables themselves: where b
    loses, side a receives the subgradient exactly when a is in the mask (GRAD_A of the two
    classes with the same a are equal columns), and where b wins, side b exactly when b is
    in the mask; so the 8 per-class coefficients of each side take only 6 distinct values."""
    for c in range(N_CLASSES):
        ab, b_wins = c >> 1, c & 1
        a, b = (0 if ab >> 1 == 0 else 2), (1 if ab & 1 == 0 else 3)
        masks = np.arange(16)
        if not b_wins:
            assert np.array_equal(GRAD_A[c], (masks >> a & 1).astype(float))
        else:
            assert np.array_equal(GRAD_B[c], (masks >> b & 1).astype(float))


_check_grad_structure()

#: GRAD_BY_MASK[M] = (GRAD_A[:, M], GRAD_B[:, M]) (16, 16): a group's 16 coefficient
#: increments contiguous, so that adding them vectorises.
GRAD_BY_MASK = np.ascontiguousarray(np.concatenate([GRAD_A, GRAD_B]).T)


class SimdTables(NamedTuple):
    """The channel-SIMD kernel's tables: the reduction's ``grad`` (:data:`GRAD_BY_MASK`;
    N on each mask comes from :func:`forward_simd`'s table, :func:`mask_output_simd`), and
    ``one`` = [1.0], the factor :func:`forward_simd` reads from memory (its ``one``)."""

    grad: np.ndarray
    one: np.ndarray


SIMD_TABLES = SimdTables(GRAD_BY_MASK, np.ones(1))


#: The channel-SIMD kernel pads each layer to a multiple of this many channels with zero
#: filters (s = t = 0), which add 0 to every class sum and never move (sigma'(0) = 0), so
#: that every channel loop runs whole SIMD vectors (no scalar remainder loop).
SIMD_PAD = 8


def padded_channels(k: int) -> int:
    """The number of channels of the channel-SIMD kernel's arrays for k filters: k rounded
    up to a multiple of :data:`SIMD_PAD`."""
    return -(-k // SIMD_PAD) * SIMD_PAD


@njit(cache=True, inline="always")
def _add_responses(acc, s, t, one):
    """``acc`` (8 sums) plus what a channel (s, t) adds to :func:`forward_simd`'s sums: its
    responses to p1..p4 through the ReLU, r1 = sigma(s), r2 = sigma(t), r3 = sigma(-s),
    r4 = sigma(-t) (r3 = r1 - s and r4 = r2 - t, exact), and the four maxima
    max(r_a, r_b) of an a-side (p1, p3) and a b-side (p2, p4) response. No branch, no
    mask: the loop vectorises. All eight are added as x * ``one`` + acc, ``one`` = 1.0
    (:func:`forward_simd` says why)."""
    r1 = max(s, 0.0)
    r2 = max(t, 0.0)
    r3 = r1 - s
    r4 = r2 - t
    return (r1 * one + acc[0], r2 * one + acc[1], r3 * one + acc[2], r4 * one + acc[3],
            max(r1, r2) * one + acc[4], max(r1, r4) * one + acc[5],
            max(r3, r2) * one + acc[6], max(r3, r4) * one + acc[7])


@njit(cache=True, fastmath=FASTMATH)
def forward_simd(sw, tw, su, tu, D, k, one=1.0):
    """N_W on every mask M, written to ``D[M >> 2, M & 3]`` (:func:`mask_output_simd`;
    ``D[0, 0]`` = 0, the empty mask), from 8 channel sums per layer in one loop over the
    channels of w and u; returns the larger mean filter response of w and u over their
    ``k`` channels (the arrays may be padded with zero channels,
    :func:`padded_channels`), NaN if a sum is not finite.

    **Derivation.** Channel j's value on mask M is max over the patterns l in M of
    r_l = sigma(w_j·p_l), where r1 = sigma(s), r2 = sigma(t), r3 = sigma(-s),
    r4 = sigma(-t) (:func:`descend_simd`'s s, t). Of r1 and r3 one is 0, and of r2 and
    r4, so for A = M ∩ {p1, p3} and B = M ∩ {p2, p4} the value is
    max(sum_A r_a, sum_B r_b), which equals sum_{a in A, b in B} max(r_a, r_b)
    - (|B| - 1) sum_A r_a - (|A| - 1) sum_B r_b when A and B are not empty (and
    sum_A r_a or sum_B r_b when one is): a fixed linear combination of the 8 sums
    R_l = sum_j r_l and P_ab = sum_j max(r_a, r_b) (:data:`MASK_SUMS`, checked against
    :func:`forward` in the tests). Per channel that is 4 responses, 4 maxima and 8 adds
    (the class-sum form of :func:`forward` selects each contribution by a mask: 12 masked
    sums); N on the 15 masks then costs about 20 adds per step. The sums are
    reassociated, so results agree with :func:`forward` to rounding (~1e-16 relative,
    not bit for bit).

    **``one``** (1.0; the kernel passes :data:`SIMD_TABLES`.one[0], read from memory):
    the eight adds per channel are written x * one + acc, which is exactly x + acc, and
    which fastmath's ``contract`` compiles to fused multiply-adds. The loop is bound by the
    floating-point add pipes, which also take the maxima and subtractions; on AMD Zen
    cores the multiply-adds run on two other pipes, which leaves 6 maxima and 2
    subtractions on the add pipes against 8 multiply-adds on the others (measured with
    four of the eight as multiply-adds: 351 -> 283 cycles a call at 104 channels; all
    eight: a further +5% at k = 20, +8% at k = 50, +11-12% at k = 100 and 120 in the
    kernel; bit-identical results); where adds and multiply-adds share pipes (Intel,
    ARM) it costs nothing. A literal 1.0 (the default) is folded away by the compiler:
    plain adds, the same numbers."""
    w8 = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    u8 = w8
    for j in range(sw.shape[0]):  # (the tuples are registers: as fast as 16 named sums)
        w8 = _add_responses(w8, sw[j], tw[j], one)
        u8 = _add_responses(u8, su[j], tu[j], one)
    r1w, r2w, r3w, r4w, p12w, p14w, p32w, p34w = w8
    r1u, r2u, r3u, r4u, p12u, p14u, p32u, p34u = u8
    size_w = (p12w + p14w + p32w + p34w) - (r1w + r2w + r3w + r4w)
    size_u = (p12u + p14u + p32u + p34u) - (r1u + r2u + r3u + r4u)
    R1, R2, R3, R4 = r1w - r1u, r2w - r2u, r3w - r3u, r4w - r4u
    P12, P14, P32, P34 = p12w - p12u, p14w - p14u, p32w - p32u, p34w - p34u
    # MASK_SUMS, written out (bit l - 1 of M is p_l)
    D[0, 0] = 0.0
    D[0, 1] = R1
    D[0, 2] = R2
    D[0, 3] = P12
    D[1, 0] = R3
    D[1, 1] = R1 + R3
    D[1, 2] = P32
    D[1, 3] = (P12 + P32) - R2
    D[2, 0] = R4
    D[2, 1] = P14
    D[2, 2] = R2 + R4
    D[2, 3] = (P12 + P14) - R1
    D[3, 0] = P34
    D[3, 1] = (P14 + P34) - R4
    D[3, 2] = (P32 + P34) - R3
    D[3, 3] = (P12 + P14 + P32 + P34) - (R1 + R2 + R3 + R4)
    if not (size_w <= np.inf and size_u <= np.inf):
        return np.nan
    return max(size_w, size_u) / k


@njit(cache=True, inline="always")
def mask_output_simd(D, M) -> float:
    """N_W on mask M from :func:`forward_simd`'s table (N on all 16 masks)."""
    return D[M >> 2, M & 3]


def _mask_sums() -> np.ndarray:
    """MASK_SUMS[M] = the coefficients of N(M) on the 8 sums (R1, R2, R3, R4, P12, P14,
    P32, P34) of :func:`forward_simd` (its derivation), from the pattern sets."""
    table = np.zeros((16, 8))
    pair = {(0, 1): 4, (0, 3): 5, (2, 1): 6, (2, 3): 7}
    for M in range(1, 16):
        A = [a for a in (0, 2) if M >> a & 1]
        B = [b for b in (1, 3) if M >> b & 1]
        if not B or not A:
            for l in A + B:
                table[M, l] = 1.0
            continue
        for a in A:
            for b in B:
                table[M, pair[a, b]] += 1.0
        for a in A:
            table[M, a] -= len(B) - 1
        for b in B:
            table[M, b] -= len(A) - 1
    return table


#: The coefficients of N on each mask in :func:`forward_simd`'s 8 sums (documentation and
#: tests; the kernel has them written out).
MASK_SUMS = _mask_sums()


@intrinsic
def _f64_bits(typingctx, x):
    """The bits of a float64 as an int64 (an LLVM bitcast: no instruction of its own)."""
    if x is not types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(signature.return_type))

    return types.int64(types.float64), codegen


#: Every bit of a float64 but its sign.
_MAGNITUDE = np.int64(0x7FFF_FFFF_FFFF_FFFF)


@njit(cache=True, fastmath=FASTMATH, inline="always")
def descend_simd(F, coef_a, coef_b, scale):
    """:func:`descend` of w (``scale`` = 2 eta) and of u (-2 eta), bit for bit (up to the
    sign of a zero response), as one loop over the channels that vectorises: one GD step
    on filters in (s, t) coordinates, ``F`` (4, k) = the rows sw, tw, su, tu (updated in
    place).

    **One array, not four.** The loop reads and writes all four rows; given as four arrays
    LLVM cannot prove they do not overlap and tests every pair before the vector loop
    (12 pointer comparisons and branches a call), while the rows of one C-contiguous array
    lie at fixed offsets of one base. Measured at 24 channels (k = 20): 140 -> 113-121
    cycles a call; at 104: 380 -> 349 (times converted at the nominal 2.596 GHz; the same
    arithmetic, bit for bit).

    **Derivation (the (s, t) bilinear form of the max-pool network).** With
    p1 = (1, 1), p2 = (1, -1), p3 = -p1, p4 = -p2 (:mod:`xordsim.patterns`) channel j
    responds s_j = w_j·p1, t_j = w_j·p2, -s_j, -t_j to the four patterns, and
    w_j = ((s_j + t_j)/2, (s_j - t_j)/2). On a point of pattern set M the max-pool over
    its d patterns keeps max_{l in M} sigma(w_j·p_l) = |s_j| if only a (the pattern of
    {p1, p3} with response |s_j|) is in M, |t_j| if only b, max(|s_j|, |t_j|) if both, 0
    if neither: N_W on every mask is a function of 12 channel sums (|s|, |t|,
    max(|s|, |t|) over the channels of each sign class ab = 2 [s < 0] + [t < 0], w minus
    u; :func:`forward_simd`). The subgradient of the loss with respect to w_j is
    ga_j p1 + gb_j p2 with ga_j = coef_a[c_j] sign(s_j), gb_j = coef_b[c_j] sign(t_j),
    c_j = 2 ab + [b wins] and coef = sum_g W_g l'(N_g) GRAD[c, M_g] over the loss
    groups (:func:`group_loss_simd`); as p1·p1 = p2·p2 = 2 and p1·p2 = 0, GD moves s_j by
    -scale ga_j and t_j by -scale gb_j. So a step is, per channel, the choice of two of
    the per-class step sizes, two subtractions, and the new class sums.

    Folded in here: the sign of s_j is -1 on the classes with s < 0 and +1 on the others
    (0 where s_j = 0, sigma'(0) = 0), so it enters the per-class steps
    e_c = scale coef_a[c] sign_c once per step; and since where b loses side a gets the
    subgradient exactly when a is in the mask (and where b wins, side b exactly when b
    is; checked on the tables, :func:`_check_grad_structure`), e_c of a losing b depends
    on s's sign only and f_c of a winning b on t's only: each step size is a tree of
    five selects, with the masks combined bitwise, so the loop has no branch and no
    gather and LLVM vectorises it across channels (SIMD lanes = channels).

    Returns whether any filter moved (some ds or dt != 0): the OR of the bit patterns of
    every ds and dt, its sign bit dropped (a step of -0.0 is no move), is not zero. Two
    integer ORs a channel instead of two absolute values and two floating-point adds
    into one running sum: the same answer (a sum of non-negative terms is zero only when
    every term is; NaN and inf have non-zero patterns), and measured 594 -> 513 cycles a
    call at 104 channels, 250-324 -> 214-246 at 24 (micro-benchmark, one thread, 3.65
    GHz).

    Inlined into the kernel (``inline="always"``): two builds of the engine compiled in one
    process and run alternately (one thread, CPU time, R = 400, T = 2000, medians of 6)
    gave 1.26 -> 1.43e7 replica-steps/s at k = 8, 9.5 -> 10.5e6 at k = 20, 5.9 -> 6.3e6 at
    k = 50, 3.44 -> 3.62e6 at k = 120, the same filters. (Inlining forward_simd as well was
    2.4x slower at k = 100; inlining the group stage changed nothing.)
    """
    e0, e1, e3, e4, e5, e7, f0, f1, f2, f3, f4, f6 = class_steps(coef_a, coef_b, scale)
    moved = 0
    for j in range(F.shape[1]):
        ds, dt = _channel_step(F[0, j], F[1, j], e0, e1, e3, e4, e5, e7, f0, f1, f2, f3, f4,
                               f6)
        moved |= _f64_bits(ds) | _f64_bits(dt)
        F[0, j] -= ds
        F[1, j] -= dt
        # u: the step of scale -2 eta is -(ds, dt) exactly
        ds, dt = _channel_step(F[2, j], F[3, j], e0, e1, e3, e4, e5, e7, f0, f1, f2, f3, f4,
                               f6)
        moved |= _f64_bits(ds) | _f64_bits(dt)
        F[2, j] += ds
        F[3, j] += dt
    return (moved & _MAGNITUDE) != 0


@njit(cache=True, inline="always")
def class_steps(coef_a, coef_b, scale):
    """The 12 distinct per-class steps of :func:`descend_simd`, (e0, e1, e3, e4, e5, e7,
    f0, f1, f2, f3, f4, f6) = scale times the class coefficients with the sign of s (e)
    or t (f) of the class folded in (exact: a negation). Where b loses, e depends on the
    sign of s only (e0 = e2, e4 = e6); where b wins, f on the sign of t only (f1 = f5,
    f3 = f7): :func:`_check_grad_structure`."""
    e0 = scale * coef_a[0]  # b loses
    e4 = -(scale * coef_a[4])
    e1 = scale * coef_a[1]  # b wins: on both signs
    e3 = scale * coef_a[3]
    e5 = -(scale * coef_a[5])
    e7 = -(scale * coef_a[7])
    f1 = scale * coef_b[1]  # b wins
    f3 = -(scale * coef_b[3])
    f0 = scale * coef_b[0]  # b loses: on both signs
    f2 = -(scale * coef_b[2])
    f4 = scale * coef_b[4]
    f6 = -(scale * coef_b[6])
    return e0, e1, e3, e4, e5, e7, f0, f1, f2, f3, f4, f6


@njit(cache=True, inline="always")
def _channel_step(sj, tj, e0, e1, e3, e4, e5, e7, f0, f1, f2, f3, f4, f6):
    """(ds, dt) of one w channel for the per-class steps of :func:`descend_simd`."""
    abs_s, abs_t = abs(sj), abs(tj)
    s_neg = sj < 0.0
    t_neg = tj < 0.0
    # class_flags, bitwise: b wins when |t| > |s|, or on a tie when a = p3, b = p2
    b_wins = (abs_t > abs_s) | ((abs_t == abs_s) & s_neg & ~t_neg)
    # one select per statement: a nested conditional expression keeps the loop scalar
    ew_neg = e7 if t_neg else e5
    ew_pos = e3 if t_neg else e1
    e_win = ew_neg if s_neg else ew_pos
    e_lose = e4 if s_neg else e0
    f_win = f3 if t_neg else f1
    fl_neg = f6 if t_neg else f4
    fl_pos = f2 if t_neg else f0
    f_lose = fl_neg if s_neg else fl_pos
    e = e_win if b_wins else e_lose
    f = f_win if b_wins else f_lose
    ds = e if sj != 0.0 else 0.0
    dt = f if tj != 0.0 else 0.0
    return ds, dt


@njit(cache=True)
def _hinge_groups_simd(D, coef_a, coef_b, out_n, groups, tables, active):
    """:func:`_hinge_groups`: the same operations in the same order (N on each group read
    from :func:`forward_simd`'s table), with the 16 coefficient sums in local variables
    (registers) over the loop over groups instead of in memory, and the gradient table by
    mask (:data:`GRAD_BY_MASK`)."""
    gmask, gy, gweight, gmargin = groups.mask, groups.y, groups.weight, groups.margin
    grad = tables.grad
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    b0 = b1 = b2 = b3 = b4 = b5 = b6 = b7 = 0.0
    loss = 0.0
    for g in range(gmask.shape[0]):
        M = gmask[g]
        n = mask_output_simd(D, M)
        out_n[g] = n
        if hinge_active(gweight[g], gmargin[g], gy[g], n):
            active[g] += 1
            loss += gweight[g] * (gmargin[g] - gy[g] * n)
            dn = -gweight[g] * gy[g]
            r = grad[M]
            a0 += dn * r[0]
            a1 += dn * r[1]
            a2 += dn * r[2]
            a3 += dn * r[3]
            a4 += dn * r[4]
            a5 += dn * r[5]
            a6 += dn * r[6]
            a7 += dn * r[7]
            b0 += dn * r[8]
            b1 += dn * r[9]
            b2 += dn * r[10]
            b3 += dn * r[11]
            b4 += dn * r[12]
            b5 += dn * r[13]
            b6 += dn * r[14]
            b7 += dn * r[15]
    _store_coef(coef_a, coef_b, a0, a1, a2, a3, a4, a5, a6, a7, b0, b1, b2, b3, b4, b5, b6,
                b7)
    return loss


@njit(cache=True)
def _smooth_groups_simd(D, coef_a, coef_b, out_n, groups, tables, active, kind, alpha):
    """:func:`_smooth_groups` with the coefficient sums in registers (see
    :func:`_hinge_groups_simd`)."""
    gmask, gy, gweight, gmargin = groups.mask, groups.y, groups.weight, groups.margin
    grad = tables.grad
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    b0 = b1 = b2 = b3 = b4 = b5 = b6 = b7 = 0.0
    loss = 0.0
    for g in range(gmask.shape[0]):
        M = gmask[g]
        n = alpha * mask_output_simd(D, M)
        out_n[g] = n
        weight = gweight[g]
        if not weight > 0.0:
            continue
        if hinge_active(weight, gmargin[g], gy[g], n):
            active[g] += 1
        value, slope = point_loss(kind, n, gy[g], gmargin[g])
        loss += weight * value
        dn = alpha * (weight * slope)
        r = grad[M]
        a0 += dn * r[0]
        a1 += dn * r[1]
        a2 += dn * r[2]
        a3 += dn * r[3]
        a4 += dn * r[4]
        a5 += dn * r[5]
        a6 += dn * r[6]
        a7 += dn * r[7]
        b0 += dn * r[8]
        b1 += dn * r[9]
        b2 += dn * r[10]
        b3 += dn * r[11]
        b4 += dn * r[12]
        b5 += dn * r[13]
        b6 += dn * r[14]
        b7 += dn * r[15]
    _store_coef(coef_a, coef_b, a0, a1, a2, a3, a4, a5, a6, a7, b0, b1, b2, b3, b4, b5, b6,
                b7)
    return loss


@njit(cache=True, inline="always")
def _store_coef(coef_a, coef_b, a0, a1, a2, a3, a4, a5, a6, a7, b0, b1, b2, b3, b4, b5,
                b6, b7):
    """coef_a, coef_b from the 16 sums of a group loop."""
    coef_a[0], coef_a[1], coef_a[2], coef_a[3] = a0, a1, a2, a3
    coef_a[4], coef_a[5], coef_a[6], coef_a[7] = a4, a5, a6, a7
    coef_b[0], coef_b[1], coef_b[2], coef_b[3] = b0, b1, b2, b3
    coef_b[4], coef_b[5], coef_b[6], coef_b[7] = b4, b5, b6, b7


def _group_loss_simd_of(loss, sc, groups, tables, active):  # pragma: no cover
    """The loop of :func:`group_loss_simd` for the type of ``loss`` (compiled only)."""
    raise NotImplementedError("called from compiled code only")


@overload(_group_loss_simd_of, jit_options={"cache": True})
def _group_loss_simd_of_impl(loss, sc, groups, tables, active):
    cls = getattr(loss, "instance_class", None)
    if cls is HingeLoss:
        return lambda loss, sc, groups, tables, active: _hinge_groups_simd(
            sc.D, sc.coef_a, sc.coef_b, sc.out_n, groups, tables, active)
    if cls is SquaredLoss:
        return lambda loss, sc, groups, tables, active: _smooth_groups_simd(
            sc.D, sc.coef_a, sc.coef_b, sc.out_n, groups, tables, active, SQUARED,
            loss.alpha)
    if cls is LogisticLoss:
        return lambda loss, sc, groups, tables, active: _smooth_groups_simd(
            sc.D, sc.coef_a, sc.coef_b, sc.out_n, groups, tables, active, LOGISTIC,
            loss.alpha)
    return None


@njit(cache=True)
def group_loss_simd(sc, groups, tables, active, loss):
    """:func:`group_loss` for the channel-SIMD kernel (the same arguments, with ``D`` the
    table of :func:`forward_simd` and ``tables`` = :data:`SIMD_TABLES`): given the same N on
    each group, bit for bit. Returns the loss."""
    return _group_loss_simd_of(loss, sc, groups, tables, active)


@njit(cache=True)
def grad_sq_norm(s, t, coef_a, coef_b) -> float:
    """Squared norm of the loss gradient over filters given in (s, t) coordinates.

    The gradient of a filter of class c is ga p1 + gb p2 with ga = coef_a[c] sign(s),
    gb = coef_b[c] sign(t) (:func:`descend`), of squared norm 2 (ga^2 + gb^2) since
    p1·p1 = p2·p2 = 2 and p1·p2 = 0. The same for u filters (whose gradient is negated).
    """
    total = 0.0
    for j in range(s.shape[0]):
        c = channel_class(s[j], t[j])
        ga = coef_a[c] if s[j] != 0.0 else 0.0
        gb = coef_b[c] if t[j] != 0.0 else 0.0
        total += 2.0 * (ga * ga + gb * gb)
    return total


@njit(cache=True, parallel=True)
def _outputs_all_masks(sw, tw, su, tu, sel, alpha):
    R, k = sw.shape
    out = np.zeros((R, 16))
    for r in prange(R):
        D = np.zeros((4, 4))
        forward(sw[r], tw[r], su[r], tu[r], D)
        for M in range(1, 16):
            out[r, M] = alpha * mask_output(D, M, sel)
    return out


def to_st(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Filters (..., k, 2) -> (s, t) = (w·p1, w·p2), each (..., k)."""
    w = np.asarray(w, dtype=np.float64)
    return w[..., 0] + w[..., 1], w[..., 0] - w[..., 1]


def from_st(s: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_st`: w = ((s + t)/2, (s - t)/2)."""
    return np.stack([(s + t) * 0.5, (s - t) * 0.5], axis=-1)


def _as_batch(w, u):
    w = np.asarray(w, dtype=np.float64)
    u = np.asarray(u, dtype=np.float64)
    if w.ndim not in (2, 3) or w.shape[-1] != 2 or w.shape != u.shape:
        raise InputError(
            f"w and u must have equal shapes (k, 2) or (R, k, 2); got {w.shape}, {u.shape}"
        )
    return w.reshape((-1,) + w.shape[-2:]), u.reshape((-1,) + u.shape[-2:]), w.ndim == 2


def outputs_all_masks(w, u, output_scale: float = 1.0) -> np.ndarray:
    """N_W on every mask: shape (R, 16) (column 0, the empty set, is 0).

    ``output_scale`` alpha multiplies the network: N_W = alpha sum_j (...).
    """
    w, u, _ = _as_batch(w, u)
    return _outputs_all_masks(*to_st(w), *to_st(u), SEL, check_output_scale(output_scale))


def network_output(w, u, x, output_scale: float = 1.0) -> np.ndarray:
    """N_W(x) of Eq. 2 (Eq. 1 when d = 1) for filters w, u of shape (k, 2) or (R, k, 2).

    ``x`` holds points of shape (..., d, 2); returns shape ``x.shape[:-2]`` for a
    single network, or (R,) + that for a batch. ``output_scale`` alpha multiplies N.
    """
    w, u, single = _as_batch(w, u)
    out = outputs_all_masks(w, u, output_scale)[:, point_masks(x)]
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

    def arrays(self) -> LossGroups:
        """The same arrays (no copies) as the :class:`LossGroups` the kernels take."""
        return LossGroups(self.mask, self.y, self.weight, self.margin, self.count)


def resolve_gamma(problem: str, gamma: float | None) -> float:
    """The positives' margin: ``gamma`` if given (> 0), else 8 for XORD and 1 for XOR."""
    if gamma is None:
        return default_gamma(problem)
    return check_float("gamma", gamma, 0, low_open=True)


def point_loss_weights(y, problem: str = "xord", gamma: float | None = None):
    """Per-point loss weight and margin: the single definition of the training loss's
    weights (every loss of :func:`point_loss` sums w_i l(N(x_i); y_i, m_i)).

    ``'xord'`` (Eq. 4): a positive has weight 1/(number of positives) and margin
    ``gamma`` (default 8, the paper's analysis needs gamma >= 8), a negative weight
    1/(number of negatives) and margin 1. ``'xor'`` (Sec. 3.1): weight 1 and margin 1
    for every point (``gamma``, if given, is the positives' margin). The squared loss
    uses y_i m_i as the target of point i; the logistic loss ignores the margin.
    Returns (weight, margin), each shaped like ``y``.
    """
    y = np.asarray(y)
    if problem not in ("xor", "xord"):
        raise InputError(f"problem must be one of xor, xord; got {problem!r}")
    gamma = resolve_gamma(problem, gamma)
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
        raise InputError(
            "x must have shape (n, d, 2) or (R, n, d, 2) with y (n,) or (R, n); "
            f"got {x.shape}, {y.shape}"
        )
    if not np.all(np.abs(y) == 1):
        raise InputError("labels y must be ±1")
    weight, margin = point_loss_weights(y, problem, gamma)
    keys = point_masks(x) * 2 + (y > 0)  # (mask, label) pair as 0..31
    return _groups_from_sums(*_key_sums(keys, np.ascontiguousarray(weight, dtype=float),
                                        np.ascontiguousarray(margin, dtype=float)))


@njit(cache=True)
def _key_sums(keys, weight, margin):
    """Per training set and key (Rd, 32): the number of points, the sum of their loss
    weights and of their margins, each sum formed point by point in order (as
    :func:`numpy.bincount` forms it, so bit for bit the same)."""
    Rd, n = keys.shape
    count = np.zeros((Rd, 32))
    wsum = np.zeros((Rd, 32))
    msum = np.zeros((Rd, 32))
    for r in range(Rd):
        for i in range(n):
            key = keys[r, i]
            count[r, key] += 1.0
            wsum[r, key] += weight[r, i]
            msum[r, key] += margin[r, i]
    return count, wsum, msum


@njit(cache=True)
def _repeated_sums(values, counts):
    """``values[i, j]`` added ``counts[i, j]`` times to 0.0, one addition at a time: the
    float sum :func:`numpy.bincount` forms over identical points (so the result is
    bit-identical to :func:`loss_groups`)."""
    out = np.zeros(values.shape)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            s = 0.0
            v = values[i, j]
            for _ in range(counts[i, j]):
                s += v
            out[i, j] = s
    return out


def check_counts(counts) -> np.ndarray:
    """Training sets given as counts over the pattern sets, checked: (Rd, 2, 16) int64.

    ``counts`` (2, 16) or (Rd, 2, 16) of non-negative integers (row 0: y = -1, row 1:
    y = +1), none on the empty set (mask 0), at least one point per training set; anything
    else raises :class:`InputError`.
    """
    counts = np.asarray(counts)
    if counts.ndim == 2:
        counts = counts[None]
    if counts.ndim != 3 or counts.shape[1:] != (2, 16) or counts.shape[0] < 1:
        raise InputError(f"counts must have shape (2, 16) or (R, 2, 16); got {counts.shape}")
    if counts.dtype.kind not in "iu" or np.any(counts < 0):
        raise InputError("counts must be non-negative integers")
    if np.any(counts[:, :, 0] != 0):
        raise InputError("counts of the empty pattern set (mask 0) must be 0: every point "
                         "holds at least one pattern")
    if np.any(counts.sum(axis=(1, 2)) == 0):
        raise InputError("counts: every training set needs at least one point")
    return counts.astype(np.int64, copy=False)


def groups_from_counts(counts, problem: str = "xord", gamma: float | None = None) -> Groups:
    """Loss groups of training sets given as counts over the pattern sets, without points.

    ``counts`` has shape (2, 16) or (Rd, 2, 16): ``counts[r, 1, M]`` positives and
    ``counts[r, 0, M]`` negatives of training set r with pattern set M
    (:func:`xordsim.data.sample_mask_counts`, :func:`xordsim.data.mask_counts`). Returns
    exactly -- bit for bit -- the :class:`Groups` that :func:`loss_groups` gives for any
    training set with those counts, in O(Rd * 32) memory.
    """
    counts = check_counts(counts)
    if problem not in ("xor", "xord"):
        raise InputError(f"problem must be one of xor, xord; got {problem!r}")
    gamma = resolve_gamma(problem, gamma)
    Rd = counts.shape[0]
    count32 = np.empty((Rd, 32), dtype=np.int64)  # key = 2 M + [y > 0], as in loss_groups
    count32[:, 0::2] = counts[:, 0]
    count32[:, 1::2] = counts[:, 1]
    wval = np.ones((Rd, 32))
    if problem == "xord":  # the weights of point_loss_weights: 1 / (points of the class)
        wval[:, 1::2] = (1.0 / np.maximum(counts[:, 1].sum(axis=1), 1))[:, None]
        wval[:, 0::2] = (1.0 / np.maximum(counts[:, 0].sum(axis=1), 1))[:, None]
    mval = np.ones((Rd, 32))
    mval[:, 1::2] = gamma
    wsum = _repeated_sums(wval, count32)
    msum = _repeated_sums(mval, count32)
    count = count32.astype(float)
    return _groups_from_sums(count, wsum, msum)



def loss_and_grad(w, u, groups: Groups, loss: str = "hinge",
                  output_scale: float = 1.0) -> tuple[float, np.ndarray, np.ndarray]:
    """Loss and its closed-form (sub)gradient for one network (w, u of shape (k, 2)).

    ``groups`` must be shared (Rd = 1); ``loss`` is one of
    :data:`~xordsim.config.LOSSES` (:func:`point_loss`) and ``output_scale`` alpha scales
    the network. Returns (loss, dloss/dw, dloss/du).
    """
    spec = kernel_loss(loss, output_scale)
    w = np.asarray(w, dtype=np.float64)
    u = np.asarray(u, dtype=np.float64)
    sw, tw = to_st(w)
    su, tu = to_st(u)
    G = groups.mask.shape[1]
    sc = Scratch(sw, tw, su, tu, np.zeros((4, 4)), np.empty(8), np.empty(8), np.empty(G))
    forward(sw, tw, su, tu, sc.D)
    grp = kernel_groups(LossGroups(*(a[0] for a in groups.arrays())), spec)
    value = group_loss(sc, grp, TABLES, np.zeros(G, np.int64), spec)
    ca, cb = sc.coef_a, sc.coef_b
    grads = []
    for s, t, sign in ((sw, tw, 1.0), (su, tu, -1.0)):
        cls = np.array([channel_class(a, b) for a, b in zip(s, t, strict=True)], dtype=np.int64)
        ga = sign * ca[cls] * np.sign(s)
        gb = sign * cb[cls] * np.sign(t)
        grads.append(np.stack([ga + gb, ga - gb], axis=1))
    return float(value), grads[0], grads[1]


@njit(cache=True, parallel=True)
def _gradient_norms(sw, tw, su, tu, data_idx, groups, tables, loss):
    R = sw.shape[0]
    G = groups.mask.shape[1]
    out = np.empty(R)
    for r in prange(R):
        rd = data_idx[r]
        grp = LossGroups(groups.mask[rd], groups.y[rd], groups.weight[rd], groups.margin[rd],
                         groups.count[rd])
        sc = Scratch(sw[r], tw[r], su[r], tu[r], np.zeros((4, 4)), np.empty(8), np.empty(8),
                     np.empty(G))
        forward(sc.sw, sc.tw, sc.su, sc.tu, sc.D)
        group_loss(sc, grp, tables, np.zeros(G, np.int64), loss)
        out[r] = np.sqrt(grad_sq_norm(sc.sw, sc.tw, sc.coef_a, sc.coef_b)
                         + grad_sq_norm(sc.su, sc.tu, sc.coef_a, sc.coef_b))
    return out


def gradient_norm(w, u, groups: Groups, loss: str = "hinge",
                  output_scale: float = 1.0) -> np.ndarray:
    """Norm of the loss's (sub)gradient in all 4k filter coordinates, per network.

    ``w``, ``u`` have shape (k, 2) or (R, k, 2); ``groups`` holds one training set
    (Rd = 1, shared) or one per network (Rd = R). The subgradient is the one GD follows
    (:func:`loss_and_grad`): 0 at a hinge's zero loss and where GD stalls. Returns a float
    for one network, else shape (R,).
    """
    spec = kernel_loss(loss, output_scale)
    w, u, single = _as_batch(w, u)
    R, Rd = w.shape[0], groups.mask.shape[0]
    if Rd not in (1, R):
        raise InputError(f"groups hold {Rd} training sets for {R} networks")
    data_idx = np.arange(R) if Rd > 1 else np.zeros(R, np.int64)
    out = _gradient_norms(*to_st(w), *to_st(u), data_idx,
                          kernel_groups(groups.arrays(), spec), TABLES, spec)
    return float(out[0]) if single else out


def _groups_from_sums(count: np.ndarray, wsum: np.ndarray, msum: np.ndarray) -> Groups:
    """Groups from per-(mask, label) sums over the 32 keys 2*mask + (y > 0), each (Rd, 32):
    the present keys first (stable order), padded to the largest group count with the
    smallest absent keys (weight and count 0, mask 1, margin 1)."""
    G = int((count > 0).sum(axis=1).max())
    return Groups(*_group_arrays(count, wsum, msum, G))


@njit(cache=True)
def _group_arrays(count, wsum, msum, G):
    """The arrays of :func:`_groups_from_sums`: per row, the keys in the order of a stable
    sort on "absent" (present keys ascending, then absent ones), the first G of them."""
    Rd = count.shape[0]
    mask = np.ones((Rd, G), np.int64)
    y = np.empty((Rd, G))
    weight = np.empty((Rd, G))
    margin = np.ones((Rd, G))
    cnt = np.empty((Rd, G))
    for r in range(Rd):
        g = 0
        for absent in (False, True):
            for key in range(32):
                if g < G and (count[r, key] == 0) == absent:
                    c = count[r, key]
                    if c > 0:
                        mask[r, g] = key // 2
                        margin[r, g] = msum[r, key] / max(c, 1.0)
                    y[r, g] = 1.0 if key % 2 == 1 else -1.0
                    weight[r, g] = wsum[r, key]
                    cnt[r, g] = c
                    g += 1
    return mask, y, weight, margin, cnt
