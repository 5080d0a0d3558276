"""One estimator per result: simulate, evaluate its event, return table rows.

Each estimator takes (params, replicas, seed, progress) with params complete and checked
(:mod:`xordsim.theorems.specs` declares them; ``registry.estimate`` checks them) and
describes its GD runs as :class:`xordsim.config.GDConfig` (:func:`xor_config`,
:func:`xord_config`): eta, sigma_g and the theorems' T come from :mod:`xordsim.config`.
"""

from __future__ import annotations

import math

import numpy as np

from xordsim.config import (
    GDConfig,
    default_init_std,
    theorem_3_3_min_steps,
    theorem_3_3_steps,
    theorem_6_3_min_steps,
    theorem_6_3_steps,
)
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
    small_test_error,
)
from xordsim.theorems.exact import (
    clustering_bound,
    clustering_bound_text,
    clustering_deficit_log10,
    exact_lemma_3_1,
    exact_lemma_6_1,
    exact_thm_3_4a,
    m2_lower_bound,
    thm_6_5_bound,
    thm_6_5_distribution,
)
from xordsim.theorems.specs import SPECS
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


def clustering_trajectories(x, y, cfg: GDConfig, *, w0, u0, checks, convention="updates",
                            progress=None):
    """Run GD of ``cfg`` from (w0, u0) for up to ``cfg.steps`` steps, checking ``checks`` at
    every step.

    ``checks`` is a list of (members (R, k) bool, direction, ortho, group index). The
    count a(t) at step t is the number of steps t' < t with the group's hinge active
    (the updates that built W_t, ``convention='updates'``) or t' <= t (the literal
    Sec. 3.1 definition, ``'inclusive'``). Runs in replica batches and time chunks
    with a snapshot at every step; returns (ok (R,) bool, max step simulated, the engine's
    status of each replica at the end (R,)).
    """
    R, k, steps, eta = w0.shape[0], cfg.k, cfg.steps, cfg.eta
    ok = np.ones(R, bool)
    status = np.full(R, RUNNING, dtype=np.int8)
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
            res = train(x, y, cfg, steps=n, w0=w[alive], u0=u[alive],
                        snapshot_steps=np.arange(n + 1))
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
            status[idx[alive]] = res.status
            w[alive], u[alive] = res.w, res.u
            last = max(last, t0 + int(res.stop_step.max()))
            t0 += n
            alive = alive[(res.status == RUNNING) & (t0 < steps)]
        if progress is not None:
            progress(idx.size)
    return ok, last, status


# ----------------------------------------------------------------------------------------
# parameter handling


def _init_std_violation(cfg: GDConfig) -> list[str]:
    sigma_max = default_init_std(cfg.k, cfg.c_eta)
    if cfg.sigma_g > sigma_max * (1 + 1e-12):
        return [f"init_std={cfg.sigma_g:g} > c_eta/(16 k^1.5)={sigma_max:g}"]
    return []


def xor_config(p: dict, replicas: int | None = None, *, need_k_gt16: bool = True,
               k_eq: int | None = None) -> tuple[GDConfig, list[str]]:
    """The Sec. 3.1 run of params ``p`` (k, c_eta, init_std, steps) and the violated
    assumptions.

    init_std 0 means sigma_g = c_eta / (16 k^1.5) and steps 0 the T of Theorem 3.3
    (:func:`xordsim.config.theorem_3_3_steps`); both are written out in the config.
    """
    k, c_eta = p["k"], p["c_eta"]
    cfg = GDConfig(problem="xor", k=k, c_eta=c_eta,
                   init_std=p["init_std"] or default_init_std(k, c_eta),
                   steps=p["steps"] or theorem_3_3_steps(k, c_eta),
                   **({} if replicas is None else {"replicas": replicas}))
    v = []
    if need_k_gt16 and k <= 16:
        v.append(f"k={k} <= 16")
    if k_eq is not None and k != k_eq:
        v.append(f"k={k} != {k_eq}")
    if c_eta >= 0.5:
        v.append(f"c_eta={c_eta:g} >= 1/2")
    return cfg, v + _init_std_violation(cfg)


