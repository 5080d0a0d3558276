"""Filters in the plane (Figures 2 and 3) and exploration / clustering over training.

The builders take the settings validated by :mod:`xordsim.figures.registry`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from xordsim import fmt
from xordsim.data import decoy_training_set, uniform_distribution, xor_dataset
from xordsim.diagnostics import angles_to_patterns, argmax_sets
from xordsim.engine import STATUS_NAMES, train
from xordsim.figures.common import (
    BLUE,
    CONVERGED_MARK,
    MAX_WIDTH_IN,
    RED,
    converged_text,
    gd_config,
    settings_text,
    style,
)
from xordsim.io import save_figure, write_csv
from xordsim.model import recovers_f_star
from xordsim.patterns import PATTERNS, reachable_masks
from xordsim.seeds import substream


def _panel(ax, w, u, points, labels, signs, title):
    """Arrows for w (blue) and u (red); the points are drawn in their exact directions at a
    radius scaled to the panel (the filters are orders of magnitude smaller at t = 0). The
    coordinates are in units of a power of ten, named in the axis labels."""
    lim = 1.2 * max(np.abs(np.concatenate([w, u])).max(), 1e-300)
    unit = 10.0 ** np.floor(np.log10(lim))
    w, u, lim = w / unit, u / unit, lim / unit
    for f, color in ((w, BLUE), (u, RED)):
        ax.quiver(np.zeros(len(f)), np.zeros(len(f)), f[:, 0], f[:, 1], color=color,
                  angles="xy", scale_units="xy", scale=1, width=0.006, alpha=0.8)
    r = 0.85 * lim / np.sqrt(2)
    for p, label, sign in zip(points, labels, signs, strict=True):
        ax.plot(*(p * r), marker="o" if sign > 0 else "X", ms=10, color="k", alpha=0.35)
        ax.annotate(label, p * r, textcoords="offset points", xytext=(5, 5))
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", title=title)
    units = "" if unit == 1 else f" (units of {fmt.sig(unit, 1)})"
    ax.set_xlabel(f"coordinate 1{units}")
    ax.set_ylabel("coordinate 2")
    ax.axhline(0, color="0.85", lw=0.8, zorder=0)
    ax.axvline(0, color="0.85", lw=0.8, zorder=0)


def _pick(res, failing: bool) -> int:
    """First replica that fails (errs on training or test) when asked, else replica 0."""
    if failing:
        bad = np.flatnonzero(res.test_error > 0)
        if bad.size:
            return int(bad[0])
    return 0


def _plane_figure(results, points, labels, signs, title):
    with style():
        fig = Figure(figsize=(MAX_WIDTH_IN, MAX_WIDTH_IN + 0.4), layout="constrained")
        axes = fig.subplots(2, 2)
        for row, (k, res, r) in enumerate(results):
            _panel(axes[row, 0], res.w0[r], res.u0[r], points, labels, signs,
                   f"k = {k}, t = 0")
            _panel(axes[row, 1], res.w[r], res.u[r], points, labels, signs,
                   f"k = {k}, t = {res.stop_step[r]} ({STATUS_NAMES[int(res.status[r])]})")
        fig.suptitle(title)
    return fig


def build_fig2(s: dict, seed: int, out_dir: Path, quiet: bool):
    x, y = xor_dataset()
    runs = s["runs"]
    results, rows, text = [], [], []
    for k, failing in ((s["k_large"], False), (s["k_small"], True)):
        res = train(x, y, gd_config(s, problem="xor", k=k), seed=substream(seed, "fig2", k))
        r = _pick(res, failing)
        results.append((k, res, r))
        errs = int((res.train_error > 0).sum())
        text.append(f"k = {k}: replica {r} shown; {fmt.sig(100 * errs / runs, 2)}% of {runs} "
                    f"replicas end erring on some XOR point; converged (loss 0 within T): "
                    f"{converged_text(int(res.converged.sum()), runs)}")
        for kind, f0, f in (("w", res.w0[r], res.w[r]), ("u", res.u0[r], res.u[r])):
            for j in range(k):
                rows.append([k, r, kind, j, *f0[j], *f[j]])
    csv = write_csv(out_dir / "fig2.csv", ["k", "replica", "filter", "j", "x_t0", "y_t0",
                                           "x_final", "y_final"], rows)
    fig = _plane_figure(results, x[:, 0], ["x1", "x2", "x3", "x4"], y,
                        "XOR: filters w (blue) and u (red) at t = 0 and at the end of GD")
    caption = (f"Figure 2. XOR (Sec. 3): filters w (blue) and u (red) at initialization and at the "
               f"end of gradient descent for k = {s['k_large']} (top) and k = {s['k_small']} "
               f"(bottom); points x1, x3 (label +1, circles) and x2, x4 (-1, crosses) are drawn in "
               f"their directions at a radius scaled to each panel. {'; '.join(text)} (the k = "
               f"{s['k_small']} panel shows the first such replica; 95% Clopper-Pearson "
               f"intervals). Settings: "
               f"{settings_text(s)}; seed {seed}.")
    return caption, save_figure(fig, out_dir, "fig2", caption=caption) + [csv]


def build_fig3(s: dict, seed: int, out_dir: Path, quiet: bool):
    d, runs = s["d"], s["runs"]
    x, y = decoy_training_set(d, s["n_per_class"], substream(seed, "fig3", 0))
    masks = reachable_masks(d)
    results, rows, text = [], [], []
    for k, failing in ((s["k_large"], False), (s["k_small"], True)):
        res = train(x, y, gd_config(s, k=k), seed=substream(seed, "fig3", k),
                    test_distribution=uniform_distribution(d))
        rec = recovers_f_star(res.outputs, masks)
        r = _pick(res, failing)
        results.append((k, res, r))
        text.append(f"k = {k}: the replica shown {'recovers' if rec[r] else 'does NOT recover'} "
                    f"f* exactly (sign N = f* on all {masks.size} pattern sets, so on every x "
                    f"in {{±1}}^{2 * d}); {fmt.sig(100 * rec.mean(), 2)}% of {runs} replicas "
                    f"recover f*; converged (loss 0 within T): "
                    f"{converged_text(int(res.converged.sum()), runs)}")
        for kind, f0, f in (("w", res.w0[r], res.w[r]), ("u", res.u0[r], res.u[r])):
            for j in range(k):
                rows.append([k, r, kind, j, *f0[j], *f[j], int(rec[r])])
    csv = write_csv(out_dir / "fig3.csv", ["k", "replica", "filter", "j", "x_t0", "y_t0",
                                           "x_final", "y_final", "recovers_f_star"], rows)
    fig = _plane_figure(results, PATTERNS.astype(float), ["p1", "p2", "p3", "p4"],
                        [1, -1, 1, -1],
                        "XORD, decoy training set: filters at t = 0 and at the end of GD")
    caption = (f"Figure 3. XORD on the decoy training set of Sec. 5 ({s['n_per_class']} diverse "
               f"positives, {s['n_per_class']} diverse negatives, d = {d}): filters w (blue) and u "
               f"(red) at initialization and at the end of GD for k = {s['k_large']} (top) and "
               f"k = {s['k_small']} (bottom); patterns p1, p3 (positive, circles) and p2, p4 "
               f"(negative, crosses) drawn in their directions. {'; '.join(text)} (95% "
               f"Clopper-Pearson intervals). Settings: "
               f"{settings_text(s)}; seed {seed}.")
    return caption, save_figure(fig, out_dir, "fig3", caption=caption) + [csv]


SET_NAMES = ["W+(1)", "W+(2)", "W+(3)", "W+(4)", "U+(1)", "U+(2)", "U+(3)", "U+(4)"]
DYNAMICS_COLUMNS = ["k", "t", "set", "mean_size", "mean_angle_deg", "runs",
                    "frac_converged_by_t"]
#: One style per pattern index i: colour, marker and line style differ, and the markers
#: of the four series are staggered, so that series lying on top of each other stay visible.
_SERIES = [("C0", "o", "-"), ("C1", "s", "--"), ("C2", "^", "-."), ("C3", "D", ":")]


def _series(ax, t, values, markevery_step: int):
    for i, (color, marker, ls) in enumerate(_SERIES):
        ax.plot(t, values[:, i], color=color, ls=ls, marker=marker, ms=4, lw=1.4,
                markevery=(i * markevery_step // 4, markevery_step), label=f"i = {i + 1}")


def build_dynamics(s: dict, seed: int, out_dir: Path, quiet: bool):
    d, runs, steps, gamma, c_eta = s["d"], s["runs"], s["steps"], s["gamma"], s["c_eta"]
    x, y = decoy_training_set(d, 6, substream(seed, "dynamics", 0))
    snaps = np.unique(np.linspace(0, steps, s["points"]).astype(int))
    every = max(1, snaps.size // 8)
    rows, conv_text = [], []
    with style():
        fig = Figure(figsize=(MAX_WIDTH_IN, 9.8), layout="constrained")
        gs = fig.add_gridspec(5, 2, height_ratios=(0.18, 1, 1, 1, 1))
        legend_ax = fig.add_subplot(gs[0, :])  # holds the legend only
        legend_ax.set_axis_off()
        axes = np.empty((4, 2), dtype=object)
        for r in range(4):
            for c in range(2):
                axes[r, c] = fig.add_subplot(gs[r + 1, c],
                                             sharex=None if r == c == 0 else axes[0, 0])
        for row, k in enumerate(tqdm((s["k_small"], s["k_large"]), desc="dynamics (k)",
                                     disable=quiet)):
            res = train(x, y, gd_config(s, k=k, steps=steps, gamma=gamma, c_eta=c_eta),
                        seed=substream(seed, "dynamics", k), snapshot_steps=snaps)
            size = np.empty((snaps.size, 8))
            angle = np.empty((snaps.size, 8))
            for si in range(snaps.size):
                for side, f in ((0, res.snapshots_w[:, si]), (1, res.snapshots_u[:, si])):
                    member = argmax_sets(f)  # (R, k, 4), Sec. 6 definition
                    ang = np.degrees(angles_to_patterns(f))  # (R, k, 4)
                    for i in range(4):
                        size[si, 4 * side + i] = member[..., i].sum(axis=1).mean()
                        n = member[..., i].sum()
                        angle[si, 4 * side + i] = (ang[..., i][member[..., i]].mean() if n
                                                   else np.nan)
            by_t = [float((res.converged & (res.converged_step <= t)).mean()) for t in snaps]
            for si, t in enumerate(snaps):
                for c, name in enumerate(SET_NAMES):
                    rows.append([k, int(t), name, size[si, c], angle[si, c], runs, by_t[si]])
            reached = [int(t) for t, f in zip(snaps, by_t, strict=True) if f >= CONVERGED_MARK]
            conv_text.append(
                f"k = {k}: {converged_text(int(res.converged.sum()), runs)} converged by "
                f"T = {steps}" + (f" (95% by step {reached[0]})" if reached else ""))
            for side, name in enumerate(("W", "U")):
                ax_size, ax_angle = axes[2 * row, side], axes[2 * row + 1, side]
                _series(ax_size, snaps, size[:, 4 * side:4 * side + 4] / k, every)
                _series(ax_angle, snaps, angle[:, 4 * side:4 * side + 4], every)
                ax_size.set(ylim=(-0.04, 1.04), title=f"k = {k}: |{name}_t+(i)| / k")
                ax_angle.set(ylim=(-3, 93), yticks=[0, 30, 60, 90],
                             title=f"k = {k}: angle of {name}_t+(i) to p_i")
                if side == 0:
                    ax_size.set_ylabel("mean |set| / k")
                    ax_angle.set_ylabel("mean angle (deg)")
        for ax in axes[-1]:
            ax.set_xlabel("step t")
        for ax in axes[:-1].ravel():
            ax.tick_params(labelbottom=False)
        fig.suptitle("Exploration and clustering over training (decoy set)")
        legend_ax.legend(*axes[0, 0].get_legend_handles_labels(), loc="center", ncol=4,
                         frameon=False, title="pattern index i (set W_t+(i) or U_t+(i))")
    csv = write_csv(out_dir / "dynamics.csv", DYNAMICS_COLUMNS, rows)
    caption = (f"Exploration and clustering over training on the decoy set (d = {d}, 6 + 6 "
               f"diverse points): left, the argmax sets W_t+(i) of the w filters; right, "
               f"U_t+(i) of the u filters (Sec. 6), for pattern i = 1..4 (one colour, marker "
               f"and line style each; markers staggered so that coinciding series stay "
               f"visible): their size as a fraction of k, and the mean angle between the "
               f"filters of each set and p_i (no point while a set is empty), averaged over "
               f"{runs} replicas at {snaps.size} steps from 0 to {steps} (a replica stopped at "
               f"zero loss keeps its weights). Runs converged (loss 0; 95% Clopper-Pearson): "
               f"{'; '.join(conv_text)}; the CSV gives the fraction converged by each t. "
               f"Settings: {settings_text(s)}; seed {seed}.")
    return caption, save_figure(fig, out_dir, "dynamics", caption=caption) + [csv]
