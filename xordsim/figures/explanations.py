"""The other explanations against k: the ``measures`` and ``ntk-eigen`` studies (issue 13).

``measures``: Figure 1's runs (a sweep over k, fresh data per run, or the decoy set) with
the measures of :mod:`xordsim.measures` computed per replica by the sweep (its
``measures`` key). The figure draws each measure's median and quartile band against k,
divided by its median at the smallest k, in panels by family (capacity / kernel / lazy),
beside the exact test error (its bounded BCa band from the sweep summary) and the lazy
limit's test error. ``measures.csv`` holds the medians and bands per k, ``measures-tau.csv``
Kendall's tau-b of each measure against the exact test error over grid points (medians)
and over replicas (:func:`xordsim.measures.rank.rank_table`), with its flags and the count
of NaN and infinite values.

``ntk-eigen``: the spectrum of the empirical NTK at initialization, Theta_0/(2k) on the
training set (``ntk.*.init``; steps = 0, nothing is trained), against k, on sampled
training sets and on the decoy set (two sweeps, :data:`NTK_PARTS`, stores
``sweeps/ntk-eigen/fresh`` and ``sweeps/ntk-eigen/decoy``, both run by
:func:`xordsim.figures.draw`), with the infinite-width values (the spectrum of 2H on the
same training set, :func:`xordsim.measures.kernel.xord_h_inf`) and the fractions of sampled
sets with lambda_min = 0 and with y outside range(H) (Clopper-Pearson intervals).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from xordsim import fmt
from xordsim.figures.common import (
    BLUE,
    MAX_WIDTH_IN,
    MEAN_CI_TEXT,
    RED,
    ci_seed,
    converged_text,
    draw_floor,
    floor_text,
    fraction,
    log_floor,
    mean_error,
    plot_bounded_means,
    settings_text,
    style,
    touches_zero,
)
from xordsim.figures.sweeps import (
    SWEEPS,
    SweepParts,
    check_task_memory,
    pattern_distribution,
    points,
    sweep_seed,
)
from xordsim.io import save_figure, write_csv
from xordsim.sweep.spec import CHUNK

#: The measures of the ``measures`` figure by family (panel), in drawing order.
FAMILIES: dict[str, tuple[str, ...]] = {
    "capacity": ("Frobenius1", "Distance1", "Fro_Fro", "Fro bound", "Spec_Fro bound",
                 "Our bound", "VC bound", "#parameter"),
    "kernel": ("arora.complexity", "arora.complexity_finite_width",
               "ntk.lambda_min_nonzero.init"),
    "lazy": ("lazy.weight_change", "lazy.kernel_change"),
}
#: The lazy limit's test error (drawn beside the exact test error, not normalized).
LAZY_ERROR = "lazy.predictor_test_error"
#: Every measure the ``measures`` sweep computes.
MEASURES = tuple(n for names in FAMILIES.values() for n in names) + (LAZY_ERROR,)
#: A measure "falls with k" when its median at the largest k is below this times its median
#: at the smallest k (and "rises" above the inverse).
FALL_RATIO = 0.9
#: The name of the target in the CSVs.
TARGET = "test_error"

MEASURES_COLUMNS = [
    "measure", "family", "k", "runs", "finite", "inf", "nan", "median", "q25", "q75",
    "median_norm", "q25_norm", "q75_norm", "error_mean", "error_ci95_low", "error_ci95_high",
    "converged_runs", "frac_converged", "frac_converged_ci95_low", "frac_converged_ci95_high",
]
TAU_COLUMNS = [
    "measure", "family", "level", "tau", "p_value", "n", "pairs", "ties_measure",
    "ties_error", "excluded", "flag", "reason", "nan_values", "inf_values", "ratio_last_first",
    "falls_with_k",
]
NTK_KEYS = ("rank", "lambda_min", "lambda_min_nonzero")
NTK_COLUMNS = [
    "data", "k", "runs", "quantity", "median", "q25", "q75", "finite", "limit_median",
    "limit_q25", "limit_q75",
]
NTK_FRACTION_COLUMNS = ["data", "k", "runs", "quantity", "count", "frac", "frac_ci95_low",
                        "frac_ci95_high"]
COLORS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown",
          "tab:pink", "tab:gray", "tab:olive", "tab:cyan"]


def _fixed(s: dict) -> dict:
    fixed = {"d": s["d"], "steps": s["steps"], "gamma": s["gamma"], "c_eta": s["c_eta"]}
    if s["data"] == "fresh":
        fixed.update(m=s["m"], distribution=pattern_distribution(s["q"]))
    return fixed


def _load(store: Path):
    from xordsim.sweep import load

    return load(store), load(store, summary=True)


# ----------------------------------------------------------------------------------------
# measures


def measures_sweep(s: dict, seed: int) -> dict:
    """The sweep of the ``measures`` figure: ``runs`` runs at every k of ``ks`` (fresh
    data per run or the decoy set), with :data:`MEASURES` per replica."""
    check_task_memory("runs", max(s["ks"]), s["runs"], CHUNK.default)
    return {"problem": "xord", "data": s["data"], "replicas": s["runs"],
            "seed": sweep_seed(seed, "measures"), "chunk": CHUNK.default,
            "measures": list(MEASURES), "fixed": _fixed(s), "grid": {"k": list(s["ks"])}}


def _family(name: str) -> str:
    for fam, names in FAMILIES.items():
        if name in names:
            return fam
    return "lazy limit" if name == LAZY_ERROR else "target"


def _quartiles(v: np.ndarray) -> tuple[float, float, float]:
    fin = v[np.isfinite(v)]
    if not fin.size:
        return (float("nan"),) * 3
    q25, med, q75 = np.quantile(fin, [0.25, 0.5, 0.75])
    return float(med), float(q25), float(q75)


def measure_arrays(runs_by_k: dict, ks) -> dict[str, np.ndarray]:
    """(points, replicas) arrays of the test error and every measure, rows in ``ks`` order
    (replicas sorted by their index)."""
    out = {}
    for name in (TARGET, *MEASURES):
        col = TARGET if name == TARGET else f"measure.{name}"
        out[name] = np.stack([runs_by_k[k].sort_values("replica")[col].to_numpy(dtype=float)
                              for k in ks])
    return out


def tau_rows(arrays: dict[str, np.ndarray], names=MEASURES) -> list[list]:
    """The rows of ``measures-tau.csv``: tau-b of each measure in ``names`` against the
    test error over grid points and over replicas, with its flags, the NaN and infinite
    values of the measure, the ratio of its medians at the last and first k and whether it
    falls with k (ratio < 1)."""
    from xordsim.measures.rank import rank_table

    err = arrays[TARGET]
    rows = []
    for name in names:
        v = arrays[name]
        first, last = _quartiles(v[0])[0], _quartiles(v[-1])[0]
        ratio = last / first if np.isfinite(first) and first != 0 and np.isfinite(last) \
            else float("nan")
        ratio = float(f"{ratio:.8g}")  # as the CSV writes it, so the caption agrees
        falls = bool(ratio < FALL_RATIO) if np.isfinite(ratio) else False
        for r in rank_table({name: v}, err):
            rows.append([name, _family(name), r["level"], r["tau"], r["p_value"], r["n"],
                         r["pairs"], r["ties_measure"], r["ties_error"], r["excluded"],
                         r["flag"], r["reason"], int(np.isnan(v).sum()),
                         int(np.isinf(v).sum()), ratio, falls])
    return rows


def _measure_rows(s: dict, seed: int, ks, runs_by_k, summ_by_k, arrays) -> list[list]:
    rows = []
    for name in (TARGET, *MEASURES):
        v = arrays[name]
        base = _quartiles(v[0])[0]
        for i, k in enumerate(ks):
            r = summ_by_k[k].iloc[0]
            med, q25, q75 = _quartiles(v[i])
            norm = [x / base if np.isfinite(base) and base != 0 else float("nan")
                    for x in (med, q25, q75)]
            if name == TARGET:
                err = [float(r[f"test_error_{c}"]) for c in ("mean", "ci95_low", "ci95_high")]
            elif name == LAZY_ERROR:
                fin = v[i][np.isfinite(v[i])]
                err = list(mean_error(fin, ci_seed(seed, "measures", k))) if fin.size \
                    else [float("nan")] * 3
            else:
                err = [float("nan")] * 3
            rows.append([name, _family(name), int(k), v.shape[1],
                         int(np.isfinite(v[i]).sum()), int(np.isinf(v[i]).sum()),
                         int(np.isnan(v[i]).sum()), med, q25, q75, *norm, *err,
                         int(r["converged"]), float(r["frac_converged"]),
                         float(r["frac_converged_ci95_low"]),
                         float(r["frac_converged_ci95_high"])])
    return rows


def falls_text(tau: list[list]) -> str:
    """The caption's sentences on which measures fall with k as the error does: from the
    point-level rows of ``tau``."""
    pts = [r for r in tau if r[2] == "points"]

    def item(r):
        t = f"tau = {fmt.sig(r[3], 2)}" if r[10] == "ok" else r[10]
        return f"{r[0]} (last/first {fmt.sig(r[14], 2)}, {t})"

    falls = [item(r) for r in pts if r[15]]
    rises = [item(r) for r in pts if np.isfinite(r[14]) and r[14] > 1 / FALL_RATIO]
    flat = [item(r) for r in pts if np.isfinite(r[14]) and FALL_RATIO <= r[14] <= 1 / FALL_RATIO]
    undefined = [r[0] for r in pts if not np.isfinite(r[14])]
    agree = [r[0] for r in pts if r[10] == "ok" and r[3] > 0]
    const = [r[0] for r in pts if r[10] == "constant"]
    out = (f"Falling with k (median at the largest k below {FALL_RATIO:g} times that at the "
           f"smallest): {', '.join(falls) or 'none'}. Rising (ratio above "
           f"{fmt.sig(1 / FALL_RATIO, 3)}): {', '.join(rises) or 'none'}. Within that range: "
           f"{', '.join(flat) or 'none'}. ")
    if undefined:
        out += f"No ratio (median 0 or undefined at an end): {', '.join(undefined)}. "
    out += (f"Positive point-level tau with the exact test error (ranking the widths as "
            f"the error does): {', '.join(agree) or 'none'}. ")
    if const:
        out += f"Constant over the widths, so tau is undefined: {', '.join(const)}. "
    return out


def build_measures(s: dict, seed: int, out_dir: Path, quiet: bool, store: Path):
    """The ``measures`` figure from its sweep store (:func:`measures_sweep`)."""
    ks = [int(k) for k in s["ks"]]
    table, summary = _load(store)
    runs_by_k, summ_by_k = points(table, "k"), points(summary, "k")
    arrays = measure_arrays(runs_by_k, ks)
    rows = _measure_rows(s, seed, ks, runs_by_k, summ_by_k, arrays)
    tau = tau_rows(arrays)
    csv = write_csv(out_dir / "measures.csv", MEASURES_COLUMNS, rows)
    csv_tau = write_csv(out_dir / "measures-tau.csv", TAU_COLUMNS, tau)
    by = {(r[0], r[2]): r for r in rows}
    err = np.array([by[(TARGET, k)][13:16] for k in ks])
    lazy = np.array([by[(LAZY_ERROR, k)][13:16] for k in ks])
    floor = log_floor(err, lazy)
    kx = np.array(ks, dtype=float)
    omitted = []
    with style():
        fig = Figure(figsize=(MAX_WIDTH_IN, 7.4), layout="constrained")
        axes = fig.subplots(2, 2, sharex=True).ravel()
        ax = axes[0]
        plot_bounded_means(ax, kx, *err.T, floor, color=BLUE, label="exact test error (mean)")
        plot_bounded_means(ax, kx * 1.04, *lazy.T, floor, color=RED, marker="s",
                           label="lazy limit's test error (mean)")
        if touches_zero(np.r_[err[:, 0], lazy[:, 0]], np.r_[err[:, 1], lazy[:, 1]]):
            draw_floor(ax, floor)
            ax.set_ylim(bottom=floor / 2)
        ax.set(yscale="log", ylabel="test error", title="target")
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.1), frameon=False, ncol=1)
        for ax, (fam, names) in zip(axes[1:], FAMILIES.items(), strict=True):
            for j, name in enumerate(names):
                r = np.array([by[(name, k)][10:13] for k in ks], dtype=float)
                ok = np.all(np.isfinite(r) & (r > 0), axis=1)
                if not ok.any():
                    omitted.append(name)
                    continue
                color = COLORS[j % len(COLORS)]
                ax.plot(kx[ok], r[ok, 0], "o-", ms=3, color=color, label=name)
                ax.fill_between(kx[ok], r[ok, 1], r[ok, 2], color=color, alpha=0.15, lw=0)
            ax.axhline(1.0, color="0.6", lw=0.8, ls=":")
            ax.set(yscale="log", title=fam, ylabel="median / median at smallest k")
            ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.1), frameon=False,
                      ncol=2 if len(names) > 3 else 1)
        for ax in axes:
            ax.set_xscale("log")
            ax.set_xticks(ks, [str(k) for k in ks])
            ax.minorticks_off()
        for ax in axes[2:]:
            ax.set_xlabel("channels k")
        fig.suptitle("Measures of trained networks against k (XORD)")
    conv = [by[(TARGET, k)] for k in ks]
    conv_text = "; ".join(f"k = {r[2]}: {converged_text(r[16], r[3])}" for r in conv)
    e0, e1 = err[0, 0], err[-1, 0]
    data = ("a fresh training set (m per class, pattern probabilities q) and initialization "
            "per run" if s["data"] == "fresh" else "the decoy set of Sec. 5 (6 + 6 diverse "
            "points), a fresh initialization per run")
    nonfinite = "; ".join(f"{r[0]}: {r[12]} NaN, {r[13]} inf" for r in tau
                          if r[2] == "replicas" and (r[12] or r[13]))
    caption = (
        f"Measures. Each measure of docs/measures.md computed per run after training "
        f"(T = {s['steps']} GD steps; {s['runs']} runs per k, {data}; a sweep, store "
        f"{SWEEPS}/measures), its median over the runs with the band between the quartiles, "
        f"divided by its median at k = {ks[0]} (log scale; the dotted line is 1). Top left: "
        f"the mean exact test error with its {MEAN_CI_TEXT}, and the mean test error of the "
        f"lazy limit's predictor (the infinite-width kernel trained like the network). "
        + (floor_text(floor) if touches_zero(err[:, 0], err[:, 1]) else "")
        + f"The mean test error goes from {fmt.sig(e0, 2)} at k = {ks[0]} to "
        f"{fmt.sig(e1, 2)} at k = {ks[-1]}. {falls_text(tau)}"
        f"Kendall's tau-b of each measure against the test error, over the per-k medians "
        f"and over all runs, is in measures-tau.csv. "
        + (f"Non-finite values (excluded from the medians and tau): {nonfinite}. "
           if nonfinite else "")
        + (f"Not drawn (no positive finite median): {', '.join(omitted)}. " if omitted else "")
        + f"Runs converged (loss 0 within T), 95% Clopper-Pearson: {conv_text}. "
        f"Settings: {settings_text(s)}; lr = c_eta/k, init std = c_eta/(16 k^1.5); seed {seed}.")
    return caption, save_figure(fig, out_dir, "measures", caption=caption) + [csv, csv_tau]


# ----------------------------------------------------------------------------------------
# ntk-eigen


def ntk_sweep(s: dict, seed: int, data: str = "fresh") -> dict:
    """The sweep of the ``ntk-eigen`` figure on ``data`` ("fresh" or "decoy"): Theta_0 at
    every k of ``ks`` (steps = 0), with the spectrum and Arora et al.'s complexity."""
    check_task_memory("runs", max(s["ks"]), s["runs"], CHUNK.default)
    settings = dict(s, data=data, steps=0)
    return {"problem": "xord", "data": data, "replicas": s["runs"],
            "seed": sweep_seed(seed, f"ntk-eigen/{data}"), "chunk": CHUNK.default,
            "measures": [f"ntk.{key}.init" for key in NTK_KEYS] + ["arora.complexity"],
            "fixed": _fixed(settings), "grid": {"k": list(s["ks"])}}


