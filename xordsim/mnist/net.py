"""The three-layer network of Section 7: conv f x f (C channels) -> ReLU -> 2x2 max-pool -> FC.

Parameters live in a dict of arrays:

``conv_w`` (C, f, f), ``conv_b`` (C,), ``fc_w`` (D, K), ``fc_b`` (K,) with
``D = (H'//2) * (W'//2) * C`` flattened in (row, column, channel) order.

ReLU and max-pooling commute (max is monotone), and a per-channel bias commutes
with the max too, so the forward pass computes ``relu(maxpool(x * w) + b)``:
the same function as ``maxpool(relu(x * w + b))`` with the bias and the ReLU
applied to a four times smaller array.

Two implementations compute it (``ConvNet.impl``): ``"fused"`` (default), the numba
kernels :func:`~xordsim.mnist.layers.fused_forward` / ``fused_backward`` (one pass per
image, threads over the images, bit-identical for any thread count), and
``"reference"``, the NumPy im2col layers the fused kernels are tested against.
"""

from __future__ import annotations

import lzma
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from xordsim._validate import InputError, check_int, check_memory
from xordsim.mnist import layers
from xordsim.mnist.config import IMAGE_SIZE, N_CLASSES, NetConfig

PARAM_NAMES = ("conv_w", "conv_b", "fc_w", "fc_b")
#: The implementations of the forward and backward passes (see the module docstring).
IMPLS = ("fused", "reference")
#: The optional array of a weights file: the conv filters at initialisation.
INIT_NAME = "init_conv_w"
_NET = NetConfig.params()


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
    channels = _NET["channels"].check(channels)
    filter_size = _NET["filter_size"].check(filter_size)
    filter_size = check_int("filter_size", filter_size, 1, image_size - 1)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    ho = (image_size - filter_size + 1) // 2
    if ho < 1:
        raise InputError(f"filter_size must leave at least a 2x2 map; got {filter_size}")
    d = ho * ho * channels
    conv_scale = _NET["init_scale"].check(conv_scale, "init_scale")
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
    impl : ``"fused"`` or ``"reference"``
        The numba kernels (default) or the NumPy im2col layers; same function, same
        gradients up to the order of float sums.
    """

    def __init__(self, params: dict[str, np.ndarray], frozen=(), impl: str = "fused"):
        missing = [k for k in PARAM_NAMES if k not in params]
        if missing:
            raise InputError(f"params is missing {', '.join(missing)}")
        if impl not in IMPLS:
            raise InputError(f"impl must be one of {', '.join(IMPLS)}; got {impl!r}")
        self.params = params
        self.impl = impl
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
        impl: str = "fused",
    ) -> ConvNet:
        """A freshly initialised network (see :func:`init_params`)."""
        p = init_params(channels, filter_size, seed, image_size, n_classes, dtype, conv_scale)
        return cls(p, frozen, impl)

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
        p = self.params
        if self.impl == "fused":
            return layers.fused_forward(x, p["conv_w"], p["conv_b"], p["fc_w"], p["fc_b"],
                                        keep=False).logits
        a, _ = self._features(x)
        flat = a.reshape(a.shape[0], -1)
        return layers.linear_forward(flat, p["fc_w"], p["fc_b"])

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        """Mean cross-entropy on ``(x, y)`` and the gradients of the trainable parameters."""
        if self.impl == "fused":
            return self._loss_and_grads_fused(x, y)
        return self._loss_and_grads_reference(x, y)

    def _loss_and_grads_fused(self, x: np.ndarray, y: np.ndarray
                              ) -> tuple[float, dict[str, np.ndarray]]:
        p = self.params
        x = np.ascontiguousarray(x, dtype=self.dtype)
        fwd = layers.fused_forward(x, p["conv_w"], p["conv_b"], p["fc_w"], p["fc_b"])
        loss, dlogits = layers.softmax_cross_entropy(fwd.logits, np.asarray(y))
        grads = layers.fused_backward(x, fwd, dlogits, self.filter_size, set(self.trainable()))
        return loss, {k: grads[k] for k in PARAM_NAMES if k in grads}

    def _loss_and_grads_reference(self, x: np.ndarray, y: np.ndarray
                                  ) -> tuple[float, dict[str, np.ndarray]]:
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
        return ConvNet({k: v.copy() for k, v in self.params.items()}, self.frozen, self.impl)


# ----------------------------------------------------------------------------------------
# weights files ('mnist train --out' writes mnist_net.npz; 'cluster'/'compress --weights')

#: The most a deflated member can expand (zlib's limit is about 1032:1).
_DEFLATE_RATIO = 1100


def pooled_size(filter_size: int, image_size: int = IMAGE_SIZE) -> int:
    """Side of the pooled feature map: ``(image_size - filter_size + 1) // 2``."""
    return (image_size - filter_size + 1) // 2


def save_network(path: str | os.PathLike, net: ConvNet, init_conv_w: np.ndarray | None = None
                 ) -> Path:
    """Atomically write ``net``'s parameters (and the initial filters) as a compressed NPZ."""
    from xordsim.io import write_npz

    extra = {} if init_conv_w is None else {INIT_NAME: init_conv_w}
    return write_npz(path, **net.params, **extra)


