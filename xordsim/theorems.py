"""Monte Carlo estimates of the paper's lemmas and theorems, beside their bounds.

Every result is an *event* evaluated on a batch of independent replicas
(initializations, and training sets where the result samples them). The
fraction of replicas where the event holds estimates its probability; the
95% Clopper–Pearson interval (:func:`xordsim.stats.proportion_ci`) is compared
with the paper's bound:

* a lower bound ``P >= b`` is ``consistent`` when the interval's upper end is
  not below ``b`` and ``violated`` otherwise;
* an upper bound ``P <= b`` (only Theorem 6.5 for k = 2, derived from its
  proof) is ``consistent`` when the interval's lower end is not above ``b``;
* parameters that break the result's assumptions give ``outside assumptions``.

Where the probability is known exactly (events at initialization: the
direction of an i.i.d. Gaussian filter is uniform on the circle) the exact
value is reported too. See ``docs/theorems.md`` for every choice made.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from xordsim._validate import InputError, check_choice, check_float, check_int, parse_settings
from xordsim.data import MaskDistribution, diverse_points, xor_dataset
from xordsim.diagnostics import angles_to, argmax_sets, positive_sets
from xordsim.engine import RUNNING, gaussian_init, theorem_6_3_steps, train
from xordsim.model import loss_groups, recovers_f_star
from xordsim.patterns import (
    A_MASKS,
    DIVERSE_NEGATIVE_MASK,
    DIVERSE_POSITIVE_MASK,
    PATTERNS,
    mask_label,
    point_masks,
    reachable_masks,
)
from xordsim.stats import proportion_ci

#: The paper's negligible constant c (Sec. 6): c <= 1e-10. Bounds use c = 1e-10, the
#: weakest value the paper allows (so a ``violated`` verdict is never an artefact of c).
C_NEGLIGIBLE = 1e-10
CI_LEVEL = 0.95
CONSISTENT, VIOLATED, OUTSIDE = "consistent", "violated", "outside assumptions"

#: The XOR points x1..x4 of Sec. 3.1 as rows (4, 2).
XOR_POINTS = xor_dataset()[0][:, 0, :].astype(float)
P = PATTERNS.astype(float)

# Snapshot memory budget (bytes) for the "for all t" checks of Lemmas 3.2 / 6.2.
_SNAPSHOT_BYTES = 1.5e8
_TIME_CHUNK = 500


# ----------------------------------------------------------------------------------------
# shared mechanism


def verdict(ci, bound: float, relation: str = ">=", inside: bool = True) -> str:
    """Verdict for an estimated probability with interval ``ci`` against ``bound``.

    ``relation`` '>=' (the paper claims P >= bound): consistent iff ci[1] >= bound;
    '<=' (P <= bound): consistent iff ci[0] <= bound. ``inside`` False (parameters
    outside the result's assumptions) overrides both.
    """
    if relation not in (">=", "<="):
        raise ValueError(f"relation must be '>=' or '<=', got {relation!r}")
    if not inside:
        return OUTSIDE
    ok = ci[1] >= bound if relation == ">=" else ci[0] <= bound
    return CONSISTENT if ok else VIOLATED


def make_row(name: str, params: dict, hits, bound: float, *, relation: str = ">=",
             exact: float | None = None, violations=(), notes=(), level: float = CI_LEVEL,
             bound_text: str | None = None) -> dict:
    """The JSON-ready row of one estimate from the per-replica event outcomes ``hits``."""
    hits = np.asarray(hits, dtype=bool).ravel()
    n, s = int(hits.size), int(hits.sum())
    ci = proportion_ci(s, n, level)
    notes = list(notes)
    if exact is not None and not ci[0] <= exact <= ci[1]:
        notes.append(f"exact value {exact:.6g} outside the {level:.0%} interval")
    if violations:
        notes.append("outside assumptions: " + "; ".join(violations))
    return {
        "name": name,
        "params": _jsonable(params),
        "replicas": n,
        "estimate": s / n if n else float("nan"),
        "ci": [ci[0], ci[1]],
        "exact": None if exact is None else float(exact),
        "bound": float(bound),
        "verdict": verdict(ci, bound, relation, not violations),
        "relation": relation,
        "successes": s,
        "notes": notes,
        "bound_text": bound_text,
    }


def _jsonable(params: dict) -> dict:
    out = {}
    for key, v in params.items():
        if isinstance(v, (np.integer,)):
            v = int(v)
        elif isinstance(v, (np.floating,)):
            v = float(v)
        elif isinstance(v, tuple):
            v = list(v)
        out[key] = v
    return out


def _rng(seed: int, name: str) -> np.random.Generator:
    """Generator for one result: depends on the seed and the result's name only."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


# ----------------------------------------------------------------------------------------
# exact values and bounds


def binom_central_prob(k: int, half_width: float) -> float:
    """P(|B - k/2| <= half_width) for B ~ Binomial(k, 1/2)."""
    lo = math.ceil(k / 2 - half_width - 1e-12)
    hi = math.floor(k / 2 + half_width + 1e-12)
    lo, hi = max(lo, 0), min(hi, k)
    if hi < lo:
        return 0.0
    return float(stats.binom.cdf(hi, k, 0.5) - stats.binom.cdf(lo - 1, k, 0.5))


def exact_lemma_3_1(k: int) -> float:
    """P(event of Lemma 3.1) at i.i.d. Gaussian initialization.

    A filter's direction is uniform on the circle; its signs on x1 and x2 are
    two independent fair bits (the four cones where (w·x1 > 0, w·x2 > 0) take
    each value have angle pi/2), and w·x3 = -w·x1, w·x4 = -w·x2. So
    |W0+(1)| and |W0+(2)| are independent Binomial(k, 1/2), |W0+(3)| = k - |W0+(1)|,
    |W0+(4)| = k - |W0+(2)|, and the interval is symmetric around k/2: the event is
    four independent events |B - k/2| <= 2 sqrt(k) (two for w, two for u).
    """
    return binom_central_prob(k, 2 * math.sqrt(k)) ** 4


def exact_lemma_6_1(k: int) -> float:
    """|W0+(1) ∪ W0+(3)| ~ Binomial(k, 1/2) (argmax pattern uniform over 4)."""
    return binom_central_prob(k, 2 * math.sqrt(k))


def exact_thm_3_4a(k: int) -> float:
    """P(some W0+(i), i in {1,3}, or U0+(i), i in {2,4}, is empty).

    W0+(1) = ∅ or W0+(3) = ∅ iff all k bits [w·x1 > 0] agree: prob 2^(1-k); the u
    filters are independent: P = 1 - (1 - 2^(1-k))^2 (= 3/4 for k = 2).
    """
    q = 2.0 ** (1 - k)
    return 1.0 - (1.0 - q) ** 2


def clustering_bound(k: int, factor: float) -> float:
    """1 - sqrt(factor k) / (sqrt(pi) e^{8k}) (Lemma 3.2: factor 8; Lemma 6.2: factor 2)."""
    return 1.0 - math.exp(0.5 * math.log(factor * k) - 0.5 * math.log(math.pi) - 8.0 * k)


def clustering_bound_text(k: int, factor: float) -> str:
    """The deficit of :func:`clustering_bound` written out (it underflows in floats)."""
    log10 = (0.5 * math.log(factor * k) - 0.5 * math.log(math.pi) - 8.0 * k) / math.log(10)
    e = math.floor(log10)
    return f"1 - {10 ** (log10 - e):.2f}e{e}"


def m2_lower_bound(p_plus: float, p_minus: float, delta: float, c: float = C_NEGLIGIBLE):
    """Theorem 6.5: m2(eps, delta) >= 2 log(48 delta / (33 (1 - c))) / log(p+ p-)."""
    return 2 * math.log(48 * delta / (33 * (1 - c))) / math.log(p_plus * p_minus)


def thm_6_5_distribution(p_plus: float, p_minus: float, d: int = 4) -> MaskDistribution:
    """A distribution with the given p+, p- and p* = min((1-p+)/4, (1-p-)/4), prior 1/2.

    D+: P_x = {1,2,3,4} w.p. p+, A_3 = {1,2,4} and A_4 = {2,3,4} w.p. (1-p+)/2 each;
    D-: P_x = {2,4} w.p. p-, A_1 = {2} and A_2 = {4} w.p. (1-p-)/2 each.
    """
    pos = {DIVERSE_POSITIVE_MASK: p_plus, A_MASKS[2]: (1 - p_plus) / 2,
           A_MASKS[3]: (1 - p_plus) / 2}
    neg = {DIVERSE_NEGATIVE_MASK: p_minus, A_MASKS[0]: (1 - p_minus) / 2,
           A_MASKS[1]: (1 - p_minus) / 2}
    return MaskDistribution(d=d, pos=pos, neg=neg, prior_pos=0.5)


# ----------------------------------------------------------------------------------------
# event functions (pure: weights in, per-replica booleans out)


def exploration_xor_event(w0, u0) -> np.ndarray:
    """Lemma 3.1: k/2 - 2 sqrt(k) <= |W0+(i)|, |U0+(i)| <= k/2 + 2 sqrt(k) for i = 1..4."""
    k = np.asarray(w0).shape[-2]
    lo, hi = k / 2 - 2 * math.sqrt(k), k / 2 + 2 * math.sqrt(k)
    ok = np.ones(np.asarray(w0).shape[:-2], bool)
    for f in (w0, u0):
        sizes = positive_sets(f, XOR_POINTS).sum(axis=-2)  # (..., 4)
        ok &= np.all((sizes >= lo) & (sizes <= hi), axis=-1)
    return ok


def exploration_xord_event(w0) -> np.ndarray:
    """Lemma 6.1: ||W0+(1) ∪ W0+(3)| - k/2| <= 2 sqrt(k) with the argmax sets of Sec. 6."""
    k = np.asarray(w0).shape[-2]
    sets = argmax_sets(w0)
    size = (sets[..., 0] | sets[..., 2]).sum(axis=-1)
    return np.abs(size - k / 2) <= 2 * math.sqrt(k)


def insufficient_exploration_event(w0, u0) -> np.ndarray:
    """Theorem 3.4 (a): W0+(1) or W0+(3) empty, or U0+(2) or U0+(4) empty (Sec. 3.1 sets)."""
    sw = positive_sets(w0, XOR_POINTS).sum(axis=-2)
    su = positive_sets(u0, XOR_POINTS).sum(axis=-2)
    return (sw[..., 0] == 0) | (sw[..., 2] == 0) | (su[..., 1] == 0) | (su[..., 3] == 0)


def clustering_event(ws, counts, members, direction, ortho, eta: float) -> np.ndarray:
    """Lemmas 3.2 / 6.2 on a trajectory: for every snapshot s and every member j,
    v = w_s^(j) - counts[s] * eta * direction has v·direction > 0 and |v·ortho| < 2 eta.

    ws (R, S, k, 2); counts (R, S); members (R, k) bool; returns (R,) bool.
    Non-finite weights (a diverged run) fail.
    """
    ws = np.asarray(ws, dtype=float)
    direction = np.asarray(direction, float)
    ortho = np.asarray(ortho, float)
    along = ws @ direction - np.asarray(counts, float)[..., None] * eta * (direction @ direction)
    across = ws @ ortho - np.asarray(counts, float)[..., None] * eta * (direction @ ortho)
    good = (along > 0) & (np.abs(across) < 2 * eta)  # (R, S, k)
    return np.all(good | ~np.asarray(members, bool)[:, None, :], axis=(1, 2))


def angle_event(w, members, direction, max_angle: float) -> np.ndarray:
    """angle(w^(j), direction) <= max_angle for every member j: (R,) bool."""
    ang = angles_to(w, np.asarray(direction, float)[None])[..., 0]  # (R, k)
    ok = (ang <= max_angle + 1e-12) & np.isfinite(ang)
    return np.all(ok | ~np.asarray(members, bool), axis=-1)


def misclassifies_some_a(outputs) -> np.ndarray:
    """Theorem 6.4 (second part): some A_i whose points all get the wrong sign."""
    masks = np.array(A_MASKS)
    wrong = np.asarray(outputs)[:, masks] * mask_label(masks) <= 0
    return wrong.any(axis=1)


# ----------------------------------------------------------------------------------------
# trajectories for the "for all t" lemmas


def _group_index(groups, mask: int, label: int) -> int:
    hit = np.flatnonzero((groups.mask[0] == mask) & (groups.y[0] == label)
                         & (groups.count[0] > 0))
    if hit.size != 1:
        raise RuntimeError(f"group for mask {mask} not found")
    return int(hit[0])


def clustering_trajectories(x, y, k, *, problem, gamma, eta, w0, u0, steps, checks,
                            convention="updates", progress=None):
    """Run GD from (w0, u0) for up to ``steps`` steps, checking ``checks`` at every step.

    ``checks`` is a list of (members (R, k) bool, direction, ortho, group index). The
    count a(t) at step t is the number of steps t' < t with the group's hinge active
    (the updates that built W_t, ``convention='updates'``) or t' <= t (the literal
    Sec. 3.1 definition, ``'inclusive'``). Runs in replica batches and time chunks
    with a snapshot at every step; returns (ok (R,) bool, max step simulated).
    """
    R = w0.shape[0]
    ok = np.ones(R, bool)
    L = min(_TIME_CHUNK, max(steps, 1))
    B = max(1, int(_SNAPSHOT_BYTES // ((L + 1) * k * 32)))
    last = 0
    for b0 in range(0, R, B):
        idx = np.arange(b0, min(R, b0 + B))
        w, u = w0[idx].copy(), u0[idx].copy()
        alive = np.arange(idx.size)
        offset = None
        t0 = 0
        while alive.size:
            n = min(L, steps - t0)
            res = train(x, y, k, problem=problem, gamma=gamma, lr=eta, steps=n,
                        w0=w[alive], u0=u[alive], snapshot_steps=np.arange(n + 1))
            sa = res.snapshots_active.astype(np.int64)  # (b, n+1, G)
            if offset is None:
                offset = np.zeros((idx.size, sa.shape[2]), np.int64)
            raw = np.diff(sa, axis=1, prepend=0)
            raw[:, 0] = sa[:, 0]
            s = np.arange(n + 1)
            upd = np.where(s[None, :, None] >= res.stop_step[:, None, None], 0, raw)
            before = offset[alive][:, None, :] + np.cumsum(upd, axis=1) - upd
            counts = before + raw if convention == "inclusive" else before
            for members, direction, ortho, g in checks:
                ok[idx[alive]] &= clustering_event(res.snapshots_w, counts[:, :, g],
                                                   members[idx[alive]], direction, ortho, eta)
            offset[alive] = before[:, n]
            w[alive], u[alive] = res.w, res.u
            last = max(last, t0 + int(res.stop_step.max()))
            t0 += n
            alive = alive[(res.status == RUNNING) & (t0 < steps)]
        if progress is not None:
            progress(idx.size)
    return ok, last


# ----------------------------------------------------------------------------------------
# parameter handling


def _xor_params(p: dict, *, need_k_gt16: bool = True, k_eq: int | None = None):
    """Validate the Sec. 3.1 parameters; returns (k, c_eta, eta, init_std, violations)."""
    k = check_int("k", p["k"], 1)
    c_eta = check_float("c_eta", p["c_eta"], 0, low_open=True)
    std = check_float("init_std", p["init_std"], 0)
    sigma_max = c_eta / (16 * k**1.5)
    std = sigma_max if std == 0 else std
    v = []
    if need_k_gt16 and k <= 16:
        v.append(f"k={k} <= 16")
    if k_eq is not None and k != k_eq:
        v.append(f"k={k} != {k_eq}")
    if c_eta >= 0.5:
        v.append(f"c_eta={c_eta:g} >= 1/2")
    if std > sigma_max * (1 + 1e-12):
        v.append(f"init_std={std:g} > c_eta/(16 k^1.5)={sigma_max:g}")
    return k, c_eta, c_eta / k, std, v


def _xor_steps(p: dict, k: int, c_eta: float):
    """T of Theorem 3.3 (smallest integer > (1/c_eta) 16 sqrt(k)/(sqrt(k)-4)) unless given."""
    T = check_int("steps", p["steps"], 0)
    if k > 16:
        t_min = 16 * math.sqrt(k) / (math.sqrt(k) - 4) / c_eta
        auto = math.floor(t_min) + 1
    else:
        t_min, auto = math.inf, 5000
    return (auto if T == 0 else T), t_min


def _xord_params(p: dict, *, k_min: int | None = 120, k_eq: int | None = None):
    """Validate the Sec. 6.1 parameters; returns (k, c_eta, eta, std, gamma, d, T, v)."""
    k = check_int("k", p["k"], 1)
    c_eta = check_float("c_eta", p["c_eta"], 0, low_open=True)
    std = check_float("init_std", p["init_std"], 0)
    gamma = check_float("gamma", p["gamma"], 0, low_open=True)
    d = check_int("d", p["d"], 4)
    sigma_max = c_eta / (16 * k**1.5)
    std = sigma_max if std == 0 else std
    t_min = 28 * (gamma + 1 + 8 * c_eta) / c_eta
    T = check_int("steps", p["steps"], 0)
    T = theorem_6_3_steps(gamma, c_eta) if T == 0 else T
    v = []
    if k_min is not None and k < k_min:
        v.append(f"k={k} < {k_min}")
    if k_eq is not None and k != k_eq:
        v.append(f"k={k} != {k_eq}")
    if c_eta > 1 / 410 * (1 + 1e-12):
        v.append(f"c_eta={c_eta:g} > 1/410")
    if std > sigma_max * (1 + 1e-12):
        v.append(f"init_std={std:g} > c_eta/(16 k^1.5)={sigma_max:g}")
    if gamma < 8:
        v.append(f"gamma={gamma:g} < 8")
    return k, c_eta, c_eta / k, std, gamma, d, T, t_min, v


def diverse_training_set(d: int, rng):
    """One diverse positive and one diverse negative point (the Sec. 6 training set)."""
    x = np.concatenate([diverse_points(1, 1, d, rng), diverse_points(1, -1, d, rng)])
    return x, np.array([1, -1], dtype=np.int8)


# ----------------------------------------------------------------------------------------
# estimators: each takes (params, replicas, seed, progress) and returns rows


def est_lemma_3_1(p, replicas, seed, progress=None):
    k = check_int("k", p["k"], 1)
    v = [f"k={k} <= 16"] if k <= 16 else []
    w0, u0 = gaussian_init(replicas, k, 1.0, _rng(seed, "lemma3.1"))
    hits = exploration_xor_event(w0, u0)
    return [make_row("lemma3.1", {"k": k}, hits, 1 - 8 * math.exp(-8),
                     exact=exact_lemma_3_1(k), violations=v)]


def est_lemma_6_1(p, replicas, seed, progress=None):
    k = check_int("k", p["k"], 1)
    v = [f"k={k} < 120"] if k < 120 else []
    w0, _ = gaussian_init(replicas, k, 1.0, _rng(seed, "lemma6.1"))
    hits = exploration_xord_event(w0)
    return [make_row("lemma6.1", {"k": k}, hits, 1 - 4 * math.exp(-8),
                     exact=exact_lemma_6_1(k), violations=v)]


def est_lemma_3_2(p, replicas, seed, progress=None):
    k, c_eta, eta, std, v = _xor_params(p)
    T, _ = _xor_steps(p, k, c_eta)
    conv = check_convention(p)
    x, y = xor_dataset()
    w0, u0 = gaussian_init(replicas, k, std, _rng(seed, "lemma3.2"))
    groups = loss_groups(x, y, "xor")
    members = positive_sets(w0, XOR_POINTS)  # (R, k, 4)
    ortho = XOR_POINTS[1]
    checks = [(members[..., i], XOR_POINTS[i], ortho,
               _group_index(groups, int(point_masks(x[i])), int(y[i]))) for i in (0, 2)]
    hits, last = clustering_trajectories(x, y, k, problem="xor", gamma=None, eta=eta, w0=w0,
                                         u0=u0, steps=T, checks=checks, convention=conv,
                                         progress=progress)
    params = {"k": k, "c_eta": c_eta, "init_std": std, "steps": T, "last_step": last,
              "a_convention": conv}
    return [make_row("lemma3.2", params, hits, clustering_bound(k, 8), violations=v,
                     bound_text=clustering_bound_text(k, 8))]


def est_lemma_6_2(p, replicas, seed, progress=None):
    k, c_eta, eta, std, gamma, d, T, _, v = _xord_params(p)
    conv = check_convention(p)
    rng = _rng(seed, "lemma6.2")
    x, y = diverse_training_set(d, rng)
    w0, u0 = gaussian_init(replicas, k, std, rng)
    groups = loss_groups(x, y, "xord", gamma)
    g = _group_index(groups, DIVERSE_POSITIVE_MASK, 1)
    members = argmax_sets(w0)
    checks = [(members[..., i], P[i], P[1], g) for i in (0, 2)]
    hits, last = clustering_trajectories(x, y, k, problem="xord", gamma=gamma, eta=eta, w0=w0,
                                         u0=u0, steps=T, checks=checks, convention=conv,
                                         progress=progress)
    params = {"k": k, "c_eta": c_eta, "init_std": std, "gamma": gamma, "d": d, "steps": T,
              "last_step": last, "a_convention": conv}
    return [make_row("lemma6.2", params, hits, clustering_bound(k, 2), violations=v,
                     bound_text=clustering_bound_text(k, 2))]


def est_thm_3_3(p, replicas, seed, progress=None):
    k, c_eta, eta, std, v = _xor_params(p)
    T, t_min = _xor_steps(p, k, c_eta)
    if not T > t_min:
        v.append(f"steps={T} <= (1/c_eta) 16 sqrt(k)/(sqrt(k)-4)")
    x, y = xor_dataset()
    w0, u0 = gaussian_init(replicas, k, std, _rng(seed, "thm3.3"))
    res = train(x, y, k, problem="xor", lr=eta, steps=T, w0=w0, u0=u0)
    max_angle = math.acos((1 - 2 * c_eta) / (1 + c_eta)) if c_eta < 0.5 else 0.0
    members = positive_sets(w0, XOR_POINTS)
    hits = res.converged.copy()
    for i in (0, 2):
        hits &= angle_event(res.w, members[..., i], XOR_POINTS[i], max_angle)
    bound = clustering_bound(k, 8) - 8 * math.exp(-8)
    params = {"k": k, "c_eta": c_eta, "init_std": std, "steps": T,
              "max_angle_deg": math.degrees(max_angle),
              "converged": int(res.converged.sum()),
              "max_converged_step": int(res.converged_step.max())}
    if progress:
        progress(replicas)
    return [make_row("thm3.3", params, hits, bound, violations=v)]


def est_thm_3_4(p, replicas, seed, progress=None):
    k, c_eta, eta, std, v = _xor_params(p, need_k_gt16=False, k_eq=2)
    T = check_int("steps", p["steps"], 1)
    x, y = xor_dataset()
    w0, u0 = gaussian_init(replicas, k, std, _rng(seed, "thm3.4"))
    res = train(x, y, k, problem="xor", lr=eta, steps=T, w0=w0, u0=u0)
    params = {"k": k, "c_eta": c_eta, "init_std": std, "steps": T}
    a = insufficient_exploration_event(w0, u0)
    b = (res.train_error > 0) & ~res.diverged
    notes = [_status_note(res.status)]
    both = int((a == b).sum())
    notes_b = notes + [f"(a) and (b) agree on {both}/{replicas} replicas"]
    if progress:
        progress(replicas)
    return [make_row("thm3.4a", params, a, 0.75, exact=exact_thm_3_4a(k), violations=v),
            make_row("thm3.4b", params, b, 0.75, violations=v, notes=notes_b)]


def est_thm_6_3(p, replicas, seed, progress=None):
    k, c_eta, eta, std, gamma, d, T, t_min, v = _xord_params(p)
    if T < t_min:
        v.append(f"steps={T} < 28(gamma+1+8c_eta)/c_eta={t_min:.0f}")
    rng = _rng(seed, "thm6.3")
    x, y = diverse_training_set(d, rng)
    w0, u0 = gaussian_init(replicas, k, std, rng)
    res = train(x, y, k, problem="xord", gamma=gamma, lr=eta, steps=T, w0=w0, u0=u0)
    ratio = (gamma - 1 - 2 * c_eta) / (gamma - 1 + c_eta)
    max_angle = math.acos(max(-1.0, min(1.0, ratio)))
    members = argmax_sets(w0)
    recovers = recovers_f_star(res.outputs, reachable_masks(d))
    hits = res.converged & recovers
    for i in (0, 2):
        hits &= angle_event(res.w, members[..., i], P[i], max_angle)
    params = {"k": k, "c_eta": c_eta, "init_std": std, "gamma": gamma, "d": d, "steps": T,
              "max_angle_deg": math.degrees(max_angle),
              "converged": int(res.converged.sum()), "recovers": int(recovers.sum()),
              "max_converged_step": int(res.converged_step.max())}
    if progress:
        progress(replicas)
    return [make_row("thm6.3", params, hits, 1 - C_NEGLIGIBLE - 16 * math.exp(-8),
                     violations=v)]


def est_thm_6_4(p, replicas, seed, progress=None):
    k, c_eta, eta, std, gamma, d, T, _, v = _xord_params(p, k_min=None, k_eq=2)
    rng = _rng(seed, "thm6.4")
    x, y = diverse_training_set(d, rng)
    w0, u0 = gaussian_init(replicas, k, std, rng)
    res = train(x, y, k, problem="xord", gamma=gamma, lr=eta, steps=T, w0=w0, u0=u0)
    recovers = recovers_f_star(res.outputs, reachable_masks(d))
    a = res.converged & ~recovers
    b = res.converged & misclassifies_some_a(res.outputs)
    params = {"k": k, "c_eta": c_eta, "init_std": std, "gamma": gamma, "d": d, "steps": T,
              "converged": int(res.converged.sum()),
              "max_converged_step": int(res.converged_step.max())}
    bound = (1 - C_NEGLIGIBLE) * 33 / 48
    notes = [_status_note(res.status)]
    if progress:
        progress(replicas)
    return [make_row("thm6.4a", params, a, bound, violations=v, notes=notes),
            make_row("thm6.4b", params, b, bound, violations=v, notes=notes)]


def _status_note(status) -> str:
    names = {1: "converged", 2: "stalled", 3: "diverged", RUNNING: "not converged"}
    return "status counts: " + ", ".join(f"{names[c]} {int((status == c).sum())}"
                                         for c in (1, 2, RUNNING, 3) if (status == c).any())


def _est_thm_6_5(name):
    def run(p, replicas, seed, progress=None):
        p_plus = check_float("p_plus", p["p_plus"], 0, 1, high_open=True)
        p_minus = check_float("p_minus", p["p_minus"], 0, 1, high_open=True)
        eps = check_float("eps", p["eps"], 0, 1)
        delta = check_float("delta", p["delta"], 0, 1, low_open=True)
        ms = tuple(check_int("ms", m, 1, 10_000) for m in p["ms"])
        if not ms:
            raise InputError("ms must list at least one m (e.g. ms=1,2,4)")
        k_small = check_int("k_small", p["k_small"], 1)
        base = {key: p[key] for key in ("c_eta", "init_std", "gamma", "d", "steps")}
        dist = thm_6_5_distribution(p_plus, p_minus, check_int("d", p["d"], 4))
        p_star = dist.p_star
        m2 = m2_lower_bound(p_plus, p_minus, delta) if p_plus * p_minus > 0 else math.inf
        common = []
        if delta < 1 - p_plus * p_minus * (1 - C_NEGLIGIBLE - 16 * math.exp(-8)):
            common.append(f"delta={delta:g} < 1 - p+ p- (1 - c - 16e^-8)")
        if not eps < p_star:
            common.append(f"eps={eps:g} >= p*={p_star:g}")
        rows = []
        for k, label in ((p["k"], "large"), (k_small, "small")):
            q = dict(base, k=k)
            if label == "large":
                k, c_eta, eta, std, gamma, d, T, t_min, v = _xord_params(q)
                if T < t_min:
                    v.append(f"steps={T} < 28(gamma+1+8c_eta)/c_eta={t_min:.0f}")
            else:
                k, c_eta, eta, std, gamma, d, T, _, v = _xord_params(q, k_min=None, k_eq=2)
            for m in ms:
                rng = _rng(seed, f"{name}/{k}/{m}")
                x, y = dist.sample_training_sets(m, replicas, rng)
                w0, u0 = gaussian_init(replicas, k, std, rng)
                res = train(x, y, k, problem="xord", gamma=gamma, lr=eta, steps=T, w0=w0,
                            u0=u0, test_distribution=dist)
                hits = (res.test_error <= eps) & np.isfinite(res.test_error)
                diverse_prob = (p_plus * p_minus) ** m
                if label == "large":
                    bound, rel = diverse_prob * (1 - C_NEGLIGIBLE - 16 * math.exp(-8)), ">="
                else:
                    bound, rel = 1 - diverse_prob * (1 - C_NEGLIGIBLE) * 33 / 48, "<="
                params = {"k": k, "m": m, "p_plus": p_plus, "p_minus": p_minus,
                          "p_star": p_star, "eps": eps, "delta": delta, "m2_bound": m2,
                          "c_eta": c_eta, "init_std": std, "gamma": gamma, "d": d,
                          "steps": T, "converged": int(res.converged.sum())}
                note = [f"success needs P(test error <= eps) > 1 - delta = {1 - delta:g}"]
                rows.append(make_row(name, params, hits, bound, relation=rel,
                                     violations=common + v, notes=note))
                if progress:
                    progress(replicas)
        return rows

    return run


def check_convention(p: dict) -> str:
    return check_choice("a_convention", p["a_convention"], ("updates", "inclusive"))


# ----------------------------------------------------------------------------------------
# registry


@dataclass(frozen=True)
class Spec:
    """One result: its estimator, default parameters and default replica count."""

    name: str
    result: str
    event: str
    run: Callable
    defaults: dict = field(default_factory=dict)
    replicas: int = 1000
    rows: int = 1


_XOR = {"k": 50, "c_eta": 0.1, "init_std": 0.0, "steps": 0}
_XORD = {"k": 120, "c_eta": 1 / 410, "init_std": 0.0, "gamma": 8.0, "d": 4, "steps": 0}
_T65 = {"k": 120, "k_small": 2, "c_eta": 1 / 410, "init_std": 0.0, "gamma": 8.0, "d": 4,
        "steps": 0}

SPECS: dict[str, Spec] = {s.name: s for s in [
    Spec("lemma3.1", "Lemma 3.1", "k/2-2sqrt(k) <= |W0+(i)|,|U0+(i)| <= k/2+2sqrt(k), all i",
         est_lemma_3_1, {"k": 50}, 20000),
    Spec("lemma3.2", "Lemma 3.2", "w_t^(j) = a_i(t) eta x_i + v_t, v_t.x_i>0, |v_t.x_2|<2eta",
         est_lemma_3_2, dict(_XOR, a_convention="updates"), 1000),
    Spec("thm3.3", "Theorem 3.3", "global minimum after T and angle(w_T^(j), x_i) bounded",
         est_thm_3_3, dict(_XOR), 1000),
    Spec("thm3.4", "Theorem 3.4", "(a) an empty W0+(i)/U0+(i); (b) GD ends erring on an input",
         est_thm_3_4, {"k": 2, "c_eta": 0.1, "init_std": 0.0, "steps": 5000}, 10000, 2),
    Spec("lemma6.1", "Lemma 6.1", "||W0+(1) u W0+(3)| - k/2| <= 2sqrt(k)", est_lemma_6_1,
         {"k": 120}, 20000),
    Spec("lemma6.2", "Lemma 6.2", "w_t^(j) = a+(t) eta p_i + v_t, v_t.p_i>0, |v_t.p_2|<2eta",
         est_lemma_6_2, dict(_XORD, a_convention="updates"), 1000),
    Spec("thm6.3", "Theorem 6.3", "global minimum recovering f* and angle(w_T^(j), p_i) bounded",
         est_thm_6_3, dict(_XORD), 1000),
    Spec("thm6.4", "Theorem 6.4", "(a) global minimum not recovering f*; (b) and misclassifying"
         " some A_i", est_thm_6_4, dict(_XORD, k=2), 2000, 2),
    Spec("thm6.5", "Theorem 6.5", "P(test error <= eps) with m positives + m negatives",
         _est_thm_6_5("thm6.5"), dict(_T65, p_plus=0.92, p_minus=0.92, eps=0.019, delta=0.16,
                                      ms=(1, 2, 4, 8)), 1000, 8),
    Spec("thm6.5ex1", "Theorem 6.5", "as thm6.5, the paper's first example (p+-=0.98)",
         _est_thm_6_5("thm6.5ex1"), dict(_T65, p_plus=0.98, p_minus=0.98, eps=0.0049,
                                         delta=0.05, ms=(1, 16, 64)), 1000, 6),
]}


def resolve(names=None) -> list[Spec]:
    """Specs for ``names`` (all when None), in registry order; unknown names raise."""
    if not names:
        return list(SPECS.values())
    names = list(dict.fromkeys(names))
    unknown = [n for n in names if n not in SPECS]
    if unknown:
        raise InputError(f"--only: unknown result {unknown[0]!r}; choose from "
                         f"{', '.join(SPECS)}")
    return [SPECS[n] for n in SPECS if n in names]


def parse_overrides(specs: list[Spec], pairs) -> dict[str, dict]:
    """``--set KEY=VALUE`` strings -> per-result overrides; every key must be a parameter of
    every selected result."""
    out = {}
    for spec in specs:
        try:
            out[spec.name] = parse_settings(pairs, spec.defaults)
        except InputError as exc:
            raise InputError(f"{spec.name}: {exc}") from None
    return out


def estimate(name: str, replicas: int | None = None, seed: int = 0, progress=None,
             **params) -> list[dict]:
    """Run one result's estimator with ``params`` overriding its defaults; returns rows."""
    if name not in SPECS:
        raise InputError(f"unknown result {name!r}; choose from {', '.join(SPECS)}")
    spec = SPECS[name]
    unknown = sorted(set(params) - set(spec.defaults))
    if unknown:
        raise InputError(f"{name}: unknown parameter {unknown[0]!r}; allowed: "
                         f"{', '.join(sorted(spec.defaults))}")
    replicas = spec.replicas if replicas is None else check_int("replicas", replicas, 1)
    seed = check_int("seed", seed, 0)
    return spec.run(dict(spec.defaults, **params), replicas, seed, progress)


def run_all(names=None, replicas: int | None = None, seed: int = 0, overrides=None,
            quiet: bool = True) -> list[dict]:
    """Every selected result's rows (JSON-ready dicts), in registry order.

    ``overrides`` maps a result name to a dict of parameters, or is a list of
    ``KEY=VALUE`` strings applied to every selected result.
    """
    from tqdm.auto import tqdm

    specs = resolve(names)
    if replicas is not None:
        replicas = check_int("replicas", replicas, 1)
    if overrides is None:
        overrides = {}
    elif isinstance(overrides, (list, tuple)):
        overrides = parse_overrides(specs, overrides)
    total = sum((replicas or s.replicas) * s.rows for s in specs)
    rows: list[dict] = []
    with tqdm(total=total, desc="theorems", unit="replica", disable=quiet) as bar:
        for spec in specs:
            bar.set_postfix_str(spec.name)
            n = replicas or spec.replicas
            params = overrides.get(spec.name, {})
            before = bar.n
            rows += estimate(spec.name, n, seed, progress=bar.update, **params)
            bar.update(max(0, before + n * spec.rows - bar.n))
    return rows


def format_bound(row: dict) -> str:
    b = row["bound"]
    if row.get("bound_text"):
        text = row["bound_text"]
    else:
        text = f"1 - {1 - b:.2e}" if 0.99 < b < 1 else f"{b:.6g}"
    return f"{row.get('relation', '>=')} {text}"


def format_table(rows: list[dict]) -> str:
    """Fixed-width table of rows (name, params, replicas, estimate, CI, exact, bound, verdict)."""
    head = ["name", "params", "replicas", "estimate", "95% CI", "exact", "bound", "verdict"]
    skip = {"max_angle_deg", "converged", "recovers", "max_converged_step", "last_step",
            "p_minus", "init_std"}
    body = []
    for r in rows:
        params = " ".join(f"{k}={_short(v)}" for k, v in r["params"].items() if k not in skip)
        exact = "—" if r["exact"] is None else f"{r['exact']:.6f}"
        body.append([r["name"], params, str(r["replicas"]), f"{r['estimate']:.4f}",
                     f"[{r['ci'][0]:.4f}, {r['ci'][1]:.4f}]", exact, format_bound(r),
                     r["verdict"]])
    widths = [max(len(row[i]) for row in [head] + body) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in [head] + body]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _short(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return ",".join(map(str, v))
    return str(v)


__all__ = [
    "CONSISTENT",
    "OUTSIDE",
    "SPECS",
    "VIOLATED",
    "binom_central_prob",
    "clustering_event",
    "estimate",
    "exact_lemma_3_1",
    "exact_lemma_6_1",
    "exact_thm_3_4a",
    "format_table",
    "m2_lower_bound",
    "make_row",
    "run_all",
    "thm_6_5_distribution",
    "verdict",
]
