"""Training loop, optimisers, clustering and the experiments on tiny settings."""

import numpy as np
import pytest

from xordsim._validate import InputError
from xordsim.mnist import experiments as ex
from xordsim.mnist.cluster import angles_to_closest, filter_angles, kmeans_centers, unit_filters
from xordsim.mnist.data import load_dataset
from xordsim.mnist.net import ConvNet
from xordsim.mnist.optim import SGD, Adam, make_optimizer
from xordsim.mnist.train import TrainConfig, evaluate, train


@pytest.fixture(scope="module")
def tiny():
    return load_dataset("mnist5k", n_train=200, n_test=100, seed=0)


@pytest.mark.parametrize("optimizer, lr", [("adam", 3e-3), ("sgd", 0.1)])
def test_tiny_training_lowers_loss(tiny, optimizer, lr):
    net = ConvNet.create(4, seed=0)
    cfg = TrainConfig(epochs=5, batch_size=32, optimizer=optimizer, lr=lr, seed=0)
    before, _ = net.loss_and_grads(tiny.x_train, tiny.y_train)
    hist = train(net, tiny.x_train, tiny.y_train, cfg)
    after, _ = net.loss_and_grads(tiny.x_train, tiny.y_train)
    assert after < 0.7 * before
    assert len(hist["loss"]) == 5 and hist["loss"][-1] < hist["loss"][0]
    assert evaluate(net, tiny.x_test, tiny.y_test) < 0.6


def test_training_is_reproducible_and_respects_frozen(tiny):
    cfg = TrainConfig(epochs=1, batch_size=50, seed=3)
    a = ConvNet.create(3, seed=1, frozen=("conv_w",))
    b = ConvNet.create(3, seed=1, frozen=("conv_w",))
    w0 = a.params["conv_w"].copy()
    b0 = a.params["conv_b"].copy()
    train(a, tiny.x_train, tiny.y_train, cfg)
    train(b, tiny.x_train, tiny.y_train, cfg)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    np.testing.assert_array_equal(a.params["conv_w"], w0)
    assert not np.array_equal(a.params["conv_b"], b0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numba_adam_is_bitwise_the_numpy_expression(dtype):
    rng = np.random.default_rng(1)
    p0 = {"w": rng.normal(size=(50, 10)).astype(dtype), "b": rng.normal(size=3).astype(dtype),
          "big": rng.normal(size=(401, 100)).astype(dtype)}
    pa = {k: v.copy() for k, v in p0.items()}
    pb = {k: v.copy() for k, v in p0.items()}
    a, b = Adam(3e-3, 0.8, 0.99, 1e-6), Adam(3e-3, 0.8, 0.99, 1e-6)
    for _ in range(20):
        g = {k: (rng.normal(size=v.shape) * 10.0 ** rng.integers(-7, 2)).astype(dtype)
             for k, v in p0.items()}
        a.step(pa, g)
        b.step_numpy(pb, g)
    for k in p0:
        assert pa[k].dtype == dtype
        np.testing.assert_array_equal(pa[k], pb[k])
        np.testing.assert_array_equal(a.m[k], b.m[k])
        np.testing.assert_array_equal(a.v[k], b.v[k])


def test_fused_and_reference_training_agree_in_float64(tiny):
    cfg = TrainConfig(epochs=2, batch_size=32, lr=3e-3, seed=0)
    x = tiny.x_train[:96].astype(np.float64)
    y = tiny.y_train[:96]
    nets = [ConvNet.create(6, seed=2, dtype=np.float64, conv_scale=0.1, impl=impl)
            for impl in ("fused", "reference")]
    hists = [train(net, x, y, cfg) for net in nets]
    np.testing.assert_allclose(hists[0]["loss"], hists[1]["loss"], rtol=1e-10)
    for k in nets[0].params:
        np.testing.assert_allclose(nets[0].params[k], nets[1].params[k], rtol=1e-8,
                                   atol=1e-12, err_msg=k)


def test_min_steps_extends_epochs():
    cfg = TrainConfig(epochs=2, min_steps=30, batch_size=10)
    assert cfg.epochs_for(100) == 3 and cfg.epochs_for(1000) == 2


def test_adam_matches_reference_formula():
    p = {"w": np.array([1.0, -2.0])}
    opt = Adam(lr=0.1, beta1=0.9, beta2=0.99, eps=1e-8)
    m = v = np.zeros(2)
    ref = p["w"].copy()
    for t in range(1, 4):
        g = np.array([0.5, -1.5]) * t
        opt.step(p, {"w": g})
        m = 0.9 * m + 0.1 * g
        v = 0.99 * v + 0.01 * g * g
        ref = ref - 0.1 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.99**t)) + 1e-8)
    np.testing.assert_allclose(p["w"], ref, rtol=1e-12)
    q = {"w": np.array([1.0])}
    SGD(0.5).step(q, {"w": np.array([2.0])})
    assert q["w"][0] == 0.0


