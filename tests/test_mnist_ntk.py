"""The closed-form empirical NTK of the conv net (xordsim.mnist.ntk) against the Gram of
finite-difference Jacobians and of the network's own backward pass (float64), its block
structure, the two parameterizations, the trace kernel and the change measures on
hand-computable cases."""

import numpy as np
import pytest

from xordsim._validate import InputError
from xordsim.mnist import layers
from xordsim.mnist.net import PARAM_NAMES, ConvNet, init_params
from xordsim.mnist.ntk import (
    conv_ntk,
    params_relative_change,
    relative_change,
    spectrum_summary,
    trace_kernel,
    unit_measures,
)

SIZE, F, C, K = 8, 3, 3, 4


def tiny_net(seed=0, channels=C, n_classes=K, size=SIZE):
    p = init_params(channels, F, seed, image_size=size, n_classes=n_classes,
                    dtype=np.float64, conv_scale=1.0)
    p["conv_b"] -= 0.2  # some cells active, some not: both sides of the ReLU are used
    return p


def images(n, seed=1, size=SIZE):
    return np.random.default_rng(seed).uniform(-0.5, 1.0, (n, size, size))


def logits(p, x):
    return ConvNet(p, impl="reference").forward(x)


def fd_jacobian(p, x, eps=1e-6):
    """(n K, n_params) Jacobian of the logits by central differences, rows s * K + c."""
    cols = []
    for name in PARAM_NAMES:
        flat = p[name].reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            up = logits(p, x)
            flat[i] = old - eps
            down = logits(p, x)
            flat[i] = old
            cols.append(((up - down) / (2 * eps)).reshape(-1))
    return np.stack(cols, axis=1)


def backprop_jacobian(p, x):
    """The same Jacobian from the network's fused backward pass, one logit at a time."""
    rows = []
    for s in range(len(x)):
        fwd = layers.fused_forward(x[s : s + 1], *(p[k] for k in PARAM_NAMES))
        for c in range(p["fc_b"].size):
            d = np.zeros((1, p["fc_b"].size))
            d[0, c] = 1.0
            g = layers.fused_backward(x[s : s + 1], fwd, d, F)
            rows.append(np.concatenate([g[k].reshape(-1) for k in PARAM_NAMES]))
    return np.stack(rows)


def test_closed_form_gram_equals_finite_difference_gram():
    p, x = tiny_net(), images(3)
    ntk = conv_ntk(p, x)
    assert 0 < (ntk.h > 0).mean() < 1  # the ReLU is both on and off
    jac = fd_jacobian(p, x)
    want = jac @ jac.T
    got = ntk.gram()
    assert got.shape == (3 * K, 3 * K)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7 * np.abs(want).max())
    # and the exact Jacobian of the network's own backward pass, to rounding
    jb = backprop_jacobian(p, x)
    np.testing.assert_allclose(jb, jac, atol=1e-6)
    np.testing.assert_allclose(got, jb @ jb.T, rtol=1e-11, atol=1e-12)


def test_per_tensor_blocks_match_the_jacobian_columns_and_the_block_structure():
    p, x = tiny_net(seed=2), images(2, seed=5)
    jb = backprop_jacobian(p, x)
    sizes = [p[k].size for k in PARAM_NAMES]
    starts = np.cumsum([0] + sizes)
    blocks = conv_ntk(p, x).blocks()
    n = 2
    for i, name in enumerate(PARAM_NAMES):
        j = jb[:, starts[i] : starts[i + 1]]
        np.testing.assert_allclose(blocks[name], j @ j.T, rtol=1e-11, atol=1e-12)
        b4 = blocks[name].reshape(n, K, n, K)
        if name.startswith("fc"):  # ∂f_c/∂V_{., c'} = δ_cc' h: no coupling between logits
            off = b4 - b4[:, :1, :, :1] * np.eye(K)[None, :, None, :]
            assert np.abs(off).max() == 0
            first = b4[:, 0, :, 0]
            for c in range(K):
                np.testing.assert_array_equal(b4[:, c, :, c], first)
    np.testing.assert_array_equal(blocks["fc_b"].reshape(n, K, n, K)[:, 1, :, 1], np.ones((n, n)))
    traces = conv_ntk(p, x).block_traces()
    for name in PARAM_NAMES:
        assert traces[name] == pytest.approx(np.trace(blocks[name]), rel=1e-12)
    # the conv blocks couple the logits: Σ_p V_{.,c} ... for c != c'
    assert np.abs(blocks["conv_w"].reshape(n, K, n, K)[:, 0, :, 1]).max() > 0


def test_ties_take_the_first_window_position_as_the_network_does():
    # an image that is constant on each 2x2-window's (f+1)x(f+1) support gives four equal
    # conv outputs in every window: the network routes to position 0
    p = tiny_net(seed=3)
    x = np.ones((1, SIZE, SIZE))
    ntk = conv_ntk(p, x)
    fwd = layers.fused_forward(x, *(p[k] for k in PARAM_NAMES))
    assert (fwd.arg == 0).all()
    jb = backprop_jacobian(p, x)
    np.testing.assert_allclose(ntk.gram(), jb @ jb.T, rtol=1e-12, atol=1e-12)


def test_float32_network_uses_its_own_argmax_and_mask():
    p64, x = tiny_net(seed=4), images(2, seed=7)
    p32 = {k: v.astype(np.float32) for k, v in p64.items()}
    g32, g64 = conv_ntk(p32, x.astype(np.float32)).gram(), conv_ntk(p64, x).gram()
    np.testing.assert_allclose(g32, g64, rtol=1e-5)
    assert conv_ntk(p32, x).h.dtype == np.float64


