"""Figure ``mnist-lazy``: the conv net's kernel and lazy training against width (Sec. 7's
network, Terjék & González-Sánchez 2022, seed ``004_*``).

For every channel count C of the settings, one network (PyTorch's initialisation with the
conv range times ``init_scale``, as Fig. 4) is measured at initialization and after training
with the Fig. 4 optimiser (:func:`xordsim.mnist.train.train`):

* the smallest (and largest) eigenvalue of the empirical NTK Gram at initialization on
  ``ntk_images`` training images (:mod:`xordsim.mnist.ntk`, closed form through the arg-max
  patch of every pooled cell): of the full (nK x nK) block matrix and of the per-logit trace
  kernel (n x n), divided by C (under PyTorch's initialisation the FC block grows ∝ C);
  also λ_min of the NTK parameterization of the same network (CSV);
* after training: the relative weight change ‖θ − θ₀‖/‖θ₀‖ (all tensors; conv and FC
  layers apart in the CSV), the relative kernel change ‖Θ_T − Θ₀‖_F/‖Θ₀‖_F on the same
  images, and the unit-wise measures per channel j, ‖w_j − w_j⁰‖ and ‖V_{:,j}‖ (the FC
  weights fed by channel j), summarised by their median and 10% / 90% quantiles over the
  channels;
* a learning-rate grid: for each C of ``lr_channels`` and each lr of ``lrs`` one network (the
  same initialisation and batch order for every lr of a C), its final training loss and
  test error; the best lr per C by ``lr_criterion``: does it transfer across widths?

One network per point (one seed): no interval over seeds; the test errors carry their 95%
Clopper–Pearson interval over the test images. Settings and the numbers of the defaults:
``docs/mnist.md``, "Kernel and lazy training".
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from xordsim import fmt
from xordsim.figures.common import MAX_WIDTH_IN, settings_text, style
from xordsim.figures.registry import get as get_figure
from xordsim.io import save_figure, write_csv
from xordsim.mnist.data import load_dataset, stratified_indices
from xordsim.mnist.figures import _train_text
from xordsim.mnist.net import ConvNet
from xordsim.mnist.ntk import (
    conv_ntk,
    params_relative_change,
    relative_change,
    spectrum_summary,
    trace_kernel,
    unit_measures,
)
from xordsim.mnist.train import TrainConfig, evaluate, train
from xordsim.seeds import substream
from xordsim.stats import proportion_ci

NAME = "mnist-lazy"
#: Columns of ``mnist-lazy.csv`` (one row per channel count).
LAZY_COLUMNS = [
    "channels", "n_params", "ntk_images",
    "lambda_min_full", "lambda_max_full", "lambda_min_full_per_c",
    "lambda_min_trace", "lambda_max_trace", "lambda_min_trace_per_c",
    "lambda_min_full_ntk_param", "lambda_min_trace_ntk_param", "fc_share_of_trace",
    "lambda_min_full_final_per_c", "lambda_min_trace_final_per_c",
    "rel_weight_change", "rel_weight_change_conv", "rel_weight_change_fc",
    "rel_kernel_change", "rel_kernel_change_trace",
    "filter_change_q10", "filter_change_median", "filter_change_q90", "filter_norm0_median",
    "fc_norm_q10", "fc_norm_median", "fc_norm_q90", "fc_norm0_median", "fc_change_median",
    "epochs_run", "steps", "final_train_loss", "diverged", "train_error", "test_error",
    "test_error_ci95_low", "test_error_ci95_high",
]  # no run times: the same seed writes the same CSV (the sidecar has the figure's seconds)
#: The columns measured on the trained network (NaN when its training diverged).
AFTER_COLUMNS = LAZY_COLUMNS[LAZY_COLUMNS.index("lambda_min_full_final_per_c"):
                             LAZY_COLUMNS.index("fc_change_median") + 1]
#: Columns of ``mnist-lazy-lr.csv`` (one row per channel count and learning rate).
LR_COLUMNS = ["channels", "lr", "final_train_loss", "diverged", "test_error",
              "test_error_ci95_low", "test_error_ci95_high", "best", "criterion"]
WIDTH_COLORS = ["tab:red", "tab:orange", "tab:olive", "tab:green", "tab:cyan", "tab:blue",
                "tab:purple", "tab:brown", "tab:pink", "tab:gray"]


def _config(s: dict, seed: int, lr: float | None = None) -> TrainConfig:
    return TrainConfig(
        epochs=s["epochs"], min_steps=s["min_steps"], batch_size=s["batch_size"],
        optimizer=s["optimizer"], lr=s["lr"] if lr is None else lr, beta1=s["beta1"],
        beta2=s["beta2"], eps=s["eps"], seed=seed,
    ).validate()


def _init(s: dict, channels: int, seed: int) -> ConvNet:
    """The network of width ``channels``: its own named stream, the same for every lr."""
    rng = substream(seed, NAME, channels)
    return ConvNet.create(channels, s["filter_size"], rng, conv_scale=s["init_scale"])


def _train(net: ConvNet, data, cfg: TrainConfig, quiet: bool, desc: str) -> dict:
    """Train ``net`` in place; final loss, divergence, errors with the test interval."""
    with np.errstate(over="ignore", invalid="ignore"):
        hist = train(net, data.x_train, data.y_train, cfg, quiet, desc=desc)
    loss = float(hist["loss"][-1])
    finite = np.isfinite(loss) and all(np.all(np.isfinite(v)) for v in net.params.values())
    if finite:
        test = evaluate(net, data.x_test, data.y_test)
        train_err = evaluate(net, data.x_train, data.y_train)
        wrong = int(round(test * len(data.y_test)))
        lo, hi = proportion_ci(wrong, len(data.y_test))
    else:
        test = train_err = lo = hi = float("nan")
    return {"final_train_loss": loss, "diverged": int(not finite), "test_error": test,
            "train_error": train_err, "test_error_ci95_low": lo, "test_error_ci95_high": hi,
            "epochs_run": hist["epochs"][0]}


def _spectra(gram: np.ndarray, k: int) -> tuple[float, float, float, float]:
    lo, hi = spectrum_summary(gram)
    tlo, thi = spectrum_summary(trace_kernel(gram, k))
    return lo, hi, tlo, thi


def _quantiles(v: np.ndarray) -> tuple[float, float, float]:
    q = np.quantile(v, [0.1, 0.5, 0.9])
    return float(q[0]), float(q[1]), float(q[2])


def mnist_lazy(settings: dict | None = None, seed: int = 0, quiet: bool = True,
               data=None) -> dict:
    """Run the experiment; return ``rows`` (one dict per C, keys :data:`LAZY_COLUMNS`),
    ``lr_rows`` (keys :data:`LR_COLUMNS`), the settings, seed and wall time.

    ``settings``: those of figure ``mnist-lazy`` (missing keys take the registry's
    defaults); ``data`` replaces the dataset the settings name.
    """
    s = get_figure(NAME).resolve(settings)
    t0 = time.perf_counter()
    data = data or load_dataset(s["dataset"], s["n_train"], s["n_test"], seed,
                                s["data_dir"] or None)
    x_ntk = data.x_train[stratified_indices(data.y_train, s["ntk_images"], seed)]
    cfg = _config(s, seed)
    widths = list(s["channels_list"])
    bar = tqdm(total=len(widths) + len(s["lr_channels"]) * len(s["lrs"]), desc=NAME,
               unit="run", disable=quiet)
    rows, done = [], {}
    for c in widths:
        net = _init(s, c, seed)
        k = net.params["fc_b"].size
        p0 = {name: v.copy() for name, v in net.params.items()}
        ntk0 = conv_ntk(p0, x_ntk)
        blocks = ntk0.blocks()
        g0 = ntk0.gram(blocks=blocks)
        lo, hi, tlo, thi = _spectra(g0, k)
        nlo, _, ntlo, _ = _spectra(ntk0.gram("ntk", s["init_scale"], blocks), k)
        del blocks
        tr0 = trace_kernel(g0, k)
        traces = ntk0.block_traces()
        fc_trace = traces["fc_w"] + traces["fc_b"]
        res = _train(net, data, cfg, quiet, f"{c} channels")
        done[(c, s["lr"])] = res
        row = {"channels": c, "n_params": int(sum(v.size for v in p0.values())),
               "ntk_images": len(x_ntk), "lambda_min_full": lo, "lambda_max_full": hi,
               "lambda_min_full_per_c": lo / c, "lambda_min_trace": tlo,
               "lambda_max_trace": thi, "lambda_min_trace_per_c": tlo / c,
               "lambda_min_full_ntk_param": nlo, "lambda_min_trace_ntk_param": ntlo,
               "fc_share_of_trace": fc_trace / float(np.trace(g0))}
        if res["diverged"]:
            row.update(dict.fromkeys(AFTER_COLUMNS, float("nan")))
        else:
            g1 = conv_ntk(net.params, x_ntk).gram()
            flo, _, ftlo, _ = _spectra(g1, k)
            units = unit_measures(net.params, p0)
            fq = _quantiles(units["filter_change"])
            vq = _quantiles(units["fc_norm"])
            row.update({
                "lambda_min_full_final_per_c": flo / c, "lambda_min_trace_final_per_c": ftlo / c,
                "rel_weight_change": params_relative_change(net.params, p0),
                "rel_weight_change_conv": params_relative_change(net.params, p0,
                                                                 ("conv_w", "conv_b")),
                "rel_weight_change_fc": params_relative_change(net.params, p0,
                                                               ("fc_w", "fc_b")),
                "rel_kernel_change": relative_change(g1, g0),
                "rel_kernel_change_trace": relative_change(trace_kernel(g1, k), tr0),
                "filter_change_q10": fq[0], "filter_change_median": fq[1],
                "filter_change_q90": fq[2],
                "filter_norm0_median": float(np.median(units["filter_norm0"])),
                "fc_norm_q10": vq[0], "fc_norm_median": vq[1], "fc_norm_q90": vq[2],
                "fc_norm0_median": float(np.median(units["fc_norm0"])),
                "fc_change_median": float(np.median(units["fc_change"])),
            })
        row.update({"epochs_run": res["epochs_run"],
                    "steps": res["epochs_run"] * -(-len(data.y_train) // s["batch_size"]),
                    **{key: res[key] for key in ("final_train_loss", "diverged", "train_error",
                                                 "test_error", "test_error_ci95_low",
                                                 "test_error_ci95_high")}})
        rows.append(row)
        bar.update(1)
    lr_rows = []
    for c in s["lr_channels"]:
        for lr in s["lrs"]:
            res = done.get((c, lr))
            if res is None:
                res = _train(_init(s, c, seed), data, _config(s, seed, lr), quiet,
                             f"{c} channels lr {lr:g}")
            lr_rows.append({"channels": c, "lr": lr, **{key: res[key] for key in LR_COLUMNS[2:7]},
                            "best": 0, "criterion": s["lr_criterion"]})
            bar.update(1)
        _mark_best([r for r in lr_rows if r["channels"] == c], s["lr_criterion"])
    bar.close()
    return {"settings": s, "seed": seed, "rows": rows, "lr_rows": lr_rows,
            "n_train": int(len(data.y_train)), "n_test": int(len(data.y_test)),
            "seconds": time.perf_counter() - t0}


def _mark_best(rows: list[dict], criterion: str) -> None:
    """Mark the row with the smallest ``criterion`` among those that did not diverge (the
    first in the grid's order on ties)."""
    key = "final_train_loss" if criterion == "train_loss" else "test_error"
    ok = [r for r in rows if not r["diverged"] and np.isfinite(r[key])]
    if ok:
        min(ok, key=lambda r: r[key])["best"] = 1


def best_lrs(lr_rows: list[dict]) -> dict[int, float]:
    """The best lr of every channel count of the grid (``nan`` where every run diverged)."""
    out: dict[int, float] = {}
    for r in lr_rows:
        out.setdefault(r["channels"], float("nan"))
        if r["best"]:
            out[r["channels"]] = r["lr"]
    return out


# ----------------------------------------------------------------------------------------
# drawing


def _col(rows: list[dict], key: str) -> np.ndarray:
    return np.array([r[key] for r in rows], dtype=float)


def _positive(ax, x, y, *args, **kwargs):
    """Plot only the finite positive points (a log axis never gets a zero)."""
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(y) & (y > 0)
    return ax.plot(np.asarray(x, dtype=float)[ok], y[ok], *args, **kwargs)


def _trend(x, y) -> str:
    """'grows / falls by a factor F from C = a to C = b' (finite positive ends only)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(y) & (y > 0)
    if ok.sum() < 2:
        return "not measured"
    i, j = np.flatnonzero(ok)[[0, -1]]
    return (f"{fmt.sig(y[i], 2)} at C = {int(x[i])} to {fmt.sig(y[j], 2)} at C = {int(x[j])} "
            f"(x{fmt.sig(y[j] / y[i], 2)})")


def _transfer_text(lr_rows: list[dict], s: dict) -> str:
    best = best_lrs(lr_rows)
    if not best:
        return ""
    vals = [v for v in best.values() if np.isfinite(v)]
    same = len(set(vals)) == 1 and len(vals) == len(best)
    pairs = ", ".join(f"C = {c}: {v:g}" if np.isfinite(v) else f"C = {c}: none (all diverged)"
                      for c, v in best.items())
    crit = "final training loss" if s["lr_criterion"] == "train_loss" else "test error"
    if not vals:
        verdict = "no width has a run that did not diverge"
    elif same:
        verdict = "the same lr is best at every width (it transfers on this grid)"
    else:
        verdict = (f"the best lr moves with the width (it does not transfer on this grid: "
                   f"best lrs span a factor {fmt.sig(max(vals) / min(vals), 2)})")
    edges = sorted({c for c, v in best.items() if v in (min(s["lrs"]), max(s["lrs"]))})
    edge = (f" At C = {', '.join(map(str, edges))} the best lr is at the edge of the grid, "
            f"so the optimum may lie beyond it." if edges else "")
    return f"Best Adam lr by {crit} (stars): {pairs}; {verdict}.{edge} "


def caption_text(res: dict) -> str:
    """The figure's caption from the result of :func:`mnist_lazy`."""
    s, rows, lr_rows = res["settings"], res["rows"], res["lr_rows"]
    c = _col(rows, "channels")
    shared = {(r["channels"], s["lr"]) for r in rows}  # grid points that reuse a main run
    extra = [r for r in lr_rows if (r["channels"], r["lr"]) not in shared]
    diverged = sum(r["diverged"] for r in rows) + sum(r["diverged"] for r in extra)
    n_runs = len(rows) + len(extra)
    losses = _col(rows, "final_train_loss")
    caption = (
        f"Conv net of Sec. 7 ({s['filter_size']}x{s['filter_size']} conv, 2x2 max-pool, FC, "
        f"PyTorch init with conv range x{s['init_scale']:g}) against the channel count C, one "
        f"network per C (seed {res['seed']}, no interval over seeds). (a) Smallest eigenvalue "
        f"of the empirical NTK Gram at initialization on {rows[0]['ntk_images'] if rows else 0} "
        f"training images (closed form through each pooled cell's arg-max patch), divided by C "
        f"(standard parameterization: the FC block grows ∝ C; the NTK parameterization's "
        f"values are in the CSV): the full (10n x 10n) block matrix and the per-logit trace "
        f"kernel (mean of the 10 diagonal blocks); full-block λ_min/C "
        f"{_trend(c, _col(rows, 'lambda_min_full_per_c'))}; dashed: after training. "
        f"(b) After training ({_train_text(s)}; {res['n_train']} training images; final "
        f"training loss {fmt.sig(np.nanmin(losses), 2) if np.isfinite(losses).any() else 'n/a'}"
        f" to {fmt.sig(np.nanmax(losses), 2) if np.isfinite(losses).any() else 'n/a'}): "
        f"relative weight change {_trend(c, _col(rows, 'rel_weight_change'))}; relative "
        f"kernel change (full Gram, Frobenius) {_trend(c, _col(rows, 'rel_kernel_change'))}. "
        f"Lazy training predicts both fall with C. (c) Per channel j: the filter's change "
        f"‖w_j − w_j⁰‖ and the norm ‖V_j‖ of the FC weights fed by j (every cell and logit), "
        f"median over the C channels with the 10-90% band (‖V_j‖ at init dashed): filter "
        f"change {_trend(c, _col(rows, 'filter_change_median'))}. "
        f"(d) Final training loss (or test error) against the Adam lr for each C of the grid, "
        f"the same initialization and batch order for every lr. "
        + _transfer_text(lr_rows, s)
        + f"Diverged (non-finite) runs: {diverged} of {n_runs} (left out of every panel). "
        f"Test errors with 95% Clopper-Pearson intervals over the {res['n_test']} test images "
        f"in the CSVs. Settings: {settings_text(s)}."
    )
    return caption


def draw_mnist_lazy(res: dict, out_dir: Path) -> tuple[str, list[Path]]:
    """Draw the four panels; write PNG, SVG, ``mnist-lazy.csv`` and ``mnist-lazy-lr.csv``."""
    s, rows, lr_rows = res["settings"], res["rows"], res["lr_rows"]
    out_dir = Path(out_dir)
    c = _col(rows, "channels")
    with style():
        fig = Figure(figsize=(MAX_WIDTH_IN, 6.4), layout="constrained")
        (a1, a2), (a3, a4) = fig.subplots(2, 2)
        _positive(a1, c, _col(rows, "lambda_min_full_per_c"), "-o", color="tab:blue",
                  label="full Gram (10n x 10n)")
        _positive(a1, c, _col(rows, "lambda_min_trace_per_c"), "-s", color="tab:orange",
                  label="trace kernel (n x n)")
        _positive(a1, c, _col(rows, "lambda_min_full_final_per_c"), "--o", color="tab:blue",
                  mfc="white", label="full, after training")
        a1.set(xscale="log", yscale="log", xlabel="channels C", ylabel="λ_min(Θ) / C",
               title="(a) smallest NTK eigenvalue at init")
        _positive(a2, c, _col(rows, "rel_weight_change"), "-o", color="tab:green",
                  label="weights, all")
        _positive(a2, c, _col(rows, "rel_weight_change_conv"), ":^", color="tab:olive",
                  label="weights, conv")
        _positive(a2, c, _col(rows, "rel_weight_change_fc"), ":v", color="tab:cyan",
                  label="weights, FC")
        _positive(a2, c, _col(rows, "rel_kernel_change"), "-D", color="tab:red",
                  label="kernel (full Gram)")
        a2.set(xscale="log", yscale="log", xlabel="channels C", ylabel="relative change",
               title="(b) relative changes after training")
        for key, color, mk, lab in (("filter_change", "tab:purple", "o", "‖w_j − w_j⁰‖"),
                                    ("fc_norm", "tab:brown", "s", "‖V_j‖ trained")):
            med = _col(rows, f"{key}_median")
            lo, hi = _col(rows, f"{key}_q10"), _col(rows, f"{key}_q90")
            ok = np.isfinite(med) & (lo > 0)
            _positive(a3, c, med, "-" + mk, color=color, label=lab)
            a3.fill_between(c[ok], lo[ok], hi[ok], color=color, alpha=0.2, lw=0)
        _positive(a3, c, _col(rows, "fc_norm0_median"), "--", color="tab:brown",
                  label="‖V_j‖ at init")
        a3.set(xscale="log", yscale="log", xlabel="channels C", ylabel="per channel: median",
               title="(c) unit-wise (band: 10-90% of channels)")
        key = "final_train_loss" if s["lr_criterion"] == "train_loss" else "test_error"
        for i, width in enumerate(s["lr_channels"]):
            sel = [r for r in lr_rows if r["channels"] == width]
            color = WIDTH_COLORS[i % len(WIDTH_COLORS)]
            _positive(a4, _col(sel, "lr"), _col(sel, key), "-o", color=color, ms=4,
                      label=f"C = {width}")
            best = [r for r in sel if r["best"]]
            if best:
                a4.plot([best[0]["lr"]], [best[0][key]], "*", color=color, ms=11, mec="k")
        a4.set(xscale="log", yscale="log", xlabel="Adam learning rate",
               ylabel="final training loss" if key == "final_train_loss" else "test error",
               title="(d) learning-rate grid (star: best)")
        for ax in (a1, a2, a3):
            ax.set_xticks(c, [str(int(v)) for v in c], minor=False)
            ax.minorticks_off()
        for ax in (a1, a2, a3, a4):
            ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.12), ncol=2, frameon=False,
                      borderaxespad=0.0, fontsize=8, handlelength=1.6, columnspacing=0.8)
    caption = caption_text(res)
    paths = save_figure(fig, out_dir, NAME, caption=caption)
    paths.append(write_csv(out_dir / f"{NAME}.csv", LAZY_COLUMNS,
                           [[r[k] for k in LAZY_COLUMNS] for r in rows]))
    paths.append(write_csv(out_dir / f"{NAME}-lr.csv", LR_COLUMNS,
                           [[r[k] for k in LR_COLUMNS] for r in lr_rows]))
    return caption, paths


def build_mnist_lazy(settings: dict, seed: int, out_dir: Path, quiet: bool):
    """Figure ``mnist-lazy``: run the experiment and draw it -> (caption, paths)."""
    return draw_mnist_lazy(mnist_lazy(settings, seed, quiet), Path(out_dir))


__all__ = ["LAZY_COLUMNS", "LR_COLUMNS", "best_lrs", "build_mnist_lazy", "draw_mnist_lazy",
           "mnist_lazy"]
