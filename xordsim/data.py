"""Training sets and data distributions of the XOR (Sec. 3.1) and XORD (Sec. 4) problems.

A distribution over XORD points is described exactly by the probabilities of
the pattern set P_x (a mask, see :mod:`xordsim.patterns`) under D+ and D-,
which is all the network of Eq. 2 can see. Two families:

* :class:`PatternDistribution`: the d positions are i.i.d. from pattern
  probabilities ``q``, conditioned on the label (``q`` uniform gives the
  uniform D+ and D- of the paper);
* :class:`MaskDistribution`: any probabilities of P_x given directly.

Both sample real points of shape (n, d, 2) with entries ±1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from itertools import combinations

import numpy as np

from xordsim._validate import InputError, check_int
from xordsim.patterns import (
    A_MASKS,
    ALL_MASKS,
    DIVERSE_NEGATIVE_MASK,
    DIVERSE_POSITIVE_MASK,
    PATTERNS,
    POSITIVE_BITS,
    mask_patterns,
    point_masks,
)


def xor_dataset() -> tuple[np.ndarray, np.ndarray]:
    """The XOR training set of Sec. 3.1 as points of shape (4, 1, 2) and labels (4,).

    x1 = (1, 1), x2 = (-1, 1), x3 = (-1, -1), x4 = (1, -1) with labels 1, -1, 1, -1.
    """
    x = np.array([[[1, 1]], [[-1, 1]], [[-1, -1]], [[1, -1]]], dtype=np.int8)
    y = np.array([1, -1, 1, -1], dtype=np.int8)
    return x, y


def exact_mask_probabilities(q, d: int) -> np.ndarray:
    """P(P_x = M) for all 16 masks when the d positions are i.i.d. with probabilities ``q``.

    Inclusion–exclusion: P(P_x = M) = sum over S ⊆ M of (-1)^{|M \\ S|} q(S)^d.
    """
    return _exact_mask_probabilities(tuple(float(v) for v in q), int(d)).copy()


@lru_cache(maxsize=256)
def _exact_mask_probabilities(q: tuple, d: int) -> np.ndarray:
    q = np.asarray(q, dtype=float)
    out = np.zeros(16)
    for M in ALL_MASKS:
        members = [l - 1 for l in mask_patterns(M)]
        total = 0.0
        for size in range(1, len(members) + 1):
            for S in combinations(members, size):
                total += (-1) ** (len(members) - size) * q[list(S)].sum() ** d
        out[M] = max(total, 0.0)
    return out


def p_plus_paper(d: int) -> float:
    """The paper's closed form for p+ under uniform D+ (Sec. 4): 1 - (4·3^d - 6·2^d + 4)/4^d.

    This is P(P_x = {1,2,3,4}) for x uniform on all of {±1}^{2d}, not conditioned on
    x being positive; :func:`p_plus_exact` is the conditional probability.
    """
    return 1.0 - (4 * 3.0**d - 6 * 2.0**d + 4) / 4.0**d


def p_plus_exact(d: int) -> float:
    """p+ = P(x diverse | x ~ uniform D+) = (4^d - 4·3^d + 6·2^d - 4) / (4^d - 2^d)."""
    return (4.0**d - 4 * 3.0**d + 6 * 2.0**d - 4) / (4.0**d - 2.0**d)


def p_minus_exact(d: int) -> float:
    """p- = P(x diverse | x ~ uniform D-) = 1 - 1/2^(d-1) (the paper's form is exact)."""
    return 1.0 - 1.0 / 2.0 ** (d - 1)


@dataclass(frozen=True)
class _Distribution:
    """Shared part: exact mask probabilities, the paper's parameters, sampling by label."""

    d: int
    prior_pos: float = 0.5

    def mask_probs(self, label: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def sample(self, n: int, label: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover - abstract

    def joint_mask_probs(self) -> np.ndarray:
        """(2, 16): row 0 P(y=-1, P_x=M), row 1 P(y=+1, P_x=M); used for the exact test error."""
        return np.stack(
            [(1 - self.prior_pos) * self.mask_probs(-1), self.prior_pos * self.mask_probs(1)]
        )

    @property
    def p_plus(self) -> float:
        """Probability that a point of D+ is diverse (Sec. 4)."""
        return float(self.mask_probs(1)[DIVERSE_POSITIVE_MASK])

    @property
    def p_minus(self) -> float:
        """Probability that a point of D- is diverse (Sec. 4)."""
        return float(self.mask_probs(-1)[DIVERSE_NEGATIVE_MASK])

    @property
    def p_star(self) -> float:
        """p* = min_i p_{A_i} of Eq. 5, with p_A the probability of P_x = A under D."""
        joint = self.joint_mask_probs().sum(axis=0)
        return float(min(joint[A] for A in A_MASKS))

    def sample_training_set(
        self, m: int, rng: np.random.Generator | int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """m positives from D+ then m negatives from D-: x (2m, d, 2), y (2m,)."""
        m = check_int("m", m, 1)
        rng = np.random.default_rng(rng)
        x = np.concatenate([self.sample(m, 1, rng), self.sample(m, -1, rng)])
        y = np.repeat(np.array([1, -1], dtype=np.int8), m)
        return x, y

    def sample_training_sets(
        self, m: int, replicas: int, rng: np.random.Generator | int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """A fresh training set per replica: x (R, 2m, d, 2), y (R, 2m)."""
        replicas = check_int("replicas", replicas, 1)
        rng = np.random.default_rng(rng)
        m = check_int("m", m, 1)
        pos = self.sample(replicas * m, 1, rng).reshape(replicas, m, self.d, 2)
        neg = self.sample(replicas * m, -1, rng).reshape(replicas, m, self.d, 2)
        y = np.tile(np.repeat(np.array([1, -1], dtype=np.int8), m), (replicas, 1))
        return np.concatenate([pos, neg], axis=1), y


@dataclass(frozen=True)
class PatternDistribution(_Distribution):
    """Positions i.i.d. with pattern probabilities ``q`` (p1..p4), conditioned on the label.

    ``q = (1/4,)*4`` gives the uniform D+ and D- of the paper. ``prior_pos`` is the
    probability of a positive point in the test distribution (the training set
    always has m of each).
    """

    q: tuple = (0.25, 0.25, 0.25, 0.25)

    def __post_init__(self):
        check_int("d", self.d, 1)
        q = np.asarray(self.q, dtype=float)
        if q.shape != (4,) or np.any(q < 0) or not np.isclose(q.sum(), 1.0):
            raise InputError(
                f"q must be 4 non-negative pattern probabilities summing to 1, got {self.q}"
            )
        if q[[0, 2]].sum() == 0 or q[[1, 3]].sum() == 0:
            raise InputError(
                "q must give positive probability to a positive (p1, p3) and a negative "
                "(p2, p4) pattern"
            )
        if not 0 < self.prior_pos < 1:
            raise InputError(f"prior_pos must be in (0, 1), got {self.prior_pos}")
        object.__setattr__(self, "q", tuple(float(v) for v in q))

    def mask_probs(self, label: int) -> np.ndarray:
        """Exact P(P_x = M | y = label) for all 16 masks (inclusion–exclusion)."""
        probs = exact_mask_probabilities(self.q, self.d)
        keep = (ALL_MASKS & POSITIVE_BITS) != 0 if label == 1 else (ALL_MASKS & POSITIVE_BITS) == 0
        out = np.zeros(16)
        out[ALL_MASKS[keep]] = probs[ALL_MASKS[keep]]
        return out / out.sum()

    def sample(self, n: int, label: int, rng: np.random.Generator) -> np.ndarray:
        """n points of D+ (label 1) or D- (label -1), exactly: shape (n, d, 2), int8."""
        q = np.asarray(self.q)
        if label == -1:  # conditioned on all positions in {p2, p4}: i.i.d. on q restricted
            qn = np.array([0, q[1], 0, q[3]]) / (q[1] + q[3])
            idx = rng.choice(4, size=(n, self.d), p=qn)
            return PATTERNS[idx]
        out = np.empty((n, self.d), dtype=np.int64)
        filled = 0
        while filled < n:  # rejection: keep sequences that contain p1 or p3
            need = n - filled
            batch = rng.choice(4, size=(max(2 * need, 16), self.d), p=q)
            ok = batch[np.any((batch == 0) | (batch == 2), axis=1)][:need]
            out[filled : filled + len(ok)] = ok
            filled += len(ok)
        return PATTERNS[out]


def uniform_distribution(d: int, prior_pos: float = 0.5) -> PatternDistribution:
    """Uniform D+ and D- over {±1}^{2d} (paper Sec. 4)."""
    return PatternDistribution(d=d, prior_pos=prior_pos)


@dataclass(frozen=True)
class MaskDistribution(_Distribution):
    """A distribution given directly by the probabilities of the pattern set P_x.

    ``pos`` and ``neg`` map masks (ints 1..15, or tuples of 1-based pattern
    indices) to probabilities under D+ and D-. Positive masks must contain p1
    or p3 and negative ones must not (y = f*(x)); every mask needs |M| <= d.
    A point with P_x = M is sampled by placing each pattern of M once at random
    positions and filling the rest uniformly from M (only P_x matters to the network).
    """

    pos: dict = field(default_factory=dict)
    neg: dict = field(default_factory=dict)

    def __post_init__(self):
        check_int("d", self.d, 1)
        if not 0 < self.prior_pos < 1:
            raise InputError(f"prior_pos must be in (0, 1), got {self.prior_pos}")
        for name, table, label in (("pos", self.pos, 1), ("neg", self.neg, -1)):
            probs = np.zeros(16)
            for key, p in dict(table).items():
                M = _mask_of_key(name, key)
                if bin(M).count("1") > self.d:
                    raise InputError(f"{name}: mask {key!r} has more patterns than d={self.d}")
                if (label == 1) != bool(M & POSITIVE_BITS):
                    raise InputError(f"{name}: mask {key!r} has the wrong label under f*")
                if isinstance(p, bool) or not isinstance(p, (int, float, np.floating,
                                                             np.integer)) or not (
                        np.isfinite(p) and p >= 0):
                    raise InputError(f"{name}: probability of {key!r} must be a finite number "
                                     f">= 0, got {p!r}")
                probs[M] += p
            if not np.isclose(probs.sum(), 1.0):
                raise InputError(f"{name}: probabilities must sum to 1, got {probs.sum():g}")
            object.__setattr__(self, f"_{name}", probs / probs.sum())

    def mask_probs(self, label: int) -> np.ndarray:
        """P(P_x = M | y = label) for all 16 masks."""
        return (self._pos if label == 1 else self._neg).copy()

    def sample(self, n: int, label: int, rng: np.random.Generator) -> np.ndarray:
        """n points with P_x drawn from the given probabilities: (n, d, 2), int8."""
        masks = rng.choice(16, size=n, p=self.mask_probs(label))
        return points_with_masks(masks, self.d, rng)


def _mask_of_key(name: str, key) -> int:
    """A mask from an int 1..15 or a collection of distinct 1-based pattern indices."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        M = int(key)
    else:
        try:
            idx = [int(v) for v in key]
        except (TypeError, ValueError):
            raise InputError(f"{name}: a pattern set is distinct pattern indices in 1..4, "
                             f"got {key!r}") from None
        if not idx or len(set(idx)) != len(idx) or any(not 1 <= v <= 4 for v in idx):
            raise InputError(f"{name}: a pattern set is distinct pattern indices in 1..4, "
                             f"got {key!r}")
        M = sum(1 << (v - 1) for v in idx)
    if not 1 <= M <= 15:
        raise InputError(f"{name}: mask must be in 1..15, got {key!r}")
    return M


#: Largest distribution file read (bytes): 16 pattern sets per label fit in far less.
MAX_DISTRIBUTION_FILE = 1 << 20


def distribution_from_spec(spec: str, d: int, prior_pos: float = 0.5, *,
                           option: str = "--distribution") -> _Distribution:
    """Build an XORD distribution from its spec string.

    ``'uniform'`` (uniform D+ and D-), ``'pattern:Q1,Q2,Q3,Q4'`` (positions i.i.d. with
    pattern probabilities q, conditioned on the label) or the path of a JSON file
    ``{"pos": {"1,2,3,4": 0.9, "1": 0.1}, "neg": {"2,4": 1.0}}`` giving the probabilities
    of the pattern set P_x under D+ and D- (keys: distinct pattern indices 1..4). Every
    malformed spec raises :class:`InputError` naming ``option``.
    """
    import json
    import math
    from pathlib import Path

    if not isinstance(spec, str) or not spec.strip():
        raise InputError(f"{option} must be 'uniform', 'pattern:Q1,Q2,Q3,Q4' or a .json file; "
                         f"got {spec!r}")
    try:
        if spec == "uniform":
            return PatternDistribution(d=d, prior_pos=prior_pos)
        if spec.startswith("pattern:"):
            try:
                q = tuple(float(v) for v in spec[len("pattern:"):].split(","))
            except ValueError:
                q = ()
            if len(q) != 4 or not all(math.isfinite(v) for v in q):
                raise InputError(f"expects 4 finite numbers after 'pattern:', got {spec!r}")
            return PatternDistribution(d=d, q=q, prior_pos=prior_pos)
        path = Path(spec)
        if path.suffix != ".json":
            raise InputError(f"must be 'uniform', 'pattern:Q1,Q2,Q3,Q4' or a .json file; "
                             f"got {spec!r}")
        if not path.exists():
            raise InputError(f"no such file {spec}")
        if not path.is_file():
            raise InputError(f"{spec} is not a regular file")
        if path.stat().st_size > MAX_DISTRIBUTION_FILE:
            raise InputError(f"{spec} is larger than {MAX_DISTRIBUTION_FILE} bytes")
        try:
            table = json.loads(path.read_bytes().decode("utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise InputError(f"malformed file {spec} ({type(exc).__name__}); expected "
                             '{"pos": {"1,3": 0.5, ...}, "neg": {"2,4": 1.0}}') from None
        if (not isinstance(table, dict) or set(table) != {"pos", "neg"}
                or not all(isinstance(table[k], dict) for k in ("pos", "neg"))):
            raise InputError(f"malformed file {spec}: expected exactly the keys 'pos' and "
                             '\'neg\', each a mapping like {"1,3": 0.5, "2": 0.5}')
        tables = {}
        for label in ("pos", "neg"):
            tables[label] = {}
            for key, p in table[label].items():
                try:
                    idx = tuple(int(v) for v in key.split(","))
                except ValueError:
                    raise InputError(f"malformed file {spec}: {label} key {key!r} is not a "
                                     "comma-separated list of pattern indices") from None
                M = _mask_of_key(label, idx)
                if M in tables[label]:
                    raise InputError(f"malformed file {spec}: {label} lists the pattern set "
                                     f"{key!r} twice")
                tables[label][M] = p
        return MaskDistribution(d=d, pos=tables["pos"], neg=tables["neg"],
                                prior_pos=prior_pos)
    except InputError as exc:
        raise InputError(f"{option}: {exc}") from None


def points_with_masks(masks, d: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """One point x in {±1}^{2d} per mask with P_x equal to that mask: (n, d, 2), int8.

    Per point, in order: d positions drawn uniformly from the mask's patterns, then each
    pattern of the mask put once at random positions (so that P_x is the whole mask). The
    draws are those of ``rng.choice(members, size=d)`` (written as ``rng.integers``, the
    same numbers, without ``choice``'s per-call overhead), ``rng.permutation(d)`` and
    ``rng.permutation(members)``: a seed gives the points it always gave."""
    rng = np.random.default_rng(rng)
    masks = np.atleast_1d(np.asarray(masks, dtype=np.int64))
    sizes = _MASK_SIZES[np.clip(masks, 0, 15)]
    bad = (masks < 1) | (masks > 15) | (sizes > d)
    if bad.any():
        raise InputError(f"mask {int(masks[np.argmax(bad)])} needs 1 <= |P_x| <= d={d} "
                         "(masks are 1..15)")
    out = np.empty((len(masks), d), dtype=np.int64)
    integers, permutation = rng.integers, rng.permutation
    for i, M in enumerate(masks.tolist()):
        members = _MEMBERS[M]
        row = members[integers(0, len(members), size=d)]
        row[permutation(d)[: len(members)]] = permutation(members)
        out[i] = row
    return PATTERNS[out]


#: The 0-based pattern indices of each mask 1..15 (:func:`points_with_masks`), and the
#: number of patterns of each mask 0..15.
_MEMBERS = {M: np.array([l - 1 for l in mask_patterns(M)], dtype=np.int64)
            for M in range(1, 16)}
_MASK_SIZES = np.array([len(mask_patterns(M)) for M in range(16)])


def diverse_points(n: int, label: int, d: int, rng: np.random.Generator | int | None = None):
    """n diverse points (Definition 4.2), uniform among diverse points of D+ or D-.

    A diverse positive contains all four patterns (needs d >= 4); a diverse
    negative contains exactly p2 and p4 (needs d >= 2).
    """
    rng = np.random.default_rng(rng)
    need = 4 if label == 1 else 2
    d = check_int("d", d, need)
    target = DIVERSE_POSITIVE_MASK if label == 1 else DIVERSE_NEGATIVE_MASK
    dist = uniform_distribution(d)
    out = []
    while sum(len(o) for o in out) < n:
        batch = dist.sample(max(n, 64), label, rng)
        out.append(batch[point_masks(batch) == target])
    return np.concatenate(out)[:n]


def decoy_training_set(
    d: int = 4, n_per_class: int = 6, rng: np.random.Generator | int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The decoy training set of Sec. 5: diverse positives then diverse negatives."""
    rng = np.random.default_rng(rng)
    n_per_class = check_int("n_per_class", n_per_class, 1)
    x = np.concatenate(
        [diverse_points(n_per_class, 1, d, rng), diverse_points(n_per_class, -1, d, rng)]
    )
    y = np.repeat(np.array([1, -1], dtype=np.int8), n_per_class)
    return x, y


def sample_mask_counts(dist, m: int, replicas: int,
                       rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Fresh training sets as counts over the pattern sets, never as points: (R, 2, 16) int64.

    ``counts[r, 1, M]`` is the number of the m positives of training set r with pattern set
    P_x = M, ``counts[r, 0, M]`` that of the m negatives (rows ordered like
    :meth:`joint_mask_probs`: y = -1, then y = +1). Each row is one multinomial draw of m
    from the distribution's exact ``mask_probs(label)`` (positives first, then negatives),
    so the law is that of :meth:`sample_training_sets` reduced to masks -- all the network
    of Eq. 2 sees -- in O(R * 16) memory whatever m and d.
    """
    m = check_int("m", m, 1)
    replicas = check_int("replicas", replicas, 1)
    rng = np.random.default_rng(rng)
    out = np.empty((replicas, 2, 16), dtype=np.int64)
    for row, label in ((1, 1), (0, -1)):
        p = np.asarray(dist.mask_probs(label), dtype=float)
        out[:, row] = rng.multinomial(m, p / p.sum(), size=replicas)
    return out


def mask_counts(x, y) -> np.ndarray:
    """Counts over the pattern sets of training sets given as points: (Rd, 2, 16) int64.

    ``x`` (n, d, 2) or (R, n, d, 2), ``y`` (n,) or (R, n) of ±1; the inverse direction of
    :func:`sample_mask_counts` (row 0: y = -1, row 1: y = +1).
    """
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim == 3:
        x, y = x[None], y[None]
    if x.ndim != 4 or x.shape[-1] != 2 or y.shape != x.shape[:2]:
        raise InputError("x must have shape (n, d, 2) or (R, n, d, 2) with y (n,) or (R, n); "
                         f"got {x.shape}, {y.shape}")
    if not np.all(np.abs(y) == 1):
        raise InputError("labels y must be ±1")
    R = y.shape[0]
    keys = (np.arange(R)[:, None] * 2 + (y > 0)) * 16 + point_masks(x)
    return np.bincount(keys.ravel(), minlength=R * 32).reshape(R, 2, 16).astype(np.int64)


__all__ = [
    "MaskDistribution",
    "PatternDistribution",
    "decoy_training_set",
    "distribution_from_spec",
    "diverse_points",
    "exact_mask_probabilities",
    "mask_counts",
    "p_minus_exact",
    "p_plus_exact",
    "p_plus_paper",
    "points_with_masks",
    "sample_mask_counts",
    "uniform_distribution",
    "xor_dataset",
]
