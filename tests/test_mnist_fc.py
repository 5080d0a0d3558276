"""The two-layer fully connected net (xordsim.mnist.fc): gradients against central finite
differences in float64 (both losses, both reductions, frozen V, no biases, Arora et al.'s
model), the forward pass against a plain loop, PyTorch's init ranges, training through the
MNIST loop, determinism by seed, full-batch GD, and SGD with momentum against a hand-rolled
reference (and torch.optim.SGD when torch is importable: an optional oracle)."""

import importlib.util

import numpy as np
import pytest

from xordsim._validate import InputError
from xordsim.mnist.config import TrainConfig
from xordsim.mnist.fc import (
    PARAM_NAMES,
    FCNet,
    arora_net,
    gd_full_batch,
    init_fc_params,
    squared_loss,
)
from xordsim.mnist.optim import SGD, make_optimizer
from xordsim.mnist.train import evaluate, train

HAS_TORCH = importlib.util.find_spec("torch") is not None


def toy(n=12, shape=(3, 4), classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, *shape)), rng.integers(0, classes, n)


def numeric_grad(net, x, y, name, eps=1e-6):
    """Central differences of the loss in every entry of params[name]."""
    p = net.params[name]
    flat = p.reshape(-1)
    g = np.empty_like(flat)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        lp = net.loss_of(net.forward(x), y)[0]
        flat[i] = old - eps
        lm = net.loss_of(net.forward(x), y)[0]
        flat[i] = old
        g[i] = (lp - lm) / (2 * eps)
    return g.reshape(p.shape)


def check_grads(net, x, y):
    loss, grads = net.loss_and_grads(x, y)
    assert loss == pytest.approx(net.loss_of(net.forward(x), y)[0], rel=1e-12)
    assert set(grads) == set(net.trainable())
    for name in net.trainable():
        num = numeric_grad(net, x, y, name)
        assert grads[name].shape == net.params[name].shape
        assert grads[name].dtype == np.float64
        np.testing.assert_allclose(grads[name], num, rtol=1e-6, atol=1e-8, err_msg=name)
        assert np.abs(num).max() > 1e-4  # a real check, not 0 = 0
    return grads


