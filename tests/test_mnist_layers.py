"""Layers of the MNIST network against loops and finite differences (float64)."""

import numpy as np
import pytest

from xordsim.mnist import layers
from xordsim.mnist.net import ConvNet, init_params


def _fd(f, x, idx, h=1e-6):
    """Central finite difference of scalar f() with respect to x[idx]."""
    old = x[idx]
    x[idx] = old + h
    fp = f()
    x[idx] = old - h
    fm = f()
    x[idx] = old
    return (fp - fm) / (2 * h)


def _check_grad(f, x, grad, rng, n=25, rtol=1e-5, atol=1e-7):
    for _ in range(n):
        idx = tuple(rng.integers(0, s) for s in x.shape)
        num = _fd(f, x, idx)
        assert num == pytest.approx(grad[idx], rel=rtol, abs=atol), idx


def _loop_conv(x, w, b):
    n, h, wd = x.shape
    c, f, _ = w.shape
    out = np.zeros((n, h - f + 1, wd - f + 1, c))
    for s in range(n):
        for i in range(h - f + 1):
            for j in range(wd - f + 1):
                for k in range(c):
                    out[s, i, j, k] = np.sum(x[s, i : i + f, j : j + f] * w[k]) + b[k]
    return out


@pytest.mark.parametrize("f", [1, 3, 4])
def test_im2col_conv_matches_loop(f):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 7, 6))
    w = rng.normal(size=(3, f, f))
    b = rng.normal(size=3)
    out, cols = layers.conv_forward(x, w, b)
    np.testing.assert_allclose(out, _loop_conv(x, w, b), rtol=1e-12, atol=1e-12)
    assert cols.shape == (2, 8 - f, 7 - f, f * f)


def test_maxpool_forward_backward_match_loop():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 5, 6, 3))  # odd height: last row dropped
    out, arg = layers.maxpool_forward(x)
    assert out.shape == (2, 2, 3, 3)
    dout = rng.normal(size=out.shape)
    dx = layers.maxpool_backward(dout, arg, x.shape)
    ref = np.zeros_like(out)
    dref = np.zeros_like(x)
    for s in range(2):
        for i in range(2):
            for j in range(3):
                for k in range(3):
                    win = x[s, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2, k]
                    ref[s, i, j, k] = win.max()
                    a, bb = np.unravel_index(np.argmax(win), (2, 2))
                    dref[s, 2 * i + a, 2 * j + bb, k] = dout[s, i, j, k]
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(dx, dref)


def test_maxpool_ties_go_to_first():
    x = np.zeros((1, 2, 2, 1))
    out, arg = layers.maxpool_forward(x)
    assert arg[0, 0, 0, 0] == 0
    dx = layers.maxpool_backward(np.ones((1, 1, 1, 1)), arg, x.shape)
    assert dx[0, 0, 0, 0] == 1 and dx.sum() == 1


def test_maxpool_gradient_finite_differences():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 4, 4, 2))
    g = rng.normal(size=(2, 2, 2, 2))
    out, arg = layers.maxpool_forward(x)
    dx = layers.maxpool_backward(g, arg, x.shape)
    _check_grad(lambda: float(np.sum(layers.maxpool_forward(x)[0] * g)), x, dx, rng)


def test_conv_gradient_finite_differences():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 6, 6))
    w = rng.normal(size=(3, 3, 3))
    b = rng.normal(size=3)
    g = rng.normal(size=(2, 4, 4, 3))
    out, cols = layers.conv_forward(x, w, b)
    dw, db = layers.conv_backward(g, cols)

    def f():
        return float(np.sum(layers.conv_forward(x, w, b)[0] * g))

    _check_grad(f, w, dw, rng)
    _check_grad(f, b, db, rng, n=3)


def test_linear_relu_softmax_gradients():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(4, 6))
    w = rng.normal(size=(6, 3))
    b = rng.normal(size=3)
    y = rng.integers(0, 3, 4)

    def loss():
        h = layers.relu_forward(layers.linear_forward(x, w, b))
        return layers.softmax_cross_entropy(h, y)[0]

    z = layers.linear_forward(x, w, b)
    h = layers.relu_forward(z)
    _, dh = layers.softmax_cross_entropy(h, y)
    dz = layers.relu_backward(dh, h)
    dx, dw, db = layers.linear_backward(dz, x, w)
    _check_grad(loss, x, dx, rng)
    _check_grad(loss, w, dw, rng)
    _check_grad(loss, b, db, rng, n=3)


def test_softmax_cross_entropy_value():
    logits = np.array([[0.0, 0.0], [1000.0, 0.0]])
    loss, d = layers.softmax_cross_entropy(logits, np.array([0, 0]))
    assert loss == pytest.approx(np.log(2) / 2)
    np.testing.assert_allclose(d, [[-0.25, 0.25], [0.0, 0.0]], atol=1e-12)


def test_network_gradients_finite_differences():
    rng = np.random.default_rng(6)
    params = init_params(3, 3, seed=7, image_size=10, n_classes=4, dtype=np.float64)
    net = ConvNet(params)
    x = rng.random((5, 10, 10))
    y = rng.integers(0, 4, 5)
    _, grads = net.loss_and_grads(x, y)
    assert set(grads) == {"conv_w", "conv_b", "fc_w", "fc_b"}
    for name in grads:
        assert grads[name].shape == params[name].shape
        _check_grad(lambda: net.loss_and_grads(x, y)[0], params[name], grads[name], rng, n=15)


def test_frozen_parameters_get_no_gradient():
    params = init_params(2, 3, seed=0, image_size=8, n_classes=3, dtype=np.float64)
    net = ConvNet(params, frozen=("conv_w",))
    x = np.random.default_rng(0).random((3, 8, 8))
    _, grads = net.loss_and_grads(x, np.array([0, 1, 2]))
    assert set(grads) == {"conv_b", "fc_w", "fc_b"}
    net.set_frozen(("conv_w", "conv_b"))
    _, grads = net.loss_and_grads(x, np.array([0, 1, 2]))
    assert set(grads) == {"fc_w", "fc_b"}


def test_float32_default_and_seed_fixes_init():
    a = ConvNet.create(4, seed=3)
    b = ConvNet.create(4, seed=3)
    assert a.dtype == np.float32
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
        assert a.params[k].dtype == np.float32
    logits = a.forward(np.zeros((2, 28, 28), dtype=np.float32))
    assert logits.shape == (2, 10) and logits.dtype == np.float32
