"""The empirical NTK of the max-pool network through the masks (issue 13)."""

import numpy as np
import pytest
from oracles import direct_features

from xordsim._validate import InputError
from xordsim.data import decoy_training_set, mask_counts, sample_mask_counts, uniform_distribution
from xordsim.engine import gaussian_init, train
from xordsim.measures.kernel import xord_complexity, xord_h_inf
from xordsim.measures.ntk import (
    finite_width_complexity,
    gram_spectrum,
    ntk_all_masks,
    ntk_spectrum,
    result_ntk_spectra,
    sector_classes,
    xord_ntk_gram,
)
from xordsim.model import channel_class, network_output
from xordsim.patterns import PATTERNS, point_masks


def away_from_kinks(rng, k, margin=0.05):
    """Filters (k, 2) whose responses s = w·p1, t = w·p2 and |s| - |t| are all at least
    ``margin`` from 0 (N is linear in W near them)."""
    out = np.empty((k, 2))
    j = 0
    while j < k:
        w = rng.standard_normal(2)
        s, t = w[0] + w[1], w[0] - w[1]
        if min(abs(s), abs(t), abs(abs(s) - abs(t))) > margin:
            out[j] = w
            j += 1
    return out


def jacobian_fd(w, u, x, alpha, h=1e-6):
    """∂(α N_W(x_i))/∂θ by central differences over the 4k parameters: (n, 4k)."""
    theta = np.concatenate([w.ravel(), u.ravel()])
    k = w.shape[0]

    def f(th):
        return alpha * network_output(th[:2 * k].reshape(k, 2), th[2 * k:].reshape(k, 2), x)

    cols = []
    for p in range(theta.size):
        e = np.zeros_like(theta)
        e[p] = h
        cols.append((f(theta + e) - f(theta - e)) / (2 * h))
    return np.stack(cols, axis=1)


@pytest.mark.parametrize("alpha", [1.0, 0.3])
def test_ntk_gram_matches_finite_difference_jacobians_on_real_points(alpha):
    rng = np.random.default_rng(5)
    R, k, d, n = 3, 6, 5, 14
    w = np.stack([away_from_kinks(rng, k) for _ in range(R)])
    u = np.stack([away_from_kinks(rng, k) for _ in range(R)])
    x = PATTERNS[rng.integers(0, 4, size=(n, d))]  # real points of {±1}^{2d}
    masks = point_masks(x)
    batch = xord_ntk_gram(w, u, masks, output_scale=alpha)
    assert batch.shape == (R, n, n)
    for r in range(R):
        J = jacobian_fd(w[r], u[r], x, alpha)
        np.testing.assert_allclose(xord_ntk_gram(w[r], u[r], masks, alpha), J @ J.T,
                                   rtol=0, atol=1e-7)
        np.testing.assert_array_equal(batch[r], xord_ntk_gram(w[r], u[r], masks, alpha))


def test_ntk_all_masks_equals_a_sum_over_filters_of_direct_features():
    rng = np.random.default_rng(9)
    w, u = rng.standard_normal((40, 2)), rng.standard_normal((40, 2))
    f = np.concatenate([direct_features(w), direct_features(u)])  # (2k, 16, 2)
    np.testing.assert_allclose(ntk_all_masks(w, u, 2.0), 4.0 * np.einsum("jai,jbi->ab", f, f),
                               rtol=0, atol=1e-12)


def test_sector_classes_are_the_models_channel_class():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((3, 50, 2))
    w[0, :4] = [[1, 0], [0, 1], [1, 1], [0, 0]]  # on the boundaries
    cls = sector_classes(w)
    expected = [[channel_class(a + b, a - b) for a, b in row] for row in w]
    np.testing.assert_array_equal(cls, expected)
    assert set(np.unique(cls)) == set(range(8))


def test_theta_over_2k_alpha2_converges_to_2h_at_every_init_scale():
    H = xord_h_inf()
    # exact per-entry standard deviation of Θ/(2kα²) under an isotropic init: the 2k
    # filters fall in the 8 sectors with probability 1/8 each, Θ/(2kα²) = Σ_c (n_c/2k) G_c
    grams = np.stack([ntk_all_masks(np.array([[np.cos(a), np.sin(a)]]), np.zeros((1, 2)))
                      for a in np.pi / 8 + np.arange(8) * np.pi / 4])
    np.testing.assert_array_equal(grams[:, 0, 0], 0)  # u = 0 contributes nothing
    var_one = grams.var(axis=0)
    np.testing.assert_allclose(grams.mean(axis=0), 2 * H, atol=1e-15)
    distances = {}
    for k in (10**2, 10**3, 10**4, 10**5):
        w, u = gaussian_init(8, k, 1.0, seed=k)
        scaled = ntk_all_masks(w, u, output_scale=3.0) / (2 * k * 9.0)
        err = np.abs(scaled - 2 * H)
        assert np.all(err <= 5 * np.sqrt(var_one / (2 * k)) + 1e-12)
        distances[k] = float(np.median(np.linalg.norm(scaled - 2 * H, axis=(1, 2))))
        # Θ depends on the filters only through their sectors: any init scale
        for sigma in (1e-6, 1e3):
            np.testing.assert_array_equal(ntk_all_masks(sigma * w, sigma * u, 3.0),
                                          ntk_all_masks(w, u, 3.0))
    assert distances[10**5] < distances[10**3] / 5 < distances[10**2] / 10


