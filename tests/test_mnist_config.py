"""The MNIST settings, declared once (xordsim.mnist.config), and the memory estimate."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

from xordsim._validate import InputError
from xordsim.mnist import config as mc
from xordsim.mnist.config import DataConfig, NetConfig, TrainConfig


def test_train_config_is_frozen_and_checked_when_built():
    cfg = TrainConfig(lr=1, seed=2**80)
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float) and cfg.seed == 2**80
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = 0.5
    for bad, message in [({"lr": 0}, "lr must be"), ({"epochs": 0}, "epochs must be"),
                         ({"optimizer": "rmsprop"}, "optimizer must be one of adam, sgd"),
                         ({"beta1": 1.0}, "beta1 must be"), ({"seed": -1}, "seed must be"),
                         ({"batch_size": 2.5}, "batch_size must be an integer")]:
        with pytest.raises(InputError, match=message):
            TrainConfig(**bad)


@pytest.mark.parametrize("cls", [TrainConfig, NetConfig, DataConfig])
def test_dict_round_trip_replace_and_unknown_keys(cls):
    cfg = cls()
    assert cls.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert set(cfg.to_dict()) == set(cls.params())
    with pytest.raises(InputError, match="unknown parameter 'nope'"):
        cls.from_dict({**cfg.to_dict(), "nope": 1})
    with pytest.raises(InputError, match="no parameter 'nope'"):
        cfg.replace(nope=1)
    with pytest.raises(InputError, match="mapping"):
        cls.from_dict([1, 2])
    name, p = next(iter(cls.params().items()))
    assert getattr(cfg, name) == p.default


def test_every_default_is_declared_once():
    # the options of the commands are the fields of the configs plus three declared Params
    assert set(mc.COMMAND_PARAMS) == (set(TrainConfig.params()) | set(NetConfig.params())
                                      | set(DataConfig.params())
                                      | {"clusters", "small_channels", "center_norm"})
    assert TrainConfig().as_dict() == TrainConfig().to_dict()
    common = mc.figure_common_defaults()
    assert list(common) == ["dataset", "data_dir", "n_train", "n_test", "filter_size",
                            "epochs", "min_steps", "batch_size", "optimizer", "lr", "beta1",
                            "beta2", "eps", "init_scale"]
    assert common["min_steps"] == mc.FIGURE_MIN_STEPS and common["data_dir"] == ""
    assert common["lr"] == TrainConfig().lr and common["init_scale"] == NetConfig().init_scale


def test_the_optimizer_name_is_checked_by_its_declaration_only():
    from xordsim.mnist import optim, train

    assert optim.OPTIMIZERS is mc.OPTIMIZERS
    assert train.TrainConfig is TrainConfig
    with pytest.raises(InputError, match="optimizer must be one of adam, sgd; got 'rmsprop'"):
        optim.make_optimizer("rmsprop", 1e-3)


def test_data_config_sizes():
    assert DataConfig(n_train=4000, n_test=1000).check_sizes().n_train == 4000
    with pytest.raises(InputError, match="at most 5000 for mnist5k"):
        DataConfig(n_train=4500, n_test=1000).check_sizes()
    assert DataConfig("mnist", None, 60000, 10000).check_sizes().n_test == 10000


def test_epochs_for():
    cfg = TrainConfig(epochs=2, min_steps=30, batch_size=10)
    assert cfg.epochs_for(100) == 3 and cfg.epochs_for(1000) == 2 and cfg.epochs_for(0) == 0


def test_config_module_is_import_light():
    code = ("import sys, xordsim.mnist.config\n"
            "print(','.join(m for m in ('numpy', 'numba', 'tqdm', 'sklearn') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == ""


@pytest.mark.parametrize("channels, filter_size, batch, n_train, n_test, optimizer", [
    (16, 3, 32, 64, 600, "adam"),     # the evaluation pass dominates
    (32, 3, 1000, 1000, 50, "adam"),  # the training step dominates
    (8, 5, 64, 200, 100, "sgd"),
])
def test_memory_estimate_matches_the_traced_peak(channels, filter_size, batch, n_train, n_test,
                                                 optimizer):
    from xordsim.mnist.net import ConvNet
    from xordsim.mnist.train import evaluate, memory_estimate, train

    rng = np.random.default_rng(0)
    # compile (or load) every numba kernel the traced run uses outside the trace: the fused
    # layers pick their loop order by the channel count and go parallel by the call's size,
    # so warm up with the same channels, batch size, optimizer and evaluation size
    warm = ConvNet.create(channels, filter_size)
    train(warm, rng.random((batch, 28, 28), dtype=np.float32), np.zeros(batch, int),
          TrainConfig(epochs=1, batch_size=batch, optimizer=optimizer))
    evaluate(warm, rng.random((n_test, 28, 28), dtype=np.float32), np.zeros(n_test, int))
    net_cfg = NetConfig(channels=channels, filter_size=filter_size)
    cfg = TrainConfig(epochs=1, batch_size=batch, optimizer=optimizer)
    tracemalloc.start()
    try:
        source = np.zeros((n_train + n_test, 28, 28), np.uint8)  # the uint8 images loaded
        x = rng.random((n_train, 28, 28), dtype=np.float32)
        xt = rng.random((n_test, 28, 28), dtype=np.float32)
        net = ConvNet.create(channels, filter_size, 0)
        train(net, x, rng.integers(0, 10, n_train), cfg)
        evaluate(net, xt, rng.integers(0, 10, n_test))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del source
    est = memory_estimate(net_cfg, cfg, n_train, n_test)["total"]
    assert peak <= est <= 1.6 * peak, (peak, est)
