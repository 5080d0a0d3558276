"""Regimes of training on XORD (issue 13): ``lazy-rich``, ``lr-transfer`` and ``losses``.

All three are sweeps (:mod:`xordsim.figures.sweeps`): a function ``(settings, seed) ->
sweep spec`` and a builder that plots the loaded store. Every mean test error is the
sweep summary's :func:`~xordsim.stats.bounded_mean_ci` (95% BCa, inside [0, 1]); every
fraction a Clopper-Pearson interval; medians of the lazy-training measures come with their
quartiles. Runs that did not converge are counted in the CSV and drawn, never dropped.

``lazy-rich``
    Antisymmetric init (N_0 = 0), hinge loss, for each width k, init scale sigma and output
    scale alpha: the step is eta = c_eta / (k alpha^2), so the function-space step
    eta' = 4 eta k alpha^2 = 4 c_eta (docs/measures.md, ``lazy_lr``) is the same at every
    point and the lazy limit's predictor is the same function of the training set. The
    scale that separates the regimes is k alpha sigma: the relative weight change is about
    (function change) / (k alpha sigma), so training is lazy when k alpha sigma >> 1 and rich
    when k alpha sigma << 1; the paper's sigma_g = c_eta / (16 k^1.5) gives
    k alpha sigma_g = c_eta / (16 sqrt k) -> 0.
``lr-transfer``
    Steps to zero loss and test error over (k, c_eta) under four parameterizations
    (:data:`PARAMETERIZATIONS`).
``losses``
    Figure 1 under the hinge, squared and logistic losses, each with the lazy limit's test
    error (``lazy.predictor_test_error``, same loss, step, T and f_0 = N_{W_0}).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from xordsim import fmt
from xordsim.config import GDConfig, default_init_std, default_lr
from xordsim.figures.common import (
    CONVERGED_MARK,
    MAX_WIDTH_IN,
    MEAN_CI_TEXT,
    draw_floor,
    floor_text,
    legend_above,
    log_floor,
    plot_bounded_means,
    settings_text,
    style,
    touches_zero,
)
from xordsim.figures.sweeps import SWEEPS, check_task_memory, pattern_distribution, sweep_seed
from xordsim.io import save_figure, write_csv
from xordsim.sweep.spec import CHUNK

#: A point is *lazy* when the medians of its relative weight change and relative kernel
#: change are both at most this.
LAZY_THRESHOLD = 0.1
#: A point *matches* the lazy predictor when the mean over runs of
#: |test error - predictor's test error| is at most this.
MATCH_TOL = 0.005
#: Two test errors count as equal (per run) within this.
EQUAL_TOL = 1e-12

LAZY_MEASURES = ["lazy.weight_change", "lazy.kernel_change", "lazy.sector_change",
                 "lazy.predictor_test_error"]
K_COLORS = ["tab:red", "tab:orange", "tab:green", "tab:blue", "tab:purple", "tab:brown",
            "tab:gray", "tab:olive"]
MARKERS = "os^Dv<>p"


def _figure_legend(fig, ncol: int):
    """One legend above every axes of a multi-panel figure (the handles of all its axes,
    first label wins), outside the data (constrained layout makes room)."""
    seen: dict[str, object] = {}
    for ax in fig.axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if not lab.startswith("_"):
                seen.setdefault(lab, h)
    return fig.legend(list(seen.values()), list(seen), loc="outside upper center", ncol=ncol,
                      frameon=False)


def _load(store: Path):
    from xordsim.sweep import load

    return load(store), load(store, summary=True)


def _key(*values) -> tuple:
    return tuple(float(v) for v in values)


def _index(df, cols) -> dict:
    """Rows of ``df`` grouped by the float values of ``cols``: key -> DataFrame."""
    out = {}
    for key, g in df.groupby(list(cols), sort=False):
        out[_key(*(key if isinstance(key, tuple) else (key,)))] = g
    return out


def _common_fixed(s: dict) -> dict:
    return {"d": s["d"], "m": s["m"], "steps": s["steps"], "gamma": s["gamma"],
            "distribution": pattern_distribution(s["q"])}


def _status_counts(row) -> list[int]:
    return [int(row["replicas"]), int(row["converged"]), int(row["not_converged"]),
            int(row["stalled"]), int(row["diverged"])]


def _mean_ci(row, name: str = "test_error") -> list[float]:
    return [float(row[f"{name}_{c}"]) for c in ("mean", "ci95_low", "ci95_high")]


def _frac_ci(row) -> list[float]:
    return [float(row[c]) for c in ("frac_converged", "frac_converged_ci95_low",
                                    "frac_converged_ci95_high")]


def _median_q(row, name: str) -> list[float]:
    return [float(row[f"measure.{name}.{c}"]) for c in ("median", "q25", "q75")]


def _bounded(values, seed: int) -> list[float]:
    from xordsim.stats import bounded_mean_ci

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return [math.nan] * 3
    return list(bounded_mean_ci(v, seed=seed))


def _ci_seed(seed: int, name: str, *extra: float) -> int:
    from xordsim.figures.common import ci_seed

    # each value by its float's bits: non-negative, distinct for distinct values
    return ci_seed(seed, name, *(int(np.float64(x).view(np.uint64) % (1 << 62))
                                 for x in extra))


# ========================================================================================
# lazy-rich


def lazy_rich_lr(c_eta: float, k: int, alpha: float) -> float:
    """eta = c_eta / (k alpha^2): the function-space step 4 eta k alpha^2 = 4 c_eta at every
    (k, alpha)."""
    return c_eta / (k * alpha * alpha)


def lazy_rich_sweep(s: dict, seed: int) -> dict:
    """Every (k, sigma, alpha) of ``ks`` x ``init_stds`` x ``output_scales``: antisymmetric
    init, hinge, lr = c_eta / (k alpha^2), the lazy measures per run."""
    check_task_memory("runs", max(s["ks"]), s["runs"], CHUNK.default)
    pts = [{"k": k, "init_std": sd, "output_scale": a, "lr": lazy_rich_lr(s["c_eta"], k, a)}
           for k in s["ks"] for sd in s["init_stds"] for a in s["output_scales"]]
    fixed = dict(_common_fixed(s), init="antisymmetric")
    return {"problem": "xord", "data": "fresh", "replicas": s["runs"],
            "seed": sweep_seed(seed, "lazy-rich"), "chunk": CHUNK.default,
            "measures": LAZY_MEASURES, "fixed": fixed, "points": pts}


LAZY_RICH_COLUMNS = [
    "k", "init_std", "output_scale", "lr", "lr_function_space", "k_alpha_sigma",
    "paper_init_std", "runs", "converged_runs", "not_converged_runs", "stalled_runs",
    "diverged_runs", "frac_converged", "frac_converged_ci95_low", "frac_converged_ci95_high",
    "test_error_mean", "test_error_ci95_low", "test_error_ci95_high",
    "lazy_test_error_mean", "lazy_test_error_ci95_low", "lazy_test_error_ci95_high",
    "abs_diff_mean", "frac_equal_to_lazy", "weight_change_median", "weight_change_q25",
    "weight_change_q75", "kernel_change_median", "kernel_change_q25", "kernel_change_q75",
    "sector_change_median", "lazy", "matches_lazy",
    "helps_vs_smaller_k", "step_runs_not_converged", "benefit_ends_at_k",
    "k_alpha_sigma_at_end", "lazy_at_end",
]


def lazy_rich_rows(s: dict, seed: int, store: Path) -> list[list]:
    """The CSV rows of ``lazy-rich`` (:data:`LAZY_RICH_COLUMNS`), one per (k, sigma, alpha)."""
    table, summary = _load(store)
    cols = ("k", "init_std", "output_scale")
    runs, summ = _index(table, cols), _index(summary, cols)
    rows = []
    for k in s["ks"]:
        for sd in s["init_stds"]:
            for a in s["output_scales"]:
                g, r = runs[_key(k, sd, a)], summ[_key(k, sd, a)].iloc[0]
                ok = g["status"].to_numpy() != 3
                te = g["test_error"].to_numpy()[ok]
                lz = g["measure.lazy.predictor_test_error"].to_numpy()[ok]
                diff = np.abs(te - lz)
                lr = float(r["lr"])
                wc, kc = _median_q(r, "lazy.weight_change"), _median_q(r, "lazy.kernel_change")
                lazy = int(wc[0] <= LAZY_THRESHOLD and kc[0] <= LAZY_THRESHOLD)
                adiff = float(diff.mean()) if diff.size else math.nan
                rows.append([
                    int(k), float(sd), float(a), lr, 4 * lr * k * a * a, k * a * sd,
                    default_init_std(k, s["c_eta"]), *_status_counts(r), *_frac_ci(r),
                    *_mean_ci(r), *_bounded(lz, _ci_seed(seed, "lazy-rich", k, sd, a)),
                    adiff, float((diff <= EQUAL_TOL).mean()) if diff.size else math.nan,
                    *wc, *kc, _median_q(r, "lazy.sector_change")[0], lazy,
                    int(lazy and adiff <= MATCH_TOL)])
    return _add_k_steps(s, rows)


def step_helps(smaller: list[float], larger: list[float]) -> float:
    """Whether a step up in k still lowers the test error: 1 when the larger k's 95%
    interval ``[mean, low, high]`` lies wholly below the smaller k's, 0 when not, NaN when
    either has no interval (every run diverged: undecided)."""
    if not (np.isfinite(smaller[1]) and np.isfinite(larger[2])):
        return math.nan
    return float(larger[2] < smaller[1])


def benefit_end(ks: list[int], helps: list[float]) -> int | None:
    """The smallest k of ``ks`` from which no step up in k helps (``helps[i]``: the step
    ``ks[i] -> ks[i + 1]``, 1 / 0 / NaN undecided, which does not count as helping); None
    when the last step still helps."""
    end = None
    for i in range(len(helps) - 1, -1, -1):
        if helps[i] == 1:
            break
        end = ks[i]
    return end if helps else ks[0]


def _add_k_steps(s: dict, rows: list[list]) -> list[list]:
    """Append, per row, the step up in k into it (``helps_vs_smaller_k``: 1 / 0 / NaN
    undecided; -1 at the smallest k, no step; ``step_runs_not_converged``: runs of both
    ends that did not converge, counted and kept in the means, diverged ones left out), and
    per (sigma, alpha) the k from which larger k no longer helps (``benefit_ends_at_k``;
    NaN: still helps at the largest k), its k alpha sigma and whether that point is lazy."""
    c = {name: i for i, name in enumerate(LAZY_RICH_COLUMNS)}
    te, nc = c["test_error_mean"], c["converged_runs"]
    ks = [int(k) for k in s["ks"]]
    by = {(r[0], r[1], r[2]): r for r in rows}
    for sd in s["init_stds"]:
        for al in s["output_scales"]:
            line = [by[(k, float(sd), float(al))] for k in ks]
            helps = [step_helps(a[te:te + 3], b[te:te + 3])
                     for a, b in zip(line[:-1], line[1:], strict=True)]
            end = benefit_end(ks, helps)
            at_end = line[ks.index(end)] if end is not None else None
            for i, r in enumerate(line):
                not_conv = (r[c["runs"]] - r[nc]
                            + (line[i - 1][c["runs"]] - line[i - 1][nc] if i else 0))
                r.extend([-1 if i == 0 else helps[i - 1], int(not_conv),
                          math.nan if end is None else end,
                          math.nan if at_end is None else at_end[c["k_alpha_sigma"]],
                          -1 if at_end is None else at_end[c["lazy"]]])
    return rows


def _lazy_rich_verdicts(s: dict, a: np.ndarray) -> str:
    c = {name: i for i, name in enumerate(LAZY_RICH_COLUMNS)}
    lazy = a[a[:, c["lazy"]] == 1]
    parts = []
    if lazy.size:
        kas = lazy[:, c["k_alpha_sigma"]]
        parts.append(f"Lazy (median weight and kernel change <= {LAZY_THRESHOLD:g}) at "
                     f"{len(lazy)} of {len(a)} points, all with k alpha sigma >= "
                     f"{fmt.sig(kas.min(), 2)}; ")
        match = a[a[:, c["matches_lazy"]] == 1]
        if match.size:
            pts = "; ".join(f"k = {int(r[c['k']])}, sigma = {fmt.sig(r[c['init_std']], 2)}, "
                            f"alpha = {fmt.sig(r[c['output_scale']], 2)}" for r in match[:6])
            more = f" and {len(match) - 6} more" if len(match) > 6 else ""
            parts.append(f"lazy and matching the lazy predictor (mean |test error - "
                         f"predictor's| <= {MATCH_TOL:g}) at {len(match)} points, e.g. "
                         f"{pts}{more}; smallest such k = {int(match[:, c['k']].min())}. ")
        else:
            parts.append("no lazy point matches the lazy predictor "
                         f"(mean |test error - predictor's| <= {MATCH_TOL:g}). ")
    else:
        parts.append(f"No point is lazy (median weight and kernel change <= "
                     f"{LAZY_THRESHOLD:g}). ")
    rich = a[a[:, c["weight_change_median"]] > 1]
    if rich.size:
        parts.append(f"Weight change above 1 (rich) at {len(rich)} points, all with "
                     f"k alpha sigma <= {fmt.sig(rich[:, c['k_alpha_sigma']].max(), 2)}. ")
    return "".join(parts) + benefit_text(s, a)


def _regime(row, c) -> str:
    return "lazy" if row[c["lazy"]] == 1 else (
        "rich" if row[c["weight_change_median"]] > 1 else "between")


def benefit_text(s: dict, a: np.ndarray) -> str:
    """The caption's answer to "where does the benefit of large k disappear?", from the
    columns ``helps_vs_smaller_k`` ... ``lazy_at_end`` of the rows ``a``: per (sigma,
    alpha) the mean test errors along k with each step marked, grouped by the k at which
    the benefit ends, each group with the range of k alpha sigma and the regimes (lazy:
    weight and kernel change <= LAZY_THRESHOLD; rich: weight change > 1) at that k."""
    c = {name: i for i, name in enumerate(LAZY_RICH_COLUMNS)}
    ks = [int(k) for k in s["ks"]]
    te, h = c["test_error_mean"], c["helps_vs_smaller_k"]
    groups: dict[int | None, list[tuple[str, float, str]]] = {}
    for sd in s["init_stds"]:
        for al in s["output_scales"]:
            line = [a[(a[:, 0] == k) & (a[:, 1] == sd) & (a[:, 2] == al)][0] for k in ks]
            path = fmt.sig(line[0][te], 2)
            for r in line[1:]:
                sym = " > " if r[h] == 1 else " ~ " if r[h] == 0 else " ? "
                path += sym + fmt.sig(r[te], 2)
            end = line[0][c["benefit_ends_at_k"]]
            key = None if np.isnan(end) else int(end)
            r = line[-1] if key is None else line[ks.index(key)]
            groups.setdefault(key, []).append(
                (f"(sigma {fmt.sig(sd, 2)}, alpha {fmt.sig(al, 2)}: {path})",
                 float(r[c["k_alpha_sigma"]]), _regime(r, c)))
    order = sorted(k for k in groups if k is not None) + ([None] if None in groups else [])
    items = []
    for key in order:
        g = groups[key]
        at = ks[-1] if key is None else key
        head = (f"still helps at k = {ks[-1]}" if key is None else
                f"no benefit from k = {key} on" if key == ks[0] else
                f"benefit ends at k = {key}")
        kas = [x[1] for x in g]
        regimes = ", ".join(f"{name} {n}" for name in ("rich", "between", "lazy")
                            if (n := sum(x[2] == name for x in g)))
        items.append(f"{head} at {len(g)} (k alpha sigma at k = {at}: {fmt.sig(min(kas), 2)}"
                     f" to {fmt.sig(max(kas), 2)}; there {regimes}): "
                     + ", ".join(x[0] for x in g))
    steps = a[a[:, h] != -1]
    with_nc = int((steps[:, c["step_runs_not_converged"]] > 0).sum())
    return ("Where the benefit of large k disappears (per (sigma, alpha), each step up in k "
            "helps when the larger k's 95% interval lies wholly below the smaller's: '>' "
            "helps, '~' does not, '?' undecided, every run of a side diverged; the benefit "
            "ends at the smallest k from which no step helps): " + "; ".join(items)
            + f". {with_nc} of {len(steps)} steps compare points with runs that did not "
            f"converge (counted in step_runs_not_converged, kept in the means unless "
            f"diverged); {int(np.isnan(steps[:, h]).sum())} steps undecided. ")


def build_lazy_rich(s: dict, seed: int, out_dir: Path, quiet: bool, store: Path):
    """The ``lazy-rich`` figure from its store (:func:`lazy_rich_sweep`)."""
    rows = lazy_rich_rows(s, seed, store)
    csv = write_csv(out_dir / "lazy-rich.csv", LAZY_RICH_COLUMNS, rows)
    a = np.array(rows, dtype=float)
    c = {name: i for i, name in enumerate(LAZY_RICH_COLUMNS)}
    alphas = list(s["output_scales"])
    te = c["test_error_mean"]
    lz = c["lazy_test_error_mean"]
    err_floor = log_floor(a[:, te:te + 3], a[:, lz:lz + 3])
    wc, kc = c["weight_change_median"], c["kernel_change_median"]
    chg_floor = log_floor(a[:, wc:wc + 3], a[:, kc:kc + 3])
    with style():
        fig = Figure(figsize=(MAX_WIDTH_IN, 8.2), layout="constrained")
        axes = fig.subplots(4, len(alphas), sharex=True, sharey="row", squeeze=False)
        for j, al in enumerate(alphas):
            for i, k in enumerate(s["ks"]):
                sel = (a[:, 0] == k) & (a[:, 2] == al)
                x, color, mk = a[sel, 1], K_COLORS[i % len(K_COLORS)], MARKERS[i % 8]
                plot_bounded_means(axes[0, j], x, a[sel, te], a[sel, te + 1], a[sel, te + 2],
                                   err_floor, color=color, marker=mk, label=f"k = {k}")
                axes[0, j].plot(x, np.maximum(a[sel, lz], err_floor), ls="--", color=color,
                                lw=1, label="dashed: lazy predictor, k's colour"
                                if i == 0 else None)
                plot_bounded_means(axes[1, j], x, a[sel, wc], a[sel, wc + 1], a[sel, wc + 2],
                                   chg_floor, color=color, marker=mk)
                plot_bounded_means(axes[2, j], x, a[sel, kc], a[sel, kc + 1], a[sel, kc + 2],
                                   chg_floor, color=color, marker=mk)
                fc = c["frac_converged"]
                axes[3, j].errorbar(x, a[sel, fc], yerr=[a[sel, fc] - a[sel, fc + 1],
                                                         a[sel, fc + 2] - a[sel, fc]],
                                    fmt=mk + "-", color=color, capsize=2, ms=3)
                for row in range(3):
                    axes[row, j].axvline(default_init_std(k, s["c_eta"]), color=color, lw=0.6,
                                         ls=":")
            # ring: at each sigma, the k from which a larger k no longer helps
            be = c["benefit_ends_at_k"]
            ends = a[(a[:, 2] == al) & (a[:, 0] == a[:, be])]
            if len(ends):
                axes[0, j].plot(ends[:, 1], np.maximum(ends[:, te], err_floor), "o", ms=9,
                                mfc="none", mec="k", mew=0.9, zorder=5,
                                label="ring: larger k stops helping"
                                if j == 0 else None)
            axes[0, j].set_title(f"alpha = {al:g}")
            for row in range(3):
                axes[row, j].set(xscale="log", yscale="log")
                axes[row, j].axhline(LAZY_THRESHOLD, color="0.5", lw=0.6, ls="-.") \
                    if row in (1, 2) else None
            axes[3, j].set(xscale="log", ylim=(-0.03, 1.05), xlabel="init std sigma")
            axes[3, j].axhline(CONVERGED_MARK, color="0.6", lw=0.8, ls="--")
        for row in range(3):
            axes[row, 0].set_ylim(bottom=(err_floor if row == 0 else chg_floor) / 2)
        if touches_zero(a[:, te], a[:, te + 1]):
            for j in range(len(alphas)):
                draw_floor(axes[0, j], err_floor)
        axes[0, 0].set_ylabel("test error")
        axes[1, 0].set_ylabel("rel. weight\nchange")
        axes[2, 0].set_ylabel("rel. kernel\nchange")
        axes[3, 0].set_ylabel("fraction\nconverged")
        _figure_legend(fig, ncol=2)
    nconv = int(a[:, c["converged_runs"]].sum())
    ntot = int(a[:, c["runs"]].sum())
    caption = (
        f"Lazy against rich training. Rows: mean exact test error ({MEAN_CI_TEXT}; dashed: "
        f"mean test error of the lazy limit's predictor on the same training sets, same loss, "
        f"step and T, f_0 = 0), medians of the relative weight change ||W_T - W_0|| / ||W_0|| "
        f"and kernel change ||Theta_T - Theta_0|| / ||Theta_0|| (bars: quartiles; dash-dot: "
        f"{LAZY_THRESHOLD:g}; a median of 0 is an open marker at {fmt.sig(chg_floor, 1)}), "
        f"fraction of runs converged (hinge loss 0 within T, 95% "
        f"Clopper-Pearson), against the init std sigma; one column per output scale alpha, "
        f"one colour per k; dotted verticals: the paper's sigma_g = c_eta/(16 k^1.5) of each "
        f"k; black ring: at each sigma, the k from which no step up in k lowers the error "
        f"(benefit_ends_at_k; none where the largest k still helps). {s['runs']} runs per "
        f"point, fresh training set and antisymmetric init (u = w, "
        f"N_0 = 0) per run, lr = c_eta/(k alpha^2) so that the function-space step "
        f"4 lr k alpha^2 = {fmt.sig(4 * s['c_eta'], 3)} at every point (a sweep, store "
        f"{SWEEPS}/lazy-rich). "
        + (floor_text(err_floor) if touches_zero(a[:, te], a[:, te + 1]) else "")
        + f"Converged: {nconv} of {ntot} runs; not converged (T reached) "
        f"{int(a[:, c['not_converged_runs']].sum())}, stalled "
        f"{int(a[:, c['stalled_runs']].sum())}, diverged {int(a[:, c['diverged_runs']].sum())}"
        f" (diverged runs are left out of the means). "
        + _lazy_rich_verdicts(s, a)
        + f"Settings: {settings_text(s)}; seed {seed}.")
    return caption, save_figure(fig, out_dir, "lazy-rich", caption=caption) + [csv]


# ========================================================================================
# lr-transfer

#: name -> (alpha(k), eta(k, c_eta), init std(k, c_eta) or None for the paper's sigma_g,
#: description). eta' = 4 eta k alpha^2 is 4 c_eta for paper, ntk and mean-field.
PARAMETERIZATIONS = {
    "paper": "alpha = 1, lr = c_eta/k, init sigma_g = c_eta/(16 k^1.5) (Brutzkus & "
             "Globerson 2019)",
    "ntk": "alpha = 1/sqrt(k), lr = c_eta, init std 1 (NTK parameterization, Jacot et al. "
           "2018)",
    "mean-field": "alpha = 1/k, lr = c_eta k, init std 1 (mean-field, Mei et al. 2018; "
                  "Chizat & Bach 2018)",
    "constant": "alpha = 1, lr = c_eta, init sigma_g (plain constant step)",
}


#: The parameterizations drawn, in order.
PARAM_NAMES = tuple(PARAMETERIZATIONS)
#: The losses of ``losses``, in order.
LOSSES = ("hinge", "squared", "logistic")


def parameterization(name: str, k: int, c_eta: float) -> dict:
    """The point parameters (output_scale, lr, init_std) of parameterization ``name``."""
    sigma_g = default_init_std(k, c_eta)  # the paper's sigma_g and eta (xordsim.config)
    alpha_1 = GDConfig.params()["output_scale"].default  # 1: the paper's output scale
    return {"paper": {"output_scale": alpha_1, "lr": default_lr(k, c_eta), "init_std": sigma_g},
            "ntk": {"output_scale": 1 / math.sqrt(k), "lr": c_eta, "init_std": 1.0},
            "mean-field": {"output_scale": 1 / k, "lr": c_eta * k, "init_std": 1.0},
            "constant": {"output_scale": alpha_1, "lr": c_eta, "init_std": sigma_g}}[name]


def lr_transfer_sweep(s: dict, seed: int) -> dict:
    """Every (parameterization, k, c_eta): Gaussian init, hinge loss."""
    check_task_memory("runs", max(s["ks"]), s["runs"], CHUNK.default)
    pts = [dict(k=k, **parameterization(p, k, ce)) for p in PARAM_NAMES
           for k in s["ks"] for ce in s["c_etas"]]
    return {"problem": "xord", "data": "fresh", "replicas": s["runs"],
            "seed": sweep_seed(seed, "lr-transfer"), "chunk": CHUNK.default,
            "fixed": _common_fixed(s), "points": pts}


LR_TRANSFER_COLUMNS = [
    "parameterization", "k", "c_eta", "output_scale", "lr", "init_std", "lr_function_space",
    "runs", "converged_runs", "not_converged_runs", "stalled_runs", "diverged_runs",
    "frac_converged", "frac_converged_ci95_low", "frac_converged_ci95_high",
    "median_steps_censored", "median_censored", "test_error_mean", "test_error_ci95_low",
    "test_error_ci95_high", "best", "best_at_grid_edge",
]


def _censored_median(g, steps: int) -> tuple[float, int]:
    """The median over runs of the steps to zero loss, a run that did not converge counted
    as T (censored); and 1 when that median is itself censored, a lower bound (half or
    more did not converge; more than half: the median is T)."""
    st = g["converged_step"].to_numpy()
    x = np.where(st >= 0, st, steps).astype(float)
    med = float(np.median(x))
    return med, int((st < 0).sum() * 2 >= st.size)


def lr_transfer_rows(s: dict, seed: int, store: Path) -> list[list]:
    """CSV rows of ``lr-transfer`` (:data:`LR_TRANSFER_COLUMNS`); ``best`` marks, per
    (parameterization, k), the c_eta with the fewest median steps among those whose runs
    converged at least 95% (ties: the lower mean test error, then the smaller c_eta)."""
    table, summary = _load(store)
    cols = ("k", "output_scale", "lr", "init_std")
    runs, summ = _index(table, cols), _index(summary, cols)
    rows = []
    for p in PARAM_NAMES:
        for k in s["ks"]:
            block = []
            for ce in s["c_etas"]:
                q = parameterization(p, k, ce)
                key = _key(k, q["output_scale"], q["lr"], q["init_std"])
                g, r = runs[key], summ[key].iloc[0]
                med, cens = _censored_median(g, s["steps"])
                block.append([p, int(k), float(ce), q["output_scale"], q["lr"], q["init_std"],
                              4 * q["lr"] * k * q["output_scale"] ** 2, *_status_counts(r),
                              *_frac_ci(r), med, cens, *_mean_ci(r), 0, 0])
            ok = [b for b in block if b[12] >= CONVERGED_MARK]
            if ok:
                best = min(ok, key=lambda b: (b[15], b[17], b[2]))
                best[-2] = 1
                best[-1] = int(best[2] in (min(s["c_etas"]), max(s["c_etas"])))
            rows.extend(block)
    return rows


def _best_text(s: dict, rows: list[list]) -> str:
    """The caption's best c_eta per (parameterization, k), with those at the edge of the
    grid flagged, and whether it transfers."""
    ib = LR_TRANSFER_COLUMNS.index("best")
    lo, hi = min(s["c_etas"]), max(s["c_etas"])
    parts = []
    for p in PARAM_NAMES:
        bests = []
        for k in s["ks"]:
            b = [r for r in rows if r[0] == p and r[1] == k and r[ib] == 1]
            edge = ("" if not b or not b[0][ib + 1] else
                    " (largest of the grid)" if b[0][2] == hi else " (smallest of the grid)")
            bests.append(f"k = {k}: {fmt.sig(b[0][2], 3)}{edge}" if b else f"k = {k}: none")
        vals = {r[2] for r in rows if r[0] == p and r[ib] == 1}
        n_best = sum(1 for r in rows if r[0] == p and r[ib] == 1)
        verdict = ("transfers (the same c_eta at every k)" if len(vals) == 1
                   and n_best == len(s["ks"]) else "does not transfer")
        parts.append(f"{p}: best c_eta {', '.join(bests)} -- {verdict}")
    n_edge = sum(1 for r in rows if r[ib + 1] == 1)
    n_none = sum(1 for p in PARAM_NAMES for k in s["ks"]
                 if not any(r[0] == p and r[1] == k and r[ib] == 1 for r in rows))
    edge = (f" {n_edge} of these optima lie at the edge of the c_eta grid "
            f"({fmt.sig(lo, 3)} ... {fmt.sig(hi, 3)}): the optimum may lie beyond it."
            if n_edge else f" Every optimum lies inside the c_eta grid ({fmt.sig(lo, 3)} ... "
            f"{fmt.sig(hi, 3)}).")
    none = (f" {n_none} (parameterization, k) have no c_eta with >= 95% of runs converged "
            f"(none)." if n_none else "")
    return "; ".join(parts) + "." + edge + none + " "


def build_lr_transfer(s: dict, seed: int, out_dir: Path, quiet: bool, store: Path):
    """The ``lr-transfer`` figure from its store (:func:`lr_transfer_sweep`)."""
    rows = lr_transfer_rows(s, seed, store)
    csv = write_csv(out_dir / "lr-transfer.csv", LR_TRANSFER_COLUMNS, rows)
    params = list(PARAM_NAMES)
    num = np.array([r[1:] for r in rows], dtype=float)  # every column but the name
    names = np.array([r[0] for r in rows])
    floor = log_floor(num[:, 16:19])
    with style():
        fig = Figure(figsize=(MAX_WIDTH_IN, 2.2 * len(params) + 1.2), layout="constrained")
        axes = fig.subplots(len(params), 2, sharex=True, squeeze=False)
        for i, p in enumerate(params):
            for j, k in enumerate(s["ks"]):
                sel = (names == p) & (num[:, 0] == k)
                x, color, mk = num[sel, 1], K_COLORS[j % len(K_COLORS)], MARKERS[j % 8]
                med, cens = num[sel, 14], num[sel, 15] == 1
                axes[i, 0].plot(x, med, "-", color=color, marker=mk, label=f"k = {k}")
                if cens.any():
                    axes[i, 0].plot(x[cens], med[cens], mk, color=color, mfc="white",
                                    label="open: median censored at T")
                plot_bounded_means(axes[i, 1], x, num[sel, 16], num[sel, 17], num[sel, 18],
                                   floor, color=color, marker=mk)
                best = sel & (num[:, 19] == 1)
                axes[i, 0].plot(num[best, 1], num[best, 14], "*", color=color, ms=11,
                                mec="k", label="star: best c_eta")
                div = sel & (num[:, 10] > 0)
                if div.any():
                    axes[i, 0].plot(num[div, 1], num[div, 14], "x", color="k", ms=8,
                                    label="x: some runs diverged (left out of the means)")
            axes[i, 0].axhline(s["steps"], color="0.6", lw=0.8, ls="--", label="T")
            axes[i, 0].set(xscale="log", yscale="log", ylabel=f"{p}\nmedian steps")
            axes[i, 1].set(xscale="log", yscale="log", ylabel="mean test error")
            if touches_zero(num[:, 16], num[:, 17]):
                draw_floor(axes[i, 1], floor)
                axes[i, 1].set_ylim(bottom=floor / 2)
        axes[-1, 0].set_xlabel("c_eta")
        axes[-1, 1].set_xlabel("c_eta")
        _figure_legend(fig, ncol=2)
    nc = int(num[:, 8].sum())
    caption = (
        f"Learning-rate transfer. Per parameterization (rows): left, median over {s['runs']} "
        f"runs of the steps to zero hinge loss against c_eta, a run that did not converge "
        f"counted as T = {s['steps']} (open markers: half or more of the runs did not "
        f"converge, so the median is censored, a lower bound); star: the "
        f"best c_eta (fewest median steps among the c_eta with >= 95% of runs converged); "
        f"right, mean exact test error ({MEAN_CI_TEXT}, diverged runs left out), one line per "
        f"k. Parameterizations: "
        + "; ".join(f"{p}: {PARAMETERIZATIONS[p]}" for p in params)
        + ". paper, ntk and mean-field share the function-space step 4 lr k alpha^2 = "
        "4 c_eta; constant has 4 c_eta k. Gaussian init, fresh training set per run (a "
        f"sweep, store {SWEEPS}/lr-transfer). "
        + (floor_text(floor) if touches_zero(num[:, 16], num[:, 17]) else "")
        + f"Not converged within T: {nc} of {int(num[:, 6].sum())} runs; stalled "
        f"{int(num[:, 9].sum())}; diverged {int(num[:, 10].sum())} (the hinge loss is "
        f"piecewise linear: a large step overshoots but does not blow up; x markers where "
        f"any run diverged). "
        + _best_text(s, rows)
        + f"Settings: {settings_text(s)}; seed {seed}.")
    return caption, save_figure(fig, out_dir, "lr-transfer", caption=caption) + [csv]


# ========================================================================================
# losses


def losses_sweep(s: dict, seed: int) -> dict:
    """Figure 1's runs at every (loss, k), each loss with its ``tol``, with the lazy
    limit's test error per run."""
    check_task_memory("runs", max(s["ks"]), s["runs"], CHUNK.default)
    tols = {"hinge": 0.0, "squared": s["tol_squared"], "logistic": s["tol_logistic"]}
    pts = [{"loss": loss, "tol": tols[loss], "k": k} for loss in LOSSES
           for k in s["ks"]]
    return {"problem": "xord", "data": "fresh", "replicas": s["runs"],
            "seed": sweep_seed(seed, "losses"), "chunk": CHUNK.default,
            "measures": ["lazy.predictor_test_error"],
            "fixed": dict(_common_fixed(s), c_eta=s["c_eta"]), "points": pts}


