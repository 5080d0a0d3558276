"""Clustering of first-layer filters (Section 7, Figure 4a).

Each filter is normalised to unit norm, the unit vectors are clustered with
scikit-learn's k-means, and every filter's angle to its closest centre (the
centre with the smallest angle) is reported in degrees.
"""

from __future__ import annotations

import numpy as np

from xordsim._validate import InputError, check_int


def unit_filters(w: np.ndarray) -> np.ndarray:
    """Flatten filters (C, f, f) to (C, f*f) float64 rows of unit norm.

    A zero filter has no direction and raises :class:`InputError`.
    """
    v = np.asarray(w, dtype=np.float64).reshape(len(w), -1)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise InputError("filters must be non-zero to be normalised")
    return v / norms


def kmeans_random_state(seed: int) -> int:
    """scikit-learn's ``random_state`` for ``seed``: the seed itself below 2**32 (its
    limit), else a 32-bit value derived from it with NumPy's ``SeedSequence``."""
    seed = check_int("seed", seed, 0)
    if seed < 2**32:
        return seed
    return int(np.random.SeedSequence(seed).generate_state(1, np.uint32)[0])


def kmeans_centers(vectors: np.ndarray, k: int = 4, seed: int = 0, n_init: int = 10) -> np.ndarray:
    """k-means centres (k, d) of the rows of ``vectors`` (scikit-learn ``KMeans``).

    The centres are sorted by cluster size (largest first) so that runs are
    comparable.
    """
    try:
        from sklearn.cluster import KMeans
    except ImportError:  # pragma: no cover - depends on the environment
        raise InputError("k-means needs scikit-learn (pip install scikit-learn)") from None
    vectors = np.asarray(vectors, dtype=np.float64)
    k = check_int("clusters", k, 1, len(vectors))
    km = KMeans(n_clusters=k, n_init=n_init, random_state=kmeans_random_state(seed))
    km = km.fit(vectors)
    sizes = np.bincount(km.labels_, minlength=k)
    order = np.argsort(-sizes, kind="stable")
    return km.cluster_centers_[order]


def angles_to_closest(vectors: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Angle in degrees between each row of ``vectors`` and its closest centre.

    Both are compared as directions (normalised here), so the result is
    ``min_j arccos(<v, c_j> / (|v| |c_j|))``, in ``[0, 180]``.
    """
    v = unit_filters(vectors)
    c = unit_filters(centers)
    cos = np.clip(v @ c.T, -1.0, 1.0)
    return np.degrees(np.arccos(cos.max(axis=1)))


def filter_angles(
    w: np.ndarray, k: int = 4, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Unit-normalise ``w`` (C, f, f), cluster into ``k``; return (angles in degrees, centres)."""
    v = unit_filters(w)
    centers = kmeans_centers(v, k, seed)
    return angles_to_closest(v, centers), centers
