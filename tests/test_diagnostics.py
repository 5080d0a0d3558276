"""Sets W+(i), U+(i) of Sec. 3.1 and Sec. 6, and angles, on hand-built filters."""

import numpy as np

from xordsim.data import xor_dataset
from xordsim.diagnostics import (
    angles_to_patterns,
    argmax_pattern,
    argmax_sets,
    positive_sets,
    set_sizes,
)
from xordsim.model import channel_class


def test_positive_sets_sec_3_1():
    x, _ = xor_dataset()
    points = x[:, 0]
    w = np.array([[1.0, 0.5], [-1.0, 0.2], [0.0, 0.0]])
    member = positive_sets(w, points)
    # w1 = (1, .5): positive on x1 = (1,1) and x4 = (1,-1)
    assert member[0].tolist() == [True, False, False, True]
    assert member[1].tolist() == [False, True, True, False]
    assert not member[2].any()  # a zero filter is in no set (strict inequality)
    assert set_sizes(member).tolist() == [1, 1, 1, 1]


def test_argmax_sets_sec_6_ties_to_lowest_index():
    w = np.array([[3.0, 3.0], [1.0, -1.0], [-2.0, -2.0], [-1.0, 1.0], [1.0, 0.0], [0.0, 0.0]])
    assert argmax_pattern(w).tolist() == [0, 1, 2, 3, 0, 0]  # (1,0): p1 and p2 tie -> p1
    sets = argmax_sets(w[None])
    assert sets.shape == (1, 6, 4)
    assert set_sizes(sets)[0].tolist() == [3, 1, 1, 1]
    # the engine's class (which of a/b wins) agrees with this argmax, ties included
    rng = np.random.default_rng(0)
    grid = np.concatenate([w, rng.integers(-2, 3, size=(200, 2)).astype(float),
                           rng.normal(size=(200, 2))])
    for f in grid:
        s, t = f[0] + f[1], f[0] - f[1]
        c = channel_class(s, t)
        a = 0 if c >> 2 == 0 else 2
        b = 1 if (c >> 1) & 1 == 0 else 3
        assert argmax_pattern(f) == (b if c & 1 else a)


def test_angles():
    w = np.array([[2.0, 2.0], [1.0, 0.0], [0.0, 0.0]])
    ang = np.degrees(angles_to_patterns(w))
    np.testing.assert_allclose(ang[0], [0, 90, 180, 90], atol=1e-12)
    np.testing.assert_allclose(ang[1], [45, 45, 135, 135], atol=1e-12)
    np.testing.assert_allclose(ang[2], [90, 90, 90, 90])
