"""Minibatch training loop and evaluation for :class:`~xordsim.mnist.net.ConvNet` and
:class:`~xordsim.mnist.fc.FCNet` (any network with the same duck-typed interface:
``params``, ``dtype``, ``loss_and_grads``, ``predict``; an optional ``label_dtype`` says
how labels are cast: int64 class indices when absent, float targets for a squared loss)."""

from __future__ import annotations

import math

import numpy as np
from tqdm.auto import tqdm

from xordsim._validate import InputError, check_float
from xordsim.mnist.config import IMAGE_SIZE, N_CLASSES, NetConfig, TrainConfig
from xordsim.mnist.fc import FCNet
from xordsim.mnist.net import ConvNet
from xordsim.mnist.optim import make_optimizer

#: Images per forward pass in :func:`evaluate`.
EVAL_BATCH = 500
#: Bytes :func:`memory_estimate` adds to a pass of the fused network for the small arrays
#: it does not itemise (indices, labels of the batch, softmax temporaries, ...).
_SMALL_TEMPORARIES = 256 * 1024


def memory_estimate(
    net: NetConfig,
    config: TrainConfig,
    n_train: int,
    n_test: int,
    itemsize: int = 4,
    image_size: int = IMAGE_SIZE,
    n_classes: int = N_CLASSES,
    impl: str = "fused",
) -> dict[str, int]:
    """Bytes the arrays of :func:`train` and :func:`evaluate` need at their peak, by part.

    From the shapes they allocate (float32: ``itemsize`` 4), with B images per pass and
    ``D = (Ho // 2)^2 C`` pooled features, ``Ho = image_size - f + 1``, for the network's
    implementation ``impl`` (:data:`xordsim.mnist.net.IMPLS`):

    * ``data``: the training and test images (float32, and their uint8 source), their
      labels and the epoch's permutation (int64);
    * ``model``: the parameters, their gradients, Adam's two moments and the scratch array
      of its update;
    * ``batch``: one training step: the batch and the logits; ``fused``: the pooled
      activations and their arg-max (B D each), the transposed fully connected weight, the
      per-image filter gradients (B f^2 C) and the new gradients while the last step's are
      still referenced; ``reference``: the im2col patches
      (B Ho^2 f^2), the conv output or its gradient (B Ho^2 C), and the pooled activations,
      arg-max, ReLU mask and their gradients (B D each);
    * ``eval``: one forward pass of :func:`evaluate` (``EVAL_BATCH`` images);
    * ``update``: the temporaries of one optimiser update (Adam: none; SGD: one
      parameter-sized array).

    ``total`` = data + model + max(batch, eval, update): the passes and the update never
    overlap. It errs on the large side (by at most about 1.5x).
    """
    c, f = net.channels, net.filter_size
    ho = max(image_size - f + 1, 0)
    d = (ho // 2) ** 2 * c
    n_params = c * f * f + c + d * n_classes + n_classes
    params = n_params * itemsize
    adam = config.optimizer == "adam"
    fused = impl == "fused"
    moments = 3 * params if adam else 0

    def one_pass(b: int, backward: bool) -> int:
        pixels = b * image_size * image_size * itemsize
        logits = 4 * b * n_classes * 8
        if fused:
            fct = d * n_classes * itemsize
            # backward: the activations and arg-max kept, the per-image filter gradients,
            # and the new gradients while the previous step's are still referenced
            kept = (b * d * (itemsize + 1) + b * (f * f + 1) * c * itemsize + params
                    if backward else 0)
            return pixels + logits + fct + kept + _SMALL_TEMPORARIES
        cols = b * ho * ho * f * f * itemsize
        conv = b * ho * ho * c * itemsize
        pooled = b * d * ((3 * itemsize + 2) if backward else (2 * itemsize + 1))
        return pixels + cols + conv + pooled + logits

    parts = {
        "data": ((n_train + n_test) * (image_size * image_size * (itemsize + 1) + 8)
                 + n_train * 8),
        "model": 2 * params + moments,
        "batch": one_pass(min(config.batch_size, n_train), True),
        "eval": one_pass(min(EVAL_BATCH, n_test), False),
        "update": 0 if adam else params,
    }
    parts["total"] = (parts["data"] + parts["model"]
                      + max(parts["batch"], parts["eval"], parts["update"]))
    return {k: int(v) for k, v in parts.items()}


def train(
    net: ConvNet | FCNet,
    x: np.ndarray,
    y: np.ndarray,
    config: TrainConfig | None = None,
    quiet: bool = True,
    desc: str = "train",
    stop_loss: float | None = None,
) -> dict[str, list[float]]:
    """Train ``net`` in place with minibatches; return the per-epoch mean training loss.

    Parameters
    ----------
    net : ConvNet or FCNet
    x : ndarray, shape (N, H, W) (an FCNet also takes (N, D))
    y : ndarray, shape (N,)
        Class indices (cast to int64), or float targets when the network's
        ``label_dtype`` is a float type (an FCNet with the squared loss and one output).
    config : TrainConfig
    quiet : bool
        Hide the progress bars (epochs and batches).
    desc : str
        Label of the progress bar.
    stop_loss : float > 0, optional
        Stop after the first epoch whose mean training loss (the epoch average of the
        minibatch losses, as Neyshabur et al.'s code computes it) is below ``stop_loss``;
        ``config.epochs`` (with ``min_steps``) is then the epoch cap. None: run every epoch.

    Returns
    -------
    dict with ``"loss"`` (one mean minibatch loss per epoch run) and ``"epochs"`` (the
    epochs planned); with ``stop_loss`` also ``"stopped"``: ``[True]`` when the loss fell
    below it (``len(loss)`` epochs ran), ``[False]`` when the cap was reached first.
    """
    config = config or TrainConfig()
    n = len(x)
    if n == 0 or len(y) != n:
        raise InputError(f"training set must be non-empty with one label per image; got {n}")
    x = np.asarray(x, dtype=net.dtype)
    y = np.asarray(y, dtype=getattr(net, "label_dtype", np.int64))
    opt = make_optimizer(config.optimizer, config.lr, config.beta1, config.beta2, config.eps,
                         config.momentum)
    rng = np.random.default_rng(config.seed)
    epochs = config.epochs_for(n)
    bs = config.batch_size
    nb = math.ceil(n / bs)
    if stop_loss is not None:
        stop_loss = check_float("stop_loss", stop_loss, 0.0, low_open=True)
    history: dict[str, list[float]] = {"loss": [], "epochs": [epochs]}
    stopped = False
    ebar = tqdm(range(epochs), desc=desc, unit="epoch", disable=quiet, leave=False)
    for _ in ebar:
        order = rng.permutation(n)
        total = 0.0
        bbar = tqdm(range(nb), desc="batches", unit="batch", disable=quiet, leave=False)
        for b in bbar:
            idx = order[b * bs : (b + 1) * bs]
            loss, grads = net.loss_and_grads(x[idx], y[idx])
            opt.step(net.params, grads)
            total += loss * len(idx)
        history["loss"].append(total / n)
        ebar.set_postfix(loss=f"{total / n:.4f}")
        if stop_loss is not None and total / n < stop_loss:
            stopped = True
            break
    ebar.close()
    if stop_loss is not None:
        history["stopped"] = [stopped]
    return history


def evaluate(net: ConvNet | FCNet, x: np.ndarray, y: np.ndarray,
             batch_size: int = EVAL_BATCH) -> float:
    """Classification error (fraction wrong) of ``net`` on ``(x, y)`` (an FCNet with one
    output predicts the sign, ±1)."""
    if len(x) == 0:
        raise InputError("evaluation set must be non-empty")
    pred = net.predict(np.asarray(x, dtype=net.dtype), batch_size)
    return float(np.mean(pred != np.asarray(y)))


__all__ = ["EVAL_BATCH", "TrainConfig", "evaluate", "memory_estimate", "train"]