def test_every_empirical_ntk_has_rank_at_most_8():
    rng = np.random.default_rng(4)
    for k in (1, 2, 3, 5, 20, 200):
        theta = ntk_all_masks(rng.standard_normal((10, k, 2)), rng.standard_normal((10, k, 2)))
        ranks = np.linalg.matrix_rank(theta[:, 1:, 1:], tol=1e-9)
        assert np.all(ranks <= 8)
    assert np.max(ranks) == 8


def test_gram_spectrum_equals_the_spectrum_of_the_expanded_point_gram():
    rng = np.random.default_rng(6)
    w, u = gaussian_init(1, 30, 1.0, seed=1)
    counts = sample_mask_counts(uniform_distribution(3), 5, 1, rng)[0]
    present = np.flatnonzero(counts.sum(axis=0))
    mult = counts.sum(axis=0)[present]
    K = ntk_all_masks(w[0], u[0])[np.ix_(present, present)]
    spec = gram_spectrum(K, mult)
    pts = np.repeat(present, mult)
    lam = np.linalg.eigvalsh(ntk_all_masks(w[0], u[0])[np.ix_(pts, pts)])
    nonzero = lam[lam > 1e-9 * lam[-1]]
    assert spec["rank"] == nonzero.size and spec["n"] == pts.size
    assert spec["lambda_min"] == (0.0 if nonzero.size < pts.size else lam[0])
    np.testing.assert_allclose(spec["lambda_min_nonzero"], nonzero[0], rtol=1e-9)
    np.testing.assert_allclose(spec["lambda_max"], lam[-1], rtol=1e-12)


def test_ntk_spectrum_on_the_decoy_set_tends_to_that_of_2h():
    # the Gram of 2H over 6 copies of {1,2,3,4} and 6 of {2,4}: nonzero eigenvalues
    # 2·6·{1/2, 3/2} = {6, 18}, rank 2, λ_min = 0
    x, y = decoy_training_set(d=4, n_per_class=6, rng=0)
    c = mask_counts(x, y)[0].sum(axis=0)
    masks = np.flatnonzero(c)
    w, u = gaussian_init(4, 10**5, 0.01, seed=3)
    spec = ntk_spectrum(w, u, masks, c[masks])
    np.testing.assert_array_equal(spec["rank"], 2)
    np.testing.assert_array_equal(spec["n"], 12)
    np.testing.assert_array_equal(spec["lambda_min"], 0.0)
    np.testing.assert_allclose(spec["lambda_min_nonzero"], 6.0, rtol=0.02)
    np.testing.assert_allclose(spec["lambda_max"], 18.0, rtol=0.02)
    # without normalisation, Θ = 2kα² × the normalised one
    raw = ntk_spectrum(w, u, masks, c[masks], normalize=False)
    np.testing.assert_allclose(raw["lambda_max"], 2 * 10**5 * spec["lambda_max"], rtol=1e-12)


def test_result_ntk_spectra_at_init_and_end():
    res = train(*decoy_training_set(d=4, n_per_class=4, rng=0), k=50, replicas=5, steps=200,
                seed=1)
    spectra = result_ntk_spectra(res)
    for name, (w, u) in (("init", (res.w0, res.u0)), ("final", (res.w, res.u))):
        spec = spectra[name]
        assert spec["rank"].shape == (5,)
        assert np.all(spec["rank"] <= 2) and np.all(spec["n"] == 8)
        direct = ntk_spectrum(w, u, res.groups.mask[0], res.groups.count[0])
        for key in spec:
            np.testing.assert_array_equal(spec[key], direct[key])


def test_finite_width_complexity_tends_to_the_infinite_width_one():
    counts = np.zeros((2, 16), np.int64)
    counts[1, 15], counts[1, 7], counts[0, 10] = 18, 2, 20
    exact = xord_complexity(counts)[0]
    assert np.isfinite(exact)
    spread = {}
    for k in (10, 10**3, 10**5):
        w, u = gaussian_init(20, k, 1.0, seed=k)
        c = finite_width_complexity(w, u, counts, output_scale=2.0)
        assert c.shape == (20,) and np.all(np.isfinite(c))
        spread[k] = float(np.max(np.abs(c - exact)))
    assert spread[10**5] < 0.01 * exact and spread[10**5] < spread[10**3] < spread[10]


def test_bad_input_names_the_parameter():
    w = np.zeros((3, 2))
    with pytest.raises(InputError, match="w and u"):
        xord_ntk_gram(w, np.zeros((4, 2)), np.array([1]))
    with pytest.raises(InputError, match="output_scale"):
        xord_ntk_gram(w, w, np.array([1]), output_scale=0.0)
    with pytest.raises(InputError, match="masks"):
        xord_ntk_gram(w, w, np.array([16]))
    with pytest.raises(InputError, match="finite"):
        ntk_all_masks(np.full((3, 2), np.nan), w)
    with pytest.raises(InputError, match="counts"):
        gram_spectrum(np.eye(2), np.array([1.0, -1.0]))
    with pytest.raises(InputError, match="rank_rtol"):
        gram_spectrum(np.eye(2), rank_rtol=-1.0)