def test_ntk_parameterization_scales_each_tensor_by_its_init_range():
    p, x = tiny_net(seed=5), images(2, seed=8)
    ntk = conv_ntk(p, x)
    blocks = ntk.blocks()
    d = p["fc_w"].shape[0]
    want = ((0.3 / F) ** 2 * (blocks["conv_w"] + blocks["conv_b"])
            + (blocks["fc_w"] + blocks["fc_b"]) / d)
    np.testing.assert_allclose(ntk.gram("ntk", init_scale=0.3), want, rtol=1e-14)
    np.testing.assert_allclose(ntk.gram("standard"), sum(blocks.values()), rtol=1e-14)
    with pytest.raises(InputError, match="parameterization must be one of standard, ntk"):
        ntk.gram("mup")


def test_trace_kernel_and_spectrum_on_a_hand_computable_gram():
    # K = 2 logits, n = 2 images: Θ = [[a, b], [b, d]] per diagonal block
    g = np.zeros((4, 4))
    g[np.ix_([0, 2], [0, 2])] = [[2.0, 1.0], [1.0, 2.0]]   # logit 0
    g[np.ix_([1, 3], [1, 3])] = [[4.0, 1.0], [1.0, 4.0]]   # logit 1
    g[0, 1] = g[1, 0] = 0.5                                 # a coupling, not in the trace
    tr = trace_kernel(g, 2)
    np.testing.assert_array_equal(tr, [[3.0, 1.0], [1.0, 3.0]])
    assert spectrum_summary(tr) == pytest.approx((2.0, 4.0))
    assert spectrum_summary(np.diag([5.0, 1.0, 3.0])) == pytest.approx((1.0, 5.0))
    with pytest.raises(InputError, match="multiple of 2 rows"):
        trace_kernel(np.eye(3), 2)


def test_fc_only_kernel_on_one_active_feature_is_h_squared_plus_one():
    # one channel, 1x1 filter on a 2x2 image: one pooled cell, h = relu(max x * w + b)
    p = {"conv_w": np.array([[[2.0]]]), "conv_b": np.array([0.5]),
         "fc_w": np.array([[3.0, -1.0]]), "fc_b": np.zeros(2)}
    x = np.array([[[0.1, 0.4], [0.3, 0.2]]])
    ntk = conv_ntk(p, x)
    h = 2.0 * 0.4 + 0.5
    assert ntk.h[0, 0] == pytest.approx(h)
    # Θ_cc' = δ_cc'(h² + 1) + V_c V_c' (patch² + 1), patch = 0.4 (the arg-max pixel)
    v = np.array([3.0, -1.0])
    want = np.eye(2) * (h * h + 1) + np.outer(v, v) * (0.4**2 + 1)
    np.testing.assert_allclose(ntk.gram(), want, rtol=1e-14)


def test_relative_changes_and_unit_measures_by_hand():
    assert relative_change([3.0, 4.0], [0.0, 0.0]) != relative_change([3.0, 4.0], [0.0, 0.0])
    assert relative_change([4.0, 4.0], [3.0, 0.0]) == pytest.approx(np.hypot(1, 4) / 3)
    with pytest.raises(InputError, match="shapes must match"):
        relative_change(np.ones(2), np.ones(3))
    assert np.isnan(relative_change([np.nan], [1.0]))
    p0 = {"conv_w": np.array([[[1.0]], [[0.0]]]), "conv_b": np.zeros(2),
          "fc_w": np.array([[1.0, 0.0], [0.0, 2.0]]), "fc_b": np.zeros(2)}
    p = {k: v.copy() for k, v in p0.items()}
    p["conv_w"][1, 0, 0] = 3.0
    p["fc_w"][0, 1] = 4.0  # row 0 is channel 0's (one cell, channel minor)
    # ‖θ − θ0‖ = √(9 + 16) = 5, ‖θ0‖ = √(1 + 1 + 4) = √6
    assert params_relative_change(p, p0) == pytest.approx(5 / np.sqrt(6))
    assert params_relative_change(p, p0, ("conv_w",)) == pytest.approx(3.0)
    u = unit_measures(p, p0)
    np.testing.assert_allclose(u["filter_change"], [0.0, 3.0])
    np.testing.assert_allclose(u["filter_norm0"], [1.0, 0.0])
    np.testing.assert_allclose(u["fc_norm0"], [1.0, 2.0])
    np.testing.assert_allclose(u["fc_norm"], [np.hypot(1, 4), 2.0])
    np.testing.assert_allclose(u["fc_change"], [4.0, 0.0])


def test_unit_measures_follow_the_network_row_order():
    # fc_w rows are (cell, channel), channel minor: channel j owns rows j, j + C, ...
    p0 = init_params(3, F, 0, image_size=SIZE, n_classes=K, dtype=np.float64)
    p = {k: v.copy() for k, v in p0.items()}
    p["fc_w"][1::3] = 0.0  # silence channel 1
    u = unit_measures(p, p0)
    assert u["fc_norm"][1] == 0 and (u["fc_norm"][[0, 2]] > 0).all()
    assert u["fc_change"][1] == pytest.approx(u["fc_norm0"][1])


def test_bad_shapes_are_refused():
    p = tiny_net()
    with pytest.raises(InputError, match="images must have shape"):
        conv_ntk(p, np.zeros((SIZE, SIZE)))
    with pytest.raises(InputError, match="fc_w must have"):
        conv_ntk(p, images(1, size=SIZE + 2))


def test_blas_limit_needs_threadpoolctl_and_says_how_to_install_it(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name == "threadpoolctl" else real(name))
    with pytest.raises(InputError, match=r'need threadpoolctl: .*pip install "xordsim\[mnist\]"'):
        spectrum_summary(np.eye(2))
