"""Minibatch training loop and evaluation for :class:`~xordsim.mnist.net.ConvNet`."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from tqdm.auto import tqdm

from xordsim._validate import InputError, check_choice, check_float, check_int
from xordsim.mnist.net import ConvNet
from xordsim.mnist.optim import OPTIMIZERS, make_optimizer


@dataclass
class TrainConfig:
    """Training hyper-parameters (defaults documented in ``docs/mnist.md``).

    Attributes
    ----------
    epochs : int
        Passes over the training set (>= 1).
    min_steps : int
        Lower bound on the number of optimiser steps: small training sets get
        ``ceil(min_steps / batches_per_epoch)`` epochs when that is larger.
    batch_size : int
    optimizer : {"adam", "sgd"}
    lr, beta1, beta2, eps : float
        Adam's (or SGD's) hyper-parameters.
    seed : int
        Seeds the minibatch order.
    """

    epochs: int = 10
    min_steps: int = 0
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    seed: int = 0

    def validate(self) -> TrainConfig:
        """Check every field; raise :class:`InputError` on the first bad one."""
        check_int("epochs", self.epochs, 1, 100_000)
        check_int("min_steps", self.min_steps, 0, 10_000_000)
        check_int("batch_size", self.batch_size, 1, 1_000_000)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_float("lr", self.lr, 0.0, None, low_open=True)
        check_float("beta1", self.beta1, 0.0, 1.0, high_open=True)
        check_float("beta2", self.beta2, 0.0, 1.0, high_open=True)
        check_float("eps", self.eps, 0.0, None, low_open=True)
        check_int("seed", self.seed, 0, 2**63 - 1)
        return self

    def as_dict(self) -> dict:
        return asdict(self)

    def epochs_for(self, n: int) -> int:
        """Number of epochs used on a training set of ``n`` images."""
        per_epoch = math.ceil(n / self.batch_size)
        return max(self.epochs, math.ceil(self.min_steps / per_epoch)) if per_epoch else 0


def train(
    net: ConvNet,
    x: np.ndarray,
    y: np.ndarray,
    config: TrainConfig | None = None,
    quiet: bool = True,
    desc: str = "train",
) -> dict[str, list[float]]:
    """Train ``net`` in place with minibatches; return the per-epoch mean training loss.

    Parameters
    ----------
    net : ConvNet
    x : ndarray, shape (N, H, W)
    y : ndarray of int, shape (N,)
    config : TrainConfig
    quiet : bool
        Hide the progress bars (epochs and batches).
    desc : str
        Label of the progress bar.

    Returns
    -------
    dict with ``"loss"`` (one mean minibatch loss per epoch) and ``"epochs"``.
    """
    config = (config or TrainConfig()).validate()
    n = len(x)
    if n == 0 or len(y) != n:
        raise InputError(f"training set must be non-empty with one label per image; got {n}")
    x = np.asarray(x, dtype=net.dtype)
    y = np.asarray(y, dtype=np.int64)
    opt = make_optimizer(config.optimizer, config.lr, config.beta1, config.beta2, config.eps)
    rng = np.random.default_rng(config.seed)
    epochs = config.epochs_for(n)
    bs = config.batch_size
    nb = math.ceil(n / bs)
    history: dict[str, list[float]] = {"loss": [], "epochs": [epochs]}
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
    return history


def evaluate(net: ConvNet, x: np.ndarray, y: np.ndarray, batch_size: int = 500) -> float:
    """Classification error (fraction wrong) of ``net`` on ``(x, y)``."""
    if len(x) == 0:
        raise InputError("evaluation set must be non-empty")
    pred = net.predict(np.asarray(x, dtype=net.dtype), batch_size)
    return float(np.mean(pred != np.asarray(y)))
