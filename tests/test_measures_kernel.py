"""The infinite-width kernel H of the max-pool network, Arora et al.'s H^∞ and complexity,
and the facts about N_W they rest on (issue 13)."""

import numpy as np
import pytest
from oracles import direct_features

from xordsim._validate import InputError
from xordsim.data import decoy_training_set, mask_counts, sample_mask_counts, uniform_distribution
from xordsim.measures.kernel import (
    arora_complexity,
    arora_h_inf,
    points_from_counts,
    xord_complexity,
    xord_gram,
    xord_h_inf,
)
from xordsim.model import outputs_all_masks
from xordsim.patterns import PATTERNS, mask_of, point_masks

M = mask_of


def test_h_inf_matches_monte_carlo_over_a_million_gaussian_filters():
    rng = np.random.default_rng(20190613)
    n_total, chunk = 1_000_000, 20_000
    s1 = np.zeros((16, 16))
    s2 = np.zeros((16, 16))
    for _ in range(n_total // chunk):
        f = direct_features(rng.standard_normal((chunk, 2))) / np.sqrt(2.0)  # p̂ = p/√2
        prod = np.einsum("nai,nbi->nab", f, f)
        s1 += prod.sum(axis=0)
        s2 += (prod**2).sum(axis=0)
    mean = s1 / n_total
    se = np.sqrt(np.maximum(s2 / n_total - mean**2, 0.0) / n_total)
    H = xord_h_inf()
    # entries with zero variance (e.g. H({2,4},{2,4}) = 1 for every w) get the floor
    assert np.all(np.abs(H - mean) <= 5 * se + 1e-12)
    assert np.max(se) > 1e-4  # the oracle is a real Monte Carlo average


def test_h_inf_rank_eigenvalues_and_eighths():
    H = xord_h_inf()
    assert H.shape == (16, 16)
    assert np.all(H[0] == 0) and np.all(H[:, 0] == 0)
    assert np.array_equal(H, H.T)
    assert np.array_equal(H * 8, np.round(H * 8))  # multiples of 1/8
    lam = np.linalg.eigvalsh(H[1:, 1:])
    r = np.sqrt(481.0)
    expected = np.sort([0.0] * 7 + [0.25] * 3 + [(25 - r) / 8, 1.5, 1.5, 2.0, (25 + r) / 8])
    np.testing.assert_allclose(lam, expected, atol=1e-12)
    assert np.linalg.matrix_rank(H[1:, 1:], tol=1e-9) == 8
    assert np.trace(H) == 12.0


def test_h_inf_hand_values():
    H = xord_h_inf()
    full, neg = M({1, 2, 3, 4}), M({2, 4})
    assert (full, neg) == (15, 10)
    assert H[full, neg] == 0.5 * H[full, full] == 0.5
    assert H[neg, neg] == 1.0  # max(w·p2, -w·p2) = |w·p2| > 0 and l* has |p̂| = 1
    for l in range(1, 5):  # singletons: Arora et al.'s H^∞ of the unit patterns
        assert H[M({l}), M({l})] == 0.5
    assert H[M({1}), M({3})] == 0.0 and H[M({1}), M({2})] == 0.0
    assert H[M({1, 2}), M({1, 2})] == 0.75  # P(max of two orthogonal responses > 0)
    assert H[M({1, 3}), M({1, 3})] == 1.0


def test_arora_h_inf_matches_monte_carlo():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((6, 3))
    X[1] = -X[0]  # opposite and nearly parallel pairs
    X[2] = X[0] + 1e-3 * rng.standard_normal(3)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    n_total, chunk = 1_000_000, 100_000
    s1 = np.zeros((6, 6))
    s2 = np.zeros((6, 6))
    G = X @ X.T
    for _ in range(n_total // chunk):
        on = (rng.standard_normal((chunk, 3)) @ X.T > 0).astype(float)
        both = on.T @ on  # counts of 1{w·x_i > 0}1{w·x_j > 0}
        s1 += G * both
        s2 += G**2 * both
    mean = s1 / n_total
    se = np.sqrt(np.maximum(s2 / n_total - mean**2, 0.0) / n_total)
    H = arora_h_inf(X)
    assert np.all(np.abs(H - mean) <= 5 * se + 1e-12)
    np.testing.assert_allclose(np.diag(H), 0.5, rtol=0, atol=1e-15)
    assert abs(H[0, 1]) < 1e-15  # x·x' = -1: (π - π) = 0


def test_xor_unit_points_give_half_identity_and_complexity_two():
    X = PATTERNS / np.sqrt(2.0)
    H = arora_h_inf(X)
    np.testing.assert_allclose(H, np.eye(4) / 2, rtol=0, atol=1e-15)
    for bits in range(16):
        y = np.where((bits >> np.arange(4)) & 1, 1.0, -1.0)
        assert abs(arora_complexity(H, y) - 2.0) <= 1e-12
    # the max-pool kernel on the 4 singletons is the same matrix
    singles = np.array([M({l}) for l in range(1, 5)])
    np.testing.assert_array_equal(xord_gram(singles), np.eye(4) / 2)


def test_decoy_complexity_is_sqrt_8_over_12():
    x, y = decoy_training_set(d=4, n_per_class=6, rng=0)
    masks = point_masks(x)
    expected = np.sqrt(2 * 4 / 12)  # yᵀH⁺y = cᵀK⁻¹c = 4 with K = [[1, 1/2], [1/2, 1]]
    over_points = arora_complexity(xord_gram(masks), y.astype(float))
    assert abs(over_points - expected) < 1e-12
    by_counts = xord_complexity(mask_counts(x, y))
    assert by_counts.shape == (1,) and abs(by_counts[0] - expected) < 1e-12
    K = xord_h_inf()[np.ix_([15, 10], [15, 10])]
    assert abs(arora_complexity(K, np.array([1.0, -1.0]), n=12) - expected) < 1e-12


def test_complexity_is_inf_when_labels_break_the_identities():
    # N{1,3} = N{1} + N{3} for every W: no kernel function takes the values (1, 1, 1)
    masks = np.array([M({1}), M({3}), M({1, 3})])
    H = xord_gram(masks)
    assert np.linalg.matrix_rank(H, tol=1e-9) == 2
    assert arora_complexity(H, np.ones(3)) == np.inf
    assert np.isfinite(arora_complexity(H, np.array([1.0, 1.0, 2.0])))
    counts = np.zeros((2, 16), np.int64)
    counts[1, masks] = 1
    assert xord_complexity(counts)[0] == np.inf


def test_counts_path_equals_the_gram_over_points_on_sampled_sets():
    counts = sample_mask_counts(uniform_distribution(4), 6, 40, rng=3)
    fast = xord_complexity(counts)
    slow = []
    for c in counts:
        masks, y = points_from_counts(c)
        slow.append(arora_complexity(xord_gram(masks), y))
    slow = np.array(slow)
    assert np.array_equal(np.isinf(fast), np.isinf(slow))
    assert np.isinf(fast).any() and np.isfinite(fast).any()  # both cases occur
    ok = np.isfinite(fast)
    np.testing.assert_allclose(fast[ok], slow[ok], rtol=1e-9)


def test_points_from_counts_round_trip():
    x, y = decoy_training_set(d=4, n_per_class=3, rng=1)
    masks, yy = points_from_counts(mask_counts(x, y)[0])
    assert sorted(zip(masks.tolist(), yy.tolist(), strict=True)) == \
        sorted(zip(point_masks(x).tolist(), y.astype(float).tolist(), strict=True))


def test_linear_identities_of_n_w_on_random_weights():
    rng = np.random.default_rng(11)
    w = rng.standard_normal((50, 7, 2)) * rng.exponential(size=(50, 1, 1))
    u = rng.standard_normal((50, 7, 2))
    N = outputs_all_masks(w, u)
    identities = [
        ([{1, 3}], [{1}, {3}]),
        ([{2, 4}], [{2}, {4}]),
        ([{2}, {1, 2, 3}], [{1, 2}, {2, 3}]),
        ([{4}, {1, 3, 4}], [{1, 4}, {3, 4}]),
        ([{2, 4}, {1, 2, 3, 4}], [{1, 2, 4}, {2, 3, 4}]),
    ]
    for lhs, rhs in identities:
        left = sum(N[:, M(s)] for s in lhs)
        right = sum(N[:, M(s)] for s in rhs)
        np.testing.assert_allclose(left, right, rtol=0, atol=1e-12 * np.abs(N).max())
    # the functions N_W span an 8-dimensional space of functions on the 15 sets ...
    single = outputs_all_masks(rng.standard_normal((200, 1, 2)), np.zeros((200, 1, 2)))
    assert np.linalg.matrix_rank(single[:, 1:], tol=1e-9) == 8
    # ... the range of H
    H = xord_h_inf()[1:, 1:]
    proj = H @ np.linalg.pinv(H, rcond=1e-9)
    np.testing.assert_allclose(single[:, 1:] @ proj, single[:, 1:], atol=1e-9)


def test_bad_input_names_the_parameter():
    with pytest.raises(InputError, match="X"):
        arora_h_inf(np.ones((3, 2)))
    with pytest.raises(InputError, match="y must have shape"):
        arora_complexity(np.eye(3), np.ones(2))
    with pytest.raises(InputError, match="n must be"):
        arora_complexity(np.eye(2), np.ones(2), n=0)
    with pytest.raises(InputError, match="range_rtol"):
        arora_complexity(np.eye(2), np.ones(2), range_rtol=2.0)
    with pytest.raises(InputError, match="masks"):
        xord_gram(np.array([0, 3]))
    with pytest.raises(InputError, match="kernel"):
        xord_gram(np.array([1, 3]), kernel=np.eye(15))
    with pytest.raises(InputError, match="counts"):
        xord_complexity(np.zeros((2, 15), np.int64))
    with pytest.raises(InputError, match="counts"):
        xord_complexity(np.zeros((2, 16), np.int64))
