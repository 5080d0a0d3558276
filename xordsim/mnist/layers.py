"""Layers of the MNIST network: forward passes and closed-form backward passes.

Arrays are channels-last: an image batch is ``(N, H, W)`` (one input channel),
a feature map is ``(N, H, W, C)``.

Two implementations of the same network:

* the **reference** layers (:func:`conv_forward` ... :func:`softmax_cross_entropy`):
  convolution is im2col followed by one BLAS matrix product; max-pooling forward and
  backward are numba kernels that record the arg-max position of each 2x2 window (the
  first one on ties). Kept as the reference the fused kernels are tested against.
* the **fused** kernels (:func:`fused_forward`, :func:`fused_backward`): one numba pass
  per image computes conv f x f -> 2x2 max-pool -> bias -> ReLU -> the fully connected
  logits without materialising the im2col patches or the conv output, and one pass per
  image goes back from the logits' gradient to the conv filters. Images are spread over
  numba's threads (``prange``); every sum over images is taken in image order (per-image
  partial sums, added in order), so the results are bit-identical whatever the number of
  threads. Two loop orders (``layout``: channel-minor for many channels, channel-major for
  a few), picked by the channel count; small calls run on one thread. Generic in the dtype
  (float32 by default, float64 for the gradient checks). Design and timings:
  ``docs/mnist.md``, "Speed".
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator
from typing import NamedTuple

import numba
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from xordsim import _jit  # noqa: F401  (first: the package's kernel cache, _jit.py)
from xordsim._validate import InputError

__all__ = [
    "im2col",
    "one_blas_thread",
    "conv_forward",
    "conv_backward",
    "relu_forward",
    "relu_backward",
    "maxpool_forward",
    "maxpool_backward",
    "linear_forward",
    "linear_backward",
    "softmax_cross_entropy",
    "FusedForward",
    "LAYOUTS",
    "THREADS",
    "fused_forward",
    "fused_backward",
]


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the BLAS / LAPACK calls of the block inside on one thread (``threadpoolctl``,
    declared in the ``mnist`` extra).

    Two reasons: the numbers then do not depend on the thread count, and right after a
    parallel numba kernel (training) numba's OpenMP threads still spin on the cores, so a
    multi-threaded LAPACK call waits for them: measured on 2 cores, an eigendecomposition of
    a 300 x 300 Gram took 1.7 s with OpenBLAS's 2 threads right after a parallel forward pass
    and 3 ms on one thread.
    """
    if importlib.util.find_spec("threadpoolctl") is None:
        raise InputError('the MNIST experiments need threadpoolctl: install it with: '
                         'pip install "xordsim[mnist]"')
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def im2col(x: np.ndarray, f: int) -> np.ndarray:
    """Patches of a single-channel batch.

    Parameters
    ----------
    x : ndarray, shape (N, H, W)
    f : int
        Square filter size.

    Returns
    -------
    ndarray, shape (N, H - f + 1, W - f + 1, f * f)
        ``cols[n, i, j] = x[n, i:i+f, j:j+f].ravel()`` (C-contiguous).
    """
    n, h, w = x.shape
    win = sliding_window_view(x, (f, f), axis=(1, 2))  # (N, Ho, Wo, f, f)
    return np.ascontiguousarray(win).reshape(n, h - f + 1, w - f + 1, f * f)


def conv_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Valid convolution (cross-correlation), stride 1, no padding.

    Parameters
    ----------
    x : ndarray, shape (N, H, W)
    w : ndarray, shape (C, f, f)
    b : ndarray, shape (C,), optional
        Bias; ``None`` leaves it out (the network adds it after pooling).

    Returns
    -------
    out : ndarray, shape (N, H - f + 1, W - f + 1, C)
    cols : ndarray
        The im2col patches, needed by :func:`conv_backward`.
    """
    c, f, _ = w.shape
    cols = im2col(x, f)
    out = cols @ w.reshape(c, f * f).T
    if b is not None:
        out += b
    return out, cols


def conv_backward(
    dout: np.ndarray, cols: np.ndarray, with_bias: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """Gradients of :func:`conv_forward` with respect to its weight and bias.

    Parameters
    ----------
    dout : ndarray, shape (N, Ho, Wo, C)
    cols : ndarray, shape (N, Ho, Wo, f*f)

    Returns
    -------
    dw : ndarray, shape (C, f, f)
    db : ndarray, shape (C,), or None when ``with_bias`` is false
    """
    c = dout.shape[-1]
    ff = cols.shape[-1]
    f = int(round(ff**0.5))
    dw = dout.reshape(-1, c).T @ cols.reshape(-1, ff)
    db = dout.sum(axis=(0, 1, 2)) if with_bias else None
    return dw.reshape(c, f, f), db


def relu_forward(x: np.ndarray) -> np.ndarray:
    """Elementwise ``max(x, 0)``."""
    return np.maximum(x, 0)


def relu_backward(dout: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Gradient of ReLU given its output ``out`` (zero where ``out <= 0``)."""
    return dout * (out > 0)


@numba.njit(cache=True, parallel=True)
def _pool_fwd(x, out, arg):  # pragma: no cover - compiled
    n, ho, wo, c = out.shape
    for s in numba.prange(n):
        for i in range(ho):
            for j in range(wo):
                for k in range(c):
                    best = x[s, 2 * i, 2 * j, k]
                    a = 0
                    v = x[s, 2 * i, 2 * j + 1, k]
                    if v > best:
                        best = v
                        a = 1
                    v = x[s, 2 * i + 1, 2 * j, k]
                    if v > best:
                        best = v
                        a = 2
                    v = x[s, 2 * i + 1, 2 * j + 1, k]
                    if v > best:
                        best = v
                        a = 3
                    out[s, i, j, k] = best
                    arg[s, i, j, k] = a


