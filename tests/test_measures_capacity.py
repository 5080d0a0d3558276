"""Capacity measures (xordsim.measures.capacity) against independent oracles.

The oracle below re-implements bneyshabur/over-parametrization ``measures.py`` (commit
033c987) with plain Python loops and ``math``, from the formulas only: norms by summing
entries, the spectral norm from the eigenvalues of AᵀA, the margin percentile from the
sorted list. The module under test uses NumPy reductions, SVD and a shared vectorised core.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from xordsim._validate import InputError
from xordsim.data import points_with_masks, sample_mask_counts, uniform_distribution
from xordsim.measures.capacity import (
    CODE_KEYS,
    KEYS,
    MARGIN_BOUNDS,
    PAPER_KEYS,
    capacity_measures,
    percentile_from_counts,
    unit_capacity_impact,
    xord_capacity_measures,
    xord_unit_capacity_impact,
)
from xordsim.model import network_output
from xordsim.patterns import PATTERNS, mask_label

RTOL = 1e-11


# ---------------------------------------------------------------------------------------
# The oracle: plain loops
# ---------------------------------------------------------------------------------------

def _fro(A):
    return math.sqrt(sum(float(a) ** 2 for row in A for a in row))


def _spec(A):
    A = np.asarray(A, dtype=float)
    G = [[sum(A[r, i] * A[r, j] for r in range(A.shape[0])) for j in range(A.shape[1])]
         for i in range(A.shape[1])]
    return math.sqrt(max(0.0, max(np.linalg.eigvalsh(np.array(G)))))


def _row_l2(A):
    return [math.sqrt(sum(float(a) ** 2 for a in row)) for row in A]


def _pct5(values):
    s = sorted(values)
    pos = (len(s) - 1) * 0.05
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (pos - lo) * (s[hi] - s[lo])


def oracle(U, b, V, c, U0, b0, V0, X, y, margin=None, delta=0.01, batch_size=None,
           num_param=None, pooled=None):
    """The code's measures with loops. ``pooled``: optional (layer_post, layer_pre,
    data_L2, domain_L2, data_Linf_code, data_Linf_paper) for the max-pool network."""
    h, D = len(U), len(U[0])
    C = len(V)
    m = len(X)
    relu = lambda z: z if z > 0 else 0.0  # noqa: E731
    if margin is None:
        margins = []
        for i in range(m):
            hid = [relu(sum(U[j][d] * X[i][d] for d in range(D)) + b[j]) for j in range(h)]
            f = [sum(V[cc][j] * hid[j] for j in range(h)) + c[cc] for cc in range(C)]
            if C == 1:
                margins.append(y[i] * f[0])
            else:
                margins.append(f[y[i]] - max(f[cc] for cc in range(C) if cc != y[i]))
        margin = _pct5(margins)
    dU = [[U[j][d] - U0[j][d] for d in range(D)] for j in range(h)]
    dV = [[V[cc][j] - V0[cc][j] for j in range(h)] for cc in range(C)]
    fro1, fro2, dist1, dist2 = _fro(U), _fro(V), _fro(dU), _fro(dV)
    s1, s2, s01 = _spec(U), _spec(V), _spec(U0)
    l1max1 = max(sum(abs(a) for a in row) for row in U)
    l1max2 = max(sum(abs(a) for a in row) for row in V)
    l1d1, l1d2 = sum(_row_l2(dU)), sum(_row_l2(dV))
    P = h * D + h + C * h + C if num_param is None else num_param
    if pooled is None:
        post = pre = 0.0
        for i in range(m):
            for j in range(h):
                z = sum(U0[j][d] * X[i][d] for d in range(D)) + b0[j]
                post += relu(z) ** 2 / m
                pre += z * z / m
        data_l2 = sum(sum(a * a for a in x) for x in X) / m
        domain_l2 = max(sum(a * a for a in x) for x in X)
        bs = m if batch_size is None else batch_size
        linf = sum(max(a for x in X[s:s + bs] for a in x) ** 2 for s in range(0, m, bs)) / m
        linf_paper = max(abs(a) for x in X for a in x) ** 2
    else:
        post, pre, data_l2, domain_l2, linf, linf_paper = pooled
    r = {
        "Frobenius1": fro1, "Frobenius2": fro2, "Distance1": dist1, "Distance2": dist2,
        "Spectral1": s1, "Spectral2": s2, "Fro_Fro": fro1 * fro2,
        "L1max_L1max": l1max1 * l1max2, "Spec_Dist": s1 * dist2 * math.sqrt(C),
        "Dist_Spec": s2 * dist1 * math.sqrt(h), "Spec_L1max": s1 * l1d2,
        "L1max_Spec": s2 * l1d1, "Dist_Fro": dist1 * fro2, "init_Fro": s01 * fro2,
        "#parameter": P, "margin": margin,
    }
    r["Spec_Dist_sum"] = r["Spec_Dist"] + r["Dist_Spec"]
    r["Spec_L1max_sum"] = r["Spec_L1max"] + r["L1max_Spec"]
    r["Dist_Fro_sum"] = r["Dist_Fro"] + r["init_Fro"]
    w = h + 2 * C
    vc = 2 + P * math.log(8 * math.e * w * math.log(4 * math.e * w, 2), 2) * (
        2 * (D + 1) * h + (h + 1) * C) / ((D + 1) * h + (h + 1) * C)
    r["VC bound"] = 8 * C * vc * math.log(math.e * max(m / vc, 1)) + 8 * math.log(2 / delta)
    g = margin
    if g <= 0:
        for key in MARGIN_BOUNDS:
            r[key] = math.nan
        return r
    conf = 3 * math.sqrt(math.log(m / delta))
    for key, linf_ in (("L1max bound", linf), ("L1max bound (paper)", linf_paper)):
        R = 8 * C * l1max1 * l1max2 * 2 * math.sqrt(math.log(D)) * math.sqrt(linf_) / g
        r[key] = (R + conf) ** 2
    r["Fro bound"] = (8 * math.sqrt(C) * fro1 * fro2 * math.sqrt(data_l2) / g + conf) ** 2
    R = (144 * math.log(m) * math.log(2 * P) * (math.sqrt(data_l2) + 1 / math.sqrt(m))
         * ((s2 * l1d1) ** (2 / 3) + (s1 * l1d2) ** (2 / 3)) ** 1.5 / g)
    r["Spec_L1 bound"] = (R + math.sqrt(
        4.5 * math.log(1 / delta) + math.log(2 * m / g) + 2 * math.log(2 + math.sqrt(
            m * data_l2)) + 2 * math.log((2 + 2 * dist1) * (2 + 2 * dist2) * (2 + 2 * s1)
                                          * (2 + 2 * s2)))) ** 2
    core = (42 * 8 * math.sqrt(math.log(8 * h)) * math.sqrt(domain_l2)
            * math.sqrt(h * (s2 * dist1) ** 2 + C * (s1 * dist2) ** 2) / (math.sqrt(2) * g))
    r["Spec_Fro bound"] = (s1 * core) ** 2 + 6 * math.log(2 * m / delta)
    r["Spec_Fro bound (paper)"] = core ** 2 + 6 * math.log(2 * m / delta)
    for key, layer in (("Our bound", post), ("Our bound (paper)", pre)):
        R = (3 * math.sqrt(2) * (math.sqrt(2 * C) + 1) * (fro2 + 1)
             * (math.sqrt(layer) + dist1 * math.sqrt(data_l2) + 1) / g)
        r[key] = (R + 3 * math.sqrt(5 * h + math.log(max(1, g * math.sqrt(m)) / delta))) ** 2
    return r


def assert_measures(got, want, rtol=RTOL):
    assert set(got) == set(KEYS)
    for key in KEYS:
        if math.isnan(want[key]):
            assert math.isnan(got[key]), key
        else:
            assert got[key] == pytest.approx(want[key], rel=rtol, abs=1e-300), key


def random_net(rng, h, D, C, scale=1.0):
    U, U0 = rng.normal(size=(h, D)), rng.normal(size=(h, D))
    V, V0 = rng.normal(size=(C, h)), rng.normal(size=(C, h))
    b, b0 = rng.normal(size=h), rng.normal(size=h)
    c, c0 = rng.normal(size=C), rng.normal(size=C)
    return U * scale, b, V, c, U0, b0, V0, c0


# ---------------------------------------------------------------------------------------
# The general function
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("C", [1, 3, 10])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_general_matches_loop_oracle(C, seed):
    rng = np.random.default_rng(seed)
    h, D, m = 7, 5, 23
    U, b, V, c, U0, b0, V0, c0 = random_net(rng, h, D, C)
    X = rng.normal(size=(m, D))
    y = rng.choice([-1, 1], size=m) if C == 1 else rng.integers(0, C, size=m)
    got = capacity_measures(U, b, V, c, U0, b0, V0, c0, X, y)
    want = oracle(U, b, V, c, U0, b0, V0, X, y)
    assert_measures(got, want)
    # an explicit positive margin, another delta, mini-batches of 4 and a frozen-layer count
    got = capacity_measures(U, b, V, c, U0, b0, V0, c0, X, y, margin=0.37, delta=0.2,
                            batch_size=4, num_param=11)
    want = oracle(U, b, V, c, U0, b0, V0, X, y, margin=0.37, delta=0.2, batch_size=4,
                  num_param=11)
    assert_measures(got, want)
    assert all(math.isfinite(got[k]) for k in MARGIN_BOUNDS)


def test_general_fitted_net_has_finite_bounds():
    """A net whose labels are its own predictions has a positive default margin."""
    rng = np.random.default_rng(7)
    U, b, V, c, U0, b0, V0, c0 = random_net(rng, 6, 3, 4)
    X = rng.normal(size=(40, 3))
    y = np.argmax(np.maximum(X @ U.T + b, 0) @ V.T + c, axis=1)
    got = capacity_measures(U, b, V, c, U0, b0, V0, c0, X, y)
    assert got["margin"] > 0
    assert_measures(got, oracle(U, b, V, c, U0, b0, V0, X, y))
    assert all(math.isfinite(got[k]) and got[k] > 0 for k in KEYS)


def test_hand_made_net():
    """U = diag(2, 1), V = [[1, 1]], U⁰ = 0, b⁰ = (1, −1), V⁰ = 0, four points; every value
    below is worked out by hand from the formulas of the module docstring."""
    U = np.diag([2.0, 1.0])
    V = np.array([[1.0, 1.0]])
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0]])
    y = np.ones(4, dtype=int)
    z2, z1 = np.zeros(2), np.zeros(1)
    b0 = np.array([1.0, -1.0])
    args = (U, z2, V, z1, np.zeros((2, 2)), b0, np.zeros((1, 2)), z1, X, y)
    # f = 2σ(x1) + σ(x2) = 2, 1, 3, 4; sorted 1 2 3 4; position 3·0.05 = 0.15 -> 1.15
    assert capacity_measures(*args)["margin"] == pytest.approx(1.15, rel=1e-15)
    r = capacity_measures(*args, margin=1.0)
    s2, s5, s10 = math.sqrt(2), math.sqrt(5), math.sqrt(10)
    ln400 = math.log(4 / 0.01)
    hand = {
        "Frobenius1": s5, "Frobenius2": s2, "Distance1": s5, "Distance2": s2,
        "Spectral1": 2, "Spectral2": s2, "Fro_Fro": s10,
        "L1max_L1max": 2 * 2,  # max_j ‖u_j‖₁ = 2, ‖v‖₁ = 2
        "Spec_Dist": 2 * s2,  # σ₁(U)‖V−V⁰‖_F √C
        "Dist_Spec": s2 * s5 * s2,  # σ₁(V)‖U−U⁰‖_F √h
        "Spec_L1max": 2 * s2,  # σ₁(U) Σ_c ‖v_c − v⁰_c‖
        "L1max_Spec": s2 * 3,  # σ₁(V) (‖(2,0)‖ + ‖(0,1)‖)
        "Dist_Fro": s10, "init_Fro": 0.0, "#parameter": 9,  # 4 + 2 + 2 + 1
        # data_L2 = (1 + 1 + 2 + 4)/4 = 2, data_Linf (one batch) = 2²/4 = 1, paper 2² = 4
        "Fro bound": (8 * s10 * s2 + 3 * math.sqrt(ln400)) ** 2,
        "L1max bound": (8 * 4 * 2 * math.sqrt(math.log(2)) * 1 + 3 * math.sqrt(ln400)) ** 2,
        "L1max bound (paper)": (8 * 4 * 2 * math.sqrt(math.log(2)) * 2
                                + 3 * math.sqrt(ln400)) ** 2,
        # √(h(σ₁(V)‖U−U⁰‖)² + C(σ₁(U)‖V−V⁰‖)²) = √(2·10 + 8) = √28, domain_L2 = 4
        "Spec_Fro bound (paper)": (336 * math.sqrt(math.log(16)) * 2 * math.sqrt(28) / s2) ** 2
        + 6 * math.log(800),
        "Spec_Fro bound": (2 * 336 * math.sqrt(math.log(16)) * 2 * math.sqrt(28) / s2) ** 2
        + 6 * math.log(800),
        # U⁰x + b⁰ = (1, −1) for every x: Σ_j layer_norm_j = 1 after the ReLU, 2 before
        "Our bound": (3 * s2 * (s2 + 1) ** 2 * (1 + s10 + 1)
                      + 3 * math.sqrt(10 + math.log(2 / 0.01))) ** 2,
        "Our bound (paper)": (3 * s2 * (s2 + 1) ** 2 * (s2 + s10 + 1)
                              + 3 * math.sqrt(10 + math.log(2 / 0.01))) ** 2,
        "Spec_L1 bound": (144 * math.log(4) * math.log(18) * (s2 + 0.5)
                          * ((3 * s2) ** (2 / 3) + (2 * s2) ** (2 / 3)) ** 1.5
                          + math.sqrt(4.5 * math.log(100) + math.log(8)
                                      + 2 * math.log(2 + math.sqrt(8))
                                      + 2 * math.log((2 + 2 * s5) * (2 + 2 * s2) * 6
                                                     * (2 + 2 * s2)))) ** 2,
    }
    # VC: h = 2, C = 1, D = 2, P = 9; m/VC < 1 so the log is ln e = 1
    vc = 2 + 9 * math.log2(32 * math.e * math.log2(16 * math.e)) * 15 / 9
    hand["VC bound"] = 8 * vc + 8 * math.log(200)
    for key, value in hand.items():
        assert r[key] == pytest.approx(value, rel=1e-13), key
    # batches of 2: ((max of (1,0),(0,1))² + (max of (1,1),(2,0))²)/4 = (1 + 4)/4
    rb = capacity_measures(*args, margin=1.0, batch_size=2)
    assert rb["L1max bound"] == pytest.approx(
        (64 * math.sqrt(math.log(2)) * math.sqrt(1.25) + 3 * math.sqrt(ln400)) ** 2, rel=1e-13)


@pytest.mark.parametrize("margin", [0.0, -0.5])
def test_bounds_nan_for_nonpositive_margin(margin, rng):
    U, b, V, c, U0, b0, V0, c0 = random_net(rng, 4, 3, 2)
    X = rng.normal(size=(10, 3))
    y = rng.integers(0, 2, size=10)
    r = capacity_measures(U, b, V, c, U0, b0, V0, c0, X, y, margin=margin)
    assert all(math.isnan(r[k]) for k in MARGIN_BOUNDS)
    assert all(math.isfinite(r[k]) for k in KEYS if k not in MARGIN_BOUNDS)
    assert r["margin"] == margin


def test_code_departures_differ_as_documented(rng):
    U, b, V, c, U0, b0, V0, c0 = random_net(rng, 5, 3, 2)
    X = rng.normal(size=(12, 3))
    y = rng.integers(0, 2, size=12)
    r = capacity_measures(U, b, V, c, U0, b0, V0, c0, X, y, margin=1.0)
    m, s1 = 12, r["Spectral1"]
    extra = 6 * math.log(2 * m / 0.01)
    # the code's Spec_Fro is the paper's times σ₁(U)²
    assert r["Spec_Fro bound"] - extra == pytest.approx(s1 ** 2 * (r["Spec_Fro bound (paper)"]
                                                                   - extra), rel=1e-12)
    assert r["Our bound (paper)"] >= r["Our bound"]
    assert r["L1max bound (paper)"] > r["L1max bound"]
    assert set(PAPER_KEYS) <= set(r) and set(CODE_KEYS) <= set(r)


def test_unit_capacity_impact(rng):
    U, U0 = rng.normal(size=(3, 6, 4)), rng.normal(size=(3, 6, 4))
    V = rng.normal(size=(3, 2, 6))
    res = unit_capacity_impact(U, V, U0)
    assert res.capacity.shape == res.impact.shape == (3, 6)
    for r in range(3):
        for j in range(6):
            assert res.capacity[r, j] == pytest.approx(
                math.sqrt(sum((U[r, j, d] - U0[r, j, d]) ** 2 for d in range(4))), rel=1e-14)
            assert res.impact[r, j] == pytest.approx(
                math.sqrt(V[r, 0, j] ** 2 + V[r, 1, j] ** 2), rel=1e-14)


def test_general_bad_input(rng):
    U, b, V, c, U0, b0, V0, c0 = random_net(rng, 4, 3, 2)
    X = rng.normal(size=(10, 3))
    y = rng.integers(0, 2, size=10)
    args = [U, b, V, c, U0, b0, V0, c0, X, y]
    for delta in (0.0, 1.0, -0.1, 2.0):
        with pytest.raises(InputError, match="delta"):
            capacity_measures(*args, delta=delta)
    for i, name in enumerate(["U", "b", "V", "c", "U0", "b0", "V0", "c0", "X"]):
        bad = list(args)
        bad[i] = np.zeros((1, 1, 1))
        with pytest.raises(InputError, match=rf"^{name} must"):
            capacity_measures(*bad)
    with pytest.raises(InputError, match="y must"):
        capacity_measures(*args[:9], np.full(10, 2))
    with pytest.raises(InputError, match="y must"):
        capacity_measures(*args[:9], y[:5])
    with pytest.raises(InputError, match="batch_size"):
        capacity_measures(*args, batch_size=0)
    with pytest.raises(InputError, match="margin"):
        capacity_measures(*args, margin=float("nan"))
    with pytest.raises(InputError, match="U and U0"):
        unit_capacity_impact(U, V, U0[:2])
    with pytest.raises(InputError, match="y must be ±1"):
        capacity_measures(U, b, V[:1], c[:1], U0, b0, V0[:1], c0[:1], X, y)


# ---------------------------------------------------------------------------------------
# The XOR/XORD adapter
# ---------------------------------------------------------------------------------------

def xord_filters(rng, R, k, scale=1.0):
    return [rng.normal(size=(R, k, 2)) * scale for _ in range(4)]


def explicit_net(w, u, w0, u0, alpha):
    """The d = 1 network as the two-layer net U = [w; u], V = α[1…1, −1…−1], no biases."""
    k = w.shape[0]
    V = alpha * np.concatenate([np.ones(k), -np.ones(k)])[None]
    z = np.zeros(2 * k)
    return (np.concatenate([w, u]), z, V, np.zeros(1), np.concatenate([w0, u0]), z, V,
            np.zeros(1))


@pytest.mark.parametrize("alpha", [1.0, 0.3, 2.0])
@pytest.mark.parametrize("k", [1, 4])
def test_xord_d1_equals_two_layer_net(alpha, k):
    """For d = 1 a point is one pattern, so the max-pool net is the two-layer ReLU net."""
    rng = np.random.default_rng(k)
    n = 17
    masks = 1 << rng.integers(0, 4, size=n)
    y = mask_label(masks).astype(int)
    w, u, w0, u0 = (a[0] for a in xord_filters(rng, 1, k))
    X = PATTERNS[np.log2(masks).astype(int)].astype(float)
    net = explicit_net(w, u, w0, u0, alpha)
    # the points themselves: N_W of the model equals the explicit net's output
    xs = X.reshape(n, 1, 2).astype(np.int8)
    f = np.maximum(X @ net[0].T, 0) @ net[2].T
    assert np.allclose(alpha * network_output(w, u, xs), f[:, 0], rtol=1e-13, atol=1e-13)
    for margin in (None, 0.8):
        got = xord_capacity_measures(w, u, w0, u0, masks, y, output_scale=alpha, margin=margin)
        want = capacity_measures(*net, X, y, margin=margin, num_param=4 * k)
        assert_measures(got, want, rtol=1e-12)
        # and the loop oracle on the same explicit net
        assert_measures(got, oracle(*net[:7], X, y, margin=margin, num_param=4 * k),
                        rtol=1e-11)


def pooled_oracle(w, u, w0, u0, x, y, alpha, margin=None):
    """The adapter's definition with loops over real points x (n, d, 2)."""
    k = len(w)
    U = [list(r) for r in np.concatenate([w, u])]
    U0 = [list(r) for r in np.concatenate([w0, u0])]
    V = [[alpha] * k + [-alpha] * k]
    n = len(x)
    relu = lambda z: z if z > 0 else 0.0  # noqa: E731
    if margin is None:
        margins = []
        for i in range(n):
            N = alpha * sum(
                max(relu(w[j] @ x[i][l]) for l in range(len(x[i])))
                - max(relu(u[j] @ x[i][l]) for l in range(len(x[i]))) for j in range(k))
            margins.append(y[i] * N)
        margin = _pct5(margins)
    post = pre = 0.0
    for i in range(n):
        for j in range(2 * k):
            z = max(U0[j][0] * x[i][l][0] + U0[j][1] * x[i][l][1] for l in range(len(x[i])))
            post += relu(z) ** 2 / n
            pre += z * z / n
    pooled = (post, pre, 2.0, 2.0, 1.0 / n, 1.0)
    return oracle(U, [0.0] * 2 * k, V, [0.0], U0, [0.0] * 2 * k, V, [[0.0]] * n, y,
                  margin=margin, num_param=4 * k, pooled=pooled)


