"""One estimator per result: simulate, evaluate its event, return table rows."""

from __future__ import annotations

import math

import numpy as np

from xordsim._validate import InputError, check_choice, check_float, check_int
from xordsim.config import theorem_6_3_steps
from xordsim.data import diverse_points, xor_dataset
from xordsim.diagnostics import argmax_sets, positive_sets
from xordsim.engine import RUNNING, gaussian_init, train
from xordsim.model import loss_groups, recovers_f_star
from xordsim.patterns import (
    DIVERSE_POSITIVE_MASK,
    point_masks,
    reachable_masks,
)
from xordsim.seeds import substream
from xordsim.theorems.events import (
    XOR_POINTS,
    P,
    angle_event,
    clustering_event,
    exploration_xor_event,
    exploration_xord_event,
    insufficient_exploration_event,
    misclassifies_some_a,
)
from xordsim.theorems.exact import (
    clustering_bound,
    clustering_bound_text,
    exact_lemma_3_1,
    exact_lemma_6_1,
    exact_thm_3_4a,
    m2_lower_bound,
    thm_6_5_distribution,
)
from xordsim.theorems.verdicts import C_NEGLIGIBLE, make_row

# Snapshot memory budget (bytes) for the "for all t" checks of Lemmas 3.2 / 6.2.
_SNAPSHOT_BYTES = 1.5e8
_TIME_CHUNK = 500


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
    w0, u0 = gaussian_init(replicas, k, 1.0, substream(seed, "lemma3.1"))
    hits = exploration_xor_event(w0, u0)
    return [make_row("lemma3.1", {"k": k}, hits, 1 - 8 * math.exp(-8),
                     exact=exact_lemma_3_1(k), violations=v)]


def est_lemma_6_1(p, replicas, seed, progress=None):
    k = check_int("k", p["k"], 1)
    v = [f"k={k} < 120"] if k < 120 else []
    w0, _ = gaussian_init(replicas, k, 1.0, substream(seed, "lemma6.1"))
    hits = exploration_xord_event(w0)
    return [make_row("lemma6.1", {"k": k}, hits, 1 - 4 * math.exp(-8),
                     exact=exact_lemma_6_1(k), violations=v)]


def est_lemma_3_2(p, replicas, seed, progress=None):
    k, c_eta, eta, std, v = _xor_params(p)
    T, _ = _xor_steps(p, k, c_eta)
    conv = check_convention(p)
    x, y = xor_dataset()
    w0, u0 = gaussian_init(replicas, k, std, substream(seed, "lemma3.2"))
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
    rng = substream(seed, "lemma6.2")
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
    w0, u0 = gaussian_init(replicas, k, std, substream(seed, "thm3.3"))
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
    w0, u0 = gaussian_init(replicas, k, std, substream(seed, "thm3.4"))
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
    rng = substream(seed, "thm6.3")
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
    rng = substream(seed, "thm6.4")
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


def est_thm_6_5(name):
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
                rng = substream(seed, f"{name}/{k}/{m}")
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
