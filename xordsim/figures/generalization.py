"""Figure 1 (test error against the number of channels k) and the margin comparison.

Both are sweeps (:mod:`xordsim.figures.sweeps`): :func:`fig1_sweep` and
:func:`margin_sweep` turn the settings validated by :mod:`xordsim.figures.registry` into
a sweep spec (a fresh training set and initialization per run, every width k a point),
:func:`xordsim.figures.draw` computes it into the store ``OUT/sweeps/NAME``, and the
builders plot the loaded table. Every mean test error is a
:func:`~xordsim.stats.bounded_mean_ci` (95% BCa bootstrap, seeded from the figure's seed:
the sweep's summary for all runs, :func:`~xordsim.figures.common.ci_seed` for the runs with
zero training error), every fraction of runs a Clopper–Pearson interval; the test error is
drawn on a log axis with zeros on a floor line
(:func:`xordsim.figures.common.plot_bounded_means`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from xordsim import fmt
from xordsim.figures.common import (
    BLUE,
    CONVERGED_MARK,
    MAX_WIDTH_IN,
    MEAN_CI_TEXT,
    RED,
    ci_seed,
    draw_floor,
    floor_text,
    fraction,
    legend_above,
    log_floor,
    mean_error,
    plot_bounded_means,
    settings_text,
    style,
    touches_zero,
)
from xordsim.figures.sweeps import (
    SWEEPS,
    check_task_memory,
    pattern_distribution,
    points,
    sweep_seed,
)
from xordsim.io import save_figure, write_csv
from xordsim.sweep.spec import CHUNK

FIG1_COLUMNS = [
    "k", "runs", "test_error_mean", "test_error_ci95_low", "test_error_ci95_high",
    "zero_train_runs", "test_error_zero_train_mean", "test_error_zero_train_ci95_low",
    "test_error_zero_train_ci95_high", "frac_zero_train", "frac_zero_train_ci95_low",
    "frac_zero_train_ci95_high", "converged_runs", "frac_converged",
    "frac_converged_ci95_low", "frac_converged_ci95_high",
]
#: The columns of every figure CSV that are a mean error and its interval:
#: (mean, low, high). ``tests/test_figures.py`` checks low <= mean <= high in [0, 1].
MEAN_ERROR_COLUMNS = [
    ("test_error_mean", "test_error_ci95_low", "test_error_ci95_high"),
    ("test_error_zero_train_mean", "test_error_zero_train_ci95_low",
     "test_error_zero_train_ci95_high"),
]


def _fixed(s: dict) -> dict:
    """The sweep's ``[fixed]`` parameters of a Figure-1-style figure."""
    return {"d": s["d"], "m": s["m"], "steps": s["steps"], "gamma": s["gamma"],
            "c_eta": s["c_eta"], "distribution": pattern_distribution(s["q"])}


def fig1_sweep(s: dict, seed: int) -> dict:
    """The sweep of Figure 1: ``runs`` runs at every k of ``ks``, each with a fresh
    training set of m positives and m negatives (positions i.i.d. with pattern
    probabilities q) and a fresh initialization."""
    check_task_memory("runs", max(s["ks"]), s["runs"], CHUNK.default)
    return {"problem": "xord", "data": "fresh", "replicas": s["runs"],
            "seed": sweep_seed(seed, "fig1"), "chunk": CHUNK.default,
            "fixed": _fixed(s), "grid": {"k": list(s["ks"])}}


def point_row(k: int, runs, summary, seed: int) -> list:
    """One CSV row of Figure 1 from the point's runs (rows of the sweep table) and its
    summary row; ``seed`` seeds the interval of the runs with zero training error."""
    test = runs["test_error"].to_numpy()
    zero = runs["train_error"].to_numpy() == 0
    tz = mean_error(test[zero], seed)
    fz = fraction(int(zero.sum()), zero.size)
    conv = int(summary["converged"])
    return [int(k), int(zero.size), *_summary_mean(summary), int(zero.sum()), *tz, *fz, conv,
            *_summary_fraction(summary)]


def _summary_mean(row) -> list[float]:
    """The mean test error of a point and its interval, from the sweep's summary."""
    return [float(row[f"test_error_{c}"]) for c in ("mean", "ci95_low", "ci95_high")]