def xord_config(p: dict, replicas: int | None = None, *, k_min: int | None = 120,
                k_eq: int | None = None) -> tuple[GDConfig, list[str]]:
    """The Sec. 6.1 run of params ``p`` (k, c_eta, init_std, gamma, d, steps) and the
    violated assumptions.

    init_std 0 means sigma_g = c_eta / (16 k^1.5) and steps 0 the T of Theorem 6.3
    (:func:`xordsim.config.theorem_6_3_steps`); both are written out in the config.
    """
    k, c_eta, gamma = p["k"], p["c_eta"], p["gamma"]
    cfg = GDConfig(problem="xord", k=k, c_eta=c_eta,
                   init_std=p["init_std"] or default_init_std(k, c_eta), gamma=gamma,
                   d=p["d"], steps=p["steps"] or theorem_6_3_steps(gamma, c_eta),
                   **({} if replicas is None else {"replicas": replicas}))
    v = []
    if k_min is not None and k < k_min:
        v.append(f"k={k} < {k_min}")
    if k_eq is not None and k != k_eq:
        v.append(f"k={k} != {k_eq}")
    if c_eta > 1 / 410 * (1 + 1e-12):
        v.append(f"c_eta={c_eta:g} > 1/410")
    v += _init_std_violation(cfg)
    if gamma < 8:
        v.append(f"gamma={gamma:g} < 8")
    return cfg, v


def _xor_row_params(cfg: GDConfig) -> dict:
    return {"k": cfg.k, "c_eta": cfg.c_eta, "init_std": cfg.sigma_g, "steps": cfg.steps}


def _xord_row_params(cfg: GDConfig) -> dict:
    return {"k": cfg.k, "c_eta": cfg.c_eta, "init_std": cfg.sigma_g, "gamma": cfg.margin,
            "d": cfg.d, "steps": cfg.steps}


def diverse_training_set(d: int, rng):
    """One diverse positive and one diverse negative point (the Sec. 6 training set)."""
    x = np.concatenate([diverse_points(1, 1, d, rng), diverse_points(1, -1, d, rng)])
    return x, np.array([1, -1], dtype=np.int8)


# ----------------------------------------------------------------------------------------
# estimators: each takes (params, replicas, seed, progress) and returns rows


def _labels(name: str, p: dict) -> list[str]:
    """The row labels of result ``name`` run with params ``p`` (:meth:`Spec.labels`)."""
    return SPECS[name].labels(p)


def est_lemma_3_1(p, replicas, seed, progress=None):
    k = p["k"]
    v = [f"k={k} <= 16"] if k <= 16 else []
    w0, u0 = gaussian_init(replicas, k, 1.0, substream(seed, "lemma3.1"))
    hits = exploration_xor_event(w0, u0)
    return [make_row("lemma3.1", {"k": k}, hits, 1 - 8 * math.exp(-8),
                     exact=exact_lemma_3_1(k), violations=v, result="lemma3.1",
                     label=_labels("lemma3.1", p)[0])]


def est_lemma_6_1(p, replicas, seed, progress=None):
    k = p["k"]
    v = [f"k={k} < 120"] if k < 120 else []
    w0, _ = gaussian_init(replicas, k, 1.0, substream(seed, "lemma6.1"))
    hits = exploration_xord_event(w0)
    return [make_row("lemma6.1", {"k": k}, hits, 1 - 4 * math.exp(-8),
                     exact=exact_lemma_6_1(k), violations=v, result="lemma6.1",
                     label=_labels("lemma6.1", p)[0])]


def est_lemma_3_2(p, replicas, seed, progress=None):
    cfg, v = xor_config(p, replicas)
    conv = p["a_convention"]
    x, y = xor_dataset()
    w0, u0 = gaussian_init(replicas, cfg.k, cfg.sigma_g, substream(seed, "lemma3.2"))
    groups = loss_groups(x, y, "xor")
    members = positive_sets(w0, XOR_POINTS)  # (R, k, 4)
    ortho = XOR_POINTS[1]
    checks = [(members[..., i], XOR_POINTS[i], ortho,
               _group_index(groups, int(point_masks(x[i])), int(y[i]))) for i in (0, 2)]
    hits, last, status = clustering_trajectories(x, y, cfg, w0=w0, u0=u0, checks=checks,
                                                 convention=conv, progress=progress)
    settings = dict(_xor_row_params(cfg), a_convention=conv)
    params = dict(_xor_row_params(cfg), last_step=last, a_convention=conv)
    return [make_row("lemma3.2", params, hits, clustering_bound(cfg.k, 8), violations=v,
                     bound_text=clustering_bound_text(cfg.k, 8),
                     bound_deficit_log10=clustering_deficit_log10(cfg.k, 8),
                     result="lemma3.2", label=_labels("lemma3.2", p)[0], settings=settings,
                     outcomes={"last_step": last}, status=status)]


