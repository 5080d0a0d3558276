"""Quantities the paper's analysis tracks: the sets W_t+(i), U_t+(i), angles to patterns.

Two definitions of the sets appear in the paper:

* Sec. 3.1 (XOR): W_t+(i) = {j : w_t^(j)·x_i > 0} -- :func:`positive_sets`;
* Sec. 6 (XORD): W_t+(i) = {j : argmax_l w_t^(j)·p_l = i} -- :func:`argmax_sets`.

The counters a_i(t) and a+(t) are recorded by the engine
(``TrainResult.active_counts`` and ``snapshots_active``).
All functions accept filters of shape (k, 2) or (R, k, 2) (or with more leading axes).
"""

from __future__ import annotations

import numpy as np

from xordsim.patterns import PATTERNS


def positive_sets(filters, points) -> np.ndarray:
    """Membership j in W+(i) of Sec. 3.1: ``filters[..., j, :]·points[i] > 0``.

    ``points`` has shape (n, 2) (e.g. the XOR points x_1..x_4); returns bool (..., k, n).
    """
    return np.asarray(filters, dtype=float) @ np.asarray(points, dtype=float).T > 0


def argmax_pattern(filters) -> np.ndarray:
    """argmax_l w^(j)·p_l of Sec. 6, as 0-based pattern index (ties -> lowest index)."""
    return np.argmax(np.asarray(filters, dtype=float) @ PATTERNS.T.astype(float), axis=-1)


def argmax_sets(filters) -> np.ndarray:
    """Membership j in W+(i) of Sec. 6 for i = 1..4: bool (..., k, 4)."""
    return argmax_pattern(filters)[..., None] == np.arange(4)


def set_sizes(membership) -> np.ndarray:
    """|W+(i)| for each i: sum over the filter axis of a (..., k, n) membership array."""
    return np.asarray(membership).sum(axis=-2)


def angles_to(filters, directions) -> np.ndarray:
    """Angle in radians between each filter (..., k, 2) and each direction (n, 2).

    A zero filter has angle pi/2 to everything (by convention). Returns (..., k, n).
    """
    f = np.asarray(filters, dtype=float)
    v = np.asarray(directions, dtype=float)
    dots = f @ v.T
    cross = f[..., :1] * v[:, 1] - f[..., 1:] * v[:, 0]
    zero = np.all(f == 0, axis=-1)[..., None]
    # atan2 of |cross| and dot is accurate near 0 and pi, unlike arccos of the cosine
    return np.where(zero, np.pi / 2, np.arctan2(np.abs(cross), dots))


def angles_to_patterns(filters) -> np.ndarray:
    """Angle between each filter and each pattern p1..p4: (..., k, 4) radians."""
    return angles_to(filters, PATTERNS)