def _summary_fraction(row) -> list[float]:
    """The fraction converged of a point and its Clopper-Pearson interval."""
    return [float(row[c]) for c in ("frac_converged", "frac_converged_ci95_low",
                                    "frac_converged_ci95_high")]


def _load(store: Path):
    """The sweep table of the store (one row per run) and its summary (one per point)."""
    from xordsim.sweep import load

    return load(store), load(store, summary=True)


def _mean_text(mean, low, high) -> str:
    return f"{fmt.sig(mean, 2)} {fmt.interval(low, high, 2)}"


def rise_text(ks, mean, low, high, what: str = "test error") -> str:
    """A sentence on the largest rise of ``mean`` with k (the naive expectation is a fall
    with k): the pair k_i < k_j with the largest ratio mean_j / mean_i > 1, with the 95%
    intervals and whether they overlap; '' when the mean never rises."""
    mean = np.asarray(mean, dtype=float)
    best, pair = 1.0, None
    for i in range(len(ks)):
        for j in range(i + 1, len(ks)):
            if not (np.isfinite(mean[i]) and np.isfinite(mean[j])) or mean[j] <= mean[i]:
                continue
            ratio = mean[j] / mean[i] if mean[i] > 0 else np.inf
            if ratio > best:
                best, pair = ratio, (i, j)
    if pair is None:
        return ""
    i, j = pair
    overlap = low[j] <= high[i]
    return (f"The {what} is not monotone in k: it rises from k = {ks[i]} "
            f"({_mean_text(mean[i], low[i], high[i])}) to k = {ks[j]} "
            f"({_mean_text(mean[j], low[j], high[j])}); the 95% intervals "
            + ("overlap, so the rise is within the sampling noise of these runs."
               if overlap else "do not overlap."))


def converged_note(label: str, xs, conv, n, unit: str = "k") -> str:
    """Which points have fewer than 95% of their runs converged (zero loss within T)."""
    low = [(x, c, r) for x, c, r in zip(xs, conv, n, strict=True) if r and c / r < CONVERGED_MARK]
    if not low:
        return f"{label}every run converged (loss 0 within T) at every {unit}. " if all(
            c == r for c, r in zip(conv, n, strict=True)) else (
            f"{label}at least 95% of the runs converged (loss 0 within T) at every {unit}. ")
    parts = ", ".join(f"{unit} = {x}: {fmt.sig(100 * c / r, 3)}%" for x, c, r in low)
    return f"{label}fewer than 95% of the runs converged (loss 0 within T) at {parts}. "