def est_lemma_6_2(p, replicas, seed, progress=None):
    cfg, v = xord_config(p, replicas)
    conv = p["a_convention"]
    rng = substream(seed, "lemma6.2")
    x, y = diverse_training_set(cfg.d, rng)
    w0, u0 = gaussian_init(replicas, cfg.k, cfg.sigma_g, rng)
    groups = loss_groups(x, y, "xord", cfg.margin)
    g = _group_index(groups, DIVERSE_POSITIVE_MASK, 1)
    members = argmax_sets(w0)
    checks = [(members[..., i], P[i], P[1], g) for i in (0, 2)]
    hits, last, status = clustering_trajectories(x, y, cfg, w0=w0, u0=u0, checks=checks,
                                                 convention=conv, progress=progress)
    settings = dict(_xord_row_params(cfg), a_convention=conv)
    params = dict(_xord_row_params(cfg), last_step=last, a_convention=conv)
    return [make_row("lemma6.2", params, hits, clustering_bound(cfg.k, 2), violations=v,
                     bound_text=clustering_bound_text(cfg.k, 2),
                     bound_deficit_log10=clustering_deficit_log10(cfg.k, 2),
                     result="lemma6.2", label=_labels("lemma6.2", p)[0], settings=settings,
                     outcomes={"last_step": last}, status=status)]


def est_thm_3_3(p, replicas, seed, progress=None):
    cfg, v = xor_config(p, replicas)
    k, c_eta, T = cfg.k, cfg.c_eta, cfg.steps
    if not T > theorem_3_3_min_steps(k, c_eta):
        v.append(f"steps={T} <= (1/c_eta) 16 sqrt(k)/(sqrt(k)-4)")
    x, y = xor_dataset()
    w0, u0 = gaussian_init(replicas, k, cfg.sigma_g, substream(seed, "thm3.3"))
    res = train(x, y, cfg, w0=w0, u0=u0)
    max_angle = math.acos((1 - 2 * c_eta) / (1 + c_eta)) if c_eta < 0.5 else 0.0
    members = positive_sets(w0, XOR_POINTS)
    hits = res.converged.copy()
    for i in (0, 2):
        hits &= angle_event(res.w, members[..., i], XOR_POINTS[i], max_angle)
    bound = clustering_bound(k, 8) - 8 * math.exp(-8)
    derived = {"max_angle_deg": math.degrees(max_angle)}
    outcomes = {"max_converged_step": int(res.converged_step.max())}
    params = dict(_xor_row_params(cfg), **derived, converged=int(res.converged.sum()),
                  **outcomes)
    if progress:
        progress(replicas)
    return [make_row("thm3.3", params, hits, bound, violations=v, result="thm3.3",
                     label=_labels("thm3.3", p)[0], settings=_xor_row_params(cfg),
                     outcomes=outcomes, derived=derived, status=res.status)]


def est_thm_3_4(p, replicas, seed, progress=None):
    cfg, v = xor_config(p, replicas, need_k_gt16=False, k_eq=2)
    x, y = xor_dataset()
    w0, u0 = gaussian_init(replicas, cfg.k, cfg.sigma_g, substream(seed, "thm3.4"))
    res = train(x, y, cfg, w0=w0, u0=u0)
    params = _xor_row_params(cfg)
    a = insufficient_exploration_event(w0, u0)
    b = (res.train_error > 0) & ~res.diverged
    notes = [_status_note(res.status)]
    both = int((a == b).sum())
    notes_b = notes + [f"(a) and (b) agree on {both}/{replicas} replicas"]
    note = (f"(a) and (b) agree on {both}/{replicas} replicas: (a) is the cause the theorem "
            "gives (an empty W0+(i) or U0+(i) at initialization) and (b) its consequence "
            "(GD ends erring on an input); ")
    if both == replicas:
        note += ("in these runs GD erred exactly when (a) held, so the two rows have the same "
                 "count and interval.")
    else:
        note += (f"they differ on {replicas - both} replicas ({int((a & ~b).sum())} with (a) "
                 f"only, {int((b & ~a).sum())} with (b) only).")
    label_a, label_b = _labels("thm3.4", p)
    if progress:
        progress(replicas)
    return [make_row("thm3.4a", params, a, 0.75, exact=exact_thm_3_4a(cfg.k), violations=v,
                     result="thm3.4", label=label_a, note=note),
            make_row("thm3.4b", params, b, 0.75, violations=v, notes=notes_b,
                     result="thm3.4", label=label_b, note=note, status=res.status)]


