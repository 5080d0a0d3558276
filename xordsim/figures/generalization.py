"""Figure 1 (test error against the number of channels k) and the margin comparison.

The builders take the settings validated by :mod:`xordsim.figures.registry`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from xordsim.data import PatternDistribution
from xordsim.engine import train
from xordsim.figures.common import BLUE, RED, settings_text
from xordsim.io import save_figure, write_csv
from xordsim.seeds import substream
from xordsim.stats import mean_ci, proportion_ci

FIG1_COLUMNS = [
    "k", "runs", "test_error_mean", "test_error_ci_low", "test_error_ci_high",
    "zero_train_runs", "test_error_zero_train_mean", "test_error_zero_train_ci_low",
    "test_error_zero_train_ci_high", "frac_zero_train", "frac_zero_train_ci_low",
    "frac_zero_train_ci_high",
]


def _distribution(s: dict) -> PatternDistribution:
    return PatternDistribution(d=s["d"], q=tuple(s["q"]))


def xord_point(k: int, s: dict, rng: np.random.Generator, gamma: float | None = None):
    """One point of Figure 1: ``runs`` fresh training sets and initializations at width k.

    ``s`` holds the validated settings (:meth:`FigureSpec.resolve`). The training sets are
    drawn from ``rng`` first, then the initialization.
    """
    dist = _distribution(s)
    x, y = dist.sample_training_sets(s["m"], s["runs"], rng)
    return train(x, y, k, steps=s["steps"], gamma=s["gamma"] if gamma is None else gamma,
                 c_eta=s["c_eta"], seed=rng, test_distribution=dist)


def point_row(k: int, res) -> list:
    te = mean_ci(res.test_error)
    zero = res.train_error == 0
    tz = mean_ci(res.test_error[zero])
    fz = proportion_ci(int(zero.sum()), zero.size)
    return [k, zero.size, *te, int(zero.sum()), *tz, zero.mean(), *fz]


def build_fig1(s: dict, seed: int, out_dir: Path, quiet: bool):
    rows = []
    for k in tqdm(s["ks"], desc="fig1 (k)", disable=quiet):
        rows.append(point_row(k, xord_point(k, s, substream(seed, "fig1", k))))
    csv = write_csv(out_dir / "fig1.csv", FIG1_COLUMNS, rows)
    a = np.array(rows, dtype=float)
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    ax, ax2 = fig.subplots(1, 2)
    ax.plot(a[:, 0], a[:, 2], "o-", color=RED, label="all runs")
    ax.fill_between(a[:, 0], np.maximum(a[:, 3], 0), a[:, 4], color=RED, alpha=0.2)
    ax.plot(a[:, 0], a[:, 6], "s-", color=BLUE, label="runs with zero training error")
    ax.fill_between(a[:, 0], np.maximum(a[:, 7], 0), a[:, 8], color=BLUE, alpha=0.2)
    ax.set(xscale="log", xlabel="channels k", ylabel="test error (exact, symlog scale)",
           title="XORD: test error against k")
    ax.set_yscale("symlog", linthresh=1e-5)
    ax.set_ylim(bottom=0)
    ax.legend()
    ax2.plot(a[:, 0], a[:, 9], "o-", color="k")
    ax2.fill_between(a[:, 0], a[:, 10], a[:, 11], color="k", alpha=0.15)
    ax2.set(xscale="log", ylim=(0, 1.05), xlabel="channels k",
            ylabel="fraction of runs", title="runs reaching zero training error")
    caption = (f"Figure 1. XORD test error (exact over the distribution) against the number of "
               f"channels k: mean and 95% Student-t band over {s['runs']} runs per k, each with a "
               f"fresh training set of m positives and m negatives and a fresh Gaussian "
               f"initialization; blue: only runs with zero training error; right: their fraction "
               f"(95% Clopper-Pearson). Positions i.i.d. with pattern probabilities q, D+ and D- "
               f"conditioned on the label, prior 1/2. Settings: {settings_text(s)}; "
               f"lr = c_eta/k, init std = c_eta/(16 k^1.5); seed {seed}.")
    return caption, save_figure(fig, out_dir, "fig1", caption=caption) + [csv]


MARGIN_COLUMNS = ["gamma", "k", "runs", "test_error_mean", "test_error_ci_low",
                  "test_error_ci_high", "frac_zero_train"]


def build_margin(s: dict, seed: int, out_dir: Path, quiet: bool):
    ks, gammas = s["ks"], s["gammas"]
    rows = []
    for gi, gamma in enumerate(gammas):
        for k in tqdm(ks, desc=f"margin (gamma={gamma:g})", disable=quiet):
            res = xord_point(k, s, substream(seed, "margin", gi, k), gamma=gamma)
            te = mean_ci(res.test_error)
            rows.append([gamma, k, res.test_error.size, *te, (res.train_error == 0).mean()])
    csv = write_csv(out_dir / "margin.csv", MARGIN_COLUMNS, rows)
    a = np.array(rows, dtype=float)
    fig = Figure(figsize=(6.5, 4.4), layout="constrained")
    ax = fig.add_subplot()
    for gamma, color in zip(gammas, ["tab:orange", "tab:purple", "tab:green", "tab:gray"],
                            strict=False):
        sel = a[:, 0] == gamma
        ax.plot(a[sel, 1], a[sel, 3], "o-", color=color, label=f"gamma = {gamma:g}")
        ax.fill_between(a[sel, 1], np.maximum(a[sel, 4], 0), a[sel, 5], color=color, alpha=0.2)
    ax.set_yscale("symlog", linthresh=1e-5)
    ax.set(xscale="log", xlabel="channels k", ylabel="test error (exact, symlog scale)",
           title="XORD: margin gamma of the positives' hinge")
    ax.legend()
    caption = (f"Margin. XORD test error against k for each margin gamma of Eq. 4 (footnote 5 "
               f"of the paper claims gamma > 1 tests better than gamma = 1): mean and 95% band "
               f"over {s['runs']} runs per point, fresh data and initialization per run. "
               f"Settings: {settings_text(s)}; seed {seed}.")
    return caption, save_figure(fig, out_dir, "margin", caption=caption) + [csv]