def build_fig1(s: dict, seed: int, out_dir: Path, quiet: bool, store: Path):
    """Figure 1 from its sweep store (:func:`fig1_sweep`), computed by ``draw``."""
    table, summary = _load(store)
    runs, summ = points(table, "k"), points(summary, "k")
    rows = [point_row(k, runs[k], summ[k].iloc[0], ci_seed(seed, "fig1", k))
            for k in s["ks"]]
    csv = write_csv(out_dir / "fig1.csv", FIG1_COLUMNS, rows)
    a = np.array(rows, dtype=float)
    ks = [int(k) for k in a[:, 0]]
    floor = log_floor(a[:, 2:5], a[:, 6:9])
    with style():
        fig = Figure(figsize=(MAX_WIDTH_IN, 6.0), layout="constrained")
        ax, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=(2.2, 1))
        plot_bounded_means(ax, a[:, 0], a[:, 2], a[:, 3], a[:, 4], floor, color=RED,
                           label="mean test error, all runs")
        plot_bounded_means(ax, a[:, 0] * 1.04, a[:, 6], a[:, 7], a[:, 8], floor, color=BLUE,
                           marker="s", label="mean test error, runs with zero training error")
        zeros = touches_zero(a[:, [2, 6]], a[:, [3, 7]])
        if zeros:
            draw_floor(ax, floor)
            ax.set_ylim(bottom=floor / 2)
        ax.set(xscale="log", yscale="log", ylabel="test error (exact)")
        fig.suptitle("XORD: test error against the number of channels k")
        for col, lo, hi, color, marker, label in (
                (9, 10, 11, "k", "o", "fraction with zero training error"),
                (13, 14, 15, "tab:green", "^", "fraction converged (loss 0 within T)")):
            ax2.errorbar(a[:, 0] * (1.03 if col == 13 else 1), a[:, col],
                         yerr=[a[:, col] - a[:, lo], a[:, hi] - a[:, col]],
                         fmt=f"{marker}-", color=color, capsize=3, ms=4, label=label)
        ax2.axhline(CONVERGED_MARK, color="0.6", lw=0.8, ls="--", label="95%")
        ax2.set(xscale="log", ylim=(-0.03, 1.05), xlabel="channels k",
                ylabel="fraction of runs")
        ax2.set_xticks(ks, [str(k) for k in ks])
        ax2.minorticks_off()
        legend_above(ax, ncol=2)
    nz = [int(r) for r in a[:, 5]]
    rise = rise_text(ks, a[:, 2], a[:, 3], a[:, 4])
    zero_pts = [k for k, m in zip(ks, a[:, 2], strict=True) if m == 0]
    caption = (
        f"Figure 1. XORD test error (exact over the distribution) against the number of "
        f"channels k: mean over {s['runs']} runs per k, each with a fresh training set of m "
        f"positives and m negatives and a fresh Gaussian initialization (a sweep, store "
        f"{SWEEPS}/fig1), with its {MEAN_CI_TEXT}, seeded from the figure's seed; blue (drawn "
        f"slightly right of its k): only the runs with zero training error ({min(nz)} to "
        f"{max(nz)} per k). "
        + (floor_text(floor) if zeros else "")
        + (f"Every run has test error 0 at k = {', '.join(map(str, zero_pts))}. "
           if zero_pts else "")
        + "Bottom: fractions of runs with zero training error and converged, 95% "
        "Clopper-Pearson. "
        + converged_note("Convergence: ", ks, a[:, 12].astype(int), a[:, 1].astype(int))
        + (rise + " " if rise else "")
        + f"Positions i.i.d. with pattern probabilities q, D+ and D- conditioned on the label, "
        f"prior 1/2. Settings: {settings_text(s)}; lr = c_eta/k, init std = c_eta/(16 k^1.5); "
        f"seed {seed}.")
    return caption, save_figure(fig, out_dir, "fig1", caption=caption) + [csv]


MARGIN_COLUMNS = ["gamma", "k", "runs", "test_error_mean", "test_error_ci95_low",
                  "test_error_ci95_high", "frac_zero_train", "converged_runs", "frac_converged",
                  "frac_converged_ci95_low", "frac_converged_ci95_high"]
MARGIN_COLORS = ["tab:orange", "tab:purple", "tab:green", "tab:gray"]


def _compare_text(a: np.ndarray, gammas, ks) -> str:
    """For each gamma > the smallest, the widths where its interval lies below / above the
    smallest gamma's, and where they overlap."""
    g0 = gammas[0]
    by = {(r[0], int(r[1])): r for r in a}
    parts = []
    for g in gammas[1:]:
        below, above, overlap = [], [], []
        for k in ks:
            r0, r1 = by.get((g0, k)), by.get((g, k))
            if r0 is None or r1 is None:
                continue
            (below if r1[5] < r0[4] else above if r1[4] > r0[5] else overlap).append(str(k))
        parts.append(f"gamma = {g:g} against gamma = {g0:g}: interval below at k = "
                     f"{', '.join(below) or 'none'}; above at k = {', '.join(above) or 'none'}; "
                     f"overlapping at k = {', '.join(overlap) or 'none'}")
    return "; ".join(parts) + "." if parts else ""


def margin_sweep(s: dict, seed: int) -> dict:
    """The sweep of the margin figure: Figure 1's runs at every (gamma, k) of ``gammas``
    x ``ks``."""
    check_task_memory("runs", max(s["ks"]), s["runs"], CHUNK.default)
    fixed = {key: v for key, v in _fixed(s).items() if key != "gamma"}
    return {"problem": "xord", "data": "fresh", "replicas": s["runs"],
            "seed": sweep_seed(seed, "margin"), "chunk": CHUNK.default, "fixed": fixed,
            "grid": {"gamma": list(s["gammas"]), "k": list(s["ks"])}}