@pytest.mark.parametrize("d", [2, 4, 10])
def test_xord_pooled_against_points_oracle(d):
    rng = np.random.default_rng(100 + d)
    k, n = 3, 21
    masks = rng.integers(1, 16, size=n)
    masks = np.array([M for M in masks if bin(M).count("1") <= d] or [1])
    x = points_with_masks(masks, d, rng).astype(float)
    y = mask_label(masks).astype(int)
    w, u, w0, u0 = (a[0] for a in xord_filters(rng, 1, k))
    for margin in (None, 1.3):
        got = xord_capacity_measures(w, u, w0, u0, masks, y, output_scale=0.7, margin=margin)
        want = pooled_oracle(w, u, w0, u0, x, y, 0.7, margin)
        assert_measures(got, want)


def test_xord_structural_identities():
    rng = np.random.default_rng(5)
    R, k, alpha = 6, 9, 1.7
    w, u, w0, u0 = xord_filters(rng, R, k)
    counts = sample_mask_counts(uniform_distribution(5), 15, R, rng)
    r = xord_capacity_measures(w, u, w0, u0, counts, output_scale=alpha)
    assert np.all(r["Distance2"] == 0) and np.all(r["Spec_Dist"] == 0)
    assert np.all(r["Spec_L1max"] == 0)
    assert np.all(r["Frobenius2"] == alpha * math.sqrt(2 * k))
    assert np.all(r["Spectral2"] == alpha * math.sqrt(2 * k))
    assert np.all(r["#parameter"] == 4 * k)
    assert np.all(r["Dist_Spec"] == r["Spec_Dist_sum"])
    r1 = xord_capacity_measures(w, u, w0, u0, counts, output_scale=alpha, margin=2.0)
    # the √(5h) term alone: Our bound >= 9(10k + ln(1/δ)) >= 90k
    assert np.all(r1["Our bound"] >= 9 * (10 * k + math.log(100)))