def _steps_violation(cfg: GDConfig) -> list[str]:
    t_min = theorem_6_3_min_steps(cfg.margin, cfg.c_eta)
    return [f"steps={cfg.steps} < 28(gamma+1+8c_eta)/c_eta={t_min:.0f}"] if (
        cfg.steps < t_min) else []


def est_thm_6_3(p, replicas, seed, progress=None):
    cfg, v = xord_config(p, replicas)
    v += _steps_violation(cfg)
    c_eta, gamma, d = cfg.c_eta, cfg.margin, cfg.d
    rng = substream(seed, "thm6.3")
    x, y = diverse_training_set(d, rng)
    w0, u0 = gaussian_init(replicas, cfg.k, cfg.sigma_g, rng)
    res = train(x, y, cfg, w0=w0, u0=u0)
    ratio = (gamma - 1 - 2 * c_eta) / (gamma - 1 + c_eta)
    max_angle = math.acos(max(-1.0, min(1.0, ratio)))
    members = argmax_sets(w0)
    recovers = recovers_f_star(res.outputs, reachable_masks(d))
    hits = res.converged & recovers
    for i in (0, 2):
        hits &= angle_event(res.w, members[..., i], P[i], max_angle)
    derived = {"max_angle_deg": math.degrees(max_angle)}
    outcomes = {"recovers": int(recovers.sum()),
                "max_converged_step": int(res.converged_step.max())}
    params = dict(_xord_row_params(cfg), **derived, converged=int(res.converged.sum()),
                  **outcomes)
    if progress:
        progress(replicas)
    return [make_row("thm6.3", params, hits, 1 - C_NEGLIGIBLE - 16 * math.exp(-8),
                     violations=v, result="thm6.3", label=_labels("thm6.3", p)[0],
                     settings=_xord_row_params(cfg), outcomes=outcomes, derived=derived,
                     status=res.status)]


def est_thm_6_4(p, replicas, seed, progress=None):
    cfg, v = xord_config(p, replicas, k_min=None, k_eq=2)
    rng = substream(seed, "thm6.4")
    x, y = diverse_training_set(cfg.d, rng)
    w0, u0 = gaussian_init(replicas, cfg.k, cfg.sigma_g, rng)
    res = train(x, y, cfg, w0=w0, u0=u0)
    recovers = recovers_f_star(res.outputs, reachable_masks(cfg.d))
    a = res.converged & ~recovers
    b = res.converged & misclassifies_some_a(res.outputs)
    outcomes = {"recovers": int(recovers.sum()),
                "max_converged_step": int(res.converged_step.max())}
    params = dict(_xord_row_params(cfg), converged=int(res.converged.sum()),
                  max_converged_step=outcomes["max_converged_step"])
    bound = (1 - C_NEGLIGIBLE) * 33 / 48
    notes = [_status_note(res.status)]
    both = int((a == b).sum())
    note = (f"(a) and (b) agree on {both}/{replicas} replicas ({int((a & b).sum())} with both, "
            f"{int((~res.converged).sum())} runs that did not reach loss 0 fail both): (b) "
            "is the theorem's 'furthermore', a global minimum that misclassifies every point "
            "with P_x = A_i, which cannot recover f*; ")
    if both == replicas:
        note += ("in these runs every global minimum that missed f* missed it on a whole "
                 "A_i, so the two rows have the same count and interval.")
    else:
        note += (f"they differ on {replicas - both} replicas ({int((a & ~b).sum())} with (a) "
                 f"only, {int((b & ~a).sum())} with (b) only).")
    label_a, label_b = _labels("thm6.4", p)
    if progress:
        progress(replicas)
    common = dict(violations=v, notes=notes, result="thm6.4", settings=_xord_row_params(cfg),
                  outcomes=outcomes, status=res.status, note=note)
    return [make_row("thm6.4a", params, a, bound, label=label_a, **common),
            make_row("thm6.4b", params, b, bound, label=label_b, **common)]