LOSSES_COLUMNS = [
    "loss", "k", "tol", "runs", "converged_runs", "not_converged_runs", "stalled_runs",
    "diverged_runs", "frac_converged", "frac_converged_ci95_low", "frac_converged_ci95_high",
    "test_error_mean", "test_error_ci95_low", "test_error_ci95_high",
    "lazy_test_error_mean", "lazy_test_error_ci95_low", "lazy_test_error_ci95_high",
    "lazy_test_error_median", "train_error_mean",
]
LOSS_COLORS = {"hinge": "tab:red", "squared": "tab:blue", "logistic": "tab:green"}


def losses_rows(s: dict, seed: int, store: Path) -> list[list]:
    table, summary = _load(store)
    runs, summ = points_by(table), points_by(summary)
    rows = []
    for loss in LOSSES:
        for k in s["ks"]:
            g, r = runs[(loss, int(k))], summ[(loss, int(k))].iloc[0]
            ok = g["status"].to_numpy() != 3
            lz = g["measure.lazy.predictor_test_error"].to_numpy()[ok]
            rows.append([loss, int(k), float(r["tol"]), *_status_counts(r), *_frac_ci(r),
                         *_mean_ci(r),
                         *_bounded(lz, _ci_seed(seed, "losses", k, 1 + LOSSES.index(loss))),
                         float(r["measure.lazy.predictor_test_error.median"]),
                         float(r["train_error_mean"])])
    return rows