def test_xord_counts_path_equals_points_path():
    """Counts give exactly (==) the numbers of the expanded points, margin percentile
    included, for shared and per-replica training sets."""
    rng = np.random.default_rng(11)
    R, k, d, m = 5, 6, 4, 13
    w, u, w0, u0 = xord_filters(rng, R, k)
    # filters trained a little would be nicer, but any filters test the equality
    counts = sample_mask_counts(uniform_distribution(d), m, R, rng)
    masks = np.stack([np.repeat(np.tile(np.arange(16), 2), c.ravel()) for c in counts])
    labels = np.stack([np.repeat(np.repeat([-1, 1], 16), c.ravel()) for c in counts])
    perm = rng.permutation(masks.shape[1])  # point order must not matter
    by_counts = xord_capacity_measures(w, u, w0, u0, counts, output_scale=0.5)
    by_points = xord_capacity_measures(w, u, w0, u0, masks[:, perm], labels[:, perm],
                                       output_scale=0.5)
    for key in KEYS:
        np.testing.assert_array_equal(by_counts[key], by_points[key], err_msg=key)
    # one shared set
    shared_c = xord_capacity_measures(w, u, w0, u0, counts[2], output_scale=0.5)
    shared_p = xord_capacity_measures(w, u, w0, u0, masks[2], labels[2], output_scale=0.5)
    for key in KEYS:
        np.testing.assert_array_equal(shared_c[key], shared_p[key], err_msg=key)