#: The parts of ``ntk-eigen``'s sweeps (stores ``sweeps/ntk-eigen/PART``).
NTK_PARTS = ("fresh", "decoy")


def ntk_eigen_sweep(s: dict, seed: int):
    """The figure's sweeps (:class:`~xordsim.figures.sweeps.SweepParts`): ``fresh``
    (sampled training sets) and ``decoy`` (the decoy set), each its own store."""
    return SweepParts({data: ntk_sweep(s, seed, data) for data in NTK_PARTS})


def limit_spectrum(counts) -> dict[str, np.ndarray]:
    """The infinite-width values of the normalized spectrum, that of 2H over the points of
    each training set (``counts`` (2, 16) or (R, 2, 16)): rank, lambda_min,
    lambda_min_nonzero, lambda_max (arrays (R,))."""
    from xordsim.measures.kernel import xord_h_inf
    from xordsim.measures.ntk import gram_spectrum

    c = np.asarray(counts)
    c = c[None] if c.ndim == 2 else c
    per_mask = c.sum(axis=1)[:, 1:]  # (R, 15): points per pattern set, both labels
    H2 = 2.0 * xord_h_inf()[1:, 1:]
    out = gram_spectrum(np.broadcast_to(H2, (c.shape[0], 15, 15)), per_mask)
    return {key: np.asarray(v) for key, v in out.items()}


