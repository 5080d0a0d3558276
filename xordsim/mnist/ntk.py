"""The empirical neural tangent kernel of the conv net of Sec. 7, in closed form.

Source: Terjék & González-Sánchez, *A Framework for Overparameterized Learning*, 2022 (seed
``004_*``): the smallest eigenvalue of the NTK at initialization, lazy training and the
relative kernel change; Jacot, Gabriel & Hongler, NeurIPS 2018, for the kernel
Θ(x, x')_{cc'} = Σ_θ ∂f_c(x)/∂θ · ∂f_c'(x')/∂θ.

The network (:class:`xordsim.mnist.net.ConvNet`) computes, for an image x, the pooled
features h_jp = [max_q (w_j · patch_q(p)) + b_j]₊ of channel j at pooled cell p (q over the
four conv positions of the cell's 2x2 window) and the logits f_c = Σ_{j,p} V_{(p,j),c} h_jp
+ c_c (``fc_w`` = V, ``fc_b`` = c). With q*(j, p) the arg-max of the window, broken as the
network's own forward breaks it (:func:`xordsim.mnist.layers.fused_forward`: the first of
positions 0..3 on ties) and m_jp = 1{h_jp > 0}, the gradients are

    ∂f_c/∂w_j = Σ_p V_{(p,j),c} m_jp patch_{q*(j,p)},   ∂f_c/∂b_j = Σ_p V_{(p,j),c} m_jp,
    ∂f_c/∂V_{(p,j),c'} = δ_{cc'} h_jp,                  ∂f_c/∂c_{c'} = δ_{cc'},

so the kernel on n images with K logits is an (nK) x (nK) block matrix (row (s, c) at
``s * K + c``), the sum of four per-tensor blocks:

* ``fc_w``: δ_{cc'} h(x_s) · h(x_s'),  ``fc_b``: δ_{cc'} (block diagonal in the logits);
* ``conv_w``: Σ_j ∂f_c(x_s)/∂w_j · ∂f_c'(x_s')/∂w_j,  ``conv_b``: the same with b_j
  (these couple the logits).

Two kernels are reported: the **full block matrix** Θ (nK x nK) and the **per-logit trace
kernel** Θ_tr(x, x') = (1/K) Σ_c Θ(x, x')_{cc} (n x n, the mean of the K diagonal blocks).

**Width.** Under PyTorch's initialisation (``fc_w`` ~ U(±1/√D), D = H_p W_p C) every
h_jp is O(1), so the ``fc_w`` block, a sum over D features, grows ∝ C while the conv
blocks stay O(1): the figure divides the eigenvalues by C. :meth:`ConvNTK.gram` also gives
the kernel of the **NTK parameterization** of the same network, θ = a θ̃ with θ̃ ~ U(±1)
and a the tensor's initial range (``conv_w``, ``conv_b``: init_scale / f; ``fc_w``,
``fc_b``: 1/√D): Θ̃ = Σ_tensors a² Θ_tensor, O(1) in C.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from xordsim._validate import InputError, check_memory
from xordsim.mnist import layers
from xordsim.mnist.layers import one_blas_thread

#: The tensors of the network, in the order of their Gram blocks.
TENSORS = ("conv_w", "conv_b", "fc_w", "fc_b")
#: Parameterizations of :meth:`ConvNTK.gram`.
PARAMETERIZATIONS = ("standard", "ntk")


class ConvNTK(NamedTuple):
    """The per-tensor pieces of the empirical NTK on n images (all float64).

    ``h`` (n, D): the pooled features h_jp (the FC layer's input) in ``fc_w``'s row order;
    ``grad_w`` (n, K, C, f²) = ∂f_c(x_s)/∂w_j; ``grad_b`` (n, K, C) = ∂f_c(x_s)/∂b_j.
    """

    h: np.ndarray
    grad_w: np.ndarray
    grad_b: np.ndarray

    @property
    def n_images(self) -> int:
        return self.h.shape[0]

    @property
    def n_logits(self) -> int:
        return self.grad_b.shape[1]

    def blocks(self) -> dict[str, np.ndarray]:
        """The four (nK x nK) per-tensor blocks (rows ``s * K + c``), by tensor name."""
        n, k = self.n_images, self.n_logits
        eye = np.eye(k)
        gw = self.grad_w.reshape(n * k, -1)
        gb = self.grad_b.reshape(n * k, -1)
        with one_blas_thread():
            return {"conv_w": gw @ gw.T, "conv_b": gb @ gb.T,
                    "fc_w": np.kron(self.h @ self.h.T, eye),
                    "fc_b": np.kron(np.ones((n, n)), eye)}

    def block_traces(self) -> dict[str, float]:
        """The trace of each per-tensor block (without forming it): Σ of the squared
        gradients, K Σ_s ‖h(x_s)‖² for ``fc_w``, nK for ``fc_b``."""
        k = self.n_logits
        return {"conv_w": float(np.sum(self.grad_w**2)), "conv_b": float(np.sum(self.grad_b**2)),
                "fc_w": float(k * np.sum(self.h**2)), "fc_b": float(self.n_images * k)}

    def gram(self, parameterization: str = "standard", init_scale: float = 1.0,
             blocks: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """The full block matrix Θ (nK x nK).

        ``"standard"``: the network's own parameters (Σ of the four blocks); ``"ntk"``: the
        NTK parameterization θ = a θ̃, Θ̃ = Σ a² Θ_tensor with a = ``init_scale`` / f for the
        conv tensors and 1/√D for the FC tensors (their initial ranges, see the module
        docstring). ``blocks``: :meth:`blocks`, when already computed."""
        if parameterization not in PARAMETERIZATIONS:
            raise InputError(f"parameterization must be one of {', '.join(PARAMETERIZATIONS)}; "
                             f"got {parameterization!r}")
        scales = dict.fromkeys(TENSORS, 1.0)
        if parameterization == "ntk":
            f = math.isqrt(self.grad_w.shape[-1])
            conv = (init_scale / f) ** 2
            scales = {"conv_w": conv, "conv_b": conv, "fc_w": 1.0 / self.h.shape[1],
                      "fc_b": 1.0 / self.h.shape[1]}
        out = None
        for name, block in (self.blocks() if blocks is None else blocks).items():
            out = scales[name] * block if out is None else out + scales[name] * block
        return out


def trace_kernel(gram: np.ndarray, n_logits: int) -> np.ndarray:
    """The per-logit trace kernel (1/K) Σ_c Θ(x_s, x_s')_{cc} (n x n) of a full block Gram
    with rows ``s * K + c``."""
    gram = np.asarray(gram, dtype=float)
    k = int(n_logits)
    if gram.ndim != 2 or gram.shape[0] != gram.shape[1] or gram.shape[0] % k:
        raise InputError(f"gram must be square with a multiple of {k} rows; got {gram.shape}")
    n = gram.shape[0] // k
    g4 = gram.reshape(n, k, n, k)
    return np.einsum("acbc->ab", g4) / k


def memory_bytes(n_images: int, channels: int, filter_size: int, image_size: int,
                 n_logits: int) -> int:
    """Bytes of the arrays :func:`conv_ntk` and :meth:`ConvNTK.gram` hold at their peak
    (float64): the features and gradients, the four blocks and their sum."""
    hp = (image_size - filter_size + 1) // 2
    d = hp * hp * channels
    nk = n_images * n_logits
    pieces = n_images * d + nk * channels * (filter_size**2 + 1)
    per_image = hp * hp * channels * (filter_size**2 + n_logits + 2)
    return 8 * (pieces + per_image + 6 * nk * nk)


def conv_ntk(params: dict[str, np.ndarray], x: np.ndarray) -> ConvNTK:
    """The closed-form NTK pieces of the network ``params`` on images ``x`` (n, H, W).

    The arg-max of every pooled cell and the ReLU mask are those of the network's own
    forward pass (:func:`xordsim.mnist.layers.fused_forward` in the parameters' dtype, the
    path :class:`~xordsim.mnist.net.ConvNet` runs); the features and gradients are then
    computed in float64 from the patches under those arg-maxes.
    """
    w, b, v = params["conv_w"], params["conv_b"], params["fc_w"]
    x = np.asarray(x)
    if x.ndim != 3:
        raise InputError(f"images must have shape (n, H, W); got {x.shape}")
    c, f, _ = w.shape
    n, height, width = x.shape
    hp, wp = (height - f + 1) // 2, (width - f + 1) // 2
    d, k = hp * wp * c, v.shape[1]
    if v.shape[0] != d:
        raise InputError(f"fc_w must have {d} rows for {c} channels on {height}x{width} "
                         f"images; got {v.shape[0]}")
    check_memory("ntk_images", memory_bytes(n, c, f, max(height, width), k), "NTK arrays")
    fwd = layers.fused_forward(x, w, b, v, params["fc_b"], keep=True)
    arg = fwd.arg.reshape(n, hp, wp, c).astype(np.int64)
    mask = fwd.a.reshape(n, hp, wp, c) > 0
    x64 = np.asarray(x, dtype=np.float64)
    cols = layers.im2col(x64, f)                                   # (n, Ho, Wo, f²)
    w64 = np.asarray(w, dtype=np.float64).reshape(c, f * f)
    b64 = np.asarray(b, dtype=np.float64)
    v4 = np.asarray(v, dtype=np.float64).reshape(hp, wp, c, k)
    h = np.empty((n, d))
    grad_w = np.empty((n, k, c, f * f))
    grad_b = np.empty((n, k, c))
    with one_blas_thread():
        _fill(cols, arg, mask, w64, b64, v4, h, grad_w, grad_b)
    return ConvNTK(h, grad_w, grad_b)


def _fill(cols, arg, mask, w64, b64, v4, h, grad_w, grad_b) -> None:
    """The features and gradients of every image (see :func:`conv_ntk`), in place."""
    hp, wp, c, k = v4.shape
    ff = cols.shape[-1]
    rows = 2 * np.arange(hp)[:, None, None]
    colx = 2 * np.arange(wp)[None, :, None]
    for s in range(len(cols)):
        a = arg[s]
        patches = cols[s][rows + a // 2, colx + a % 2]             # (hp, wp, C, f²)
        z = np.einsum("ijct,ct->ijc", patches, w64) + b64
        m = mask[s]
        h[s] = np.where(m, np.maximum(z, 0.0), 0.0).reshape(-1)
        coef = (v4 * m[..., None]).reshape(hp * wp, c, k)          # V m, per cell
        grad_b[s] = coef.sum(axis=0).T
        # Σ_p coef[p, j, c] patch[p, j, :] for every channel j: a batched product over j
        pj = patches.reshape(hp * wp, c, ff).transpose(1, 0, 2)    # (C, P, f²)
        grad_w[s] = np.matmul(coef.transpose(1, 2, 0), pj).transpose(1, 0, 2)


def spectrum_summary(gram: np.ndarray) -> tuple[float, float]:
    """(λ_min, λ_max) of a symmetric Gram (``numpy.linalg.eigvalsh``, ascending)."""
    with one_blas_thread():
        lam = np.linalg.eigvalsh(np.asarray(gram, dtype=np.float64))
    return float(lam[0]), float(lam[-1])


def relative_change(after: np.ndarray, before: np.ndarray) -> float:
    """‖after − before‖_F / ‖before‖_F (weights or kernels; Chizat et al. 2019, seed 004's
    lazy-training diagnostic); NaN when ``before`` is 0 or anything is not finite."""
    a, b = np.asarray(after, dtype=np.float64), np.asarray(before, dtype=np.float64)
    if a.shape != b.shape:
        raise InputError(f"shapes must match; got {a.shape} and {b.shape}")
    den = float(np.linalg.norm(b))
    if den == 0 or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return float("nan")
    return float(np.linalg.norm(a - b) / den)


def params_relative_change(params: dict[str, np.ndarray], params0: dict[str, np.ndarray],
                           names=TENSORS) -> float:
    """‖θ − θ₀‖ / ‖θ₀‖ over the tensors ``names`` taken together (float64)."""
    a = np.concatenate([np.ravel(np.asarray(params[k], dtype=np.float64)) for k in names])
    b = np.concatenate([np.ravel(np.asarray(params0[k], dtype=np.float64)) for k in names])
    return relative_change(a, b)


def unit_measures(params: dict[str, np.ndarray], params0: dict[str, np.ndarray]
                  ) -> dict[str, np.ndarray]:
    """The unit-wise measures of every channel j (arrays of length C):

    ``filter_change`` ‖w_j − w_j⁰‖, ``filter_norm0`` ‖w_j⁰‖, ``fc_norm`` ‖V_{:,j}‖ (the FC
    weights of every cell and logit fed by channel j, after training), ``fc_norm0`` the same
    at initialization and ``fc_change`` ‖V_{:,j} − V⁰_{:,j}‖."""
    w, w0 = (np.asarray(p["conv_w"], dtype=np.float64) for p in (params, params0))
    c = w.shape[0]
    v, v0 = (np.asarray(p["fc_w"], dtype=np.float64) for p in (params, params0))
    # fc_w rows are (cell, channel) with the channel minor
    vj = v.reshape(-1, c, v.shape[1]).transpose(1, 0, 2).reshape(c, -1)
    vj0 = v0.reshape(-1, c, v0.shape[1]).transpose(1, 0, 2).reshape(c, -1)
    return {
        "filter_change": np.linalg.norm((w - w0).reshape(c, -1), axis=1),
        "filter_norm0": np.linalg.norm(w0.reshape(c, -1), axis=1),
        "fc_norm": np.linalg.norm(vj, axis=1),
        "fc_norm0": np.linalg.norm(vj0, axis=1),
        "fc_change": np.linalg.norm(vj - vj0, axis=1),
    }


__all__ = ["PARAMETERIZATIONS", "TENSORS", "ConvNTK", "conv_ntk", "memory_bytes",
           "params_relative_change", "relative_change", "spectrum_summary", "trace_kernel",
           "unit_measures"]