def test_xord_vectorised_equals_single():
    rng = np.random.default_rng(3)
    R, k = 4, 5
    w, u, w0, u0 = xord_filters(rng, R, k)
    masks = rng.integers(1, 16, size=(R, 9))
    y = mask_label(masks).astype(int)
    batch = xord_capacity_measures(w, u, w0, u0, masks, y)
    for r in range(R):
        single = xord_capacity_measures(w[r], u[r], w0[r], u0[r], masks[r], y[r])
        for key in KEYS:
            assert isinstance(single[key], float)
            np.testing.assert_allclose(batch[key][r], single[key], rtol=1e-14, err_msg=key)


def test_percentile_from_counts_is_numpys():
    rng = np.random.default_rng(0)
    for trial in range(300):
        G = int(rng.integers(1, 12))
        vals = np.round(rng.normal(size=(3, G)), int(rng.integers(0, 3)))  # with ties
        cnt = rng.integers(0, 6, size=(3, G))
        cnt[:, int(rng.integers(G))] += 1
        q = [5.0, 50.0, 0.0, 100.0, 37.5][trial % 5]
        got = percentile_from_counts(vals, cnt, q)
        for r in range(3):
            want = np.percentile(np.repeat(vals[r], cnt[r]), q)
            assert got[r] == want, (vals[r], cnt[r], q)
    # a counted NaN gives NaN; an uncounted one does not matter
    v = np.array([[1.0, np.nan, 2.0], [1.0, np.nan, 2.0]])
    c = np.array([[1, 1, 1], [1, 0, 1]])
    got = percentile_from_counts(v, c)
    assert np.isnan(got[0]) and got[1] == np.percentile([1.0, 2.0], 5)