def _status_note(status) -> str:
    names = {1: "converged", 2: "stalled", 3: "diverged", RUNNING: "not converged"}
    return "status counts: " + ", ".join(f"{names[c]} {int((status == c).sum())}"
                                         for c in (1, 2, RUNNING, 3) if (status == c).any())


def thm_6_5_common_violations(p: dict) -> list[str]:
    """The assumptions of Theorem 6.5 on (p+, p-, eps, delta) that ``p`` breaks."""
    p_plus, p_minus, eps, delta = p["p_plus"], p["p_minus"], p["eps"], p["delta"]
    p_star = thm_6_5_distribution(p_plus, p_minus, p["d"]).p_star
    v = []
    if delta < 1 - p_plus * p_minus * (1 - C_NEGLIGIBLE - 16 * math.exp(-8)):
        v.append(f"delta={delta:g} < 1 - p+ p- (1 - c - 16e^-8)")
    if not eps < p_star:
        v.append(f"eps={eps:g} >= p*={p_star:g}")
    return v


def thm_6_5_config(p: dict, k: int, large: bool, replicas: int | None = None
                   ) -> tuple[GDConfig, list[str]]:
    """The GD run of one network of Theorem 6.5 (``p``'s c_eta, init_std, gamma, d, steps
    at width ``k``) and the assumptions it breaks: the large network needs k >= 120 and
    T >= the T of Theorem 6.3, the small one k = 2; both c_eta <= 1/410, gamma >= 8 and
    the largest init std. The common assumptions are :func:`thm_6_5_common_violations`."""
    q = dict(p, k=k)
    if large:
        cfg, v = xord_config(q, replicas)
        return cfg, v + _steps_violation(cfg)
    return xord_config(q, replicas, k_min=None, k_eq=2)


def est_thm_6_5(p, replicas, seed, progress=None, *, name="thm6.5"):
    """Theorem 6.5: for k = ``k`` (>= 120) and k = ``k_small`` (2), one row per m in ``ms``;
    each replica draws its own training set of m positives and m negatives."""
    p_plus, p_minus, eps, delta = p["p_plus"], p["p_minus"], p["eps"], p["delta"]
    dist = thm_6_5_distribution(p_plus, p_minus, p["d"])
    p_star = dist.p_star
    m2 = m2_lower_bound(p_plus, p_minus, delta) if p_plus * p_minus > 0 else math.inf
    common = thm_6_5_common_violations(p)
    labels = iter(_labels(name, p))
    rows = []
    for k, net in ((p["k"], "large"), (p["k_small"], "small")):
        cfg, v = thm_6_5_config(p, k, net == "large", replicas)
        for m in p["ms"]:
            rng = substream(seed, f"{name}/{k}/{m}")
            x, y = dist.sample_training_sets(m, replicas, rng)
            w0, u0 = gaussian_init(replicas, k, cfg.sigma_g, rng)
            res = train(x, y, cfg, w0=w0, u0=u0, test_distribution=dist)
            hits = small_test_error(res.test_error, eps)
            diverse_prob = (p_plus * p_minus) ** m
            bound, rel, deficit = thm_6_5_bound(p_plus, p_minus, m, net == "large")
            xord = {key: val for key, val in _xord_row_params(cfg).items() if key != "k"}
            params = {"k": k, "m": m, "p_plus": p_plus, "p_minus": p_minus,
                      "p_star": p_star, "eps": eps, "delta": delta, "m2_bound": m2, **xord}
            params["converged"] = int(res.converged.sum())
            settings = {"k": k, "m": m, "p_plus": p_plus, "p_minus": p_minus, "eps": eps,
                        "delta": delta, **xord}
            derived = {"p_star": p_star, "m2_bound": m2, "all_diverse_prob": diverse_prob}
            note = [f"success needs P(test error <= eps) > 1 - delta = {1 - delta:g}"]
            rows.append(make_row(name, params, hits, bound, relation=rel,
                                 violations=common + v, notes=note, bound_deficit_log10=deficit,
                                 result=name, label=next(labels), settings=settings,
                                 derived=derived, status=res.status))
            if progress:
                progress(replicas)
    return rows


def est_thm_6_5_ex1(p, replicas, seed, progress=None):
    """Theorem 6.5, the paper's first numerical example (its own seed streams)."""
    return est_thm_6_5(p, replicas, seed, progress, name="thm6.5ex1")
