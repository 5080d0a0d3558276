"""Figures 4a and 4b: PNG + SVG and the CSVs of the numbers behind each.

The builders :func:`build_fig4a` and :func:`build_fig4b` are registered in
:mod:`xordsim.figures.registry` (settings, ``quick`` / ``tiny`` modes, the ``mnist``
extra) and called by :func:`xordsim.figures.draw`, which writes ``NAME.json``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from xordsim import fmt
from xordsim.figures.common import MAX_WIDTH_IN, legend_above, settings_text, style
from xordsim.io import save_figure, write_csv
from xordsim.mnist import experiments as ex
from xordsim.mnist.config import FIG4B_LR, TrainConfig
from xordsim.stats import mean_ci

COLORS = {"small": "tab:red", "compressed": "tab:blue", "large": "tab:green"}
MARKERS = {"small": "o", "compressed": "s", "large": "^"}
#: The learning rate of the MNIST commands and Fig. 4a (Fig. 4b: :data:`FIG4B_LR`).
BASE_LR = TrainConfig().lr
FIG4B_SUMMARY_COLUMNS = ["train_size", "network", "seeds", "test_error_mean",
                         "test_error_ci95_low", "test_error_ci95_high", "interval",
                         "test_error_sd", "final_train_loss_mean"]


def _summary_value(v):
    """A setting as one CSV cell: lists joined with '|', an unset path as ''."""
    if isinstance(v, (tuple, list)):
        return "|".join(map(str, v))
    return "" if v is None else v


def _train_text(s: dict) -> str:
    """The training settings as given (``%g``: settings, not measured numbers)."""
    def g(v):
        return f"{v:g}"

    opt = (f"Adam(lr = {g(s['lr'])}, beta1 = {g(s['beta1'])}, beta2 = {g(s['beta2'])}, "
           f"eps = {g(s['eps'])})" if s["optimizer"] == "adam" else f"SGD(lr = {g(s['lr'])})")
    steps = f", at least {s['min_steps']} steps" if s["min_steps"] else ""
    return (f"{s['filter_size']}x{s['filter_size']} conv, 2x2 max-pool, FC; {opt}, batch "
            f"{s['batch_size']}, {s['epochs']} epochs{steps}; conv init scale "
            f"{g(s['init_scale'])}")


def _pct(x) -> str:
    return f"{fmt.sig(100 * x, 3)}%"


def draw_fig4a(res: dict, out_dir: Path) -> tuple[str, list[Path]]:
    """Draw the histograms of angles to the closest centre; write PNG, SVG and two CSVs.

    Returns the caption and the paths written.
    """
    s = res["settings"]
    out_dir = Path(out_dir)
    tr, rd = res["angles_trained"], res["angles_random"]
    with style():
        fig = Figure(figsize=(MAX_WIDTH_IN, 4.6), layout="constrained")
        ax = fig.add_subplot()
        hi = max(90.0, float(np.ceil(max(tr.max(), rd.max()) / 10) * 10))
        bins = np.linspace(0.0, hi, s["bins"] + 1)
        ax.hist(tr, bins=bins, alpha=0.6, color="tab:blue",
                label=f"trained (median {fmt.sig(res['median_trained'], 3)}°)")
        ax.hist(rd, bins=bins, alpha=0.6, color="tab:orange",
                label=f"random init (median {fmt.sig(res['median_random'], 3)}°)")
        ax.axvline(res["median_trained"], color="tab:blue", ls="--", lw=1)
        ax.axvline(res["median_random"], color="tab:orange", ls="--", lw=1)
        ax.set_xlabel("angle to closest k-means centre (degrees)")
        ax.set_ylabel("number of filters")
        fig.suptitle(f"Fig. 4a: clustering of {s['channels']} filters ({s['dataset']})")
        legend_above(ax, ncol=2)
    lr_note = (f" (Fig. 4b uses lr = {FIG4B_LR:g}, see its caption)"
               if s["lr"] != FIG4B_LR else "")
    caption = (
        f"Figure 4a. Angle of every filter to the closest of {s['clusters']} k-means centres "
        f"of the unit-norm filters, for {s['channels']} channels trained ({_train_text(s)}"
        f"{lr_note}) and the same network's filters at initialization (dashed: medians). "
        f"{res['n_train']} train / {res['n_test']} test images, seed {res['seed']}; test "
        f"error {_pct(res['test_error'])} on the {res['n_test']} test images; one run, fixed "
        f"number of epochs (no convergence criterion), final training loss "
        f"{fmt.sig(res['final_train_loss'], 3)}. Medians {fmt.sig(res['median_trained'], 3)}° "
        f"(trained) vs {fmt.sig(res['median_random'], 3)}° (random); two-sided Mann-Whitney U "
        f"p = {fmt.sig(res['mannwhitney_p'], 2)}, Kolmogorov-Smirnov p = "
        f"{fmt.sig(res['ks_p'], 2)}. Settings: {settings_text(s)}."
    )
    paths = save_figure(fig, out_dir, "fig4a", caption=caption)
    rows = [["trained", i, a] for i, a in enumerate(tr)]
    rows += [["random", i, a] for i, a in enumerate(rd)]
    paths.append(write_csv(out_dir / "fig4a.csv", ["network", "filter", "angle_deg"], rows))
    summary = [
        ["median_trained_deg", res["median_trained"]], ["median_random_deg", res["median_random"]],
        ["mannwhitney_u", res["mannwhitney_u"]], ["mannwhitney_p", res["mannwhitney_p"]],
        ["ks_stat", res["ks_stat"]], ["ks_p", res["ks_p"]], ["test_error", res["test_error"]],
        ["final_train_loss", res["final_train_loss"]], ["epochs_run", res["epochs_run"]],
        ["n_train", res["n_train"]], ["n_test", res["n_test"]], ["seed", res["seed"]],
    ] + [[k, _summary_value(v)] for k, v in s.items()]
    # the run time is in the sidecar (fig4a.json): the same seed gives the same CSVs
    paths.append(write_csv(out_dir / "fig4a_summary.csv", ["quantity", "value"], summary))
    return caption, paths


def seed_interval(values) -> tuple[float, float, float]:
    """(mean, low, high): the 95% Student-t interval of the mean over seeds, clipped to
    [0, 1] (test errors); with one seed, the value itself."""
    mean, lo, hi = mean_ci(values)
    return mean, max(0.0, lo), min(1.0, hi)


def _gap_text(sizes, stats: dict, s: dict) -> str:
    """Where the compressed net beats the small one and how far it stays from the large
    one, with the intervals (the paper: the compressed net 'nearly matches' the large)."""
    def iv(key, i):
        m, lo, hi = stats[key][i]
        return f"{_pct(m)} [{_pct(lo)}, {_pct(hi)}]"

    better = [str(n) for i, n in enumerate(sizes)
              if stats["compressed"][i][2] < stats["small"][i][1]]
    lower = [str(n) for i, n in enumerate(sizes)
             if stats["compressed"][i][0] < stats["small"][i][0]]
    i = len(sizes) - 1
    gap = stats["compressed"][i][0] - stats["large"][i][0]
    overlap = stats["compressed"][i][1] <= stats["large"][i][2]
    return (f"The compressed net has a lower mean error than the plainly trained "
            f"{s['small_channels']}-channel net at {len(lower)} of {len(sizes)} sizes, with "
            f"disjoint intervals at {', '.join(better) or 'none'}. At {sizes[i]} images: "
            f"{s['large_channels']} channels {iv('large', i)}, compressed {iv('compressed', i)}, "
            f"{s['small_channels']} channels {iv('small', i)}; the compressed net is "
            f"{fmt.sig(100 * abs(gap), 2)} points {'above' if gap > 0 else 'below'} the large "
            f"one (intervals "
            f"{'overlap' if overlap else 'disjoint'}; the paper reports that it 'nearly "
            f"matches').")


def draw_fig4b(res: dict, out_dir: Path) -> tuple[str, list[Path]]:
    """Draw test error against training-set size; write PNG, SVG and two CSVs.

    Returns the caption and the paths written.
    """
    s = res["settings"]
    out_dir = Path(out_dir)
    sizes = [int(n) for n in res["train_sizes"]]
    seeds = res["seeds_used"]
    keys = ("small", "compressed", "large")
    stats = {key: [seed_interval(res["errors"][key][i]) for i in range(len(sizes))]
             for key in keys}
    labels = {
        "small": f"{s['small_channels']} channels, standard training",
        "compressed": f"{s['small_channels']} channels, filters = k-means centres of the "
                      f"{s['large_channels']}-channel net",
        "large": f"{s['large_channels']} channels, standard training",
    }
    with style():
        fig = Figure(figsize=(MAX_WIDTH_IN, 4.8), layout="constrained")
        ax = fig.add_subplot()
        for j, key in enumerate(keys):
            a = 100 * np.array(stats[key])
            x = np.array(sizes, dtype=float) * 1.03 ** (j - 1)  # side by side
            ax.errorbar(x, a[:, 0], yerr=[a[:, 0] - a[:, 1], a[:, 2] - a[:, 0]],
                        color=COLORS[key], marker=MARKERS[key], capsize=3, label=labels[key])
        ax.set_xscale("log")
        ax.set_xticks(sizes, [str(n) for n in sizes])
        ax.minorticks_off()
        ax.set_xlabel("training-set size")
        ax.set_ylabel("test error (%)")
        fig.suptitle(f"Fig. 4b: exploration / compression ({s['dataset']})")
        legend_above(ax, ncol=1)
    n = len(seeds)
    interval = ("95% Student-t interval over the seeds, clipped to [0, 1]" if n > 1 else
                "one seed, no interval")
    losses = np.concatenate([np.ravel(res["final_loss"][k]) for k in keys]) if (
        "final_loss" in res) else np.array([np.nan])
    lr_note = ""
    if s["lr"] != BASE_LR:
        lr_note = (f" The learning rate is {s['lr']:g}, not the {BASE_LR:g} of "
                   f"Fig. 4a" + (": with the latter the 4-channel networks are far from "
                   "converged after 30 epochs (docs/mnist.md, Sensitivity)."
                                 if s["lr"] == FIG4B_LR else "."))
    factor_note = ""
    if s["small_epochs_factor"] != 1:
        factor_note = (f" The {s['small_channels']}-channel nets train "
                       f"{s['small_epochs_factor']}x the epochs and minimum steps of the "
                       f"{s['large_channels']}-channel one: they converge more slowly and "
                       f"cost about 15x less per step (docs/mnist.md).")
    caption = (
        f"Figure 4b. Test error on {res['n_test']} test images against the training-set size "
        f"(stratified subsets of a {s['n_train']}-image pool): mean over n = {n} seeds "
        f"({', '.join(map(str, seeds))}; each fixes the subset, the initializations and the "
        f"batch order) with its {interval}; the three networks are drawn side by side at each "
        f"size. {_gap_text(sizes, stats, s)} Compressed net: {s['small_channels']} k-means "
        f"centres ({s['center_norm']}) of the trained {s['large_channels']}-channel filters, "
        f"frozen; only the conv bias and the FC layer are trained. Training: {_train_text(s)}."
        f"{lr_note}{factor_note} Fixed epochs, no convergence criterion: final training loss "
        f"{fmt.sig(np.nanmin(losses), 2)} to {fmt.sig(np.nanmax(losses), 2)} over all runs "
        f"(CSV). Settings: {settings_text(s)}."
    )
    paths = save_figure(fig, out_dir, "fig4b", caption=caption)
    rows = []
    for key in keys:
        for i, size in enumerate(sizes):
            for r, sd in enumerate(seeds):
                rows.append([size, key, sd, res["errors"][key][i, r]])
    paths.append(write_csv(out_dir / "fig4b.csv", ["train_size", "network", "seed", "test_error"],
                           rows))
    kind = "student-t over seeds" if n > 1 else "none (one seed)"
    summ = [[size, key, n, *stats[key][i], kind, res["std"][key][i],
             float(np.mean(res["final_loss"][key][i])) if "final_loss" in res else np.nan]
            for key in keys for i, size in enumerate(sizes)]
    paths.append(write_csv(out_dir / "fig4b_summary.csv", FIG4B_SUMMARY_COLUMNS, summ))
    return caption, paths


def build_fig4a(settings: dict, seed: int, out_dir: Path, quiet: bool):
    """Figure ``fig4a``: run the clustering experiment and draw it -> (caption, paths)."""
    return draw_fig4a(ex.fig4a(settings, seed, quiet), Path(out_dir))


def build_fig4b(settings: dict, seed: int, out_dir: Path, quiet: bool):
    """Figure ``fig4b``: run the exploration experiment and draw it -> (caption, paths)."""
    return draw_fig4b(ex.fig4b(settings, seed, quiet), Path(out_dir))