def test_xord_untrained_margin_nan_and_explicit_margins():
    rng = np.random.default_rng(1)
    R, k = 3, 4
    w, u, w0, u0 = xord_filters(rng, R, k)
    masks = np.array([1, 4, 5, 2, 8, 10])
    y = mask_label(masks).astype(int)
    r = xord_capacity_measures(w, u, w0, u0, masks, y, margin=np.array([1.0, 0.0, -1.0]))
    for key in MARGIN_BOUNDS:
        assert np.isfinite(r[key][0]) and np.isnan(r[key][1]) and np.isnan(r[key][2]), key
    assert np.all(np.isfinite(r["VC bound"]))
    # the default margin is NaN-safe: a negative 5th percentile gives NaN bounds
    r = xord_capacity_measures(w, u, w0, u0, masks, y)
    neg = r["margin"] <= 0
    for key in MARGIN_BOUNDS:
        assert np.all(np.isnan(r[key][neg])) and np.all(np.isfinite(r[key][~neg]))


def test_xord_unit_capacity_impact():
    rng = np.random.default_rng(2)
    w, u, w0, u0 = xord_filters(rng, 2, 3)
    res = xord_unit_capacity_impact(w, u, w0, u0, output_scale=0.5)
    assert res.capacity.shape == res.impact.shape == (2, 6)
    assert np.all(res.impact == 0.5)
    np.testing.assert_allclose(res.capacity[:, :3], np.linalg.norm(w - w0, axis=-1))
    np.testing.assert_allclose(res.capacity[:, 3:], np.linalg.norm(u - u0, axis=-1))
    single = xord_unit_capacity_impact(w[1], u[1], w0[1], u0[1])
    np.testing.assert_array_equal(single.capacity, res.capacity[1])


