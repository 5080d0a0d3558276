"""Layers of the MNIST network: forward passes and closed-form backward passes.

Arrays are channels-last: an image batch is ``(N, H, W)`` (one input channel),
a feature map is ``(N, H, W, C)``. Convolution is im2col followed by one BLAS
matrix product; max-pooling forward and backward are numba kernels that record
the arg-max position of each 2x2 window (the first one on ties).
"""

from __future__ import annotations

import numba
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "im2col",
    "conv_forward",
    "conv_backward",
    "relu_forward",
    "relu_backward",
    "maxpool_forward",
    "maxpool_backward",
    "linear_forward",
    "linear_backward",
    "softmax_cross_entropy",
]


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
