"""The mask-reduced network and its closed-form subgradient against direct definitions."""

import itertools

import numpy as np
import pytest

from xordsim.data import points_with_masks, uniform_distribution, xor_dataset
from xordsim.model import (
    channel_class,
    loss_and_grad,
    loss_groups,
    network_output,
    outputs_all_masks,
    recovers_f_star,
)
from xordsim.patterns import ALL_MASKS, PATTERNS, mask_label
from xordsim.reference import reference_loss_and_grad, reference_output


def direct_value_and_argmax(w, mask):
    """max_{l in mask} sigma(w·p_l) and the argmax (lowest index on ties), by definition."""
    resp = [(float(np.dot(w, PATTERNS[l])), l) for l in range(4) if mask >> l & 1]
    best = max(v for v, _ in resp)
    lstar = min(l for v, l in resp if v == best)
    return max(best, 0.0), lstar


def test_class_tables_against_definition():
    from xordsim.model import GRAD_A, GRAD_B, SEL

    grid = [-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0]
    for w0, w1 in itertools.product(grid, grid):
        s, t = w0 + w1, w0 - w1
        c = channel_class(s, t)
        a = 0 if c >> 2 == 0 else 2
        b = 1 if (c >> 1) & 1 == 0 else 3
        for M in ALL_MASKS:
            val, lstar = direct_value_and_argmax(np.array([w0, w1]), M)
            got = [0.0, abs(s), abs(t), max(abs(s), abs(t))][SEL[c >> 1, M]]
            assert got == val
            if val > 0:  # the subgradient goes to the argmax pattern
                assert (GRAD_A[c, M], GRAD_B[c, M]) == ((lstar == a), (lstar == b))


def test_outputs_match_reference(rng):
    w = rng.normal(size=(5, 7, 2))
    u = rng.normal(size=(5, 7, 2))
    x = points_with_masks(ALL_MASKS, 4, rng)[None]
    np.testing.assert_allclose(outputs_all_masks(w, u)[:, ALL_MASKS], reference_output(w, u, x),
                               atol=1e-12)
    np.testing.assert_allclose(network_output(w, u, x[0]), reference_output(w, u, x), atol=1e-12)


def test_paper_k2_solution_classifies_every_point():
    # Sec. 4: w1 = 3 p1, w2 = 3 p3, u1 = p2, u2 = p4 realizes f*.
    w = np.array([3 * PATTERNS[0], 3 * PATTERNS[2]], float)
    u = np.array([PATTERNS[1], PATTERNS[3]], float)
    out = outputs_all_masks(w, u)
    assert recovers_f_star(out)[0]
    d = 3  # every point of {±1}^{2d}
    x = PATTERNS[np.array(list(itertools.product(range(4), repeat=d)))]
    y = np.where(np.any(np.isin(np.array(list(itertools.product(range(4), repeat=d))), [0, 2]),
                        axis=1), 1, -1)
    assert np.all(np.sign(network_output(w, u, x)) == y)
    # the decoy solution of Sec. 5 fits diverse points but not f*
    w_decoy = np.array([3 * PATTERNS[0]] * 2, float)
    u_decoy = np.array([PATTERNS[1]] * 2, float)
    out = outputs_all_masks(w_decoy, u_decoy)
    assert out[0, 15] > 0 and out[0, 10] < 0
    assert not recovers_f_star(out)[0]
    assert (out[0, ALL_MASKS] * mask_label(ALL_MASKS) <= 0).any()


def numerical_grad(f, w, eps=1e-6):
    g = np.zeros_like(w)
    for idx in np.ndindex(w.shape):
        e = np.zeros_like(w)
        e[idx] = eps
        g[idx] = (f(w + e) - f(w - e)) / (2 * eps)
    return g