def test_xord_bad_input():
    rng = np.random.default_rng(2)
    w, u, w0, u0 = xord_filters(rng, 2, 3)
    masks = np.array([1, 2, 3])
    y = np.array([1, -1, 1])
    with pytest.raises(InputError, match="delta"):
        xord_capacity_measures(w, u, w0, u0, masks, y, delta=1.0)
    with pytest.raises(InputError, match="w, u, w0, u0"):
        xord_capacity_measures(w, u, w0[:1], u0, masks, y)
    with pytest.raises(InputError, match="masks must"):
        xord_capacity_measures(w, u, w0, u0, np.array([0, 1, 2]), y)
    with pytest.raises(InputError, match="masks and labels"):
        xord_capacity_measures(w, u, w0, u0, masks, y[:2])
    with pytest.raises(InputError, match="labels must"):
        xord_capacity_measures(w, u, w0, u0, masks, np.array([1, 0, 1]))
    with pytest.raises(InputError,
                       match=r"counts must have shape \(2, 16\) or \(R, 2, 16\); got \(1, 3, 16\)"):
        xord_capacity_measures(w, u, w0, u0, np.zeros((3, 16), np.int64))
    three = np.ones((3, 2, 16), np.int64)
    three[:, :, 0] = 0
    with pytest.raises(InputError, match="training sets for 2 replicas"):
        xord_capacity_measures(w, u, w0, u0, three)
    three[1] = 0
    with pytest.raises(InputError, match="at least one point"):
        xord_capacity_measures(w, u, w0, u0, three)
    with pytest.raises(InputError, match="margin must"):
        xord_capacity_measures(w, u, w0, u0, masks, y, margin=np.ones(3))
    with pytest.raises(InputError, match="output_scale"):
        xord_capacity_measures(w, u, w0, u0, masks, y, output_scale=float("inf"))
    with pytest.raises(InputError, match="output_scale"):
        xord_capacity_measures(w, u, w0, u0, masks, y, output_scale=0.0)