def decoy_counts(d: int) -> np.ndarray:
    """The decoy set of Sec. 5 (6 + 6 diverse points) as counts over the pattern sets."""
    from xordsim.data import decoy_training_set, mask_counts

    return mask_counts(*decoy_training_set(d, 6, 0))


def build_ntk_eigen(s: dict, seed: int, out_dir: Path, quiet: bool, stores: dict[str, Path]):
    """The ``ntk-eigen`` figure from its sweep stores (:data:`NTK_PARTS` -> store: sampled
    sets and the decoy set)."""
    from xordsim.data import sample_mask_counts
    from xordsim.sweep import load_spec
    from xordsim.sweep.spec import point_distribution

    ks = [int(k) for k in s["ks"]]
    tables = {data: _load(stores[data])[0] for data in NTK_PARTS}
    dist = point_distribution(load_spec(ntk_sweep(s, seed, "fresh")).points[0].params)
    n_limit = 4000
    rng = np.random.default_rng(ci_seed(seed, "ntk-eigen/limit"))
    limits = {"fresh": limit_spectrum(sample_mask_counts(dist, s["m"], n_limit, rng)),
              "decoy": limit_spectrum(decoy_counts(s["d"]))}
    rows, frac_rows = [], []
    stats = {}
    for data in ("decoy", "fresh"):
        by_k = points(tables[data], "k")
        for key in NTK_KEYS:
            lim = _quartiles(limits[data][key].astype(float))
            for k in ks:
                v = by_k[k][f"measure.ntk.{key}.init"].to_numpy(dtype=float)
                med, q25, q75 = _quartiles(v)
                stats[(data, key, k)] = (med, q25, q75)
                rows.append([data, k, v.size, key, med, q25, q75, int(np.isfinite(v).sum()),
                             *lim])
        if data == "fresh":
            for k in ks:
                g = by_k[k]
                lm = g["measure.ntk.lambda_min.init"].to_numpy(dtype=float)
                ar = g["measure.arora.complexity"].to_numpy(dtype=float)
                for what, count in (("lambda_min_zero", int((lm == 0).sum())),
                                    ("y_outside_range", int(np.isinf(ar).sum()))):
                    frac_rows.append([data, k, lm.size, what, count,
                                      *fraction(count, lm.size)])
            all_runs = tables[data]
            lm = all_runs["measure.ntk.lambda_min.init"].to_numpy(dtype=float)
            ar = all_runs["measure.arora.complexity"].to_numpy(dtype=float)
            for what, count in (("lambda_min_zero", int((lm == 0).sum())),
                                ("y_outside_range", int(np.isinf(ar).sum()))):
                frac_rows.append([data, "all", lm.size, what, count, *fraction(count, lm.size)])
    csv = write_csv(out_dir / "ntk-eigen.csv", NTK_COLUMNS, rows)
    csv_frac = write_csv(out_dir / "ntk-eigen-fractions.csv", NTK_FRACTION_COLUMNS, frac_rows)
    kx = np.array(ks, dtype=float)
    titles = {"rank": "rank of Θ₀ on the training set",
              "lambda_min": "λ_min of Θ₀/(2k)",
              "lambda_min_nonzero": "smallest nonzero eigenvalue of Θ₀/(2k)"}
    with style():
        fig = Figure(figsize=(MAX_WIDTH_IN, 7.6), layout="constrained")
        mosaic = fig.subplot_mosaic([["legend", "legend"], ["rank", "lambda_min"],
                                     ["lambda_min_nonzero", "fractions"]],
                                    height_ratios=(0.32, 1, 1))
        axes = [mosaic[key] for key in (*NTK_KEYS, "fractions")]
        for ax, key in zip(axes[:3], NTK_KEYS, strict=True):
            for data, color, marker in (("decoy", BLUE, "o"), ("fresh", RED, "s")):
                q = np.array([stats[(data, key, k)] for k in ks])
                lim = _quartiles(limits[data][key].astype(float))
                name = "decoy set" if data == "decoy" else "sampled sets"
                ax.plot(kx, q[:, 0], marker + "-", ms=3, color=color,
                        label=f"{name}: median over runs (band: quartiles)")
                ax.fill_between(kx, q[:, 1], q[:, 2], color=color, alpha=0.2, lw=0)
                ax.axhline(lim[0], color=color, ls="--", lw=1,
                           label=f"{name}: infinite width (2H)")
                if data == "fresh":
                    ax.axhspan(lim[1], lim[2], color=color, alpha=0.07, lw=0)
            ax.set(xscale="log", title=titles[key])
            if key == "lambda_min":
                top = max(1.0, 1.2 * max(stats[(d, key, k)][2] for d in ("decoy", "fresh")
                                         for k in ks))
                ax.set_ylim(-0.05 * top, top)
        ax = axes[3]
        fr = [r for r in frac_rows if r[1] != "all"]
        for what, color, marker, label in (
                ("lambda_min_zero", "tab:purple", "o", "sampled sets with λ_min = 0"),
                ("y_outside_range", "tab:green", "s", "sampled sets with y outside range(H)")):
            a = np.array([r[5:8] for r in fr if r[3] == what], dtype=float)
            ax.errorbar(kx, a[:, 0], yerr=[a[:, 0] - a[:, 1], a[:, 2] - a[:, 0]],
                        fmt=marker + "-", ms=3, color=color, capsize=2, label=label)
        ax.set(xscale="log", ylim=(-0.03, 1.05), title="fractions (95% Clopper-Pearson)")
        for ax in axes:
            ax.set_xticks(ks, [str(k) for k in ks], rotation=90)
            ax.minorticks_off()
        for ax in axes[2:]:
            ax.set_xlabel("channels k")
        fig.suptitle("Spectrum of the empirical NTK at initialization on the training set")
        leg = mosaic["legend"]
        leg.axis("off")
        handles, labels = [], []
        for a in axes:
            for h, lab in zip(*a.get_legend_handles_labels(), strict=True):
                if lab not in labels:
                    handles.append(h)
                    labels.append(lab)
        leg.legend(handles, labels, loc="center", ncol=2, frameon=False)
    caption = ntk_caption(s, seed, ks, stats, limits, frac_rows, n_limit)
    return caption, save_figure(fig, out_dir, "ntk-eigen", caption=caption) + [csv, csv_frac]


