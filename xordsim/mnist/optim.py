"""Optimisers: Adam (Kingma & Ba, 2014) and plain SGD, updating parameter arrays in place."""

from __future__ import annotations

import numpy as np

from xordsim.mnist.config import OPTIMIZERS, TrainConfig

_P = TrainConfig.params()  # the one declaration of each hyper-parameter and its range


class SGD:
    """Plain stochastic gradient descent: ``p -= lr * g``."""

    def __init__(self, lr: float = 0.01):
        self.lr = _P["lr"].check(lr)

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """Update every parameter that has a gradient (frozen ones have none)."""
        for name, g in grads.items():
            params[name] -= self.lr * g


class Adam:
    """Adam with bias correction; state is kept per parameter name."""

    def __init__(
        self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ):
        self.lr = _P["lr"].check(lr)
        self.beta1 = _P["beta1"].check(beta1)
        self.beta2 = _P["beta2"].check(beta2)
        self.eps = _P["eps"].check(eps)
        self.t = 0
        self.m: dict[str, np.ndarray] = {}
        self.v: dict[str, np.ndarray] = {}

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """One Adam update of every parameter that has a gradient."""
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        c1 = 1.0 - b1**self.t
        c2 = 1.0 - b2**self.t
        step = self.lr * np.sqrt(c2) / c1
        eps = self.eps * np.sqrt(c2)  # same as eps added to the bias-corrected sqrt(v)
        for name, g in grads.items():
            if name not in self.m:
                self.m[name] = np.zeros_like(g)
                self.v[name] = np.zeros_like(g)
            m, v = self.m[name], self.v[name]
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * (g * g)
            params[name] -= (step * m / (np.sqrt(v) + eps)).astype(params[name].dtype, copy=False)


def make_optimizer(
    name: str, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
) -> Adam | SGD:
    """``"adam"`` or ``"sgd"`` with the given hyper-parameters (SGD ignores betas and eps)."""
    name = _P["optimizer"].check(name)
    if name == "adam":
        return Adam(lr, beta1, beta2, eps)
    return SGD(lr)


__all__ = ["OPTIMIZERS", "SGD", "Adam", "make_optimizer"]