@numba.njit(cache=True, parallel=True)
def _pool_bwd(dout, arg, dx):  # pragma: no cover - compiled
    n, ho, wo, c = dout.shape
    for s in numba.prange(n):
        for i in range(ho):
            for j in range(wo):
                for k in range(c):
                    a = arg[s, i, j, k]
                    dx[s, 2 * i + a // 2, 2 * j + a % 2, k] = dout[s, i, j, k]


def maxpool_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2x2 max-pooling with stride 2 (an odd last row/column is dropped).

    Parameters
    ----------
    x : ndarray, shape (N, H, W, C)

    Returns
    -------
    out : ndarray, shape (N, H // 2, W // 2, C)
    arg : ndarray of int8, same shape
        Position of the maximum in its window, ``2 * row + col`` (first on ties).
    """
    n, h, w, c = x.shape
    out = np.empty((n, h // 2, w // 2, c), dtype=x.dtype)
    arg = np.empty((n, h // 2, w // 2, c), dtype=np.int8)
    _pool_fwd(np.ascontiguousarray(x), out, arg)
    return out, arg


def maxpool_backward(dout: np.ndarray, arg: np.ndarray, in_shape: tuple) -> np.ndarray:
    """Route each pooled gradient to the arg-max position of its window."""
    dx = np.zeros(in_shape, dtype=dout.dtype)
    _pool_bwd(np.ascontiguousarray(dout), arg, dx)
    return dx


def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Fully connected layer: ``x @ w + b`` with ``x`` of shape (N, D), ``w`` (D, K)."""
    return x @ w + b


def linear_backward(
    dout: np.ndarray, x: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`linear_forward`: ``(dx, dw, db)``."""
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


def softmax_cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy and its gradient with respect to ``logits``.

    Parameters
    ----------
    logits : ndarray, shape (N, K)
    y : ndarray of int, shape (N,)

    Returns
    -------
    loss : float
    dlogits : ndarray, shape (N, K)
    """
    n = logits.shape[0]
    z = logits - logits.max(axis=1, keepdims=True)
    ez = np.exp(z)
    s = ez.sum(axis=1, keepdims=True)
    logp = z - np.log(s)
    loss = -float(logp[np.arange(n), y].mean())
    d = ez / s
    d[np.arange(n), y] -= 1
    d /= n
    return loss, d.astype(logits.dtype, copy=False)


# ----------------------------------------------------------------------------------------
# fused kernels: conv f x f + 2x2 max-pool + bias + ReLU (+ the fully connected layer)
#
# Layout: x (N, H, W); fct (K, D) = fc_w transposed; a and arg (N, D) with
# D = Hp * Wp * C flattened in (row, column, channel) order, as the reference's
# ``a.reshape(N, -1)``. Two loop orders compute the same sums (LAYOUTS):
#
# * channel-minor (many channels): wt (f*f, C), the filters transposed so that the channels
#   are innermost; per pooled position, the four conv outputs of its window for all
#   channels. An input pixel equal to 0 contributes nothing and is skipped (most MNIST
#   pixels are 0). For 3 x 3 filters, dense kernels (_fwd_minor3, _bwd_minor3) do all of
#   a window's products in one loop over the channels instead: the same numbers bit for
#   bit (adding a zero product to a sum that is never -0 changes nothing), 1.3-1.6x faster.
# * channel-major (a few channels): per channel, its conv map row by row (the SIMD loops run
#   over the columns), then its pooling; the fully connected layer as dot products over
#   the D features, split into LANES interleaved partial sums.
#
# Each kernel is a serial function over a range of images (or, for the fully connected
# weight gradient, of features); a parallel wrapper spreads fixed blocks of that range over
# numba's threads. Nothing is summed across a block boundary inside a kernel: every sum over
# images is a per-image partial sum added in image order afterwards (_sum_in_order), so the
# numbers do not depend on the blocks, on the thread count or on whether the serial
# function or its parallel wrapper ran. (The innermost loops run over row slices, which
# LLVM vectorises; indices computed inside them would not be.)

#: Images per block of the parallel wrappers.
_IMAGE_BLOCK = 4
#: Features per block of the fully connected weight gradient.
_FC_CHUNK = 1024
#: Below this many multiply-adds per call (about), the serial kernels run: on a busy
#: machine each parallel launch can wait for a descheduled thread.
_PARALLEL_WORK = 1 << 18
#: Lanes of the dot products over the D features in the channel-major kernels: LANES
#: independent partial sums (a fixed split, vectorised by LLVM without reordering any
#: sum), added in lane order at the end.
LANES = 16


@numba.njit(cache=True)
def _dot_lanes(u, v, acc):  # pragma: no cover - compiled
    """``sum(u * v)`` as ``len(acc)`` interleaved partial sums added in order (``acc`` is
    scratch); the same float result on every machine, whatever its SIMD width."""
    n = u.size
    lanes = acc.size
    zero = np.zeros(1, dtype=acc.dtype)[0]
    acc[:] = zero
    for blk in range(n // lanes):
        us = u[blk * lanes : (blk + 1) * lanes]
        vs = v[blk * lanes : (blk + 1) * lanes]
        for ll in range(lanes):
            acc[ll] += us[ll] * vs[ll]
    tail = n - n % lanes
    for ll in range(n % lanes):
        acc[ll] += u[tail + ll] * v[tail + ll]
    tot = zero
    for ll in range(lanes):
        tot += acc[ll]
    return tot


@numba.njit(cache=True)
def _fwd_minor(x, wt, cb, fct, fb, f, a_out, arg_out, logits, keep, s0, s1):  # pragma: no cover
    c = wt.shape[1]
    k_out = fct.shape[0]
    hp = (x.shape[1] - f + 1) // 2
    wp = (x.shape[2] - f + 1) // 2
    z = np.empty((4, c), dtype=wt.dtype)       # conv outputs of the 4 window positions
    av = np.empty(c, dtype=wt.dtype)           # pooled, biased, rectified activations
    am = np.empty(c, dtype=np.int8)            # their window positions
    acc = np.empty((k_out, c), dtype=wt.dtype)  # per-channel partial logits
    zero = np.zeros(1, dtype=z.dtype)[0]
    for s in range(s0, s1):
        acc[:, :] = zero
        for i in range(hp):
            for j in range(wp):
                z[:, :] = zero
                # each pixel of the (f+1) x (f+1) patch under the 2x2 window feeds up to
                # four conv outputs (window position q = 2 * row + col, tap (u - row, v - col))
                for u in range(f + 1):
                    for v in range(f + 1):
                        xv = x[s, 2 * i + u, 2 * j + v]
                        if xv == 0:
                            continue
                        for q in range(4):
                            uu = u - q // 2
                            vv = v - q % 2
                            if uu < 0 or vv < 0 or uu >= f or vv >= f:
                                continue
                            zq = z[q]
                            wrow = wt[uu * f + vv]
                            for k in range(c):
                                zq[k] += xv * wrow[k]
                for k in range(c):
                    best = z[0, k]
                    pos = 0
                    if z[1, k] > best:
                        best = z[1, k]
                        pos = 1
                    if z[2, k] > best:
                        best = z[2, k]
                        pos = 2
                    if z[3, k] > best:
                        best = z[3, k]
                        pos = 3
                    val = best + cb[k]
                    av[k] = val if val > zero else zero
                    am[k] = pos
                base = (i * wp + j) * c
                if keep:
                    arow = a_out[s, base : base + c]
                    amrow = arg_out[s, base : base + c]
                    for k in range(c):
                        arow[k] = av[k]
                        amrow[k] = am[k]
                for o in range(k_out):  # (inline: 6-9% faster here than the helper)
                    accrow = acc[o]
                    frow = fct[o, base : base + c]
                    for k in range(c):
                        accrow[k] += av[k] * frow[k]
        _logits_from_partials(acc, fb, logits[s])


@numba.njit(cache=True, inline="always")
def _window_max(z0, z1, z2, z3):  # pragma: no cover - compiled
    """The first maximum (strict >) of a pooling window's 4 conv outputs (positions 0..3)
    and its position, as selects (a branch would keep the loop around it scalar)."""
    best = z0
    pos = 0
    gt = z1 > best
    best = z1 if gt else best
    pos = 1 if gt else pos
    gt = z2 > best
    best = z2 if gt else best
    pos = 2 if gt else pos
    gt = z3 > best
    best = z3 if gt else best
    pos = 3 if gt else pos
    return best, pos


@numba.njit(cache=True, inline="always")
def _add_partial_logits(acc, av, fct, base):  # pragma: no cover - compiled
    """acc[o, k] += av[k] fct[o, base + k]: one window's activations times the fully
    connected weights, per output o and channel k (the channel-minor kernels)."""
    c = av.shape[0]
    for o in range(acc.shape[0]):
        accrow = acc[o]
        frow = fct[o, base : base + c]
        for k in range(c):
            accrow[k] += av[k] * frow[k]


@numba.njit(cache=True, inline="always")
def _logits_from_partials(acc, fb, out):  # pragma: no cover - compiled
    """out[o] = sum over the channels k, in order, of acc[o, k], plus the bias fb[o]."""
    zero = np.zeros(1, dtype=acc.dtype)[0]
    for o in range(acc.shape[0]):
        tot = zero
        for k in range(acc.shape[1]):
            tot += acc[o, k]
        out[o] = tot + fb[o]


@numba.njit(cache=True, inline="always")
def _pooled_gradient(da, dl, fct, base):  # pragma: no cover - compiled
    """da[k] = sum over the outputs o, in order, of dl[o] fct[o, base + k]: the gradient of
    one window's pooled activations from the logits' gradient ``dl`` (channel-minor)."""
    c = da.shape[0]
    da[:] = 0
    for o in range(fct.shape[0]):
        g = dl[o]
        frow = fct[o, base : base + c]
        for k in range(c):
            da[k] += g * frow[k]


@numba.njit(cache=True, inline="always")
def _patch4(xs, r, q):  # pragma: no cover - compiled
    """The 4 x 4 pixels xs[r : r + 4, q : q + 4] under a 2 x 2 pooling window of 3 x 3
    convolutions, row by row, as 16 scalars."""
    return (xs[r, q], xs[r, q + 1], xs[r, q + 2], xs[r, q + 3],
            xs[r + 1, q], xs[r + 1, q + 1], xs[r + 1, q + 2], xs[r + 1, q + 3],
            xs[r + 2, q], xs[r + 2, q + 1], xs[r + 2, q + 2], xs[r + 2, q + 3],
            xs[r + 3, q], xs[r + 3, q + 1], xs[r + 3, q + 2], xs[r + 3, q + 3])


@numba.njit(cache=True, inline="always")
def _any_nonzero(p, zero):  # pragma: no cover - compiled
    """Whether any of the 16 pixels of :func:`_patch4` is nonzero."""
    return ((p[0] != zero) | (p[1] != zero) | (p[2] != zero) | (p[3] != zero)
            | (p[4] != zero) | (p[5] != zero) | (p[6] != zero) | (p[7] != zero)
            | (p[8] != zero) | (p[9] != zero) | (p[10] != zero) | (p[11] != zero)
            | (p[12] != zero) | (p[13] != zero) | (p[14] != zero) | (p[15] != zero))


@numba.njit(cache=True, inline="always")
def _conv9(zero, p, r, c, a0, a1, a2, a3, a4, a5, a6, a7, a8):  # pragma: no cover - compiled
    """The conv output at window position (r, c) of the patch ``p`` (:func:`_patch4`):
    the 9 products of the filter taps a0..a8 (row by row) with pixels (u + r, v + c), added
    in that order from ``zero`` -- _fwd_minor's order."""
    b = 4 * r + c
    z = zero
    z += p[b] * a0
    z += p[b + 1] * a1
    z += p[b + 2] * a2
    z += p[b + 4] * a3
    z += p[b + 5] * a4
    z += p[b + 6] * a5
    z += p[b + 8] * a6
    z += p[b + 9] * a7
    z += p[b + 10] * a8
    return z


@numba.njit(cache=True, inline="always")
def _at_argmax(p, u, v, c1, c2, c3):  # pragma: no cover - compiled
    """Pixel (u + row, v + col) of the patch ``p`` for the window position 2 row + col that
    is the arg-max (``c1``, ``c2``, ``c3``: it is 1, 2, 3; else 0), as selects."""
    b = 4 * u + v
    t = p[b + 1] if c1 else p[b]
    t = p[b + 4] if c2 else t
    return p[b + 5] if c3 else t


@numba.njit(cache=True)
def _fwd_minor3(x, wt, cb, fct, fb, a_out, arg_out, logits, keep, s0, s1):  # pragma: no cover
    # _fwd_minor for 3 x 3 filters, dense: per window the 16 pixels of its 4 x 4 patch are
    # scalars and the loop over the channels does all 36 multiply-adds of the 4 conv outputs
    # in registers (no z array in memory, no loop per pixel), then the max, bias and ReLU,
    # written straight into a_out. The products are added in _fwd_minor's order (per
    # output, its taps in the patch's raster order); the products of zero pixels, which
    # _fwd_minor skips, add +-0 to a sum that starts at +0 and so is never -0: the same
    # numbers bit for bit (for finite filters). A window whose 16 pixels are all zero (the
    # border, about a third of MNIST's) gets relu(0 + bias) and arg-max 0 directly, as
    # _fwd_minor's loop gives it.
    c = wt.shape[1]
    k_out = fct.shape[0]
    hp = (x.shape[1] - 2) // 2
    wp = (x.shape[2] - 2) // 2
    av = np.empty(c, dtype=wt.dtype)
    am = np.empty(c, dtype=np.int8)
    acc = np.empty((k_out, c), dtype=wt.dtype)  # per-channel partial logits
    zero = np.zeros(1, dtype=wt.dtype)[0]
    avz = np.empty(c, dtype=wt.dtype)  # the activation of an all-zero window
    for k in range(c):
        vz = zero + cb[k]
        avz[k] = vz if vz > zero else zero
    w0, w1, w2, w3, w4, w5, w6, w7, w8 = (wt[0], wt[1], wt[2], wt[3], wt[4], wt[5], wt[6],
                                          wt[7], wt[8])
    for s in range(s0, s1):
        acc[:, :] = zero
        xs = x[s]
        for i in range(hp):
            r = 2 * i
            for j in range(wp):
                q = 2 * j
                p = _patch4(xs, r, q)
                base = (i * wp + j) * c
                if keep:
                    avw = a_out[s, base : base + c]
                    amw = arg_out[s, base : base + c]
                else:
                    avw = av
                    amw = am
                nz = _any_nonzero(p, zero)
                if not nz:
                    for k in range(c):
                        avw[k] = avz[k]
                        amw[k] = 0
                for k in range(c if nz else 0):
                    a0, a1, a2, a3, a4 = w0[k], w1[k], w2[k], w3[k], w4[k]
                    a5, a6, a7, a8 = w5[k], w6[k], w7[k], w8[k]
                    # window position 2 * row + col: taps (u, v) on pixel (u + row, v + col)
                    z0 = _conv9(zero, p, 0, 0, a0, a1, a2, a3, a4, a5, a6, a7, a8)
                    z1 = _conv9(zero, p, 0, 1, a0, a1, a2, a3, a4, a5, a6, a7, a8)
                    z2 = _conv9(zero, p, 1, 0, a0, a1, a2, a3, a4, a5, a6, a7, a8)
                    z3 = _conv9(zero, p, 1, 1, a0, a1, a2, a3, a4, a5, a6, a7, a8)
                    best, pos = _window_max(z0, z1, z2, z3)
                    val = best + cb[k]
                    avw[k] = val if val > zero else zero
                    amw[k] = pos
                _add_partial_logits(acc, avw, fct, base)
        _logits_from_partials(acc, fb, logits[s])


@numba.njit(cache=True)
def _fwd_major(x, w, cb, fct, fb, f, a_out, arg_out, logits, keep, s0, s1):  # pragma: no cover
    # per channel the conv map over the image's flat pixel index p = row * W + col: one
    # loop over every p of the 2 hp rows per tap (the columns past 2 wp are computed and
    # not read), which vectorises without a row loop's overhead; each output's taps are
    # added in the same order as row by row
    c = w.shape[0]
    k_out = fct.shape[0]
    wd = x.shape[2]
    hp = (x.shape[1] - f + 1) // 2
    wp = (wd - f + 1) // 2
    d = hp * wp * c
    span = (2 * hp - 1) * wd + 2 * wp  # the flat indices of the conv outputs read
    zc = np.empty(2 * hp * wd, dtype=w.dtype)  # the conv map of one channel, flat
    av = np.empty(d, dtype=w.dtype)
    am = np.empty(d, dtype=np.int8)
    lanes = np.empty(LANES, dtype=w.dtype)
    zero = np.zeros(1, dtype=lanes.dtype)[0]
    for s in range(s0, s1):
        xs = x[s].reshape(x.shape[1] * wd)
        for k in range(c):
            zc[:] = zero
            for u in range(f):
                for v in range(f):
                    wv = w[k, u, v]
                    xt = xs[u * wd + v : u * wd + v + span]
                    for p in range(span):
                        zc[p] += wv * xt[p]
            b = cb[k]
            for i in range(hp):
                r0 = 2 * i * wd
                r1 = r0 + wd
                for j in range(wp):
                    best, pos = _window_max(zc[r0 + 2 * j], zc[r0 + 2 * j + 1], zc[r1 + 2 * j],
                                            zc[r1 + 2 * j + 1])
                    val = best + b
                    idx = (i * wp + j) * c + k
                    av[idx] = val if val > zero else zero
                    am[idx] = pos
        if keep:
            arow = a_out[s]
            amrow = arg_out[s]
            for dd in range(d):
                arow[dd] = av[dd]
                amrow[dd] = am[dd]
        for o in range(k_out):
            logits[s, o] = _dot_lanes(av, fct[o], lanes) + fb[o]


@numba.njit(cache=True)
def _bwd_minor(x, fct, f, a, arg, dlogits, need_w, part_w, part_b, s0, s1):  # pragma: no cover
    c = part_b.shape[1]
    hp = (x.shape[1] - f + 1) // 2
    wp = (x.shape[2] - f + 1) // 2
    da = np.empty(c, dtype=a.dtype)        # gradient of the pooled activations
    gq = np.empty((4, c), dtype=a.dtype)   # ... routed to window position q
    dw = np.empty((part_w.shape[1], c), dtype=a.dtype)
    db = np.empty(c, dtype=a.dtype)
    zero = np.zeros(1, dtype=da.dtype)[0]
    for s in range(s0, s1):
        dw[:, :] = zero
        db[:] = zero
        for i in range(hp):
            for j in range(wp):
                base = (i * wp + j) * c
                _pooled_gradient(da, dlogits[s], fct, base)
                arow = a[s, base : base + c]
                amrow = arg[s, base : base + c]
                for k in range(c):
                    g = da[k] if arow[k] > zero else zero  # ReLU
                    db[k] += g
                    pos = amrow[k]                         # max-pool routing
                    for q in range(4):
                        gq[q, k] = g if pos == q else zero
                if not need_w:
                    continue
                for u in range(f + 1):
                    for v in range(f + 1):
                        xv = x[s, 2 * i + u, 2 * j + v]
                        if xv == 0:
                            continue
                        for q in range(4):
                            uu = u - q // 2
                            vv = v - q % 2
                            if uu < 0 or vv < 0 or uu >= f or vv >= f:
                                continue
                            gqq = gq[q]
                            dwrow = dw[uu * f + vv]
                            for k in range(c):
                                dwrow[k] += xv * gqq[k]
        part_w[s] = dw
        part_b[s] = db


@numba.njit(cache=True)
def _bwd_minor3(x, fct, a, arg, dlogits, need_w, part_w, part_b, s0, s1):  # pragma: no cover
    # _bwd_minor for 3 x 3 filters, dense: per window its 16 pixels are scalars, and each
    # channel adds to each of its 9 filter taps the one product of its arg-max position
    # (the tap's pixel under that position picked by selects) -- one loop over the channels
    # instead of one per nonzero pixel and position. _bwd_minor adds, per tap, the products
    # of the four positions in the same (raster) order, three of them with a zero gradient,
    # and skips zero pixels: those add +-0 to a sum that starts at +0 and so is never -0,
    # the same numbers bit for bit (for finite values). The 9 tap sums are rows of one flat
    # array (offsets from one base, which LLVM sees do not overlap: the loop vectorises).
    # A window whose pixels are all zero adds nothing to the filter gradient.
    c = part_b.shape[1]
    hp = (x.shape[1] - 2) // 2
    wp = (x.shape[2] - 2) // 2
    da = np.empty(c, dtype=a.dtype)        # gradient of the pooled activations
    dwf = np.empty(9 * c, dtype=a.dtype)   # the filter gradient, tap-major
    db = np.empty(c, dtype=a.dtype)
    zero = np.zeros(1, dtype=da.dtype)[0]
    for s in range(s0, s1):
        dwf[:] = zero
        db[:] = zero
        xs = x[s]
        for i in range(hp):
            r = 2 * i
            for j in range(wp):
                q = 2 * j
                base = (i * wp + j) * c
                _pooled_gradient(da, dlogits[s], fct, base)
                arow = a[s, base : base + c]
                amrow = arg[s, base : base + c]
                p = _patch4(xs, r, q)
                nz = need_w and _any_nonzero(p, zero)
                if not nz:
                    for k in range(c):
                        g = da[k] if arow[k] > zero else zero  # ReLU
                        db[k] += g
                    continue
                for k in range(c):
                    g = da[k] if arow[k] > zero else zero  # ReLU
                    db[k] += g
                    pos = amrow[k]                         # max-pool routing
                    c1 = pos == 1
                    c2 = pos == 2
                    c3 = pos == 3
                    # tap (u, v) reads pixel (u + row, v + col) of position 2 * row + col
                    dwf[0 * c + k] += _at_argmax(p, 0, 0, c1, c2, c3) * g
                    dwf[1 * c + k] += _at_argmax(p, 0, 1, c1, c2, c3) * g
                    dwf[2 * c + k] += _at_argmax(p, 0, 2, c1, c2, c3) * g
                    dwf[3 * c + k] += _at_argmax(p, 1, 0, c1, c2, c3) * g
                    dwf[4 * c + k] += _at_argmax(p, 1, 1, c1, c2, c3) * g
                    dwf[5 * c + k] += _at_argmax(p, 1, 2, c1, c2, c3) * g
                    dwf[6 * c + k] += _at_argmax(p, 2, 0, c1, c2, c3) * g
                    dwf[7 * c + k] += _at_argmax(p, 2, 1, c1, c2, c3) * g
                    dwf[8 * c + k] += _at_argmax(p, 2, 2, c1, c2, c3) * g
        if need_w:
            part_w[s] = dwf.reshape(9, c)
        part_b[s] = db


@numba.njit(cache=True)
def _bwd_major(x, fct, f, a, arg, dlogits, need_w, part_w, part_b, s0, s1):  # pragma: no cover
    # the activations' gradient over all D features, then per channel the gradient map of
    # its conv outputs (the pooled gradient at each window's arg-max) correlated with the
    # image, row by row
    c = part_b.shape[1]
    k_out = fct.shape[0]
    hp = (x.shape[1] - f + 1) // 2
    wp = (x.shape[2] - f + 1) // 2
    d = hp * wp * c
    g = np.empty(d, dtype=a.dtype)
    dz = np.empty((2 * hp, 2 * wp), dtype=a.dtype)
    acc = np.empty(2 * wp, dtype=a.dtype)
    db = np.empty(c, dtype=a.dtype)
    zero = np.zeros(1, dtype=g.dtype)[0]
    for s in range(s0, s1):
        g[:] = zero
        for o in range(k_out):
            go = dlogits[s, o]
            frow = fct[o]
            for dd in range(d):
                g[dd] += go * frow[dd]
        arow = a[s]
        for dd in range(d):
            if not arow[dd] > zero:  # ReLU
                g[dd] = zero
        db[:] = zero
        for p in range(hp * wp):
            for k in range(c):
                db[k] += g[p * c + k]
        part_b[s] = db
        if not need_w:
            continue
        amrow = arg[s]
        for k in range(c):
            dz[:, :] = zero
            for i in range(hp):
                for j in range(wp):
                    idx = (i * wp + j) * c + k
                    pos = amrow[idx]                      # max-pool routing
                    dz[2 * i + pos // 2, 2 * j + pos % 2] = g[idx]
            for u in range(f):
                for v in range(f):
                    acc[:] = zero
                    for r in range(2 * hp):
                        xrow = x[s, r + u, v : v + 2 * wp]
                        dzrow = dz[r]
                        for col in range(2 * wp):
                            acc[col] += dzrow[col] * xrow[col]
                    tot = zero
                    for col in range(2 * wp):
                        tot += acc[col]
                    part_w[s, u * f + v, k] = tot


@numba.njit(cache=True)
def _bwd_fc(a, dlogits, dfc_w, b0, b1, chunk):  # pragma: no cover - compiled
    # dfc_w[d, o] = sum over images (in order) of a[s, d] * dlogits[s, o], for the feature
    # blocks b0..b1-1 of size chunk (each accumulated transposed, vectorised over features)
    n, d = a.shape
    k_out = dlogits.shape[1]
    acc = np.empty((k_out, chunk), dtype=a.dtype)
    zero = np.zeros(1, dtype=acc.dtype)[0]
    for blk in range(b0, b1):
        d0 = blk * chunk
        m = min(d, d0 + chunk) - d0
        acc[:, :] = zero
        for s in range(n):
            arow = a[s, d0 : d0 + m]
            for o in range(k_out):
                g = dlogits[s, o]
                accrow = acc[o]
                for dd in range(m):
                    accrow[dd] += g * arow[dd]
        out = dfc_w[d0 : d0 + m]
        for dd in range(m):
            for o in range(k_out):
                out[dd, o] = acc[o, dd]


# One parallel wrapper per image kernel, each the same prange over _IMAGE_BLOCK-image
# blocks. (A single wrapper taking the kernel as an argument gives the same numbers at the
# same speed, but numba cannot cache it: the kernel's type differs in every process, so it
# recompiled for ~6 s in each one and added a cache file each time. Measured 7 Dec.)
@numba.njit(cache=True, parallel=True)
def _fwd_minor_par(x, wt, cb, fct, fb, f, a_out, arg_out, logits, keep):  # pragma: no cover
    n = x.shape[0]
    for blk in numba.prange((n + _IMAGE_BLOCK - 1) // _IMAGE_BLOCK):
        _fwd_minor(x, wt, cb, fct, fb, f, a_out, arg_out, logits, keep, blk * _IMAGE_BLOCK,
                   min(n, (blk + 1) * _IMAGE_BLOCK))


@numba.njit(cache=True, parallel=True)
def _fwd_minor3_par(x, wt, cb, fct, fb, a_out, arg_out, logits, keep):  # pragma: no cover
    n = x.shape[0]
    for blk in numba.prange((n + _IMAGE_BLOCK - 1) // _IMAGE_BLOCK):
        _fwd_minor3(x, wt, cb, fct, fb, a_out, arg_out, logits, keep, blk * _IMAGE_BLOCK,
                    min(n, (blk + 1) * _IMAGE_BLOCK))


@numba.njit(cache=True, parallel=True)
def _fwd_major_par(x, w, cb, fct, fb, f, a_out, arg_out, logits, keep):  # pragma: no cover
    n = x.shape[0]
    for blk in numba.prange((n + _IMAGE_BLOCK - 1) // _IMAGE_BLOCK):
        _fwd_major(x, w, cb, fct, fb, f, a_out, arg_out, logits, keep, blk * _IMAGE_BLOCK,
                   min(n, (blk + 1) * _IMAGE_BLOCK))


@numba.njit(cache=True, parallel=True)
def _bwd_minor_par(x, fct, f, a, arg, dlogits, need_w, part_w, part_b):  # pragma: no cover
    n = x.shape[0]
    for blk in numba.prange((n + _IMAGE_BLOCK - 1) // _IMAGE_BLOCK):
        _bwd_minor(x, fct, f, a, arg, dlogits, need_w, part_w, part_b, blk * _IMAGE_BLOCK,
                   min(n, (blk + 1) * _IMAGE_BLOCK))


@numba.njit(cache=True, parallel=True)
def _bwd_minor3_par(x, fct, a, arg, dlogits, need_w, part_w, part_b):  # pragma: no cover
    n = x.shape[0]
    for blk in numba.prange((n + _IMAGE_BLOCK - 1) // _IMAGE_BLOCK):
        _bwd_minor3(x, fct, a, arg, dlogits, need_w, part_w, part_b, blk * _IMAGE_BLOCK,
                    min(n, (blk + 1) * _IMAGE_BLOCK))


@numba.njit(cache=True, parallel=True)
def _bwd_major_par(x, fct, f, a, arg, dlogits, need_w, part_w, part_b):  # pragma: no cover
    n = x.shape[0]
    for blk in numba.prange((n + _IMAGE_BLOCK - 1) // _IMAGE_BLOCK):
        _bwd_major(x, fct, f, a, arg, dlogits, need_w, part_w, part_b, blk * _IMAGE_BLOCK,
                   min(n, (blk + 1) * _IMAGE_BLOCK))


@numba.njit(cache=True, parallel=True)
def _bwd_fc_par(a, dlogits, dfc_w, chunk):  # pragma: no cover - compiled
    nblk = (a.shape[1] + chunk - 1) // chunk
    for blk in numba.prange(nblk):
        _bwd_fc(a, dlogits, dfc_w, blk, blk + 1, chunk)


@numba.njit(cache=True)
def _sum_in_order(parts, out):  # pragma: no cover - compiled
    out[...] = 0
    for s in range(parts.shape[0]):
        out += parts[s]


class FusedForward(NamedTuple):
    """What :func:`fused_forward` returns (``a`` and ``arg`` are ``None`` unless kept)."""

    logits: np.ndarray
    a: np.ndarray | None
    arg: np.ndarray | None
    fct: np.ndarray


#: The kernels' loop orders (``layout`` of :func:`fused_forward` / :func:`fused_backward`):
#: ``channel-minor`` vectorises over the channels (faster from about 12 channels on, from
#: about 8 with 3 x 3 filters; skips the zero pixels), ``channel-major`` over the columns
#: of one channel's conv map (faster for a few channels). ``auto`` picks by the channel
#: count (:data:`MAJOR_BELOW`, kept at 12 so that the numbers of 8-channel nets stay).
LAYOUTS = ("auto", "channel-minor", "channel-major")
#: ``auto`` uses ``channel-major`` below this many channels.
MAJOR_BELOW = 12
#: ``threads`` of :func:`fused_forward` / :func:`fused_backward`: ``auto`` runs the parallel
#: wrappers for large calls only (see ``_PARALLEL_WORK``); the numbers are the same.
THREADS = ("auto", "parallel", "serial")


def _layout(layout: str, channels: int) -> str:
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}; got {layout!r}")
    if layout == "auto":
        return "channel-major" if channels < MAJOR_BELOW else "channel-minor"
    return layout


def _parallel(threads: str, work: int) -> bool:
    if threads not in THREADS:
        raise ValueError(f"threads must be one of {', '.join(THREADS)}; got {threads!r}")
    return threads == "parallel" or (threads == "auto" and work >= _PARALLEL_WORK)


def fused_forward(
    x: np.ndarray,
    conv_w: np.ndarray,
    conv_b: np.ndarray,
    fc_w: np.ndarray,
    fc_b: np.ndarray,
    keep: bool = True,
    layout: str = "auto",
    threads: str = "auto",
) -> FusedForward:
    """Logits of conv -> 2x2 max-pool -> bias -> ReLU -> linear in one pass per image.

    Parameters
    ----------
    x : ndarray, shape (N, H, W)
    conv_w : ndarray, shape (C, f, f); conv_b : shape (C,)
    fc_w : ndarray, shape (D, K) with D = Hp * Wp * C, Hp = (H - f + 1) // 2; fc_b : (K,)
    keep : bool
        Keep the activations and the pooling arg-max for :func:`fused_backward`.
    layout : ``"auto"``, ``"channel-minor"`` or ``"channel-major"``
        The kernel's loop order (:data:`LAYOUTS`); the same numbers up to the order of
        float sums.
    threads : ``"auto"``, ``"parallel"`` or ``"serial"``
        Spread the images over numba's threads (:data:`THREADS`); the same numbers either
        way.

    Returns
    -------
    FusedForward
        ``logits`` (N, K); ``a`` (N, D), the activations ``relu(maxpool(x * w) + b)``
        flattened like ``fc_w``'s rows, and ``arg`` (N, D) int8, the position of the
        maximum in its window (``2 * row + col``, first on ties), when ``keep``; ``fct``,
        ``fc_w`` transposed (reused by the backward pass). All in ``conv_w``'s dtype.
    """
    dt = conv_w.dtype
    c, f, _ = conv_w.shape
    x = np.ascontiguousarray(x, dtype=dt)
    n, h, w = x.shape
    hp, wp = (h - f + 1) // 2, (w - f + 1) // 2
    d = hp * wp * c
    fct = np.ascontiguousarray(fc_w.T, dtype=dt)
    k_out = fct.shape[0]
    logits = np.empty((n, k_out), dtype=dt)
    if keep:
        a = np.empty((n, d), dtype=dt)
        arg = np.empty((n, d), dtype=np.int8)
    else:
        a = np.empty((0, 0), dtype=dt)
        arg = np.empty((0, 0), dtype=np.int8)
    cb = np.ascontiguousarray(conv_b, dtype=dt)
    fb = np.ascontiguousarray(fc_b, dtype=dt)
    par = _parallel(threads, n * d * (k_out + f * f))
    if _layout(layout, c) == "channel-major":
        w_ = np.ascontiguousarray(conv_w)
        if par:
            _fwd_major_par(x, w_, cb, fct, fb, f, a, arg, logits, keep)
        else:
            _fwd_major(x, w_, cb, fct, fb, f, a, arg, logits, keep, 0, n)
    else:
        wt = np.ascontiguousarray(conv_w.reshape(c, f * f).T)
        if f == 3:  # the dense 3 x 3 kernel: the same numbers
            if par:
                _fwd_minor3_par(x, wt, cb, fct, fb, a, arg, logits, keep)
            else:
                _fwd_minor3(x, wt, cb, fct, fb, a, arg, logits, keep, 0, n)
        elif par:
            _fwd_minor_par(x, wt, cb, fct, fb, f, a, arg, logits, keep)
        else:
            _fwd_minor(x, wt, cb, fct, fb, f, a, arg, logits, keep, 0, n)
    return FusedForward(logits, a if keep else None, arg if keep else None, fct)


def fused_backward(
    x: np.ndarray,
    fwd: FusedForward,
    dlogits: np.ndarray,
    filter_size: int,
    need: tuple[str, ...] | set[str] = ("conv_w", "conv_b", "fc_w", "fc_b"),
    layout: str = "auto",
    threads: str = "auto",
) -> dict[str, np.ndarray]:
    """Gradients of the network's parameters from the logits' gradient.

    Parameters
    ----------
    x : ndarray, shape (N, H, W)
        The images of the forward pass (in its dtype).
    fwd : FusedForward
        :func:`fused_forward`'s result with ``keep=True``.
    dlogits : ndarray, shape (N, K)
    filter_size : int
    need : names among ``conv_w, conv_b, fc_w, fc_b``
        The gradients to compute (frozen parameters get none).
    layout, threads : as in :func:`fused_forward`

    Returns
    -------
    dict name -> gradient (shapes of the parameters). Sums over images are per-image
    partial sums added in image order: bit-identical for any number of threads.
    """
    a, arg, fct = fwd.a, fwd.arg, fwd.fct
    if a is None or arg is None:
        raise ValueError("fused_backward needs fused_forward(..., keep=True)")
    dt = a.dtype
    f = int(filter_size)
    x = np.ascontiguousarray(x, dtype=dt)
    dlogits = np.ascontiguousarray(dlogits, dtype=dt)
    n, d = a.shape
    k_out = fct.shape[0]
    c = d // (((x.shape[1] - f + 1) // 2) * ((x.shape[2] - f + 1) // 2))
    grads: dict[str, np.ndarray] = {}
    if "fc_w" in need:
        dfc = np.empty((d, k_out), dtype=dt)
        if _parallel(threads, n * d * k_out):
            _bwd_fc_par(a, dlogits, dfc, _FC_CHUNK)
        else:
            _bwd_fc(a, dlogits, dfc, 0, (d + _FC_CHUNK - 1) // _FC_CHUNK, _FC_CHUNK)
        grads["fc_w"] = dfc
    if "fc_b" in need:
        grads["fc_b"] = dlogits.sum(axis=0)
    need_w = "conv_w" in need
    if need_w or "conv_b" in need:
        part_w = np.empty((n, f * f if need_w else 1, c), dtype=dt)
        part_b = np.empty((n, c), dtype=dt)
        major = _layout(layout, c) == "channel-major"
        par = _parallel(threads, n * d * (k_out + (f * f if need_w else 0)))
        if not major and f == 3:  # the dense 3 x 3 kernel: the same numbers
            args = (x, fct, a, arg, dlogits, need_w, part_w, part_b)
            if par:
                _bwd_minor3_par(*args)
            else:
                _bwd_minor3(*args, 0, n)
        else:
            args = (x, fct, f, a, arg, dlogits, need_w, part_w, part_b)
            if par:
                (_bwd_major_par if major else _bwd_minor_par)(*args)
            else:
                (_bwd_major if major else _bwd_minor)(*args, 0, n)
        if "conv_b" in need:
            db = np.empty(c, dtype=dt)
            _sum_in_order(part_b, db)
            grads["conv_b"] = db
        if need_w:
            dw = np.empty((f * f, c), dtype=dt)
            _sum_in_order(part_w, dw)
            grads["conv_w"] = np.ascontiguousarray(dw.T).reshape(c, f, f)
    return grads
