"""Lazy-training diagnostics and the lazy limit's predictor (issue 13)."""

import numpy as np
import pytest

from xordsim._validate import InputError
from xordsim.data import decoy_training_set, sample_mask_counts, uniform_distribution
from xordsim.engine import gaussian_init, train
from xordsim.measures.kernel import xord_h_inf
from xordsim.measures.lazy import (
    lazy_diagnostics,
    lazy_lr,
    lazy_predictor,
    lazy_squared_limit,
    lazy_test_error,
    relative_kernel_change,
    relative_weight_change,
    sector_change_fraction,
    ties,
)
from xordsim.measures.ntk import ntk_all_masks
from xordsim.model import Groups, groups_from_counts, loss_groups, mask_label, outputs_all_masks
from xordsim.patterns import ALL_MASKS, mask_of

DECOY = decoy_training_set(d=4, n_per_class=6, rng=0)


# -- diagnostics ---------------------------------------------------------------------------

def test_relative_weight_change_by_hand():
    w0 = np.array([[[3.0, 0.0]], [[1.0, 1.0]]])
    u0 = np.array([[[0.0, 4.0]], [[1.0, -1.0]]])
    w = w0 + np.array([[[0.0, 0.5]], [[0.0, 0.0]]])
    u = u0.copy()
    np.testing.assert_allclose(relative_weight_change(w0, u0, w, u), [0.5 / 5.0, 0.0])
    assert relative_weight_change(w0[0], u0[0], w[0], u[0]) == pytest.approx(0.1)
    w[1, 0, 0] = np.nan
    assert np.isnan(relative_weight_change(w0, u0, w, u)[1])


def test_sector_change_fraction_by_hand():
    # (1, 0.2): s = 1.2, t = 0.8, class 0; (0.2, 1): s = 1.2, t = -0.8, class 2 (t < 0);
    # (1, 0.25) stays in class 0; (0.2, 1) -> (0.2, 0.9) stays in class 2
    w0 = np.array([[1.0, 0.2], [0.2, 1.0], [1.0, 0.2], [0.2, 1.0]])
    w = np.array([[0.2, 1.0], [1.0, 0.2], [1.0, 0.25], [0.2, 0.9]])
    u0 = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.3], [0.5, 0.5]])
    u = u0.copy()
    u[0] = [0.1, 2.0]  # s = 2.1, t = -1.9: class 0 -> 2
    assert sector_change_fraction(w0, u0, w, u) == 3 / 8
    # the kernel moves iff some filter changed sector; here it did
    assert relative_kernel_change(w0, u0, w, u) > 0
    assert relative_kernel_change(w0, u0, w0 * 2.0, u0 * 0.5) == 0.0


def test_relative_kernel_change_against_a_direct_computation():
    rng = np.random.default_rng(1)
    w0, u0 = rng.standard_normal((2, 4, 30, 2))
    w, u = w0 + 0.3 * rng.standard_normal(w0.shape), u0 + 0.3 * rng.standard_normal(u0.shape)
    got = relative_kernel_change(w0, u0, w, u)
    for r in range(4):
        t0 = ntk_all_masks(w0[r], u0[r])[1:, 1:]
        t1 = ntk_all_masks(w[r], u[r])[1:, 1:]
        assert got[r] == pytest.approx(np.linalg.norm(t1 - t0) / np.linalg.norm(t0), rel=1e-12)
    assert np.all(got > 0)


def test_lazy_diagnostics_of_a_train_result_shrink_with_width():
    x, y = DECOY
    medians = {}
    for k in (100, 10_000):
        w0, _ = gaussian_init(6, k, 1.0, seed=k)
        res = train(x, y, k=k, lr=0.1 / k, steps=200, w0=w0, u0=w0.copy())
        diag = lazy_diagnostics(res)
        assert set(diag) == {"weight_change", "kernel_change", "sector_change"}
        for v in diag.values():
            assert v.shape == (6,) and np.all(v >= 0)
        # the kernel only moves when filters change sector
        assert np.all((diag["kernel_change"] == 0) == (diag["sector_change"] == 0))
        medians[k] = {key: float(np.median(v)) for key, v in diag.items()}
    for key in medians[100]:
        assert medians[10_000][key] < medians[100][key] / 10


# -- the predictor -------------------------------------------------------------------------

def test_lazy_lr():
    assert lazy_lr(0.1 / 50, 50) == pytest.approx(0.4)
    assert lazy_lr(0.01, 10, output_scale=0.5) == pytest.approx(0.1)
    with pytest.raises(InputError, match="output_scale"):
        lazy_lr(0.1, 10, output_scale=-1.0)