def reached_k(ks, values, limit: float, rtol: float = 0.01) -> int | None:
    """The smallest k from which on every median is within ``rtol`` of ``limit``."""
    out = None
    for k, v in zip(reversed(ks), reversed(list(values)), strict=True):
        if np.isfinite(v) and abs(v - limit) <= rtol * abs(limit) + 1e-12:
            out = k
        else:
            break
    return out


def _reach_text(what: str, k: int | None) -> str:
    return f"{what} from k = {k} on" if k is not None else f"{what} at none of the last k"


def _pct(row) -> str:
    return (f"{fmt.sig(100 * row[5], 3)}% [{fmt.sig(100 * row[6], 3)}%, "
            f"{fmt.sig(100 * row[7], 3)}%]")


def ntk_caption(s, seed, ks, stats, limits, frac_rows, n_limit) -> str:
    """The caption of ``ntk-eigen``: how it was obtained and the numbers of its CSVs."""
    parts = []
    for data in ("decoy", "fresh"):
        lim = {key: float(np.median(limits[data][key])) for key in NTK_KEYS}
        big = {key: stats[(data, key, ks[-1])][0] for key in NTK_KEYS}
        reach = reached_k(ks, [stats[(data, "lambda_min_nonzero", k)][0] for k in ks],
                          lim["lambda_min_nonzero"])
        reach_rank = reached_k(ks, [stats[(data, "rank", k)][0] for k in ks], lim["rank"], 0)
        label = "Decoy set" if data == "decoy" else "Sampled sets (medians)"
        parts.append(
            f"{label}: at k = {ks[-1]} rank {fmt.sig(big['rank'], 3)}, lambda_min "
            f"{fmt.sig(big['lambda_min'], 3)}, smallest nonzero eigenvalue "
            f"{fmt.sig(big['lambda_min_nonzero'], 3)}; infinite width rank "
            f"{fmt.sig(lim['rank'], 3)}, lambda_min {fmt.sig(lim['lambda_min'], 3)}, smallest "
            f"nonzero {fmt.sig(lim['lambda_min_nonzero'], 3)}, largest "
            f"{fmt.sig(float(np.median(limits[data]['lambda_max'])), 3)}; "
            + _reach_text("the median rank equals its limit", reach_rank)
            + _reach_text(" and the median smallest nonzero eigenvalue is within 1% of its "
                          "limit", reach) + ".")
    tot = {r[3]: r for r in frac_rows if r[1] == "all"}
    fr = (f"Over all {tot['lambda_min_zero'][2]} sampled sets: lambda_min = 0 on "
          f"{_pct(tot['lambda_min_zero'])} and y outside range(H) (Arora et al.'s complexity "
          f"infinite) on {_pct(tot['y_outside_range'])} (95% Clopper-Pearson; per k in "
          f"ntk-eigen-fractions.csv).")
    return (
        f"NTK spectrum. Eigenvalues of the empirical NTK at initialization divided by 2k, "
        f"Theta_0/(2k), over the points of the training set (zero below 1e-9 of the "
        f"largest), against k: {s['runs']} initializations per k (steps = 0; nothing is "
        f"trained), on the decoy set of Sec. 5 (6 + 6 diverse points, d = {s['d']}; sweep "
        f"store {SWEEPS}/ntk-eigen/decoy) and on sampled sets (a fresh set of m = {s['m']} "
        f"per class per run; store {SWEEPS}/ntk-eigen/fresh); lines: medians, bands: quartiles. "
        f"Dashed: the infinite-width values, the spectrum of 2H on the same set "
        f"(xord_h_inf); for sampled sets the median (shaded: quartiles) over {n_limit} "
        f"sampled sets. " + " ".join(parts) + " " + fr
        + f" Settings: {settings_text(s)}; seed {seed}.")


__all__ = ["FAMILIES", "MEASURES", "build_measures", "build_ntk_eigen", "limit_spectrum",
           "measures_sweep", "ntk_eigen_sweep", "tau_rows"]