def points_by(df) -> dict:
    """Rows grouped by (loss_function, k)."""
    return {(str(a), int(b)): g for (a, b), g in df.groupby(["loss_function", "k"],
                                                             sort=False)}


def build_losses(s: dict, seed: int, out_dir: Path, quiet: bool, store: Path):
    """The ``losses`` figure from its store (:func:`losses_sweep`)."""
    rows = losses_rows(s, seed, store)
    csv = write_csv(out_dir / "losses.csv", LOSSES_COLUMNS, rows)
    num = np.array([r[1:] for r in rows], dtype=float)
    names = np.array([r[0] for r in rows])
    floor = log_floor(num[:, 10:16])
    ks = [int(k) for k in s["ks"]]
    with style():
        fig = Figure(figsize=(MAX_WIDTH_IN, 5.8), layout="constrained")
        ax, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=(2.2, 1))
        for i, loss in enumerate(LOSSES):
            sel = names == loss
            x, color = num[sel, 0] * 1.04 ** i, LOSS_COLORS[loss]
            plot_bounded_means(ax, x, num[sel, 10], num[sel, 11], num[sel, 12], floor,
                               color=color, marker=MARKERS[i], label=f"{loss}: network")
            ax.plot(x, np.maximum(num[sel, 13], floor), "--", color=color, lw=1.2,
                    label=f"{loss}: lazy limit (mean)")
            ax2.errorbar(x, num[sel, 7], yerr=[num[sel, 7] - num[sel, 8],
                                               num[sel, 9] - num[sel, 7]],
                         fmt=MARKERS[i] + "-", color=color, capsize=3, ms=4)
        if touches_zero(num[:, 10], num[:, 11]) or touches_zero(num[:, 13], num[:, 14]):
            draw_floor(ax, floor)
            ax.set_ylim(bottom=floor / 2)
        ax.set(xscale="log", yscale="log", ylabel="test error (exact)")
        ax2.axhline(CONVERGED_MARK, color="0.6", lw=0.8, ls="--")
        ax2.set(xscale="log", ylim=(-0.03, 1.05), xlabel="channels k",
                ylabel="fraction converged\n(loss <= tol within T)")
        ax2.set_xticks(ks, [str(k) for k in ks])
        ax2.minorticks_off()
        fig.suptitle("XORD: Figure 1 under three losses")
        legend_above(ax, ncol=2)
    per_loss = []
    for loss in LOSSES:
        sel = names == loss
        sub = num[sel]
        per_loss.append(
            f"{loss} (tol {fmt.sig(sub[0, 1], 2)}): test error {fmt.sig(sub[0, 10], 2)} at "
            f"k = {ks[0]} -> {fmt.sig(sub[-1, 10], 2)} at k = {ks[-1]}, lazy limit "
            f"{fmt.sig(sub[0, 13], 2)} -> {fmt.sig(sub[-1, 13], 2)}; converged "
            f"{int(sub[:, 3].sum())} of {int(sub[:, 2].sum())} runs")
    caption = (
        f"Figure 1 under three losses: mean exact test error against k over {s['runs']} "
        f"runs per point ({MEAN_CI_TEXT}), fresh training set and Gaussian init per run, "
        f"lr = c_eta/k, init std c_eta/(16 k^1.5); dashed: mean test error of the lazy "
        f"limit's predictor (same loss, step 4 lr k = {fmt.sig(4 * s['c_eta'], 3)}, T and "
        f"f_0 = N_(W_0)) on the same training sets. Hinge stops at loss 0; squared (targets "
        f"gamma and -1) and logistic stop when the loss is <= tol, else run the T = "
        f"{s['steps']} steps: the squared loss has a positive floor on most training sets "
        f"(docs/measures.md), so with tol 0 no squared run converges, by design, and the "
        f"logistic loss is positive for every W. Bottom: fraction converged, 95% "
        f"Clopper-Pearson (a sweep, store {SWEEPS}/losses). "
        + (floor_text(floor) if touches_zero(num[:, 10], num[:, 11]) else "")
        + "; ".join(per_loss) + ". "
        + f"Settings: {settings_text(s)}; seed {seed}.")
    return caption, save_figure(fig, out_dir, "losses", caption=caption) + [csv]


__all__ = ["LAZY_RICH_COLUMNS", "LAZY_THRESHOLD", "LOSSES_COLUMNS", "LR_TRANSFER_COLUMNS",
           "MATCH_TOL", "PARAMETERIZATIONS", "build_lazy_rich", "build_losses",
           "build_lr_transfer", "benefit_end", "benefit_text", "lazy_rich_lr",
           "lazy_rich_sweep", "lazy_rich_rows",
           "losses_rows", "losses_sweep", "lr_transfer_rows", "lr_transfer_sweep",
           "parameterization", "step_helps"]
