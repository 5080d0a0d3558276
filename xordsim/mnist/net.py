"""The three-layer network of Section 7: conv f x f (C channels) -> ReLU -> 2x2 max-pool -> FC.

Parameters live in a dict of arrays:

``conv_w`` (C, f, f), ``conv_b`` (C,), ``fc_w`` (D, K), ``fc_b`` (K,) with
``D = (H'//2) * (W'//2) * C`` flattened in (row, column, channel) order.

ReLU and max-pooling commute (max is monotone), and a per-channel bias commutes
with the max too, so the forward pass computes ``relu(maxpool(x * w) + b)``:
the same function as ``maxpool(relu(x * w + b))`` with the bias and the ReLU
applied to a four times smaller array.
"""

from __future__ import annotations

import numpy as np

from xordsim._validate import InputError, check_float, check_int
from xordsim.mnist import layers

PARAM_NAMES = ("conv_w", "conv_b", "fc_w", "fc_b")


def init_params(
    channels: int,
    filter_size: int = 3,
    seed: int | np.random.Generator = 0,
    image_size: int = 28,
    n_classes: int = 10,
    dtype=np.float32,
    conv_scale: float = 1.0,
) -> dict[str, np.ndarray]:
    """PyTorch's default initialisation: every tensor ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``.

    The convolution's weight and bias ranges are multiplied by ``conv_scale``
    (1 = PyTorch's default; the experiments use a smaller value, see
    ``docs/mnist.md``).

    Parameters
    ----------
    channels : int
        Number of convolution filters C (>= 1).
    filter_size : int
        Square filter side f, in ``[1, image_size - 1]``.
    seed : int or numpy Generator
    image_size, n_classes : int
    dtype : numpy dtype (float32 by default; float64 for gradient checks)
    conv_scale : float
        Multiplier (> 0) of the convolution's initial weight and bias range.
    """
    channels = check_int("channels", channels, 1, 100_000)
    filter_size = check_int("filter_size", filter_size, 1, image_size - 1)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    ho = (image_size - filter_size + 1) // 2
    if ho < 1:
        raise InputError(f"filter_size must leave at least a 2x2 map; got {filter_size}")
    d = ho * ho * channels
    conv_scale = check_float("init_scale", conv_scale, 0.0, None, low_open=True)
    a1 = conv_scale / filter_size
    a2 = 1.0 / np.sqrt(d)
    return {
        "conv_w": rng.uniform(-a1, a1, (channels, filter_size, filter_size)).astype(dtype),
        "conv_b": rng.uniform(-a1, a1, channels).astype(dtype),
        "fc_w": rng.uniform(-a2, a2, (d, n_classes)).astype(dtype),
        "fc_b": rng.uniform(-a2, a2, n_classes).astype(dtype),
    }


class ConvNet:
    """Conv -> ReLU -> max-pool -> linear classifier with closed-form gradients.

    Parameters
    ----------
    params : dict
        As returned by :func:`init_params` (arrays are used in place).
    frozen : iterable of str
        Names of parameters that get no gradient (and are never updated).
    """

    def __init__(self, params: dict[str, np.ndarray], frozen=()):
        missing = [k for k in PARAM_NAMES if k not in params]
        if missing:
            raise InputError(f"params is missing {', '.join(missing)}")
        self.params = params
        self.frozen = set()
        self.set_frozen(frozen)

    @classmethod
    def create(
        cls,
        channels: int,
        filter_size: int = 3,
        seed: int = 0,
        image_size: int = 28,
        n_classes: int = 10,
        dtype=np.float32,
        frozen=(),
        conv_scale: float = 1.0,
    ) -> ConvNet:
        """A freshly initialised network (see :func:`init_params`)."""
        p = init_params(channels, filter_size, seed, image_size, n_classes, dtype, conv_scale)
        return cls(p, frozen)

    def set_frozen(self, names) -> None:
        """Freeze exactly the parameters in ``names``."""
        names = set(names)
        bad = names - set(PARAM_NAMES)
        if bad:
            raise InputError(
                f"frozen must name parameters among {', '.join(PARAM_NAMES)}; got {sorted(bad)}"
            )
        self.frozen = names

    @property
    def channels(self) -> int:
        return self.params["conv_w"].shape[0]

    @property
    def filter_size(self) -> int:
        return self.params["conv_w"].shape[1]

    @property
    def dtype(self):
        return self.params["conv_w"].dtype

    def trainable(self) -> list[str]:
        """Names of the parameters that receive gradients."""
        return [k for k in PARAM_NAMES if k not in self.frozen]

    def _features(self, x: np.ndarray):
        p = self.params
        x = np.asarray(x, dtype=self.dtype)
        z, cols = layers.conv_forward(x, p["conv_w"])
        pooled, arg = layers.maxpool_forward(z)
        pooled += p["conv_b"]
        a = layers.relu_forward(pooled)
        return a, (cols, z.shape, arg)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Logits, shape (N, K), for images ``x`` of shape (N, H, W)."""
        a, _ = self._features(x)
        flat = a.reshape(a.shape[0], -1)
        return layers.linear_forward(flat, self.params["fc_w"], self.params["fc_b"])

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        """Mean cross-entropy on ``(x, y)`` and the gradients of the trainable parameters."""
        p = self.params
        a, (cols, zshape, arg) = self._features(x)
        n = a.shape[0]
        flat = a.reshape(n, -1)
        logits = layers.linear_forward(flat, p["fc_w"], p["fc_b"])
        loss, dlogits = layers.softmax_cross_entropy(logits, np.asarray(y))
        grads: dict[str, np.ndarray] = {}
        if "fc_w" not in self.frozen:
            grads["fc_w"] = flat.T @ dlogits
        if "fc_b" not in self.frozen:
            grads["fc_b"] = dlogits.sum(axis=0)
        need_b = "conv_b" not in self.frozen
        need_w = "conv_w" not in self.frozen
        if need_b or need_w:
            da = (dlogits @ p["fc_w"].T).reshape(a.shape)
            dpool = layers.relu_backward(da, a)
            if need_b:
                grads["conv_b"] = dpool.sum(axis=(0, 1, 2))
            if need_w:
                dz = layers.maxpool_backward(dpool, arg, zshape)
                grads["conv_w"], _ = layers.conv_backward(dz, cols, with_bias=False)
        return loss, grads

    def predict(self, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """Predicted class of each image, computed in batches."""
        out = [self.forward(x[i : i + batch_size]).argmax(axis=1) for i in
               range(0, len(x), batch_size)]
        return np.concatenate(out) if out else np.empty(0, dtype=np.int64)

    def copy(self) -> ConvNet:
        """A deep copy (parameters and frozen set)."""
        return ConvNet({k: v.copy() for k, v in self.params.items()}, self.frozen)
