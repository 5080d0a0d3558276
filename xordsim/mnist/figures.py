"""Figures 4a and 4b: PNG + SVG, the CSVs of the numbers behind each, and a JSON sidecar.

``FIGURES`` maps a name to ``builder(out_dir, seed, set_pairs, quiet) -> list[Path]``
(used by ``xordsim figure``); :func:`run_all` draws both (``xordsim reproduce``).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from xordsim._validate import parse_settings
from xordsim.io import save_figure, write_csv, write_json
from xordsim.mnist import experiments as ex

COLORS = {"small": "tab:red", "compressed": "tab:blue", "large": "tab:green"}


def _sidecar(out_dir: Path, name: str, title: str, caption: str, res: dict,
             paths: list[Path]) -> Path:
    """``NAME.json`` beside the figure: caption, settings, seed, files and run time."""
    return write_json(out_dir / f"{name}.json", {
        "name": name, "title": title, "caption": caption, "seed": int(res["seed"]),
        "settings": res["settings"], "files": [p.name for p in paths],
        "seconds": res["seconds"]})


def _train_text(s: dict) -> str:
    opt = (f"Adam(lr={s['lr']:g}, beta1={s['beta1']:g}, beta2={s['beta2']:g}, eps={s['eps']:g})"
           if s["optimizer"] == "adam" else f"SGD(lr={s['lr']:g})")
    steps = f", at least {s['min_steps']} steps" if s["min_steps"] else ""
    return (f"{s['filter_size']}x{s['filter_size']} conv, 2x2 max-pool, FC; {opt}, batch "
            f"{s['batch_size']}, {s['epochs']} epochs{steps}; conv init scale {s['init_scale']:g}")


def draw_fig4a(res: dict, out_dir: Path) -> list[Path]:
    """Draw the histograms of angles to the closest centre; write PNG, SVG and two CSVs."""
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
    ] + [[k, "|".join(map(str, v)) if isinstance(v, tuple) else v] for k, v in s.items()]
    paths.append(write_csv(out_dir / "fig4a_summary.csv", ["quantity", "value"], summary))
    paths.append(_sidecar(out_dir, "fig4a", ax.get_title(), caption, res, paths))
    return paths


def draw_fig4b(res: dict, out_dir: Path) -> list[Path]:
    """Draw test error against training-set size; write PNG, SVG and two CSVs."""
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
    paths.append(_sidecar(out_dir, "fig4b", ax.get_title(), caption, res, paths))
    return paths


def figure_4a(out_dir: Path, seed: int, set_pairs: list[str], quiet: bool) -> list[Path]:
    """``xordsim figure fig4a``: run the clustering experiment and draw it."""
    res = ex.fig4a(parse_settings(set_pairs, ex.FIG4A_DEFAULTS), seed, quiet)
    return draw_fig4a(res, Path(out_dir))


def figure_4b(out_dir: Path, seed: int, set_pairs: list[str], quiet: bool) -> list[Path]:
    """``xordsim figure fig4b``: run the exploration experiment and draw it."""
    res = ex.fig4b(parse_settings(set_pairs, ex.FIG4B_DEFAULTS), seed, quiet)
    return draw_fig4b(res, Path(out_dir))


FIGURES = {"fig4a": figure_4a, "fig4b": figure_4b}


def run_all(out_dir: Path, seed: int = 0, quick: bool = False, quiet: bool = False) -> list[Path]:
    """Draw Figures 4a and 4b (smaller settings when ``quick``) into ``out_dir``."""
    a = ex.fig4a(ex.FIG4A_QUICK if quick else None, seed, quiet)
    paths = draw_fig4a(a, Path(out_dir))
    b = ex.fig4b(ex.FIG4B_QUICK if quick else None, seed, quiet)
    return paths + draw_fig4b(b, Path(out_dir))
