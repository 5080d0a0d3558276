"""The two-layer fully connected ReLU network of the related papers, on flattened images.

    f(x) = V [U x + b]₊ + c

in the notation of Neyshabur et al. (seed 003, Sec. 2) and of
:func:`xordsim.measures.capacity.capacity_measures`: ``U`` (h, D), ``b`` (h,), ``V`` (K, h),
``c`` (K,), h hidden units, D = 784 pixels, K outputs. Parameters live in a dict of arrays,
as the conv net's (:mod:`xordsim.mnist.net`), and :class:`FCNet` has the conv net's
duck-typed interface, so :func:`xordsim.mnist.train.train` / ``evaluate`` and the
optimisers of :mod:`xordsim.mnist.optim` train it unchanged. The layers are those of
:mod:`xordsim.mnist.layers` (``linear_forward``/``linear_backward``, ``relu_*``,
``softmax_cross_entropy``); the gradients are closed form (tested against finite
differences in float64, ``tests/test_mnist_fc.py``).

Options:

* ``loss="cross_entropy"`` (softmax, labels = class indices) or ``"squared"``:
  ½ Σ_i ‖f(x_i) − t_i‖², with t_i = y_i (float) when K = 1 and the one-hot vector of the
  class y_i when K > 1; ``reduction`` ``"mean"`` (divided by the batch size, the default)
  or ``"sum"`` (Arora et al.'s Φ);
* ``bias=False``: no biases. b and c are kept in ``params`` as zeros (so every consumer,
  e.g. the capacity measures, reads the same four arrays), are never added in the forward
  pass and never trained (not in :meth:`FCNet.trainable`, whatever ``frozen`` says);
* ``frozen``: parameters that get no gradient (e.g. ``{"V"}``: first layer only).

float32 by default (NumPy BLAS matmuls), float64 for the gradient checks.

:func:`arora_net` builds Arora et al.'s model exactly (seed 002, Sec. 3): f(x) =
(1/√h) Σ_r a_r σ(w_r·x), a_r uniform on {±1} fixed, w_r(0) ~ N(0, κ²I), no biases, loss
Φ(W) = ½ Σ_i (y_i − f(x_i))² (a sum), trained by :func:`gd_full_batch` (plain full-batch
GD, W ← W − η ∂Φ/∂W, their Eq. 3).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from xordsim._validate import InputError, check_int
from xordsim.mnist import layers
from xordsim.mnist.config import (
    ARORA_KAPPA,
    FC_INIT,
    FC_LOSS,
    FC_REDUCTION,
    FC_WIDTH,
    IMAGE_SIZE,
    N_CLASSES,
    TrainConfig,
)

#: The parameters, in the notation of the capacity measures.
PARAM_NAMES = ("U", "b", "V", "c")
#: The biases (zero and never trained when ``bias=False``).
BIAS_NAMES = ("b", "c")
_TRAIN = TrainConfig.params()


def init_fc_params(
    width: int,
    n_in: int = IMAGE_SIZE * IMAGE_SIZE,
    n_out: int = N_CLASSES,
    seed: int | np.random.Generator = 0,
    dtype=np.float32,
    init: str = "pytorch",
) -> dict[str, np.ndarray]:
    """PyTorch's default initialisation of ``nn.Linear`` (weights and biases
    ``U(−1/√fan_in, 1/√fan_in)``): U, b with fan_in = ``n_in``, then V, c with fan_in =
    ``width``, drawn in that order (float64 draws rounded to ``dtype``).

    Parameters
    ----------
    width : int
        h, the hidden units (>= 1).
    n_in, n_out : int
        D (784 for flattened MNIST) and K (10 classes).
    seed : int or numpy Generator
    dtype : numpy dtype (float32 by default; float64 for gradient checks)
    init : ``"pytorch"`` (the only one; Arora et al.'s Gaussian init is :func:`arora_net`)
    """
    width = FC_WIDTH.check(width)
    n_in = check_int("n_in", n_in, 1)
    n_out = check_int("n_out", n_out, 1)
    FC_INIT.check(init)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    a1, a2 = 1.0 / np.sqrt(n_in), 1.0 / np.sqrt(width)
    return {
        "U": rng.uniform(-a1, a1, (width, n_in)).astype(dtype),
        "b": rng.uniform(-a1, a1, width).astype(dtype),
        "V": rng.uniform(-a2, a2, (n_out, width)).astype(dtype),
        "c": rng.uniform(-a2, a2, n_out).astype(dtype),
    }


def squared_loss(out: np.ndarray, t: np.ndarray, reduction: str = "mean"
                 ) -> tuple[float, np.ndarray]:
    """½ Σ_i ‖out_i − t_i‖² (divided by N for ``"mean"``) and its gradient w.r.t. ``out``.

    ``out`` and ``t`` are (N, K); the gradient is (out − t) (/ N), in ``out``'s dtype.
    """
    diff = out - t
    scale = 1.0 / out.shape[0] if reduction == "mean" else 1.0
    loss = 0.5 * scale * float(np.sum(np.square(diff, dtype=np.float64)))
    return loss, (diff * scale).astype(out.dtype, copy=False)


class FCNet:
    """f(x) = V[Ux + b]₊ + c with closed-form gradients (see the module docstring).

    Parameters
    ----------
    params : dict
        ``U`` (h, D), ``b`` (h,), ``V`` (K, h), ``c`` (K,) of one float dtype, as returned
        by :func:`init_fc_params` (arrays are used in place). With ``bias=False``, ``b`` and
        ``c`` may be left out (zeros are filled in).
    frozen : iterable of str
        Names of parameters that get no gradient (and are never updated).
    loss : ``"cross_entropy"`` or ``"squared"``
    bias : bool
        False: b = c = 0, never added, never trained.
    reduction : ``"mean"`` or ``"sum"``
        How the loss sums over a batch.
    """

    def __init__(self, params: dict[str, np.ndarray], frozen=(), loss: str = "cross_entropy",
                 bias: bool = True, reduction: str = "mean"):
        self.loss = FC_LOSS.check(loss)
        self.reduction = FC_REDUCTION.check(reduction)
        if not isinstance(bias, (bool, np.bool_)):
            raise InputError(f"bias must be true or false, got {bias!r}")
        self.bias = bool(bias)
        for k in ("U", "V") if not self.bias else PARAM_NAMES:
            if k not in params:
                raise InputError(f"params is missing {k}")
        U, V = params["U"], params["V"]
        if U.ndim != 2 or V.ndim != 2 or V.shape[1] != U.shape[0] or 0 in U.shape + V.shape:
            raise InputError(f"params U (h, D) and V (K, h) have shapes {U.shape}, {V.shape}")
        if U.dtype not in (np.float32, np.float64) or V.dtype != U.dtype:
            raise InputError(f"params must be float32 or float64 arrays of one dtype; got "
                             f"{U.dtype}, {V.dtype}")
        h, K = U.shape[0], V.shape[0]
        if not self.bias:
            params.setdefault("b", np.zeros(h, U.dtype))
            params.setdefault("c", np.zeros(K, U.dtype))
        for k, n in (("b", h), ("c", K)):
            if params[k].shape != (n,) or params[k].dtype != U.dtype:
                raise InputError(f"params {k} must have shape ({n},) and dtype {U.dtype}; got "
                                 f"{params[k].shape}, {params[k].dtype}")
        if not self.bias and (np.any(params["b"] != 0) or np.any(params["c"] != 0)):
            raise InputError("params b and c must be zero when bias is false")
        self.params = params
        self.frozen: set[str] = set()
        self.set_frozen(frozen)

    @classmethod
    def create(
        cls,
        width: int,
        n_in: int = IMAGE_SIZE * IMAGE_SIZE,
        n_out: int = N_CLASSES,
        seed: int | np.random.Generator = 0,
        dtype=np.float32,
        frozen=(),
        loss: str = "cross_entropy",
        bias: bool = True,
        reduction: str = "mean",
        init: str = "pytorch",
    ) -> FCNet:
        """A freshly initialised network (:func:`init_fc_params`; with ``bias=False`` the
        same draws, then b and c set to zero, so U and V do not depend on ``bias``)."""
        p = init_fc_params(width, n_in, n_out, seed, dtype, init)
        if not bias:
            p["b"][:] = 0
            p["c"][:] = 0
        return cls(p, frozen, loss, bias, reduction)

    def set_frozen(self, names) -> None:
        """Freeze exactly the parameters in ``names``."""
        names = set(names)
        bad = names - set(PARAM_NAMES)
        if bad:
            raise InputError(f"frozen must name parameters among {', '.join(PARAM_NAMES)}; "
                             f"got {sorted(bad)}")
        self.frozen = names

    @property
    def width(self) -> int:
        return self.params["U"].shape[0]

    @property
    def n_in(self) -> int:
        return self.params["U"].shape[1]

    @property
    def n_out(self) -> int:
        return self.params["V"].shape[0]

    @property
    def dtype(self):
        return self.params["U"].dtype

    @property
    def label_dtype(self):
        """How :func:`xordsim.mnist.train.train` casts labels: float targets for the squared
        loss with one output, int64 class indices otherwise."""
        return self.dtype if (self.loss == "squared" and self.n_out == 1) else np.int64

    def trainable(self) -> list[str]:
        """Names of the parameters that receive gradients."""
        return [k for k in PARAM_NAMES
                if k not in self.frozen and (self.bias or k not in BIAS_NAMES)]

    def flatten(self, x: np.ndarray) -> np.ndarray:
        """Inputs (N, H, W) or (N, D) as a (N, D) array of the network's dtype."""
        x = np.asarray(x, dtype=self.dtype)
        x = x.reshape(x.shape[0], -1) if x.ndim >= 2 else x
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise InputError(f"x must have shape (N, {self.n_in}) or (N, H, W) with H W = "
                             f"{self.n_in}; got {np.shape(x)}")
        return x

    def _hidden(self, x: np.ndarray) -> np.ndarray:
        p = self.params
        z = (layers.linear_forward(x, p["U"].T, p["b"]) if self.bias else x @ p["U"].T)
        return layers.relu_forward(z)

    def _out(self, a: np.ndarray) -> np.ndarray:
        p = self.params
        return layers.linear_forward(a, p["V"].T, p["c"]) if self.bias else a @ p["V"].T

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Outputs f(x), shape (N, K)."""
        return self._out(self._hidden(self.flatten(x)))

    def targets(self, y: np.ndarray, n: int) -> np.ndarray:
        """The squared loss's targets (N, K): y itself for K = 1 (or y of shape (N, K)),
        the one-hot vectors of class indices for K > 1."""
        y = np.asarray(y)
        K = self.n_out
        if y.shape == (n, K) and y.dtype.kind == "f":
            return y.astype(self.dtype, copy=False)
        if y.shape != (n,):
            raise InputError(f"y must have shape ({n},); got {y.shape}")
        if K == 1:
            return y.astype(self.dtype).reshape(n, 1)
        if y.dtype.kind not in "iu" or np.any((y < 0) | (y >= K)):
            raise InputError(f"y must be class indices in [0, {K - 1}] for the squared loss "
                             f"with K = {K} outputs")
        t = np.zeros((n, K), self.dtype)
        t[np.arange(n), y] = 1
        return t

    def loss_of(self, out: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """The loss of outputs ``out`` (N, K) on labels ``y`` and its gradient w.r.t. out."""
        n = out.shape[0]
        if self.loss == "squared":
            return squared_loss(out, self.targets(y, n), self.reduction)
        y = np.asarray(y)
        if y.shape != (n,) or y.dtype.kind not in "iu" or np.any((y < 0) | (y >= self.n_out)):
            raise InputError(f"y must be {n} class indices in [0, {self.n_out - 1}] for the "
                             "cross-entropy")
        loss, d = layers.softmax_cross_entropy(out, y)
        if self.reduction == "sum":
            loss, d = loss * n, (d * n).astype(out.dtype, copy=False)
        return loss, d

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        """The loss on ``(x, y)`` and the gradients of the trainable parameters:

        ∂/∂V = δᵀa, ∂/∂c = Σ_i δ_i, ∂/∂U = ((δV) ⊙ 1[a > 0])ᵀ x, ∂/∂b = Σ_i (δV ⊙ 1[a > 0])_i

        with a = [Ux + b]₊ and δ = ∂loss/∂f (the first layer's input gradient is not
        computed: nothing needs it)."""
        x = self.flatten(x)
        p = self.params
        a = self._hidden(x)
        out = self._out(a)
        loss, dout = self.loss_of(out, y)
        need = set(self.trainable())
        da, dvt, dc = layers.linear_backward(dout, a, p["V"].T)
        grads: dict[str, np.ndarray] = {}
        if "U" in need or "b" in need:
            dz = layers.relu_backward(da, a)
            if "U" in need:
                grads["U"] = dz.T @ x
            if "b" in need:
                grads["b"] = dz.sum(axis=0)
        if "V" in need:
            grads["V"] = np.ascontiguousarray(dvt.T)
        if "c" in need:
            grads["c"] = dc
        return loss, {k: grads[k] for k in PARAM_NAMES if k in grads}

    def predict(self, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """Predicted class (K > 1: the arg-max) or sign (K = 1: ±1, +1 at 0), in batches."""
        out = [self.forward(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        if not out:
            return np.empty(0, dtype=np.int64)
        f = np.concatenate(out)
        if self.n_out == 1:
            return np.where(f[:, 0] >= 0, 1, -1)
        return f.argmax(axis=1)

    def copy(self) -> FCNet:
        """A deep copy (parameters, frozen set and options)."""
        return FCNet({k: v.copy() for k, v in self.params.items()}, self.frozen, self.loss,
                     self.bias, self.reduction)


def arora_net(width: int, n_in: int, kappa: float, seed: int | np.random.Generator = 0,
              dtype=np.float64) -> FCNet:
    """Arora et al.'s two-layer net exactly (seed 002, Sec. 3, Eq. 1–2):

        f_{W,a}(x) = (1/√h) Σ_r a_r σ(w_r·x),   Φ(W) = ½ Σ_i (y_i − f(x_i))²

    w_r(0) ~ N(0, κ² I) (the (h, D) matrix ``U``, drawn first), a_r uniform on {±1} (drawn
    second), fixed: ``V`` = a/√h of shape (1, h) is frozen; no biases (b = c = 0, never
    trained); the loss is the squared loss summed over the points, with float labels
    (±1 in their experiments). Inputs should have ‖x‖ = 1 (their assumption; the caller
    normalises). Train it with :func:`gd_full_batch`.
    """
    width = FC_WIDTH.check(width)
    n_in = check_int("n_in", n_in, 1)
    kappa = ARORA_KAPPA.check(kappa)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    U = (kappa * rng.standard_normal((width, n_in))).astype(dtype)
    a = (2 * rng.integers(0, 2, width) - 1).astype(np.float64)
    V = (a / np.sqrt(width)).reshape(1, width).astype(dtype)
    return FCNet({"U": U, "V": V}, frozen={"V"}, loss="squared", bias=False, reduction="sum")


class GDCurve(NamedTuple):
    """The loss Φ(W(t)) at the recorded steps t of :func:`gd_full_batch`."""

    steps: np.ndarray
    loss: np.ndarray


def gd_full_batch(net: FCNet, x: np.ndarray, y: np.ndarray, lr: float, steps: int,
                  record_every: int = 1) -> GDCurve:
    """Plain full-batch gradient descent on ``net`` in place: θ ← θ − lr ∂L/∂θ for every
    trainable parameter θ (for :func:`arora_net`: W ← W − η ∂Φ/∂W, Arora et al.'s Eq. 3,
    with Φ the summed loss), ``steps`` times on all of ``(x, y)``.

    Returns the loss at t = 0, ``record_every``, 2·``record_every``, ... and at t =
    ``steps`` (always recorded), each the loss of the weights W(t) before update t + 1.
    """
    lr = _TRAIN["lr"].check(lr)
    steps = check_int("steps", steps, 0)
    record_every = check_int("record_every", record_every, 1)
    x = net.flatten(x)
    y = np.asarray(y, dtype=net.label_dtype)
    if len(y) != len(x) or len(x) == 0:
        raise InputError(f"x and y must hold the same non-zero number of points; got "
                         f"{len(x)}, {len(y)}")
    ts, losses = [], []
    for t in range(steps):
        loss, grads = net.loss_and_grads(x, y)
        if t % record_every == 0:
            ts.append(t)
            losses.append(loss)
        for name, g in grads.items():
            net.params[name] -= lr * g
    ts.append(steps)
    losses.append(net.loss_of(net.forward(x), y)[0])
    return GDCurve(np.asarray(ts, dtype=np.int64), np.asarray(losses, dtype=np.float64))


__all__ = ["BIAS_NAMES", "FCNet", "GDCurve", "PARAM_NAMES", "arora_net", "gd_full_batch",
           "init_fc_params", "squared_loss"]