@pytest.mark.parametrize("d,m", [(4, 6), (3, 10), (10, 20)])
def test_squared_closed_form_equals_the_iteration(d, m):
    groups = groups_from_counts(sample_mask_counts(uniform_distribution(d), m, 12, rng=d),
                                "xord", 8.0)
    rng = np.random.default_rng(m)
    f0 = outputs_all_masks(rng.standard_normal((12, 5, 2)), rng.standard_normal((12, 5, 2)))
    for start in (None, f0):
        closed = lazy_squared_limit(groups, start)
        it = lazy_predictor(groups, "squared", eta_prime=0.6, steps=20_000, f0=start)
        np.testing.assert_allclose(it.outputs, closed, rtol=0, atol=1e-8)
        assert np.all(it.steps == 20_000) and not it.converged.any()


def test_squared_limit_is_weighted_least_squares_not_the_interpolant():
    # {1}, {3}, {1,3} positives with weights 1/2, 1/4, 1/4 (counts 2, 1, 1): the targets
    # (8, 8, 8) break N{1,3} = N{1} + N{3}, so no kernel function fits them
    counts = np.zeros((2, 16), np.int64)
    counts[1, [mask_of({1}), mask_of({3}), mask_of({1, 3})]] = [2, 1, 1]
    counts[0, mask_of({2, 4})] = 1
    groups = groups_from_counts(counts, "xord", 8.0)
    closed = lazy_squared_limit(groups)[0]
    it = lazy_predictor(groups, "squared", eta_prime=0.5, steps=20_000)
    np.testing.assert_allclose(it.outputs[0], closed, atol=1e-9)
    assert it.loss[0] > 0.1  # a positive floor
    # identities hold for the limit; the weighted fit differs from the pinv interpolant
    assert closed[5] == pytest.approx(closed[1] + closed[4], abs=1e-12)
    H = xord_h_inf()
    S = groups.mask[0][groups.weight[0] > 0]
    t = (groups.y[0] * groups.margin[0])[groups.weight[0] > 0]
    interp = H[:, S] @ np.linalg.pinv(H[np.ix_(S, S)], rcond=1e-9) @ t
    assert np.max(np.abs(interp - closed)) > 0.1
    # the closed form minimises Σ W_g (f(M_g) - t_g)² over f0 + span H(·, S): no direction
    # of that span lowers it
    W = groups.weight[0][groups.weight[0] > 0]
    grad = H[np.ix_(S, S)] @ (W * (closed[S] - t))
    np.testing.assert_allclose(grad, 0, atol=1e-10)


def test_decoy_hinge_and_squared_with_gamma_8_recover_f_star():
    x, y = DECOY
    groups = loss_groups(x, y, "xord", 8.0)
    joint = uniform_distribution(4).joint_mask_probs()
    hinge = lazy_predictor(groups, "hinge", eta_prime=0.4, steps=10_000)
    assert hinge.converged[0] and hinge.loss[0] == 0.0
    squared = lazy_squared_limit(groups)
    for f in (hinge.outputs, squared):
        margins = f[0, ALL_MASKS] * mask_label(ALL_MASKS)
        assert np.min(margins) == pytest.approx(0.5, abs=1e-9)
        assert not ties(f).any()
        assert lazy_test_error(f, joint)[0] == 0.0


@pytest.mark.parametrize("loss,gamma", [("logistic", 8.0), ("logistic", 1.0),
                                        ("hinge", 1.0), ("squared", 1.0)])
def test_decoy_symmetric_cases_tie_on_124_and_234(loss, gamma):
    # positives and negatives then enter symmetrically, which forces
    # f{1,2,4} = f{2,3,4} = 0: ties, counted as errors by the exact test error
    x, y = DECOY
    groups = loss_groups(x, y, "xord", gamma)
    f = lazy_predictor(groups, loss, eta_prime=0.4, steps=3000).outputs
    tied = np.flatnonzero(ties(f)[0])
    assert tied.tolist() == [mask_of({1, 2, 4}), mask_of({2, 3, 4})]
    assert np.all(np.abs(f[0, tied]) <= 1e-12 * np.abs(f).max())
    others = np.setdiff1d(ALL_MASKS, tied)
    assert np.all(f[0, others] * mask_label(others) > 0)
    joint = uniform_distribution(4).joint_mask_probs()
    assert lazy_test_error(f, joint)[0] == pytest.approx(joint[1, tied].sum(), rel=1e-12)
    assert lazy_test_error(f, joint)[0] > 0.1


def test_ties_decide_by_tolerance_not_by_rounding():
    f = np.zeros((1, 16))
    f[0, 1:] = mask_label(ALL_MASKS) * 3.0
    f[0, 11] = 2.2e-16  # what the closed form gives for the logistic-like tie
    joint = uniform_distribution(4).joint_mask_probs()
    assert ties(f)[0].tolist() == [i == 11 for i in range(16)]
    assert lazy_test_error(f, joint)[0] == pytest.approx(joint[1, 11])
    assert lazy_test_error(f, joint, tie_rtol=0.0)[0] == 0.0


