"""Capacity against width on MNIST (Neyshabur et al., ICLR 2019, seed 003, Sec. 5):
figure ``capacity-width``.

For every width h of ``widths`` and every replicate r < ``seeds``, a two-layer fully
connected ReLU net f(x) = V[Ux + b]₊ + c (:class:`xordsim.mnist.fc.FCNet`, 10 outputs) is
trained as in the paper's public code (``main.py`` of bneyshabur/over-parametrization at
its latest commit c4b223f):
PyTorch's default init of weights and biases, SGD with lr 10⁻³ and momentum 0.9 (PyTorch's
convention), batch 64, softmax cross-entropy, until the epoch-average training
cross-entropy falls below ``stop_loss`` = 0.01 or ``epochs`` (the cap; the code's is
1,000). Then every measure and bound of :func:`xordsim.measures.capacity.capacity_measures`
is computed (with biases; margin γ = the 5th percentile of f_y − max_{j≠y} f_j on the
training set, δ = ``delta``; data_Linf with the training batch size over the training set
in its order), with the train and test error.

Data: the shipped ``mnist5k`` digits (or the IDX datasets), 28×28, flattened to D = 784.
The code resizes MNIST to 32×32 (D = 1024) and standardizes it with mean 0.131 and std
0.289; here the images stay 28×28 (no resampling) and are standardized with the same two
constants (``standardize``; false: pixels in [0, 1], which converges about 4× more slowly
in epochs). No augmentation, as the code's latest ``main.py`` (c4b223f, 2018-11-16; its
versions before 2018-11 cropped and flipped the training images).

Every run writes one JSON (atomic) in ``OUT/runs/capacity-width/``; a rerun with the same
settings, seed and version reuses it, so an interrupted figure resumes. The figure draws
each measure and bound against h normalized by its mean at the smallest h (log scale),
beside the train and test error; the CSV has one row per (h, replicate) with every
measure. Settings, rationale and numbers: ``docs/mnist.md``, "Capacity against width".
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from tqdm.auto import tqdm

import xordsim
from xordsim import fmt
from xordsim.figures.common import MAX_WIDTH_IN, settings_text, style
from xordsim.io import save_figure, write_csv, write_json
from xordsim.measures.capacity import KEYS, capacity_measures
from xordsim.mnist.config import N_CLASSES, TrainConfig
from xordsim.mnist.data import Dataset, load_dataset
from xordsim.mnist.fc import FCNet
from xordsim.mnist.layers import one_blas_thread
from xordsim.mnist.train import evaluate, train
from xordsim.seeds import substream
from xordsim.stats import mean_ci

NAME = "capacity-width"
#: The code's standardization of MNIST (``transforms.Normalize(mean=[0.131], std=[0.289])``).
MNIST_MEAN, MNIST_STD = 0.131, 0.289
#: "Our bound"'s two terms: (data term + width term)², data term = A/γ (the norms and the
#: data), width term = 3√(5h + ln(max(1, γ√m)/δ)) (≥ 3√(5h) whatever the weights).
TERM_KEYS = ("our_bound_data_term", "our_bound_width_term")
COLUMNS = ["h", "seed", "converged", "epochs", "final_train_loss", "train_error",
           "test_error", *KEYS, *TERM_KEYS]
#: What each panel draws (every key is in the CSV).
BOUNDS = ("VC bound", "L1max bound", "Fro bound", "Spec_L1 bound", "Spec_Fro bound",
          "Our bound")
NORMS = ("Frobenius1", "Frobenius2", "Distance1", "Distance2", "Spectral1", "Spectral2")
PRODUCTS = ("Fro_Fro", "L1max_L1max", "Spec_Dist_sum", "Spec_L1max_sum", "Dist_Fro_sum",
            "#parameter", "margin")
_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown",
           "tab:gray")
_MARKERS = ("o", "s", "^", "v", "D", "P", "X")


def prepare(data: Dataset, standardize: bool) -> tuple[np.ndarray, np.ndarray]:
    """Training and test images flattened to (N, 784) float32, standardized with the code's
    constants when ``standardize``."""
    out = []
    for x in (data.x_train, data.x_test):
        x = x.reshape(len(x), -1).astype(np.float32)
        if standardize:
            x = (x - np.float32(MNIST_MEAN)) / np.float32(MNIST_STD)
        out.append(np.ascontiguousarray(x, dtype=np.float32))
    return out[0], out[1]


def our_bound_terms(bound: float, h: int, margin: float, m: int, delta: float
                    ) -> tuple[float, float]:
    """(data term, width term) of "Our bound" = (data + width)²: width = 3√(5h +
    ln(max(1, γ√m)/δ)) as in :mod:`xordsim.measures.capacity`, data = √bound − width
    (the 3√2(√(2C)+1)(‖V‖_F+1)(…)/γ term). NaN when the bound is (γ <= 0)."""
    if not math.isfinite(bound):
        return float("nan"), float("nan")
    width = 3.0 * math.sqrt(5 * h + math.log(max(1.0, margin * math.sqrt(m)) / delta))
    return math.sqrt(bound) - width, width


def run_key(s: dict, seed: int) -> dict:
    """What a stored run depends on besides (h, replicate): the data, the training and
    δ, the figure's seed and the xordsim version."""
    keys = ("dataset", "data_dir", "n_train", "n_test", "standardize", "epochs", "stop_loss",
            "batch_size", "lr", "momentum", "delta")
    return {"seed": int(seed), "version": xordsim.__version__, **{k: s[k] for k in keys}}


