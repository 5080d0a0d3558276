"""Layers of the MNIST network against loops and finite differences (float64); the fused
numba kernels against the NumPy im2col reference, finite differences and thread counts."""

import json
import os
import subprocess
import sys

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


@pytest.mark.parametrize("impl", ["fused", "reference"])
def test_network_gradients_finite_differences(impl):
    rng = np.random.default_rng(6)
    params = init_params(3, 3, seed=7, image_size=10, n_classes=4, dtype=np.float64)
    net = ConvNet(params, impl=impl)
    x = rng.random((5, 10, 10))
    y = rng.integers(0, 4, 5)
    _, grads = net.loss_and_grads(x, y)
    assert set(grads) == {"conv_w", "conv_b", "fc_w", "fc_b"}
    for name in grads:
        assert grads[name].shape == params[name].shape
        _check_grad(lambda: net.loss_and_grads(x, y)[0], params[name], grads[name], rng, n=15)


@pytest.mark.parametrize("impl", ["fused", "reference"])
def test_frozen_parameters_get_no_gradient(impl):
    params = init_params(2, 3, seed=0, image_size=8, n_classes=3, dtype=np.float64)
    net = ConvNet(params, frozen=("conv_w",), impl=impl)
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


# ----------------------------------------------------------------------------------------
# the fused kernels (layers.fused_forward / fused_backward, ConvNet(impl="fused"))


def _batch(rng, n, size, zeros=0.6):
    """Images in [0, 1) with a fraction of exact zeros (like MNIST) and one all-zero image
    (every window ties: the arg-max must be the first position)."""
    x = rng.random((n, size, size))
    x[rng.random(x.shape) < zeros] = 0.0
    x[0] = 0.0
    return x


LAYOUTS = ["channel-minor", "channel-major"]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("channels, f, size, n", [(3, 3, 10, 6), (5, 1, 7, 4), (4, 4, 11, 5),
                                                  (2, 5, 9, 3), (16, 3, 28, 9)])
