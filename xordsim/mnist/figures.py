"""Figures 4a and 4b: PNG + SVG and the CSVs of the numbers behind each.

The builders :func:`build_fig4a` and :func:`build_fig4b` are registered in
:mod:`xordsim.figures.registry` (settings, ``quick`` / ``tiny`` modes, the ``mnist``
extra) and called by :func:`xordsim.figures.draw`, which writes ``NAME.json``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from xordsim.io import save_figure, write_csv
from xordsim.mnist import experiments as ex

COLORS = {"small": "tab:red", "compressed": "tab:blue", "large": "tab:green"}


def _summary_value(v):
    """A setting as one CSV cell: lists joined with '|', an unset path as ''."""
    if isinstance(v, (tuple, list)):
        return "|".join(map(str, v))
    return "" if v is None else v


def _train_text(s: dict) -> str:
    opt = (f"Adam(lr={s['lr']:g}, beta1={s['beta1']:g}, beta2={s['beta2']:g}, eps={s['eps']:g})"
           if s["optimizer"] == "adam" else f"SGD(lr={s['lr']:g})")
    steps = f", at least {s['min_steps']} steps" if s["min_steps"] else ""
    return (f"{s['filter_size']}x{s['filter_size']} conv, 2x2 max-pool, FC; {opt}, batch "
            f"{s['batch_size']}, {s['epochs']} epochs{steps}; conv init scale {s['init_scale']:g}")


def draw_fig4a(res: dict, out_dir: Path) -> tuple[str, list[Path]]:
    """Draw the histograms of angles to the closest centre; write PNG, SVG and two CSVs.

    Returns the caption and the paths written.
    """
    s = res["settings"]
    out_dir = Path(out_dir)
    tr, rd = res["angles_trained"], res["angles_random"]
    fig = Figure(figsize=(7.0, 5.4), layout="constrained")
    ax = fig.add_subplot()
    hi = max(90.0, float(np.ceil(max(tr.max(), rd.max()) / 10) * 10))
    bins = np.linspace(0.0, hi, s["bins"] + 1)
    ax.hist(tr, bins=bins, alpha=0.6, color="tab:blue",
            label=f"trained (median {res['median_trained']:.1f}°)")
    ax.hist(rd, bins=bins, alpha=0.6, color="tab:orange",
            label=f"random init (median {res['median_random']:.1f}°)")
    ax.axvline(res["median_trained"], color="tab:blue", ls="--", lw=1)
    ax.axvline(res["median_random"], color="tab:orange", ls="--", lw=1)
    ax.set_xlabel("angle to closest k-means centre (degrees)")
    ax.set_ylabel("number of filters")
    ax.set_title(f"Fig. 4a: clustering of {s['channels']} filters ({s['dataset']})")
    ax.legend()
    caption = (
        f"{s['channels']} channels, {s['clusters']} k-means clusters of unit-norm filters; "
        f"{_train_text(s)}; {res['n_train']} train / {res['n_test']} test images, seed "
        f"{res['seed']}; test error {100 * res['test_error']:.2f}%. "
        f"Medians {res['median_trained']:.1f}° "
        f"(trained) vs {res['median_random']:.1f}° (random); Mann-Whitney U p = "
        f"{res['mannwhitney_p']:.2g}, KS p = {res['ks_p']:.2g}."
    )
    fig.supxlabel("\n".join(textwrap.wrap(caption, 105)), fontsize=7.5)
    paths = save_figure(fig, out_dir, "fig4a")
    rows = [["trained", i, a] for i, a in enumerate(tr)]
    rows += [["random", i, a] for i, a in enumerate(rd)]
    paths.append(write_csv(out_dir / "fig4a.csv", ["network", "filter", "angle_deg"], rows))
    summary = [
        ["median_trained_deg", res["median_trained"]], ["median_random_deg", res["median_random"]],
        ["mannwhitney_u", res["mannwhitney_u"]], ["mannwhitney_p", res["mannwhitney_p"]],
        ["ks_stat", res["ks_stat"]], ["ks_p", res["ks_p"]], ["test_error", res["test_error"]],
        ["final_train_loss", res["final_train_loss"]], ["epochs_run", res["epochs_run"]],
        ["n_train", res["n_train"]], ["n_test", res["n_test"]], ["seed", res["seed"]],
        ["seconds", res["seconds"]],
    ] + [[k, _summary_value(v)] for k, v in s.items()]
    paths.append(write_csv(out_dir / "fig4a_summary.csv", ["quantity", "value"], summary))
    return caption, paths


def draw_fig4b(res: dict, out_dir: Path) -> tuple[str, list[Path]]:
    """Draw test error against training-set size; write PNG, SVG and two CSVs.

    Returns the caption and the paths written.
    """
    s = res["settings"]
    out_dir = Path(out_dir)
    sizes = res["train_sizes"]
    labels = {
        "small": f"{s['small_channels']} channels, standard training",
        "compressed": f"{s['small_channels']} channels, filters = k-means centres of the "
                      f"{s['large_channels']}-channel net",
        "large": f"{s['large_channels']} channels, standard training",
    }
    fig = Figure(figsize=(7.0, 5.4), layout="constrained")
    ax = fig.add_subplot()
    for key in ("small", "compressed", "large"):
        ax.errorbar(sizes, 100 * res["mean"][key], yerr=100 * res["std"][key], color=COLORS[key],
                    marker="o", capsize=3, label=labels[key])
    ax.set_xscale("log")
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.minorticks_off()
    ax.set_xlabel("training-set size")
    ax.set_ylabel("test error (%)")
    ax.set_title(f"Fig. 4b: exploration / compression ({s['dataset']})")
    ax.legend(fontsize=8)
    seeds = res["seeds_used"]
    caption = (
        f"Mean ± sd over {len(seeds)} seeds ({', '.join(map(str, seeds))}); training sizes "
        f"{', '.join(map(str, sizes))} drawn (stratified) from a {s['n_train']}-image pool; "
        f"{res['n_test']} test images. {_train_text(s)}. Compressed net: {s['small_channels']} "
        f"k-means centres ({s['center_norm']}) of the trained {s['large_channels']}-channel "
        "filters, frozen; only the conv bias and the FC layer are trained. The "
        f"{s['small_channels']}-channel nets train {s['small_epochs_factor']}x as many "
        "epochs and steps."
    )
    fig.supxlabel("\n".join(textwrap.wrap(caption, 105)), fontsize=7.5)
    paths = save_figure(fig, out_dir, "fig4b")
    rows = []
    for key in ("small", "compressed", "large"):
        for i, n in enumerate(sizes):
            for r, sd in enumerate(seeds):
                rows.append([int(n), key, sd, res["errors"][key][i, r]])
    paths.append(write_csv(out_dir / "fig4b.csv", ["train_size", "network", "seed", "test_error"],
                           rows))
    summ = [[int(n), key, res["mean"][key][i], res["std"][key][i], len(seeds)]
            for key in ("small", "compressed", "large") for i, n in enumerate(sizes)]
    header = ["train_size", "network", "mean_error", "sd_error", "seeds"]
    paths.append(write_csv(out_dir / "fig4b_summary.csv", header, summ))
    return caption, paths


def build_fig4a(settings: dict, seed: int, out_dir: Path, quiet: bool):
    """Figure ``fig4a``: run the clustering experiment and draw it -> (caption, paths)."""
    return draw_fig4a(ex.fig4a(settings, seed, quiet), Path(out_dir))


def build_fig4b(settings: dict, seed: int, out_dir: Path, quiet: bool):
    """Figure ``fig4b``: run the exploration experiment and draw it -> (caption, paths)."""
    return draw_fig4b(ex.fig4b(settings, seed, quiet), Path(out_dir))
