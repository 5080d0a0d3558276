"""The lazy limit's predictor against networks trained by the engine with the options
``loss`` (squared, logistic), ``output_scale`` α and ``init="antisymmetric"`` (issue 13).

These need the engine options of GDConfig (``loss``, ``output_scale``, ``init``); the
hinge case with α = 1 is in tests/test_measures_lazy.py.
"""

import numpy as np
import pytest

from xordsim.config import GDConfig
from xordsim.data import sample_mask_counts, uniform_distribution
from xordsim.engine import train_groups
from xordsim.measures.lazy import (
    lazy_lr,
    lazy_predictor,
    lazy_squared_limit,
    sector_change_fraction,
)
from xordsim.measures.ntk import ntk_all_masks
from xordsim.model import groups_from_counts

D = 10
GROUPS = groups_from_counts(sample_mask_counts(uniform_distribution(D), 20, 1, rng=3), "xord",
                            8.0)


def run(loss, alpha, k, steps, init_std, eta_prime=0.4, replicas=4, seed=2):
    eta = eta_prime / (4 * k * alpha**2)
    assert lazy_lr(eta, k, alpha) == pytest.approx(eta_prime)
    cfg = GDConfig(k=k, lr=eta, steps=steps, init_std=init_std, gamma=8.0, loss=loss,
                   output_scale=alpha, init="antisymmetric", replicas=replicas, seed=seed)
    res = train_groups(GROUPS, D, cfg, snapshot_steps=range(steps + 1) if steps <= 10 else None)
    np.testing.assert_array_equal(res.u0, res.w0)  # antisymmetric: N_{W0} = 0
    return res


@pytest.mark.parametrize("loss", ["squared", "logistic", "hinge"])
@pytest.mark.parametrize("alpha", [1.0, 10.0])
def test_engine_without_sector_change_is_the_linearised_predictor(loss, alpha):
    # inside the sectors N_W is linear in W, so GD on the network is kernel GD with
    # Θ₀/(4kα²) and η' = 4ηkα², to rounding
    k, steps = 2000, 6
    res = run(loss, alpha, k, steps, init_std=30.0)
    for s in range(steps + 1):
        assert np.all(sector_change_fraction(res.w0, res.u0, res.snapshots_w[:, s],
                                             res.snapshots_u[:, s]) == 0)
    kernel = ntk_all_masks(res.w0, res.u0, alpha) / (4 * k * alpha**2)
    pred = lazy_predictor(GROUPS, loss, eta_prime=0.4, steps=steps, kernel=kernel)
    np.testing.assert_array_equal(res.stop_step, pred.steps)
    np.testing.assert_allclose(res.outputs, pred.outputs, rtol=0, atol=1e-9)
    np.testing.assert_allclose(res.loss, pred.loss, rtol=1e-9)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_wide_lazy_network_approaches_the_infinite_width_predictor(loss):
    steps = 300
    limit = lazy_predictor(GROUPS, loss, eta_prime=0.4, steps=steps)
    dist = {}
    for k in (100, 10_000, 100_000):
        res = run(loss, 1.0, k, steps, init_std=1.0, seed=k)
        dist[k] = float(np.median(np.abs(res.outputs - limit.outputs)[:, 1:].max(axis=1)))
    assert dist[100_000] < dist[10_000] < dist[100]
    assert dist[100_000] < 0.05 * np.abs(limit.outputs).max()


def test_wide_squared_network_tends_to_the_weighted_least_squares_limit():
    closed = lazy_squared_limit(GROUPS)
    res = run("squared", 10.0, 20_000, 3000, init_std=1.0, eta_prime=1.0, replicas=2)
    gap = np.abs(res.outputs - closed)[:, 1:].max(axis=1)
    assert np.median(gap) < 0.05 * np.abs(closed).max()
