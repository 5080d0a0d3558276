"""Patterns, masks, distributions: exact probabilities against brute force, sampling laws."""

import itertools

import numpy as np
import pytest

from xordsim._validate import InputError
from xordsim.data import (
    MaskDistribution,
    PatternDistribution,
    decoy_training_set,
    exact_mask_probabilities,
    p_minus_exact,
    p_plus_exact,
    p_plus_paper,
    points_with_masks,
    uniform_distribution,
    xor_dataset,
)
from xordsim.patterns import (
    PATTERNS,
    f_star,
    mask_label,
    mask_of,
    mask_patterns,
    pattern_index,
    point_masks,
)


def brute_force_mask_probs(q, d):
    """Enumerate all 4^d points: P(P_x = M) under i.i.d. positions with probabilities q."""
    out = np.zeros(16)
    for seq in itertools.product(range(4), repeat=d):
        mask = 0
        for l in seq:
            mask |= 1 << l
        out[mask] += np.prod([q[l] for l in seq])
    return out


def test_patterns_and_masks():
    assert PATTERNS.tolist() == [[1, 1], [1, -1], [-1, -1], [-1, 1]]
    x = PATTERNS[[0, 1, 1, 3]][None]
    assert pattern_index(x).tolist() == [[0, 1, 1, 3]]
    assert point_masks(x).tolist() == [mask_of({1, 2, 4})]
    assert mask_patterns(0b1011) == (1, 2, 4)
    assert f_star(x).tolist() == [1]
    assert f_star(PATTERNS[[1, 3, 3]][None]).tolist() == [-1]
    assert mask_label(np.arange(1, 16)).tolist() == [
        1 if M & 0b0101 else -1 for M in range(1, 16)]


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int64, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (3, 5, 10), (2, 2, 2, 4)])
def test_point_masks_is_the_or_of_pattern_bits(dtype, shape, rng):
    """The compiled masks (two flat loops) against OR-ing 1 << pattern_index, every
    dtype the data comes in; an entry other than ±1 anywhere is refused."""
    x = PATTERNS[rng.integers(0, 4, shape)].astype(dtype)
    want = np.bitwise_or.reduce(np.left_shift(1, pattern_index(x)), axis=-1)
    assert np.array_equal(point_masks(x), want)
    assert np.array_equal(point_masks(np.asfortranarray(x)), want)
    bad = ([0, 2, -128, 127] if np.dtype(dtype).kind == "i"
           else [0, 0.5, 1 + 1e-7, np.nan, np.inf])
    for v in bad:
        xb = x.copy()
        xb.reshape(-1)[rng.integers(0, xb.size)] = v
        with pytest.raises(ValueError, match="±1"):
            point_masks(xb)


def test_xor_dataset_is_section_3():
    x, y = xor_dataset()
    assert x[:, 0].tolist() == [[1, 1], [-1, 1], [-1, -1], [1, -1]]
    assert y.tolist() == [1, -1, 1, -1]
    assert (f_star(x) == y).all()


@pytest.mark.parametrize("d", [1, 2, 3, 4])
@pytest.mark.parametrize(
    "q", [(0.25, 0.25, 0.25, 0.25), (0.5, 0.2, 0.1, 0.2), (0.0, 0.3, 0.6, 0.1)]
)
def test_exact_mask_probabilities_match_enumeration(d, q):
    np.testing.assert_allclose(exact_mask_probabilities(q, d), brute_force_mask_probs(q, d),
                               atol=1e-14)


@pytest.mark.parametrize("d", [1, 2, 3, 4])
def test_uniform_conditional_probabilities_match_enumeration(d):
    joint = brute_force_mask_probs((0.25,) * 4, d)
    dist = uniform_distribution(d)
    pos = np.array([joint[M] if M & 0b0101 else 0 for M in range(16)])
    neg = np.array([joint[M] if M and not M & 0b0101 else 0 for M in range(16)])
    np.testing.assert_allclose(dist.mask_probs(1), pos / pos.sum(), atol=1e-14)
    np.testing.assert_allclose(dist.mask_probs(-1), neg / neg.sum(), atol=1e-14)
    assert dist.p_plus == pytest.approx(p_plus_exact(d), abs=1e-14)
    assert dist.p_minus == pytest.approx(p_minus_exact(d), abs=1e-14)


def test_paper_p_plus_is_unconditional():
    # the paper's closed form is P(diverse) under the uniform law on all of {±1}^{2d};
    # conditioning on the point being positive divides by 1 - 2^-d.
    for d in range(4, 12):
        assert p_plus_paper(d) == pytest.approx(p_plus_exact(d) * (1 - 2.0**-d), rel=1e-12)
        assert p_plus_paper(d) < p_plus_exact(d)
    assert p_plus_exact(4) == pytest.approx(24 / 240)