def load_network(path: str | os.PathLike, label: str = "--weights"
                 ) -> tuple[ConvNet, np.ndarray | None]:
    """Read a weights NPZ written by ``mnist train --out`` (:func:`save_network`).

    Returns the network and its initial filters (``None`` when the file has none). Every
    defect gives one :class:`InputError`, ``{label} FILE: not a network NPZ from 'mnist
    train' (why)``: a missing or unreadable file, not a zip, a truncated or corrupt member,
    a missing array, a dtype other than float32/float64, shapes that do not make the
    network of Sec. 7 (or exceed the declared limits), non-finite values. The declared
    shapes are checked against the sizes in the zip directory and the file size before
    anything is allocated, so a mutated file never makes a large allocation. Nothing is
    unpickled.
    """
    path = Path(path)

    def bad(why: str) -> InputError:
        why = " ".join(str(why).split()) or "unreadable"
        return InputError(f"{label} {path}: not a network NPZ from 'mnist train' ({why})")

    if not path.exists():
        raise bad("no such file")
    if not path.is_file():
        raise bad("not a regular file")
    size = path.stat().st_size
    try:
        with zipfile.ZipFile(path) as zf:
            members = {}
            for name in (*PARAM_NAMES, INIT_NAME):
                try:
                    members[name] = zf.getinfo(name + ".npy")
                except KeyError:
                    if name != INIT_NAME:
                        raise bad(f"missing array {name}") from None
            headers = {name: _npy_header(zf, info, size, bad) for name, info in members.items()}
            dtype = _check_shapes(headers, bad)
            total = sum(int(np.prod(shape)) * dt.itemsize for shape, _, dt, _ in headers.values())
            check_memory(label, total, "weights")
            arrays = {name: _npy_read(zf, members[name], header, bad)
                      for name, header in headers.items()}
    except InputError:
        raise
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error,
            lzma.LZMAError, NotImplementedError, RuntimeError, OverflowError) as exc:
        raise bad(f"{type(exc).__name__}: {exc}") from None
    for name, a in arrays.items():
        if not np.all(np.isfinite(a)):
            raise bad(f"{name} has non-finite values")
    params = {name: np.ascontiguousarray(arrays[name], dtype=dtype) for name in PARAM_NAMES}
    init = arrays.get(INIT_NAME)
    if init is not None:
        init = np.ascontiguousarray(init, dtype=dtype)
    return ConvNet(params), init


def _npy_header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, file_size: int, bad):
    """(shape, fortran_order, dtype, header bytes) of one ``.npy`` member, with its
    declared sizes checked against the zip directory and the file size."""
    name = info.filename[:-4]
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise bad(f"{name}: compression method {info.compress_type} (not NumPy's)")
    if info.compress_size > file_size:
        raise bad(f"{name}: {info.compress_size} compressed bytes in a {file_size}-byte file")
    with zf.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        if version not in ((1, 0), (2, 0), (3, 0)):
            raise bad(f"{name}: .npy format version {version}")
        read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                else np.lib.format.read_array_header_2_0)
        try:
            shape, fortran, dtype = read(fh)
        except Exception as exc:  # noqa: BLE001 - NumPy parses the header with tokenize
            # and ast, whose errors (SyntaxError, TokenError, ...) are not ValueErrors
            raise bad(f"{name}: unreadable .npy header ({type(exc).__name__})") from None
        header = fh.tell()
    if dtype.kind != "f" or dtype.itemsize not in (4, 8) or dtype.fields is not None:
        raise bad(f"{name} has dtype {dtype}, not float32 or float64")
    if any(not isinstance(n, int) or n < 0 for n in shape):
        raise bad(f"{name} has shape {shape}")
    nbytes = dtype.itemsize
    for n in shape:
        nbytes *= n
    if header + nbytes != info.file_size:
        raise bad(f"{name}: shape {shape} needs {nbytes} bytes, the member holds "
                  f"{info.file_size - header}")
    ratio = 1 if info.compress_type == zipfile.ZIP_STORED else _DEFLATE_RATIO
    if info.file_size > ratio * info.compress_size + 1024:
        raise bad(f"{name}: {info.file_size} bytes cannot come from {info.compress_size} "
                  "compressed bytes")
    return shape, fortran, dtype, header


def _check_shapes(headers: dict, bad):
    """The dtype of the network if the shapes make the network of Sec. 7, else raise."""
    shape = {name: h[0] for name, h in headers.items()}
    w = shape["conv_w"]
    if len(w) != 3 or w[1] != w[2]:
        raise bad(f"conv_w has shape {w}, expected (channels, f, f)")
    c, f = w[0], w[1]
    lim = _NET["channels"]
    if not 1 <= c <= lim.high:
        raise bad(f"conv_w has {c} channels, expected 1 to {lim.high:g}")
    if not 1 <= f <= _NET["filter_size"].high:
        raise bad(f"conv_w has {f}x{f} filters, expected at most "
                  f"{_NET['filter_size'].high:g}x{_NET['filter_size'].high:g}")
    d = pooled_size(f) ** 2 * c
    want = {"conv_w": (c, f, f), "conv_b": (c,), "fc_w": (d, N_CLASSES), "fc_b": (N_CLASSES,),
            INIT_NAME: (c, f, f)}
    for name, s in shape.items():
        if tuple(s) != want[name]:
            raise bad(f"{name} has shape {tuple(s)}, expected {want[name]}")
    return headers["conv_w"][2].newbyteorder("=")


def _npy_read(zf: zipfile.ZipFile, info: zipfile.ZipInfo, header, bad) -> np.ndarray:
    """The data of one member (sizes already checked), read in full and CRC-checked."""
    shape, fortran, dtype, skip = header
    nbytes = info.file_size - skip
    with zf.open(info) as fh:
        fh.read(skip)
        raw = fh.read(nbytes)
        if len(raw) != nbytes or fh.read(1):
            raise bad(f"{info.filename[:-4]}: truncated data")
    a = np.frombuffer(raw, dtype=dtype)
    return a.reshape(shape, order="F" if fortran else "C").astype(dtype.newbyteorder("="))