@pytest.mark.parametrize("problem,d,k", [("xor", 1, 3), ("xord", 4, 5), ("xord", 6, 2)])
def test_gradient_against_finite_differences(problem, d, k, rng):
    if problem == "xor":
        x, y = xor_dataset()
    else:
        x, y = uniform_distribution(d).sample_training_set(8, rng)
    groups = loss_groups(x, y, problem)
    checked = 0
    for _ in range(20):
        w = rng.normal(size=(k, 2))
        u = rng.normal(size=(k, 2))
        loss, gw, gu = loss_and_grad(w, u, groups)
        # skip configurations within 1e-4 of a kink (ties, zero responses, hinge corners)
        resp = np.concatenate([w, u]) @ PATTERNS.T
        diffs = np.abs(resp[:, :, None] - resp[:, None, :])[:, ~np.eye(4, dtype=bool)]
        n_out = network_output(w, u, x)
        _, margin = (None, np.where(y > 0, 8.0 if problem == "xord" else 1.0, 1.0))
        if (np.abs(resp).min() < 1e-4 or diffs.min() < 1e-4
                or np.abs(margin - y * n_out).min() < 1e-4):
            continue
        fw = numerical_grad(lambda v, u=u: loss_and_grad(v, u, groups)[0], w)
        fu = numerical_grad(lambda v, w=w: loss_and_grad(w, v, groups)[0], u)
        np.testing.assert_allclose(gw, fw, atol=1e-6)
        np.testing.assert_allclose(gu, fu, atol=1e-6)
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize("problem", ["xor", "xord"])
def test_gradient_matches_reference_including_ties(problem, rng):
    if problem == "xor":
        x, y = xor_dataset()
    else:
        x, y = uniform_distribution(4).sample_training_set(10, rng)
    groups = loss_groups(x, y, problem, gamma=2.0)
    for trial in range(30):
        # integer weights create ties between patterns and zero responses on purpose
        w = rng.integers(-2, 3, size=(4, 2)).astype(float) if trial % 2 else rng.normal(size=(4, 2))
        u = rng.integers(-2, 3, size=(4, 2)).astype(float) if trial % 2 else rng.normal(size=(4, 2))
        loss, gw, gu = loss_and_grad(w, u, groups)
        rl, rgw, rgu = reference_loss_and_grad(w[None], u[None], x[None], y[None], problem, 2.0)
        assert loss == pytest.approx(rl[0], abs=1e-12)
        np.testing.assert_allclose(gw, rgw[0], atol=1e-12)
        np.testing.assert_allclose(gu, rgu[0], atol=1e-12)


def test_loss_groups_weights():
    x, y = uniform_distribution(5).sample_training_set(7, 3)
    g = loss_groups(x, y, "xord", gamma=3.0)
    assert g.count.sum() == 14
    assert g.weight.sum() == pytest.approx(2.0)  # (1/m) sum over each class
    assert set(g.margin[g.y > 0]) == {3.0} and set(g.margin[(g.y < 0) & (g.count > 0)]) == {1.0}
    xs, ys = xor_dataset()
    gx = loss_groups(xs, ys, "xor")
    assert gx.weight.tolist() == [[1.0, 1.0, 1.0, 1.0]]


def test_hinge_counts_exactly_the_active_groups(rng):
    from xordsim.model import (
        TABLES,
        LossGroups,
        Scratch,
        forward,
        group_loss,
        hinge_active,
        kernel_loss,
        to_st,
    )

    x, y = uniform_distribution(4).sample_training_set(10, rng)
    g = loss_groups(x, y, "xord", gamma=2.0)
    G = g.mask.shape[1]
    for trial in range(20):
        w = rng.integers(-2, 3, size=(3, 2)).astype(float)
        u = rng.integers(-2, 3, size=(3, 2)).astype(float)
        sc = Scratch(*to_st(w), *to_st(u), np.zeros((4, 4)), np.empty(8), np.empty(8),
                     np.empty(G))
        forward(sc.sw, sc.tw, sc.su, sc.tu, sc.D)
        grp = LossGroups(*(a[0] for a in g.arrays()))
        weight = grp.weight.copy()
        weight[trial % G] = 0.0  # a zero-weight group is never active
        grp = grp._replace(weight=weight)
        active = np.zeros(G, np.int64)
        loss = group_loss(sc, grp, TABLES, active, kernel_loss("hinge"))
        slack = grp.margin - grp.y * sc.out_n
        expect = (weight > 0) & (slack > 0)  # the kink slack = 0 is inactive
        assert active.tolist() == expect.astype(int).tolist()
        assert [hinge_active(*a) for a in zip(weight, grp.margin, grp.y, sc.out_n,
                                                strict=True)] == expect.tolist()
        assert loss == pytest.approx((weight * np.maximum(slack, 0)).sum(), abs=1e-12)