def build_margin(s: dict, seed: int, out_dir: Path, quiet: bool, store: Path):
    """The margin figure from its sweep store (:func:`margin_sweep`)."""
    ks, gammas = s["ks"], s["gammas"]
    table, summary = _load(store)
    runs, summ = points(table, ("gamma", "k")), points(summary, ("gamma", "k"))
    rows = []
    for gamma in gammas:
        for k in ks:
            g, r = runs[(gamma, k)], summ[(gamma, k)].iloc[0]
            conv = int(r["converged"])
            rows.append([gamma, k, len(g), *_summary_mean(r),
                         float((g["train_error"].to_numpy() == 0).mean()), conv,
                         *_summary_fraction(r)])
    csv = write_csv(out_dir / "margin.csv", MARGIN_COLUMNS, rows)
    a = np.array(rows, dtype=float)
    floor = log_floor(a[:, 3:6])
    with style():
        fig = Figure(figsize=(MAX_WIDTH_IN, 5.6), layout="constrained")
        ax, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=(2.2, 1))
        for gi, (gamma, color) in enumerate(zip(gammas, MARGIN_COLORS * len(gammas),
                                                strict=False)):
            sel = a[:, 0] == gamma
            shift = 1.04 ** gi  # side by side, so that no bar hides another
            plot_bounded_means(ax, a[sel, 1] * shift, a[sel, 3], a[sel, 4], a[sel, 5], floor,
                               color=color, marker="os^D"[gi % 4],
                               label=f"gamma = {gamma:g}: mean test error")
            ax2.errorbar(a[sel, 1] * shift, a[sel, 8],
                         yerr=[a[sel, 8] - a[sel, 9], a[sel, 10] - a[sel, 8]],
                         fmt="os^D"[gi % 4] + "-", color=color, capsize=3, ms=4,
                         label=f"gamma = {gamma:g}: fraction converged")
        zeros = touches_zero(a[:, 3], a[:, 4])
        if zeros:
            draw_floor(ax, floor)
            ax.set_ylim(bottom=floor / 2)
        ax.set(xscale="log", yscale="log", ylabel="test error (exact)")
        fig.suptitle("XORD: margin gamma of the positives' hinge")
        ax2.axhline(CONVERGED_MARK, color="0.6", lw=0.8, ls="--", label="95%")
        ax2.set(xscale="log", ylim=(-0.03, 1.05), xlabel="channels k",
                ylabel="fraction converged\n(loss 0 within T)")
        ax2.set_xticks(list(ks), [str(k) for k in ks])
        ax2.minorticks_off()
        legend_above(ax, ncol=2)
    conv_notes = "".join(
        converged_note(f"gamma = {g:g}: ", [int(k) for k in a[a[:, 0] == g, 1]],
                       a[a[:, 0] == g, 7].astype(int), a[a[:, 0] == g, 2].astype(int))
        for g in gammas)
    rises = " ".join(filter(None, (
        rise_text([int(k) for k in a[a[:, 0] == g, 1]], a[a[:, 0] == g, 3], a[a[:, 0] == g, 4],
                  a[a[:, 0] == g, 5], what=f"gamma = {g:g} test error") for g in gammas)))
    caption = (
        f"Margin. XORD test error against k for each margin gamma of Eq. 4 (footnote 5 of the "
        f"paper claims gamma > 1 tests better than gamma = 1): mean over {s['runs']} runs per "
        f"point, fresh data and initialization per run (a sweep, store {SWEEPS}/margin), with "
        f"its {MEAN_CI_TEXT}, seeded from the figure's seed; points of different gamma are "
        f"drawn side by side at the same k. "
        + (floor_text(floor) if zeros else "")
        + f"{_compare_text(a, gammas, [int(k) for k in ks])} "
        + (rises + " " if rises else "")
        + f"Bottom: fraction of runs converged, 95% Clopper-Pearson. {conv_notes}"
        f"Settings: {settings_text(s)}; seed {seed}.")
    return caption, save_figure(fig, out_dir, "margin", caption=caption) + [csv]
