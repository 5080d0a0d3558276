"""P(test error <= eps) against the sample size m for k = 2 and k >= 120 (Theorem 6.5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from xordsim.figures.common import BLUE, RED, settings_text
from xordsim.io import save_figure, write_csv
from xordsim.theorems import estimate

COLUMNS = ["k", "m", "replicas", "estimate", "ci_low", "ci_high", "bound", "relation",
           "m2_bound", "p_plus", "p_minus", "p_star", "eps", "delta"]


def build_sample_complexity(s: dict, seed: int, out_dir: Path, quiet: bool):
    params = {key: s[key] for key in ("k", "k_small", "p_plus", "p_minus", "eps", "delta", "ms",
                                      "c_eta", "gamma", "d", "steps")}
    rows = estimate("thm6.5", replicas=s["replicas"], seed=seed, **params)
    table = [[r["params"][c] if c in r["params"] else r[c] for c in
              ("k", "m", "replicas", "estimate")] + [*r["ci"], r["bound"], r["relation"]]
             + [r["params"][c] for c in ("m2_bound", "p_plus", "p_minus", "p_star", "eps",
                                         "delta")] for r in rows]
    csv = write_csv(out_dir / "sample-complexity.csv", COLUMNS, table)
    fig = Figure(figsize=(7, 4.6), layout="constrained")
    ax = fig.add_subplot()
    m2 = rows[0]["params"]["m2_bound"]
    for k, color in ((int(s["k"]), BLUE), (int(s["k_small"]), RED)):
        sel = [r for r in rows if r["params"]["k"] == k]
        m = np.array([r["params"]["m"] for r in sel])
        est = np.array([r["estimate"] for r in sel])
        ci = np.array([r["ci"] for r in sel])
        ax.errorbar(m, est, yerr=[est - ci[:, 0], ci[:, 1] - est], fmt="o-", color=color,
                    capsize=3, label=f"k = {k} (95% CI)")
        ax.plot(m, [r["bound"] for r in sel], ":", color=color,
                label=f"paper's bound for k = {k} ({sel[0]['relation']})")
    ax.axhline(1 - s["delta"], color="0.5", lw=0.8, ls="--", label="1 - delta")
    ax.axvline(m2, color="k", lw=1, label=f"m2 bound = {m2:.1f}")
    ax.set(xscale="log", ylim=(-0.02, 1.02), xlabel="m (positives = negatives in the training set)",
           ylabel="P(test error <= eps)", title="Sample complexity gap (Theorem 6.5)")
    ax.legend(fontsize=8)
    caption = (f"Sample complexity (Theorem 6.5). Probability, over training sets of m positives "
               f"and m negatives and the initialization, that GD reaches test error <= eps = "
               f"{s['eps']:g}, for k = {s['k']} and k = {s['k_small']}, with {s['replicas']} "
               f"replicas per point (95% Clopper-Pearson). The distribution has p+ = "
               f"{s['p_plus']:g}, p- = {s['p_minus']:g}, p* = {rows[0]['params']['p_star']:g} "
               f"(diverse points, else the sets A_i). Dotted: the paper's bounds "
               f"(p+ p-)^m (1 - c - 16e^-8) for the large net (>=) and "
               f"1 - (p+ p-)^m (1 - c) 33/48 for k = 2 (<=); vertical line: the bound m2 >= "
               f"{m2:.1f} for delta = {s['delta']:g}. Settings: {settings_text(s)} (steps 0 = "
               f"the T of Theorem 6.3); seed {seed}.")
    return caption, save_figure(fig, out_dir, "sample-complexity", caption=caption) + [csv]