@pytest.mark.parametrize("loss", ["cross_entropy", "squared"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("frozen", [(), ("V",)])
def test_gradients_match_finite_differences(loss, reduction, bias, frozen):
    x, y = toy()
    net = FCNet.create(5, n_in=12, n_out=3, seed=1, dtype=np.float64, frozen=frozen,
                       loss=loss, bias=bias, reduction=reduction)
    # move the biases off their init so that some units are inactive on some points
    grads = check_grads(net, x, y)
    want = [k for k in PARAM_NAMES if k not in frozen and (bias or k in ("U", "V"))]
    assert list(grads) == want


def test_squared_loss_with_one_output_and_float_targets():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((9, 6))
    t = rng.standard_normal(9)
    net = FCNet.create(4, n_in=6, n_out=1, seed=3, dtype=np.float64, loss="squared")
    assert net.label_dtype == np.float64
    check_grads(net, x, t)
    f = net.forward(x)[:, 0]
    assert net.loss_of(net.forward(x), t)[0] == pytest.approx(0.5 * np.mean((f - t) ** 2))
    # K > 1: the squared loss on one-hot targets of class indices
    net = FCNet.create(4, n_in=6, n_out=3, seed=3, dtype=np.float64, loss="squared")
    y = rng.integers(0, 3, 9)
    f = net.forward(x)
    onehot = np.eye(3)[y]
    assert net.loss_of(f, y)[0] == pytest.approx(0.5 * np.sum((f - onehot) ** 2) / 9)
    assert net.label_dtype == np.int64
    loss, d = squared_loss(f, onehot, "sum")
    assert loss == pytest.approx(0.5 * np.sum((f - onehot) ** 2)) and np.allclose(d, f - onehot)


def test_forward_is_the_formula_written_as_a_loop():
    x, _ = toy(n=4)
    net = FCNet.create(6, n_in=12, n_out=3, seed=4, dtype=np.float64)
    p = net.params
    for i, xi in enumerate(x.reshape(4, -1)):
        hidden = [max(0.0, float(p["U"][j] @ xi + p["b"][j])) for j in range(6)]
        for k in range(3):
            want = sum(p["V"][k, j] * hidden[j] for j in range(6)) + p["c"][k]
            assert net.forward(x)[i, k] == pytest.approx(want, rel=1e-12)
    # (N, H, W) and (N, D) inputs are the same
    np.testing.assert_array_equal(net.forward(x), net.forward(x.reshape(4, -1)))


def test_pytorch_default_init_ranges_and_determinism():
    p = init_fc_params(400, n_in=784, n_out=10, seed=7)
    assert {k: v.shape for k, v in p.items()} == {"U": (400, 784), "b": (400,),
                                                  "V": (10, 400), "c": (10,)}
    assert all(v.dtype == np.float32 for v in p.values())
    for k, fan_in in (("U", 784), ("b", 784), ("V", 400), ("c", 400)):
        bound = 1 / np.sqrt(fan_in)
        assert np.abs(p[k]).max() <= bound * (1 + 1e-6)
        if p[k].size > 1000:  # uniform on [-bound, bound]: std bound/sqrt(3)
            assert p[k].std() == pytest.approx(bound / np.sqrt(3), rel=0.02)
    q = init_fc_params(400, n_in=784, n_out=10, seed=7)
    assert all(np.array_equal(p[k], q[k]) for k in p)
    r = init_fc_params(400, n_in=784, n_out=10, seed=8)
    assert not np.array_equal(p["U"], r["U"])
    # bias=False: the same U and V, zero biases that never train
    nb = FCNet.create(400, seed=7, bias=False)
    assert np.array_equal(nb.params["U"], p["U"]) and np.array_equal(nb.params["V"], p["V"])
    assert not nb.params["b"].any() and not nb.params["c"].any()
    assert nb.trainable() == ["U", "V"]


def test_bad_input_is_refused_in_one_line():
    for kwargs, needle in ((dict(width=0), "width"), (dict(width=3, loss="hinge"), "loss"),
                           (dict(width=3, reduction="max"), "reduction"),
                           (dict(width=3, init="xavier"), "init"),
                           (dict(width=3, frozen=("W",)), "frozen")):
        with pytest.raises(InputError, match=needle):
            FCNet.create(**kwargs)
    net = FCNet.create(3, n_in=12)
    with pytest.raises(InputError, match="x must have shape"):
        net.forward(np.zeros((2, 5)))
    with pytest.raises(InputError, match="class indices"):
        net.loss_and_grads(np.zeros((2, 12)), np.array([0, 10]))
    with pytest.raises(InputError, match="b and c must be zero"):
        FCNet({"U": np.ones((2, 3)), "V": np.ones((1, 2)), "b": np.ones(2),
               "c": np.zeros(1)}, bias=False)
    with pytest.raises(InputError, match="kappa"):
        arora_net(10, 5, kappa=0.0)


def test_arora_net_is_their_model_and_its_gradient_matches():
    h, D = 50, 8
    net = arora_net(h, D, kappa=0.3, seed=5)
    p = net.params
    assert net.trainable() == ["U"] and net.loss == "squared" and net.reduction == "sum"
    assert not p["b"].any() and not p["c"].any() and p["U"].dtype == np.float64
    assert set(np.unique(p["V"] * np.sqrt(h))) <= {-1.0, 1.0}
    assert np.abs(p["V"] * np.sqrt(h)).min() == pytest.approx(1.0)
    big = arora_net(20000, 4, kappa=0.3, seed=5)
    assert big.params["U"].std() == pytest.approx(0.3, rel=0.01)
    assert np.mean(big.params["V"] > 0) == pytest.approx(0.5, abs=0.02)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((7, D))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = np.where(rng.random(7) < 0.5, -1.0, 1.0)
    # f(x) = (1/sqrt(h)) sum_r a_r relu(w_r . x); Phi = 1/2 sum_i (y_i - f(x_i))^2
    a = p["V"][0] * np.sqrt(h)
    f = np.array([sum(a[r] * max(0.0, p["U"][r] @ xi) for r in range(h)) / np.sqrt(h)
                  for xi in x])
    np.testing.assert_allclose(net.forward(x)[:, 0], f, rtol=1e-12)
    loss, grads = net.loss_and_grads(x, y)
    assert loss == pytest.approx(0.5 * np.sum((y - f) ** 2), rel=1e-12)
    # Arora et al.'s Eq. 4: dPhi/dw_r = (1/sqrt(h)) a_r sum_i (f_i - y_i) 1[w_r.x_i >= 0] x_i
    act = (x @ p["U"].T > 0).astype(float)
    want = (a[:, None] / np.sqrt(h)) * (((f - y)[:, None] * act).T @ x)
    np.testing.assert_allclose(grads["U"], want, rtol=1e-10, atol=1e-14)
    check_grads(net, x, y)


def test_gd_full_batch_is_plain_gd_and_lowers_the_loss():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((20, 10))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = np.where(rng.random(20) < 0.5, -1.0, 1.0)
    net = arora_net(200, 10, kappa=0.1, seed=1)
    ref = net.copy()
    curve = gd_full_batch(net, x, y, lr=0.3, steps=25, record_every=10)
    assert curve.steps.tolist() == [0, 10, 20, 25]
    assert curve.loss[-1] < 0.2 * curve.loss[0]
    assert np.all(np.diff(curve.loss) < 0)
    losses = []
    for _ in range(25):  # the same updates written out: W <- W - lr dPhi/dW
        loss, g = ref.loss_and_grads(x, y)
        losses.append(loss)
        ref.params["U"] = ref.params["U"] - 0.3 * g["U"]
    np.testing.assert_allclose(net.params["U"], ref.params["U"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(curve.loss[:3], [losses[0], losses[10], losses[20]], rtol=1e-12)
    assert np.array_equal(ref.params["V"], net.params["V"])  # a is fixed
    again = arora_net(200, 10, kappa=0.1, seed=1)
    assert np.array_equal(gd_full_batch(again, x, y, 0.3, 25, 10).loss, curve.loss)
    with pytest.raises(InputError, match="record_every"):
        gd_full_batch(net, x, y, 0.3, 5, 0)
    with pytest.raises(InputError, match="lr"):
        gd_full_batch(net, x, y, -1.0, 5, 1)


@pytest.fixture(scope="module")
def digits():
    from xordsim.mnist.data import load_dataset

    return load_dataset("mnist5k", n_train=300, n_test=200, seed=0)


def test_training_on_digits_lowers_the_loss_and_is_deterministic(digits):
    cfg = TrainConfig(epochs=5, batch_size=32, optimizer="sgd", lr=0.05, momentum=0.9, seed=2)
    nets = [FCNet.create(64, seed=3) for _ in range(2)]
    before = nets[0].loss_and_grads(digits.x_train, digits.y_train)[0]
    hists = [train(n, digits.x_train, digits.y_train, cfg) for n in nets]
    after = nets[0].loss_and_grads(digits.x_train, digits.y_train)[0]
    assert after < 0.5 * before
    assert hists[0] == hists[1]
    assert all(np.array_equal(nets[0].params[k], nets[1].params[k]) for k in PARAM_NAMES)
    assert evaluate(nets[0], digits.x_test, digits.y_test) < 0.4
    other = FCNet.create(64, seed=3)
    train(other, digits.x_train, digits.y_train, cfg.replace(seed=3))
    assert not np.array_equal(other.params["U"], nets[0].params["U"])


def test_training_with_frozen_v_and_the_squared_loss_on_signs(digits):
    keep = np.isin(digits.y_train, (0, 1))
    x, y = digits.x_train[keep], np.where(digits.y_train[keep] == 0, -1.0, 1.0)
    net = FCNet.create(32, n_out=1, seed=1, loss="squared", frozen=("V", "c"))
    v0, c0 = net.params["V"].copy(), net.params["c"].copy()
    before = net.loss_and_grads(x, y)[0]
    train(net, x, y, TrainConfig(epochs=4, batch_size=16, optimizer="sgd", lr=0.05))
    assert net.loss_and_grads(x, y)[0] < 0.5 * before
    assert np.array_equal(net.params["V"], v0) and np.array_equal(net.params["c"], c0)
    assert evaluate(net, x, y) < 0.2 and set(np.unique(net.predict(x))) <= {-1, 1}


def momentum_reference(p0, grads, lr, mu):
    """v <- mu v + g (v = g at the first step), p <- p - lr v, in float64."""
    p, v, out = p0.astype(np.float64), None, []
    for g in grads:
        v = g.copy() if v is None else mu * v + g
        p = p - lr * v
        out.append(p.copy())
    return out


def test_sgd_momentum_against_a_hand_rolled_reference():
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal((3, 4))
    gs = [rng.standard_normal((3, 4)) for _ in range(6)]
    params = {"w": p0.copy()}
    opt = SGD(lr=0.1, momentum=0.9)
    for g, want in zip(gs, momentum_reference(p0, gs, 0.1, 0.9), strict=True):
        opt.step(params, {"w": g})
        np.testing.assert_allclose(params["w"], want, rtol=1e-13, atol=1e-15)
    # momentum 0 is the plain update, bit for bit
    a, b = {"w": p0.copy()}, p0.copy()
    plain = SGD(lr=0.1)
    for g in gs:
        plain.step(a, {"w": g})
        b -= 0.1 * g
    assert np.array_equal(a["w"], b) and plain.v == {}
    assert isinstance(make_optimizer("sgd", 0.1, momentum=0.5), SGD)
    assert make_optimizer("sgd", 0.1, momentum=0.5).momentum == 0.5
    for bad in (-0.1, 1.0, float("nan")):
        with pytest.raises(InputError, match="momentum"):
            SGD(0.1, momentum=bad)
        with pytest.raises(InputError, match="momentum"):
            TrainConfig(momentum=bad)
    assert TrainConfig().momentum == 0.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("momentum", [0.0, 0.9, 0.37])
def test_sgd_kernel_equals_the_numpy_expressions_bit_for_bit(dtype, momentum):
    """SGD.step (a numba loop per parameter) gives step_numpy's numbers bit for bit, for
    both dtypes, with and without momentum, over several steps; a non-contiguous parameter
    takes the NumPy path and still agrees."""
    rng = np.random.default_rng(7)
    shapes = {"U": (33, 17), "b": (33,), "V": (3, 33)}
    p0 = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    fast, ref = SGD(lr=0.0123, momentum=momentum), SGD(lr=0.0123, momentum=momentum)
    a = {k: v.copy() for k, v in p0.items()}
    b = {k: v.copy() for k, v in p0.items()}
    for step in range(5):
        grads = {k: (rng.standard_normal(s) * 10.0 ** rng.integers(-4, 2)).astype(dtype)
                 for k, s in shapes.items()}
        if step == 3:
            grads.pop("b")  # a frozen parameter this step
        fast.step(a, grads)
        ref.step_numpy(b, grads)
        for k in shapes:
            assert a[k].dtype == dtype and np.array_equal(a[k], b[k]), (step, k)
    assert set(fast.v) == (set(shapes) if momentum else set())
    for k in fast.v:
        assert np.array_equal(fast.v[k], ref.v[k])
    # a non-contiguous parameter: the NumPy path, the same numbers
    big = rng.standard_normal((8, 6)).astype(dtype)
    pa, pb = {"w": big.copy()[:, ::2]}, {"w": big.copy()[:, ::2]}
    g = rng.standard_normal((8, 3)).astype(dtype)
    for _ in range(2):
        SGD(0.1, momentum).step(pa, {"w": g})
        SGD(0.1, momentum).step_numpy(pb, {"w": g})
    assert np.array_equal(pa["w"], pb["w"])


@pytest.mark.skipif(not HAS_TORCH, reason="torch is an optional oracle")
def test_sgd_momentum_against_torch():
    import torch

    rng = np.random.default_rng(1)
    p0 = rng.standard_normal(10).astype(np.float32)
    gs = [rng.standard_normal(10).astype(np.float32) for _ in range(8)]
    t = torch.nn.Parameter(torch.from_numpy(p0.copy()))
    topt = torch.optim.SGD([t], lr=1e-2, momentum=0.9)
    params = {"w": p0.copy()}
    opt = SGD(lr=1e-2, momentum=0.9)
    for g in gs:
        t.grad = torch.from_numpy(g.copy())
        topt.step()
        opt.step(params, {"w": g})
        np.testing.assert_allclose(params["w"], t.detach().numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.skipif(not HAS_TORCH, reason="torch is an optional oracle")
def test_gradients_match_torch_autograd():
    import torch

    x, y = toy(n=8, shape=(12,), classes=3, seed=3)
    net = FCNet.create(5, n_in=12, n_out=3, seed=2, dtype=np.float64)
    loss, grads = net.loss_and_grads(x, y)
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in net.params.items()}
    out = torch.relu(torch.tensor(x) @ tp["U"].T + tp["b"]) @ tp["V"].T + tp["c"]
    tl = torch.nn.functional.cross_entropy(out, torch.tensor(y))
    tl.backward()
    assert loss == pytest.approx(tl.item(), rel=1e-12)
    for k in PARAM_NAMES:
        np.testing.assert_allclose(grads[k], tp[k].grad.numpy(), rtol=1e-10, atol=1e-14)