@pytest.mark.parametrize("kwargs", [{"lr": 0}, {"lr": -1}, {"beta1": 1.0}, {"eps": 0}])
def test_optimizer_rejects_bad_hyperparameters(kwargs):
    with pytest.raises(InputError):
        make_optimizer("adam", **{"lr": 1e-3, **kwargs})
    with pytest.raises(InputError, match="optimizer must be one of"):
        make_optimizer("rmsprop", 1e-3)


def test_angles_on_hand_made_filters():
    e = np.eye(9)
    th = np.radians([0.0, 10.0, 30.0])
    # rotate e0 towards e1 by the given angles; scale must not matter
    filt = np.stack([3.0 * (np.cos(t) * e[0] + np.sin(t) * e[1]) for t in th] + [0.2 * e[2]])
    ang = angles_to_closest(filt, np.stack([e[0], e[2] * 5]))
    np.testing.assert_allclose(ang, [0.0, 10.0, 30.0, 0.0], atol=1e-9)
    ang = angles_to_closest(filt[:1], np.stack([e[3], -e[0]]))
    np.testing.assert_allclose(ang, [90.0], atol=1e-9)


def test_kmeans_recovers_planted_clusters():
    rng = np.random.default_rng(0)
    protos = np.eye(9)[:4]
    w = np.concatenate([p + 0.01 * rng.normal(size=(30, 9)) for p in protos]).reshape(-1, 3, 3)
    ang, centers = filter_angles(w, k=4, seed=0)
    assert ang.max() < 3.0
    assert centers.shape == (4, 9)
    assert angles_to_closest(protos, centers).max() < 1.0
    assert np.allclose(np.linalg.norm(unit_filters(w), axis=1), 1.0)
    with pytest.raises(InputError, match="non-zero"):
        unit_filters(np.zeros((2, 3, 3)))
    with pytest.raises(InputError, match="clusters"):
        kmeans_centers(np.eye(3), k=5)


def test_compressed_net_uses_centres_and_freezes_filters():
    big = ConvNet.create(12, seed=0)
    comp = ex.compressed_net(big, 4, seed=0)
    assert comp.channels == 4 and comp.frozen == {"conv_w"}
    c = kmeans_centers(unit_filters(big.params["conv_w"]), 4, 0)
    np.testing.assert_allclose(comp.params["conv_w"].reshape(4, 9), c, rtol=1e-6)
    unit = ex.compressed_net(big, 4, seed=0, center_norm="unit")
    np.testing.assert_allclose(np.linalg.norm(unit.params["conv_w"].reshape(4, 9), axis=1), 1,
                               rtol=1e-6)


def test_experiments_tiny(tiny):
    common = {"epochs": 1, "min_steps": 0, "batch_size": 50}
    a = ex.fig4a({**common, "channels": 8, "clusters": 2}, seed=0, data=tiny)
    assert a["angles_trained"].shape == (8,) and 0 <= a["mannwhitney_p"] <= 1
    b = ex.fig4b({**common, "train_sizes": (50, 100), "seeds": 2, "large_channels": 6,
                  "small_channels": 2}, seed=0, data=tiny)
    assert b["errors"]["compressed"].shape == (2, 2)
    assert np.all((b["mean"]["large"] >= 0) & (b["mean"]["large"] <= 1))
    with pytest.raises(InputError, match="unknown setting"):
        ex.fig4a({"nope": 1})
    with pytest.raises(InputError, match="train_sizes"):
        ex.fig4b({"train_sizes": (5000,)}, data=tiny)


def test_kmeans_takes_any_seed():
    from xordsim.mnist.cluster import kmeans_random_state

    assert kmeans_random_state(0) == 0 and kmeans_random_state(2**32 - 1) == 2**32 - 1
    big = kmeans_random_state(2**100)
    assert 0 <= big < 2**32 and big == kmeans_random_state(2**100)
    w = np.random.default_rng(0).normal(size=(12, 3, 3))
    ang, _ = filter_angles(w, 3, seed=2**70)
    assert ang.shape == (12,)