def _json_safe(d: dict) -> dict:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in d.items()}


def _from_json(d: dict) -> dict:
    return {k: (float("nan") if v is None else v) for k, v in d.items()}


def train_one(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
              y_test: np.ndarray, h: int, replicate: int, s: dict, seed: int) -> dict:
    """Train one width-h net (replicate ``replicate``) and measure it: a dict with
    ``converged``, ``epochs``, ``final_train_loss``, ``train_error``, ``test_error``, every
    key of :data:`~xordsim.measures.capacity.KEYS`, the two terms of "Our bound",
    ``seconds`` (wall) and ``cpu_seconds`` (this process's CPU time). The init and the
    batch order come from named streams of ``seed``, h and the replicate
    (:func:`xordsim.seeds.substream`)."""
    t0, c0 = time.perf_counter(), time.process_time()
    net = FCNet.create(h, n_in=x_train.shape[1], n_out=N_CLASSES,
                       seed=substream(seed, NAME + "/init", h, replicate))
    init = {k: v.copy() for k, v in net.params.items()}
    order = int(substream(seed, NAME + "/order", h, replicate).integers(2**63))
    cfg = TrainConfig(epochs=s["epochs"], batch_size=s["batch_size"], optimizer="sgd",
                      lr=s["lr"], momentum=s["momentum"], seed=order)
    hist = train(net, x_train, y_train, cfg, stop_loss=s["stop_loss"])
    p = {k: v.astype(np.float64) for k, v in net.params.items()}
    p0 = {k: v.astype(np.float64) for k, v in init.items()}
    meas = capacity_measures(p["U"], p["b"], p["V"], p["c"], p0["U"], p0["b"], p0["V"],
                             p0["c"], x_train.astype(np.float64), y_train,
                             delta=s["delta"], batch_size=s["batch_size"])
    data_term, width_term = our_bound_terms(meas["Our bound"], h, meas["margin"],
                                            len(y_train), s["delta"])
    return {"h": h, "seed": replicate, "converged": bool(hist["stopped"][0]),
            "epochs": len(hist["loss"]), "final_train_loss": float(hist["loss"][-1]),
            "train_error": evaluate(net, x_train, y_train),
            "test_error": evaluate(net, x_test, y_test), **meas,
            "our_bound_data_term": data_term, "our_bound_width_term": width_term,
            "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0}


def capacity_width(s: dict, seed: int, out_dir: Path | None = None, quiet: bool = True,
                   data: Dataset | None = None) -> list[dict]:
    """Every run of the figure (full validated settings ``s``), widths outer, replicates
    inner; with ``out_dir`` each run is stored in ``out_dir/runs/capacity-width/`` and
    reused when its settings, seed and version match."""
    data = data or load_dataset(s["dataset"], s["n_train"], s["n_test"], seed,
                                s["data_dir"] or None)
    x_train, x_test = prepare(data, s["standardize"])
    key = run_key(s, seed)
    store = None if out_dir is None else Path(out_dir) / "runs" / NAME
    todo = [(h, r) for h in s["widths"] for r in range(s["seeds"])]
    bar = tqdm(todo, desc=NAME, unit="net", disable=quiet, leave=False)
    # one BLAS thread: the numbers do not depend on the thread count, and the small matrix
    # products of batch 64 do not wait for threads busy elsewhere (xordsim.mnist.ntk)
    with one_blas_thread():
        runs = [_run(store, key, x_train, data.y_train, x_test, data.y_test, h, r, s, seed,
                      bar) for h, r in bar]
    bar.close()
    return runs


def _run(store, key, x_train, y_train, x_test, y_test, h, r, s, seed, bar) -> dict:
    """One run, read from ``store`` when it holds it with the same ``key``, else trained
    and stored."""
    bar.set_postfix(h=h, seed=r)
    path = None if store is None else store / f"h{h}-seed{r}.json"
    if path is not None and path.is_file():
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            doc = None
        if isinstance(doc, dict) and doc.get("key") == key and isinstance(doc.get("run"), dict):
            return _from_json(doc["run"])
    run = train_one(x_train, y_train, x_test, y_test, h, r, s, seed)
    if path is not None:
        write_json(path, {"key": key, "run": _json_safe(run)})
    return run


# ----------------------------------------------------------------------------------------
# the figure


def normalized(runs: list[dict], key: str, widths) -> tuple[np.ndarray, np.ndarray,
                                                             np.ndarray]:
    """(mean, min, max) over replicates of ``key`` at each width, divided by its mean at the
    smallest width (NaN where undefined)."""
    vals = [np.array([r[key] for r in runs if r["h"] == h], dtype=float) for h in widths]
    with np.errstate(invalid="ignore", divide="ignore"):
        base = np.nanmean(vals[0]) if np.isfinite(vals[0]).any() else np.nan
        out = np.full((3, len(widths)), np.nan)
        for i, v in enumerate(vals):
            v = v[np.isfinite(v)]
            if v.size and np.isfinite(base) and base > 0:
                out[:, i] = v.mean() / base, v.min() / base, v.max() / base
    return out[0], out[1], out[2]


def _ratio_text(runs, keys, widths) -> str:
    parts = []
    for key in keys:
        mean, _, _ = normalized(runs, key, widths)
        parts.append(f"{key} ×{fmt.sig(mean[-1], 3)}" if np.isfinite(mean[-1])
                     else f"{key} undefined")
    return ", ".join(parts)


def _our_bound_text(runs, widths) -> str:
    """Which term of "Our bound" dominates, with numbers (means over replicates)."""
    def mean(key, h):
        v = np.array([r[key] for r in runs if r["h"] == h], dtype=float)
        v = v[np.isfinite(v)]
        return float(v.mean()) if v.size else float("nan")

    data = [mean("our_bound_data_term", h) for h in widths]
    width = [mean("our_bound_width_term", h) for h in widths]
    if not np.isfinite(data).any():
        return ("\"Our bound\" is undefined at every width (margin γ <= 0: the nets do not "
                "fit 95% of the training set). ")
    lo, hi = widths[0], widths[-1]
    wins = [h for h, d, w in zip(widths, data, width, strict=True)
            if np.isfinite(d) and w > d]
    where = ("the width term dominates at every width" if len(wins) == len(widths) else
             "the data term dominates at every width" if not wins else
             f"the width term dominates at h = {', '.join(map(str, wins))}")
    cross = ""
    if np.isfinite(data[-1]) and data[-1] > width[-1]:
        cross = (f" (with the data term fixed at its value at h = {hi}, the width term would "
                 f"reach it at h ≈ {fmt.sig(width_crossing(data[-1]), 2)})")
    return (f"\"Our bound\" = (data term + 3√(5h + ln(max(1, γ√m)/δ)))²: the data term "
            f"(3√2(√(2C)+1)(‖V‖_F+1)(…)/γ) is {fmt.sig(data[0], 3)} at h = {lo} and "
            f"{fmt.sig(data[-1], 3)} at h = {hi}, the width term {fmt.sig(width[0], 3)} and "
            f"{fmt.sig(width[-1], 3)}: {where}{cross}. The bound changes "
            f"×{fmt.sig(normalized(runs, 'Our bound', widths)[0][-1], 3)} from h = {lo} to "
            f"{hi}; the width term alone, which makes it at least 45h, grows "
            f"×{fmt.sig((width[-1] / width[0]) ** 2, 3)}. ")


def width_crossing(data_term: float) -> float:
    """The width h at which 3√(5h) equals ``data_term`` (the ln term left out): where the
    width term of "Our bound" would overtake a data term that stayed at this value."""
    return (data_term / 3.0) ** 2 / 5.0


def _errors_text(runs, widths) -> str:
    def ci(key, h):
        values = [r[key] for r in runs if r["h"] == h]
        m, lo, hi = mean_ci(values)
        if len(values) < 2:
            return f"{fmt.sig(100 * m, 3)}%"
        return f"{fmt.sig(100 * m, 3)}% [{fmt.sig(100 * max(lo, 0.0), 3)}%, " \
               f"{fmt.sig(100 * min(hi, 1.0), 3)}%]"

    lo, hi = widths[0], widths[-1]
    return (f"Test error {ci('test_error', lo)} at h = {lo}, {ci('test_error', hi)} at "
            f"h = {hi}; train error {ci('train_error', lo)} and {ci('train_error', hi)}. ")


def caption_text(runs: list[dict], s: dict) -> str:
    """The figure's caption: how the runs were obtained, how many converged, the errors,
    which term of "Our bound" dominates and how every bound grows, with numbers."""
    widths = list(s["widths"])
    n_rep = s["seeds"]
    not_conv = [(r["h"], r["seed"]) for r in runs if not r["converged"]]
    n_runs = len(runs)
    conv = n_runs - len(not_conv)
    spread = ("bars: min to max over the replicates (each divided by the same mean)"
              if n_rep > 1 else "one replicate, no bars")
    interval = ("its 95% Student-t interval clipped to [0, 100%]" if n_rep > 1 else
                "no interval (one replicate)")
    nc_text = (f"{conv} of {n_runs} runs reached the stop loss; the others hit the "
               f"{s['epochs']}-epoch cap: " + ", ".join(f"h = {h} seed {r}" for h, r in
                                                         not_conv[:8])
               + (" …" if len(not_conv) > 8 else "") + " (open black rings in (a)). "
               if not_conv else f"All {n_runs} runs reached the stop loss. ")
    undefined = sum(1 for r in runs if not np.isfinite(r["Our bound"]))
    undef_text = (f"{undefined} runs have margin γ <= 0, their margin bounds are undefined "
                  "(left out of the means). " if undefined else "")
    pre = ("standardized with the code's mean 0.131 and std 0.289" if s["standardize"]
           else "pixels in [0, 1] (not standardized)")
    return (
        f"Capacity against width (Neyshabur et al., Sec. 5). Two-layer ReLU nets "
        f"f(x) = V[Ux + b]₊ + c with h hidden units, {n_rep} replicate"
        f"{'s' if n_rep > 1 else ''} per width (each "
        f"its own init and batch order), trained on {s['n_train']} {s['dataset']} digits "
        f"(28×28 = 784 inputs, {pre}; the code resizes to 32×32) with PyTorch's default "
        f"init, SGD lr {s['lr']:g}, momentum {s['momentum']:g}, batch {s['batch_size']}, "
        f"until the epoch-average training cross-entropy is below {s['stop_loss']:g} or "
        f"{s['epochs']} epochs. {nc_text}(a) mean error over the replicates with "
        f"{interval} (test: {s['n_test']} held-out digits). "
        f"(b)–(d) every measure of xordsim.measures.capacity (with biases; margin γ = 5th "
        f"percentile of f_y − max_(j≠y) f_j on the training set, δ = {s['delta']:g}) as "
        f"the mean over the replicates divided by its mean at h = {widths[0]}; {spread}. "
        f"{_errors_text(runs, widths)}{_our_bound_text(runs, widths)}"
        f"From h = {widths[0]} to {widths[-1]}: {_ratio_text(runs, BOUNDS[:-1], widths)}; "
        f"{_ratio_text(runs, ('Distance1', 'Frobenius1', 'Spectral1', 'Frobenius2'), widths)}."
        f" {undef_text}CSV: one row per (h, replicate), every measure. "
        f"Settings: {settings_text(s)}."
    )


def draw_capacity_width(runs: list[dict], s: dict, seed: int, out_dir: Path
                        ) -> tuple[str, list[Path]]:
    """Draw the figure from the runs; write PNG, SVG, the CSV. Returns (caption, paths)."""
    out_dir = Path(out_dir)
    widths = list(s["widths"])
    n_rep = s["seeds"]
    x = np.array(widths, dtype=float)
    not_conv = [(r["h"], r["seed"]) for r in runs if not r["converged"]]
    with style():
        fig = Figure(figsize=(MAX_WIDTH_IN, 7.6), layout="constrained")
        axes = fig.subplots(2, 2)
        ax = axes[0, 0]
        for key, color, marker, label in (("train_error", "tab:blue", "o", "train"),
                                          ("test_error", "tab:red", "s", "test")):
            stats = np.array([mean_ci([r[key] for r in runs if r["h"] == h]) for h in widths])
            m = 100 * stats[:, 0]
            lo = 100 * np.clip(stats[:, 1], 0, 1)
            hi = 100 * np.clip(stats[:, 2], 0, 1)
            ax.errorbar(x, m, yerr=[m - lo, hi - m], color=color, marker=marker, capsize=3,
                        label=f"{label} error")
            bad = [i for i, h in enumerate(widths) if any(hh == h for hh, _ in not_conv)]
            if bad:
                ax.plot(x[bad], m[bad], ls="none", marker=marker, ms=10, mfc="none",
                        color="black", label="a replicate hit the epoch cap")
        ax.set_ylabel("error (%)")
        ax.set_title("(a) train and test error")
        panels = ((axes[0, 1], BOUNDS, "(b) bounds"), (axes[1, 0], NORMS, "(c) norms"),
                  (axes[1, 1], PRODUCTS, "(d) norm products, #param, margin"))
        for ax, keys, title in panels:
            for j, key in enumerate(keys):
                mean, lo, hi = normalized(runs, key, widths)
                ok = np.isfinite(mean) & (mean > 0)
                if not ok.any():
                    continue
                yerr = [mean[ok] - lo[ok], hi[ok] - mean[ok]] if n_rep > 1 else None
                ax.errorbar(x[ok], mean[ok], yerr=yerr, color=_COLORS[j % 7],
                            marker=_MARKERS[j % 7], ms=4, capsize=2, lw=1.2, label=key)
            if keys is BOUNDS:
                mean, _, _ = normalized(runs, "our_bound_width_term", widths)
                ok = np.isfinite(mean) & (mean > 0)
                if ok.any():
                    ax.plot(x[ok], mean[ok] ** 2, color=_COLORS[5], ls=":", lw=1.2,
                            label="Our bound's width term alone")
            ax.set_yscale("log")
            ax.set_title(title)
            ax.set_ylabel(f"value / value at h = {widths[0]}")
        for ax in axes.ravel():
            ax.set_xscale("log", base=2)
            ax.set_xlabel("hidden units h")
            handles, labels = ax.get_legend_handles_labels()
            if handles:
                ax.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 1.1),
                          ncol=2, frameon=False, borderaxespad=0.0, fontsize=8)
        fig.suptitle(f"Capacity against width: two-layer ReLU nets on {s['dataset']} "
                     "(Neyshabur et al.)")
    caption = caption_text(runs, s)
    paths = save_figure(fig, out_dir, NAME, caption=caption)
    rows = [[r[c] if c not in ("converged",) else int(r[c]) for c in COLUMNS] for r in runs]
    paths.append(write_csv(out_dir / f"{NAME}.csv", COLUMNS, rows))
    return caption, paths


def build_capacity_width(settings: dict, seed: int, out_dir: Path, quiet: bool):
    """Figure ``capacity-width``: train (or reuse) every run, then draw -> (caption, paths)."""
    runs = capacity_width(settings, seed, Path(out_dir), quiet)
    return draw_capacity_width(runs, settings, seed, Path(out_dir))


__all__ = ["BOUNDS", "COLUMNS", "MNIST_MEAN", "MNIST_STD", "NAME", "NORMS", "PRODUCTS",
           "TERM_KEYS", "build_capacity_width", "capacity_width", "caption_text",
           "draw_capacity_width", "normalized", "our_bound_terms", "prepare", "run_key",
           "train_one", "width_crossing"]