def test_fused_forward_matches_reference(channels, f, size, n, layout):
    rng = np.random.default_rng(channels * 100 + f)
    p = init_params(channels, f, seed=f, image_size=size, n_classes=4, dtype=np.float64)
    p["conv_b"] += 0.05  # some windows positive, some cut by the ReLU
    x = _batch(rng, n, size)
    z, _ = layers.conv_forward(x, p["conv_w"])
    pooled, arg = layers.maxpool_forward(z)
    a = layers.relu_forward(pooled + p["conv_b"])
    logits = layers.linear_forward(a.reshape(n, -1), p["fc_w"], p["fc_b"])
    fwd = layers.fused_forward(x, p["conv_w"], p["conv_b"], p["fc_w"], p["fc_b"],
                               layout=layout)
    assert fwd.logits.dtype == np.float64 and fwd.a.shape == (n, a[0].size)
    np.testing.assert_allclose(fwd.a, a.reshape(n, -1), rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(fwd.arg, arg.reshape(n, -1))
    np.testing.assert_allclose(fwd.logits, logits, rtol=1e-13, atol=1e-14)
    assert 0 < np.mean(fwd.a > 0) < 1
    lean = layers.fused_forward(x, p["conv_w"], p["conv_b"], p["fc_w"], p["fc_b"], keep=False,
                                layout=layout)
    assert lean.a is None and lean.arg is None
    np.testing.assert_array_equal(lean.logits, fwd.logits)


@pytest.mark.parametrize("frozen", [(), ("conv_w",), ("conv_w", "conv_b"), ("fc_w", "fc_b"),
                                    ("conv_b", "fc_b")])
@pytest.mark.parametrize("channels, f, size", [(3, 3, 10), (4, 2, 9), (24, 3, 28)])
def test_fused_gradients_match_reference(channels, f, size, frozen):
    # the network picks the layout by the channel count (3 and 4: channel-major, 24: minor)
    rng = np.random.default_rng(channels + f)
    p = init_params(channels, f, seed=1, image_size=size, n_classes=10, dtype=np.float64)
    p["conv_b"] += 0.05
    x = _batch(rng, 7, size)
    y = rng.integers(0, 10, 7)
    fused = ConvNet({k: v.copy() for k, v in p.items()}, frozen, impl="fused")
    ref = ConvNet({k: v.copy() for k, v in p.items()}, frozen, impl="reference")
    loss, grads = fused.loss_and_grads(x, y)
    loss_ref, grads_ref = ref.loss_and_grads(x, y)
    assert loss == pytest.approx(loss_ref, rel=1e-14)
    assert set(grads) == set(grads_ref) == set(fused.trainable())
    for k, g in grads_ref.items():
        assert grads[k].shape == g.shape and grads[k].dtype == np.float64, k
        np.testing.assert_allclose(grads[k], g, rtol=1e-12, atol=1e-14 * np.abs(g).max(),
                                   err_msg=k)
    np.testing.assert_allclose(fused.forward(x), ref.forward(x), rtol=1e-13, atol=1e-14)
    np.testing.assert_array_equal(fused.predict(x, 3), ref.predict(x, 3))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("channels, f, size", [(1, 3, 8), (5, 3, 12), (13, 2, 10),
                                               (6, 4, 28)])
def test_both_layouts_match_the_reference_gradients(channels, f, size, layout):
    rng = np.random.default_rng(channels * 7 + f)
    p = init_params(channels, f, seed=3, image_size=size, n_classes=10, dtype=np.float64)
    p["conv_b"] += 0.05
    x = _batch(rng, 6, size)
    y = rng.integers(0, 10, 6)
    _, grads_ref = ConvNet(p, impl="reference").loss_and_grads(x, y)
    fwd = layers.fused_forward(x, *p.values(), layout=layout)
    _, dlogits = layers.softmax_cross_entropy(fwd.logits, y)
    for need in [("conv_w", "conv_b", "fc_w", "fc_b"), ("conv_b",)]:
        grads = layers.fused_backward(x, fwd, dlogits, f, need, layout=layout)
        assert set(grads) == set(need)
        for k, g in grads.items():
            ref = grads_ref[k]
            np.testing.assert_allclose(g, ref, rtol=1e-12, atol=1e-14 * np.abs(ref).max(),
                                       err_msg=k)
    with pytest.raises(ValueError, match="layout must be one of"):
        layers.fused_forward(x, *p.values(), layout="rows")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels, size", [(1, 4), (5, 9), (24, 12), (120, 28)])
def test_dense_3x3_kernels_equal_the_pixel_skipping_kernels_bit_for_bit(channels, size,
                                                                          dtype):
    """fused_forward's and fused_backward's 3 x 3 channel-minor kernels (all 36 products of
    a window, all-zero windows from the bias alone; the one product of the arg-max per
    filter tap) give _fwd_minor's and _bwd_minor's numbers bit for bit: zero pixels (some
    -0.0), negative pixels, all-zero images and windows, odd sizes, biases of both signs and
    exactly 0, keep on and off, serial and parallel."""
    rng = np.random.default_rng(channels + size)
    f = 3
    x = _batch(rng, 9, size).astype(dtype)
    x[1] -= 0.5  # negative pixels (and zero products of both signs)
    x[2][x[2] == 0] = -0.0
    x[3, : size // 2] = 0.0  # all-zero windows in an image with ink
    w = rng.normal(size=(channels, f, f)).astype(dtype)
    b = rng.normal(scale=0.3, size=channels).astype(dtype)
    b[: channels // 3] = 0.0
    hp = (size - f + 1) // 2
    fc_w = rng.normal(size=(hp * hp * channels, 10)).astype(dtype)
    fc_b = rng.normal(size=10).astype(dtype)
    n = len(x)
    d = hp * hp * channels
    wt = np.ascontiguousarray(w.reshape(channels, f * f).T)
    fct = np.ascontiguousarray(fc_w.T)
    ref = (np.empty((n, 10), dtype), np.empty((n, d), dtype), np.empty((n, d), np.int8))
    layers._fwd_minor(x, wt, b, fct, fc_b, f, ref[1], ref[2], ref[0], True, 0, n)
    for threads in ("serial", "parallel"):
        fwd = layers.fused_forward(x, w, b, fc_w, fc_b, layout="channel-minor",
                                   threads=threads)
        for u, v in zip((fwd.logits, fwd.a, fwd.arg), ref, strict=True):
            np.testing.assert_array_equal(u, v)
            assert np.array_equal(np.signbit(u), np.signbit(v))
        lean = layers.fused_forward(x, w, b, fc_w, fc_b, keep=False, layout="channel-minor",
                                    threads=threads)
        np.testing.assert_array_equal(lean.logits, ref[0])
    assert 0 < np.mean(ref[1] > 0) < 1
    # the backward pass: fused_backward's dense 3 x 3 kernel against _bwd_minor
    dlogits = rng.normal(size=(n, 10)).astype(dtype)
    dlogits[4] = 0.0
    part_w, part_b = np.empty((n, 9, channels), dtype), np.empty((n, channels), dtype)
    layers._bwd_minor(x, fct, f, ref[1], ref[2], dlogits, True, part_w, part_b, 0, n)
    dw, db = np.empty((9, channels), dtype), np.empty(channels, dtype)
    layers._sum_in_order(part_w, dw)
    layers._sum_in_order(part_b, db)
    dw = dw.T.reshape(channels, f, f)
    fwd = layers.fused_forward(x, w, b, fc_w, fc_b, layout="channel-minor")
    for threads in ("serial", "parallel"):
        for need, want in (({"conv_w", "conv_b"}, (dw, db)), ({"conv_b"}, (db,))):
            got = layers.fused_backward(x, fwd, dlogits, f, need, layout="channel-minor",
                                        threads=threads)
            assert set(got) == need
            for u, v in zip((got[k] for k in ("conv_w", "conv_b") if k in need), want,
                            strict=True):
                np.testing.assert_array_equal(u, v)
                assert np.array_equal(np.signbit(u), np.signbit(v))
    assert np.any(dw != 0) and np.any(db != 0)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_serial_and_parallel_kernels_give_the_same_bits(layout):
    rng = np.random.default_rng(11)
    p = init_params(5, 3, seed=4, image_size=28, conv_scale=0.1)
    x = _batch(rng, 23, 28).astype(np.float32)
    y = rng.integers(0, 10, 23)
    out = {}
    for threads in ("serial", "parallel"):
        fwd = layers.fused_forward(x, *p.values(), layout=layout, threads=threads)
        _, dlogits = layers.softmax_cross_entropy(fwd.logits, y)
        grads = layers.fused_backward(x, fwd, dlogits, 3, layout=layout, threads=threads)
        out[threads] = (fwd.logits, fwd.a, fwd.arg, *grads.values())
    for u, v in zip(out["serial"], out["parallel"], strict=True):
        np.testing.assert_array_equal(u, v)
    with pytest.raises(ValueError, match="threads must be one of"):
        layers.fused_forward(x, *p.values(), threads="2")


def test_fused_is_the_default_and_float32():
    net = ConvNet.create(6, seed=0)
    assert net.impl == "fused" and net.copy().impl == "fused"
    x = _batch(np.random.default_rng(0), 5, 28).astype(np.float32)
    _, grads = net.loss_and_grads(x, np.arange(5))
    assert all(g.dtype == np.float32 for g in grads.values())
    ref = ConvNet({k: v.copy() for k, v in net.params.items()}, impl="reference")
    _, grads_ref = ref.loss_and_grads(x, np.arange(5))
    for k in grads:  # float32: the same up to the order of the sums
        np.testing.assert_allclose(grads[k], grads_ref[k], rtol=1e-4,
                                   atol=1e-5 * np.abs(grads_ref[k]).max())
    with pytest.raises(Exception, match="impl must be one of fused, reference"):
        ConvNet(net.params, impl="torch")
    with pytest.raises(ValueError, match="keep=True"):
        layers.fused_backward(x, layers.fused_forward(x, *net.params.values(), keep=False),
                              np.zeros((5, 10), np.float32), 3)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_fused_gradient_finite_differences(layout):
    # a 4x4 filter on a 12x12 image, both loop orders, against central differences
    rng = np.random.default_rng(8)
    p = init_params(7, 4, seed=2, image_size=12, n_classes=3, dtype=np.float64)
    p["conv_b"] += 0.02
    x = _batch(rng, 4, 12, zeros=0.3)
    y = rng.integers(0, 3, 4)

    def loss() -> float:
        logits = layers.fused_forward(x, *p.values(), keep=False, layout=layout).logits
        return layers.softmax_cross_entropy(logits, y)[0]

    fwd = layers.fused_forward(x, *p.values(), layout=layout)
    _, dlogits = layers.softmax_cross_entropy(fwd.logits, y)
    grads = layers.fused_backward(x, fwd, dlogits, 4, layout=layout)
    for name in grads:
        _check_grad(loss, p[name], grads[name], rng, n=20)


#: Trains two small float32 networks (one per layout) a few Adam steps with the fused
#: kernels and prints the bytes of their parameters, logits and last loss (hex), for the
#: thread-count test.
_DETERMINISM = """
import json, sys
import numpy as np
import numba
from xordsim.mnist import layers
from xordsim.mnist.net import ConvNet
layers._PARALLEL_WORK = 0  # every kernel call through its parallel wrapper
from xordsim.mnist.optim import Adam
rng = np.random.default_rng(0)
x = rng.random((37, 28, 28), dtype=np.float32)
x[rng.random(x.shape) < 0.7] = 0
y = rng.integers(0, 10, 37)
out = {}
for channels in (24, 4):  # the two layouts (channel-minor, channel-major)
    net = ConvNet.create(channels, 3, seed=1, conv_scale=0.1)
    opt = Adam(3e-3)
    for step in range(4):
        idx = rng.permutation(37)[:19]
        loss, g = net.loss_and_grads(x[idx], y[idx])
        opt.step(net.params, g)
    out.update({f"{k}{channels}": v.tobytes().hex() for k, v in net.params.items()})
    out[f"logits{channels}"] = net.forward(x).tobytes().hex()
    out[f"loss{channels}"] = float(loss).hex()
out["threads"] = numba.get_num_threads()
json.dump(out, sys.stdout)
"""


def test_fused_results_do_not_depend_on_the_thread_count():
    runs = []
    for threads in (1, 2, 3):
        env = {**os.environ, "NUMBA_NUM_THREADS": str(threads)}
        res = subprocess.run([sys.executable, "-c", _DETERMINISM], env=env, check=True,
                             capture_output=True, text=True)
        runs.append(json.loads(res.stdout))
    assert [r.pop("threads") for r in runs] == [1, 2, 3]
    assert runs[0] == runs[1] == runs[2]