def test_network_with_no_sector_change_is_exactly_the_linearised_predictor():
    # N_W is linear in W inside the sectors: while no filter changes sector, GD on the
    # network *is* kernel GD with Θ₀, at any width. A large init (σ = 30) keeps every
    # filter in its sector; at σ = 1 some filters near a boundary cross it (and GD chatters
    # across it), and those networks depart from the linearised predictor.
    x, y = DECOY
    k, steps = 2000, 6
    for sigma in (30.0, 1.0):
        w0, _ = gaussian_init(4, k, sigma, seed=4)
        res = train(x, y, k=k, lr=0.1 / k, steps=steps, w0=w0, u0=w0.copy(),
                    snapshot_steps=range(steps + 1))
        moved = np.stack([sector_change_fraction(w0, w0, res.snapshots_w[:, s],
                                                 res.snapshots_u[:, s])
                          for s in range(steps + 1)])
        clean = np.all(moved == 0, axis=0)
        kernel = ntk_all_masks(w0, w0) / (4 * k)
        pred = lazy_predictor(res.groups, "hinge", eta_prime=lazy_lr(0.1 / k, k), steps=steps,
                              kernel=kernel)
        gap = np.abs(res.outputs - pred.outputs).max(axis=1)
        if sigma == 30.0:
            assert clean.all()
            assert np.all(gap < 1e-10)
        else:
            assert not clean.any()
            assert np.all(gap > 1e-10)


def test_wide_lazy_hinge_network_approaches_the_predictor():
    # antisymmetric init (u⁰ = w⁰, f₀ = 0), σ = 1, η = 0.1/k: η' = 4ηk = 0.4
    x, y = DECOY
    groups = loss_groups(x, y, "xord", 8.0)
    limit = lazy_predictor(groups, "hinge", eta_prime=0.4, steps=5000)
    dist = {}
    for k in (100, 10_000, 100_000):
        w0, _ = gaussian_init(4, k, 1.0, seed=k)
        res = train(x, y, k=k, lr=0.1 / k, steps=5000, w0=w0, u0=w0.copy())
        assert res.converged.all()
        dist[k] = float(np.median(np.abs(res.outputs - limit.outputs)[:, 1:].max(axis=1)))
        lin = lazy_predictor(groups, "hinge", eta_prime=0.4, steps=5000,
                             kernel=ntk_all_masks(w0, w0) / (4 * k))
        d_lin = np.abs(res.outputs - lin.outputs)[:, 1:].max(axis=1)
        assert np.median(d_lin) < 20.0 / k  # the linearisation error: sector changes
    assert dist[100_000] < 0.1 < dist[100]
    assert dist[100_000] < dist[10_000] < dist[100]


def test_predictor_bad_input():
    groups = loss_groups(*DECOY)
    with pytest.raises(InputError, match="loss"):
        lazy_predictor(groups, "cross-entropy")
    with pytest.raises(InputError, match="eta_prime"):
        lazy_predictor(groups, eta_prime=0.0)
    with pytest.raises(InputError, match="steps"):
        lazy_predictor(groups, steps=-1)
    with pytest.raises(InputError, match="groups"):
        lazy_predictor((groups.mask, groups.y))
    with pytest.raises(InputError, match="f0"):
        lazy_predictor(groups, f0=np.zeros(15))
    with pytest.raises(InputError, match="kernel"):
        lazy_squared_limit(groups, kernel=np.zeros((3, 15, 15)))
    two = Groups(*(np.repeat(a, 2, axis=0) for a in (groups.mask, groups.y, groups.weight,
                                                     groups.margin, groups.count)))
    with pytest.raises(InputError, match="rows for 3 replicas"):
        lazy_predictor(two, f0=np.zeros((3, 16)))
    with pytest.raises(InputError, match="joint_probs"):
        lazy_test_error(np.zeros(16), np.zeros(16))
    with pytest.raises(InputError, match="final filters"):
        relative_weight_change(np.ones((2, 2)), np.ones((2, 2)), np.ones((3, 2)),
                               np.ones((3, 2)))


def test_the_function_space_step_is_4_eta_k():
    # 4 steps on the decoy set, before any hinge switches off: the wide network's outputs
    # match the predictor with η' = 4ηk and not with 2ηk or 8ηk
    x, y = DECOY
    groups = loss_groups(x, y, "xord", 8.0)
    k, steps = 100_000, 4
    w0, _ = gaussian_init(4, k, 1.0, seed=1)
    res = train(x, y, k=k, lr=0.1 / k, steps=steps, w0=w0, u0=w0.copy())
    gap = {}
    for c in (2, 4, 8):
        pred = lazy_predictor(groups, "hinge", eta_prime=c * 0.1, steps=steps)
        assert pred.steps[0] == steps and pred.loss[0] > 0
        gap[c] = float(np.median(np.abs(res.outputs - pred.outputs)[:, 1:].max(axis=1)))
    assert gap[4] < 0.02 and gap[2] > 0.3 and gap[8] > 1.0
