"""P(test error <= eps) against the sample size m for k = 2 and k >= 120 (Theorem 6.5).

A sweep (:mod:`xordsim.figures.sweeps`): :func:`sample_complexity_sweep` gives every
(k, m) a point whose distribution is Theorem 6.5's (diverse points with probability p+ and
p-, else the sets A_i: :func:`xordsim.theorems.exact.thm_6_5_distribution`) as a table of
pattern-set probabilities; the builder counts, per point, the runs whose exact
``test_error`` is at most eps (95% Clopper-Pearson) and sets them against the paper's
bounds (:func:`xordsim.theorems.exact.thm_6_5_bound`) with the theorem module's verdict and
assumptions, so the figure and the ``thm6.5`` rows of ``xordsim theorems`` share one
definition of the event, the bounds and the assumptions (not their seeds).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from xordsim import fmt
from xordsim.config import theorem_6_3_steps
from xordsim.figures.common import (
    BLUE,
    CONVERGED_MARK,
    MAX_WIDTH_IN,
    RED,
    fraction,
    legend_above,
    settings_text,
    style,
)
from xordsim.figures.generalization import converged_note
from xordsim.figures.sweeps import SWEEPS, check_task_memory, mask_table, points, sweep_seed
from xordsim.io import save_figure, write_csv
from xordsim.sweep.spec import CHUNK
from xordsim.theorems.estimators import thm_6_5_common_violations, thm_6_5_config
from xordsim.theorems.events import small_test_error
from xordsim.theorems.exact import m2_lower_bound, thm_6_5_bound, thm_6_5_distribution
from xordsim.theorems.verdicts import verdict

COLUMNS = ["k", "m", "replicas", "estimate", "estimate_ci95_low", "estimate_ci95_high", "bound",
           "relation", "verdict", "steps", "converged_runs", "frac_converged",
           "frac_converged_ci95_low", "frac_converged_ci95_high", "m2_bound", "p_plus",
           "p_minus", "p_star", "eps", "delta"]

#: The assumption of Theorem 6.5 on the learning-rate constant (via Theorem 6.3).
C_ETA_MAX = 1 / 410


def run_steps(s: dict) -> int:
    """T of the figure: ``steps``, or ``steps_factor`` times the T of Theorem 6.3."""
    return int(s["steps"] or s["steps_factor"] * theorem_6_3_steps(s["gamma"], s["c_eta"]))


def assumption_violations(s: dict, steps: int) -> list[str]:
    """The assumptions of Theorem 6.5 (with Theorem 6.3's) that the settings break."""
    v = []
    if s["k"] < 120:
        v.append(f"k = {s['k']} < 120")
    if s["k_small"] != 2:
        v.append(f"k_small = {s['k_small']} != 2")
    if s["c_eta"] > C_ETA_MAX * (1 + 1e-12):
        v.append(f"c_eta = {s['c_eta']:g} > 1/410")
    if s["gamma"] < 8:
        v.append(f"gamma = {s['gamma']:g} < 8")
    t63 = theorem_6_3_steps(s["gamma"], s["c_eta"])
    if steps < t63:
        v.append(f"T = {steps} < the T of Theorem 6.3 ({t63})")
    return v


def _p(e, lo, hi) -> str:
    return f"{fmt.sig(e, 2)} {fmt.interval(lo, hi, 2)}"


def _large_text(k: int, m, est, lo, hi, m2: float, target: float) -> str:
    """What the wide network's curve does against 1 - delta, beyond m2 and in m."""
    parts = []
    below = [i for i in range(len(m)) if hi[i] < target]
    if below:
        parts.append(f"k = {k} lies below 1 - delta = {fmt.sig(target, 2)} (whole 95% "
                     f"interval below) at m = {', '.join(str(m[i]) for i in below)}, e.g. "
                     f"{_p(est[below[0]], lo[below[0]], hi[below[0]])} at m = {m[below[0]]}")
    beyond = [i for i in range(len(m)) if m[i] > m2]
    if beyond:
        parts.append(f"beyond m2 = {fmt.sig(m2, 3)} it is "
                     + ", ".join(f"{_p(est[i], lo[i], hi[i])} at m = {m[i]}" for i in beyond)
                     + f" ({sum(est[i] < target for i in beyond)} of {len(beyond)} estimates "
                     f"below 1 - delta)")
    if len(m) >= 3:
        i = int(np.argmin(est))
        a = int(np.argmax(est[:i])) if i > 0 else None
        c = i + 1 + int(np.argmax(est[i + 1:])) if i + 1 < len(m) else None
        if a is not None and c is not None and est[c] > est[i] and est[a] > est[i]:
            sig = "disjoint" if hi[i] < lo[c] else "overlapping"
            parts.append(f"it is not monotone in m: it falls from {_p(est[a], lo[a], hi[a])} "
                         f"at m = {m[a]} to {_p(est[i], lo[i], hi[i])} at m = {m[i]}, then rises "
                         f"to {_p(est[c], lo[c], hi[c])} at m = {m[c]} ({sig} intervals)")
        elif all(b <= x for x, b in zip(est, est[1:], strict=False)):
            parts.append("it falls with m at every step")
    return "; ".join(parts)


def _legend_order(label: str) -> int:
    for i, key in enumerate(("P(test", "bound for", "paper's", "1 - delta", "m2", "fraction")):
        if key in label:
            return i
    return 9


def _theorem_params(s: dict, steps: int) -> dict:
    """The parameters of the theorem module's Theorem 6.5 functions for settings ``s``."""
    return {"k": s["k"], "k_small": s["k_small"], "p_plus": s["p_plus"],
            "p_minus": s["p_minus"], "eps": s["eps"], "delta": s["delta"],
            "c_eta": s["c_eta"], "gamma": s["gamma"], "d": s["d"], "init_std": 0.0,
            "steps": steps}


def sample_complexity_sweep(s: dict, seed: int) -> dict:
    """The sweep of the figure: ``replicas`` runs at every (k, m), k in (k, k_small) and m
    in ``ms``, each with a fresh training set of m positives and m negatives from Theorem
    6.5's distribution (given as pattern-set probabilities) and a fresh initialization;
    T = :func:`run_steps`."""
    check_task_memory("replicas", max(s["k"], s["k_small"]), s["replicas"], CHUNK.default)
    dist = thm_6_5_distribution(s["p_plus"], s["p_minus"], s["d"])
    return {"problem": "xord", "data": "fresh", "replicas": s["replicas"],
            "seed": sweep_seed(seed, "sample-complexity"), "chunk": CHUNK.default,
            "fixed": {"d": s["d"], "steps": run_steps(s), "gamma": s["gamma"],
                      "c_eta": s["c_eta"], "distribution": mask_table(dist)},
            "grid": {"k": [s["k"], s["k_small"]], "m": list(s["ms"])}}


def estimates(s: dict, store) -> list[dict]:
    """One row per (k, m) of the sweep store, in the order (k, k_small) x ``ms``: the runs
    with test error <= eps and the estimate with its 95% Clopper-Pearson interval, the
    paper's bound, relation and verdict, convergence, and the distribution's numbers."""
    from xordsim.sweep import load

    steps = run_steps(s)
    p = _theorem_params(s, steps)
    dist = thm_6_5_distribution(s["p_plus"], s["p_minus"], s["d"])
    pp = s["p_plus"] * s["p_minus"]
    m2 = m2_lower_bound(s["p_plus"], s["p_minus"], s["delta"]) if pp > 0 else float("inf")
    common = thm_6_5_common_violations(p)
    runs = points(load(store), ("k", "m"))
    rows = []
    for k, large in ((s["k"], True), (s["k_small"], False)):
        cfg, v = thm_6_5_config(p, k, large)
        for m in s["ms"]:
            g = runs[(k, m)]
            test = g["test_error"].to_numpy()
            hits = int(small_test_error(test, s["eps"]).sum())
            n = int(test.size)
            est, lo, hi = fraction(hits, n)
            bound, relation, _ = thm_6_5_bound(s["p_plus"], s["p_minus"], m, large)
            conv = int((g["status"].to_numpy() == 1).sum())
            rows.append({"k": int(k), "m": int(m), "replicas": n, "successes": hits,
                         "estimate": est, "ci": (lo, hi), "bound": bound,
                         "relation": relation,
                         "verdict": verdict((lo, hi), bound, relation, not (common + v)),
                         "steps": cfg.steps, "converged": conv, "m2_bound": m2,
                         "p_plus": s["p_plus"], "p_minus": s["p_minus"],
                         "p_star": dist.p_star, "eps": s["eps"], "delta": s["delta"]})
    return rows


def build_sample_complexity(s: dict, seed: int, out_dir: Path, quiet: bool, store: Path):
    """The figure from its sweep store (:func:`sample_complexity_sweep`)."""
    steps = run_steps(s)
    rows = estimates(s, store)
    table = []
    for r in rows:
        conv = r["converged"]
        table.append([r["k"], r["m"], r["replicas"], r["estimate"], *r["ci"], r["bound"],
                      r["relation"], r["verdict"], r["steps"], conv,
                      *fraction(conv, r["replicas"]),
                      *(r[c] for c in ("m2_bound", "p_plus", "p_minus", "p_star", "eps",
                                       "delta"))])
    csv = write_csv(out_dir / "sample-complexity.csv", COLUMNS, table)
    m2 = rows[0]["m2_bound"]
    target = 1 - s["delta"]
    ms = sorted(s["ms"])
    curves = {}
    with style():
        fig = Figure(figsize=(MAX_WIDTH_IN, 6.2), layout="constrained")
        ax, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=(2.2, 1))
        for j, (k, color, marker) in enumerate(((int(s["k"]), BLUE, "o"),
                                                (int(s["k_small"]), RED, "s"))):
            sel = sorted((r for r in rows if r["k"] == k), key=lambda r: r["m"])
            m = np.array([r["m"] for r in sel])
            est = np.array([r["estimate"] for r in sel])
            ci = np.array([r["ci"] for r in sel])
            conv = np.array([r["converged"] for r in sel])
            n = np.array([r["replicas"] for r in sel])
            curves[k] = (m, est, ci, conv, n, sel)
            ax.errorbar(m, est, yerr=[est - ci[:, 0], ci[:, 1] - est], fmt=f"{marker}-",
                        color=color, capsize=3, ms=5,
                        label=f"k = {k}: P(test error <= eps), 95% CI")
            ax.plot(m, [r["bound"] for r in sel], ":", color=color, lw=1.5,
                    label=f"k = {k}: the paper's {'lower' if j == 0 else 'upper'} bound")
            fc = np.array([fraction(c, r) for c, r in zip(conv, n, strict=True)])
            ax2.errorbar(m * 1.03 ** j, fc[:, 0], yerr=[fc[:, 0] - fc[:, 1], fc[:, 2] - fc[:, 0]],
                         fmt=f"{marker}-", color=color, capsize=3, ms=4,
                         label=f"k = {k}: fraction converged")
        ax.axhline(target, color="0.4", lw=0.9, ls="--",
                   label=f"1 - delta = {fmt.sig(target, 2)}")
        for a_ in (ax, ax2):
            a_.axvline(m2, color="k", lw=1, label=f"m2 bound = {fmt.sig(m2, 3)}")
        ax.set(xscale="log", ylim=(-0.02, 1.02), ylabel="P(test error <= eps)")
        fig.suptitle("Sample complexity gap (Theorem 6.5)")
        ax2.axhline(CONVERGED_MARK, color="0.6", lw=0.8, ls="--", label="95%")
        ax2.set(xscale="log", ylim=(-0.03, 1.05), ylabel="fraction converged\n(loss 0 within T)",
                xlabel="m (positives = negatives in the training set)")
        ax2.set_xticks(ms, [str(v) for v in ms])
        ax2.minorticks_off()
        legend_above(ax, ncol=2, order=_legend_order)
    k_big, k_small = int(s["k"]), int(s["k_small"])
    m, est, ci, conv, n, sel = curves[k_big]
    large = _large_text(k_big, list(m), est, ci[:, 0], ci[:, 1], m2, target)
    violated = {k: [r["m"] for r in curves[k][5] if r["verdict"] == "violated"]
                for k in curves}
    ms_, est_s, ci_s = curves[k_small][0], curves[k_small][1], curves[k_small][2]
    top = int(np.argmax(est_s))
    n_below = int((ci_s[:, 1] < target).sum())
    small = (f"k = {k_small} is at most {_p(est_s[top], ci_s[top, 0], ci_s[top, 1])} "
             f"(m = {ms_[top]}); its whole interval lies below 1 - delta at {n_below} of "
             f"{len(ms_)} m")
    verdict = "; ".join(
        f"the k = {k} estimates violate the paper's bound at m = {', '.join(map(str, v))}"
        for k, v in violated.items() if v) or "no estimate violates the paper's bounds"
    t63 = theorem_6_3_steps(s["gamma"], s["c_eta"])
    t_text = (f"T = {steps} steps = {s['steps_factor']} x the T of Theorem 6.3 ({t63}): that T "
              f"is derived for one diverse point per class, and larger training sets need more "
              f"steps to reach loss 0" if not s["steps"] else
              f"T = {steps} steps (set explicitly; the T of Theorem 6.3 is {t63})")
    outside = assumption_violations(s, steps)
    caption = (
        f"Sample complexity (Theorem 6.5). Probability, over training sets of m positives and "
        f"m negatives and the initialization, that GD reaches test error <= eps = "
        f"{s['eps']:g}, for k = {k_big} and k = {k_small}, with {s['replicas']} replicas per "
        f"point (95% Clopper-Pearson; a sweep, store {SWEEPS}/sample-complexity); {t_text}. "
        + (f"OUTSIDE Theorem 6.5's assumptions: {'; '.join(outside)}, so the paper's bounds "
           f"need not hold. " if outside else "All of Theorem 6.5's assumptions hold. ")
        + f"The distribution has p+ = {s['p_plus']:g}, p- = {s['p_minus']:g}, p* = "
        f"{fmt.sig(rows[0]['p_star'], 3)} (diverse points, else the sets A_i). "
        f"Dotted: the paper's bounds (p+ p-)^m (1 - c - 16·e⁻⁸) for the large net (lower) and "
        f"1 - (p+ p-)^m (1 - c) 33/48 for k = 2 (upper); vertical line: the bound m2 >= "
        f"{fmt.sig(m2, 3)} for delta = {s['delta']:g}. "
        + (f"Observed: {large}. " if large else "")
        + f"{small}. The lower bound counts only all-diverse training sets, whose probability "
        f"(p+ p-)^m falls with m, so an estimate below 1 - delta at large m contradicts the "
        f"naive expectation that more data helps, not the theorem: {verdict}. "
        + converged_note(f"Bottom, k = {k_big}: ", list(m), conv, n, unit="m")
        + converged_note(f"k = {k_small}: ", list(ms_), curves[k_small][3], curves[k_small][4],
                         unit="m")
        + f"Settings: {settings_text(s)}; seed {seed}.")
    return caption, save_figure(fig, out_dir, "sample-complexity", caption=caption) + [csv]


__all__ = ["COLUMNS", "assumption_violations", "build_sample_complexity", "estimates",
           "run_steps", "sample_complexity_sweep"]