def test_pattern_distribution_sampling_law(rng):
    dist = PatternDistribution(d=3, q=(0.4, 0.1, 0.3, 0.2))
    n = 40000
    for label in (1, -1):
        x = dist.sample(n, label, rng)
        assert x.shape == (n, 3, 2) and x.dtype == np.int8
        assert (f_star(x) == label).all()
        freq = np.bincount(point_masks(x), minlength=16) / n
        p = dist.mask_probs(label)
        assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / n) + 1e-12)


def test_mask_distribution(rng):
    dist = MaskDistribution(d=4, pos={(1, 2, 3, 4): 0.7, (1,): 0.3}, neg={(2, 4): 0.6, 2: 0.4})
    assert dist.p_plus == pytest.approx(0.7)
    assert dist.p_minus == pytest.approx(0.6)
    x = dist.sample(5000, 1, rng)
    freq = np.bincount(point_masks(x), minlength=16) / 5000
    assert abs(freq[15] - 0.7) < 0.03 and abs(freq[1] - 0.3) < 0.03
    joint = dist.joint_mask_probs()
    assert joint.sum() == pytest.approx(1.0)
    with pytest.raises(InputError, match="wrong label"):
        MaskDistribution(d=4, pos={(2,): 1.0}, neg={(2, 4): 1.0})
    with pytest.raises(InputError, match="sum to 1"):
        MaskDistribution(d=4, pos={(1,): 0.5}, neg={(2, 4): 1.0})
    with pytest.raises(InputError, match="more patterns than d"):
        MaskDistribution(d=2, pos={(1, 2, 3): 1.0}, neg={(2, 4): 1.0})


def test_points_with_masks_and_decoy(rng):
    masks = np.array([1, 5, 15, 10, 11])
    x = points_with_masks(masks, 6, rng)
    assert (point_masks(x) == masks).all()
    xd, yd = decoy_training_set(d=5, n_per_class=6, rng=rng)
    assert xd.shape == (12, 5, 2)
    assert point_masks(xd).tolist() == [15] * 6 + [10] * 6
    assert yd.tolist() == [1] * 6 + [-1] * 6
    with pytest.raises(InputError):
        decoy_training_set(d=3)


def _points_with_masks_plain(masks, d, seed):
    """The original loop (rng.choice per point): the reference for the seed stream."""
    rng = np.random.default_rng(seed)
    out = np.empty((len(masks), d), dtype=np.int64)
    for i, M in enumerate(masks):
        members = np.array([l - 1 for l in mask_patterns(int(M))])
        row = rng.choice(members, size=d)
        row[rng.permutation(d)[: len(members)]] = rng.permutation(members)
        out[i] = row
    return PATTERNS[out]


@pytest.mark.parametrize("d", [1, 2, 4, 5, 10])
def test_points_with_masks_keep_their_seed_stream(d):
    """The same points, bit for bit, as the plain rng.choice loop for the same seed (the
    theorem rows' training sets do not move), and bad masks named with their range."""
    for seed in range(6):
        masks = np.random.default_rng(seed).integers(1, 16, size=200)
        masks = masks[[len(mask_patterns(int(M))) <= d for M in masks]]
        got = points_with_masks(masks, d, seed)
        assert got.dtype == np.int8 and got.shape == (len(masks), d, 2)
        np.testing.assert_array_equal(got, _points_with_masks_plain(masks, d, seed))
        assert (point_masks(got) == masks).all()
    for bad in ([3, 0], [16], [-1], [15] if d < 4 else [0]):
        with pytest.raises(InputError, match=r"needs 1 <= \|P_x\| <= d=.*masks are 1\.\.15"):
            points_with_masks(np.array(bad), d, 0)


def test_training_sets_shapes_and_seed():
    dist = uniform_distribution(5)
    x1, y1 = dist.sample_training_sets(4, 3, 7)
    x2, _ = dist.sample_training_sets(4, 3, 7)
    assert x1.shape == (3, 8, 5, 2) and y1.shape == (3, 8)
    assert (x1 == x2).all()
    assert (f_star(x1) == y1).all()


def test_point_masks_compiled_pass_matches_the_definition(rng):
    """point_masks (one compiled pass) against OR-ing 1 << pattern_index, for int8, int64
    and float points of several shapes; any entry other than ±1 is refused."""
    from xordsim.patterns import pattern_index, point_masks

    for shape in [(7, 3, 2), (4, 5, 1, 2), (2, 3, 6, 2)]:
        x = rng.choice([-1, 1], size=shape)
        want = np.bitwise_or.reduce(np.left_shift(1, pattern_index(x)), axis=-1)
        for dtype in (np.int8, np.int64, np.float64):
            got = point_masks(x.astype(dtype))
            assert got.shape == want.shape and np.array_equal(got, want)
    for bad in (0, 2, np.nan):
        x = np.ones((3, 4, 2))
        x[1, 2, 1] = bad
        with pytest.raises(ValueError, match="entries ±1"):
            point_masks(x)
