"""Random labels on real digits (Arora et al., ICML 2019, seed ``002``): figure ``random-labels``.

Arora, Du, Hu, Li and Wang explain two observations of Zhang et al. (ICLR 2017) with the
Gram matrix H^∞ of a wide two-layer ReLU net (their Eq. (3)-(4); here
:func:`xordsim.measures.kernel.arora_h_inf`):

* **training speed** (their Theorem 4.1): gradient descent on Φ(W) = ½ Σ_i (y_i − u_i)²
  with step η moves the outputs u(t) as u(t+1) − y ≈ (I − ηH^∞)(u(t) − y), so

      ‖y − u(t)‖² ≈ Σ_i (1 − ηλ_i)^{2t} (v_iᵀ(y − u(0)))²          (Theorem 4.1)

  with (λ_i, v_i) the eigenpairs of H^∞; labels aligned with the top eigenvectors (true
  labels) are fitted faster than labels spread over all of them (random labels);
* **generalization** (their Theorem 5.1): the test error is bounded by the data-dependent
  complexity sqrt(2 yᵀ(H^∞)⁻¹y / n) (:func:`xordsim.measures.kernel.arora_complexity`),
  which grows with the fraction of random labels.

This module reproduces both on a binary task of two digit classes of the shipped 5,000-digit
set, or of an IDX dataset when given (:func:`binary_task`): a fraction p of the training
labels is replaced by uniform ±1 draws (:func:`corrupt_labels`; about p/2 of them change),
and for each p it computes the complexity, trains Arora et al.'s net
(:func:`xordsim.mnist.fc.arora_net`: f(x) = (1/√m) Σ_r a_r σ(w_r·x), a_r = ±1 fixed,
w_r(0) ~ N(0, κ²I), no biases, ‖x‖ = 1) by
full-batch GD on Φ (a sum, their Eq. 3) and compares its training-loss curve with the
prediction above (:func:`predicted_loss`, η = ``lr_scale``/λ_max(H^∞) < 2/λ_max).

**The GD runs in the span of the training inputs** (:func:`gd_gram`): every gradient
∂Φ/∂w_r = (1/√m) a_r Σ_i (u_i − y_i) 1{w_r·x_i > 0} x_i lies in span{x_i}, so the
pre-activations Z = XWᵀ follow Z(t+1) = Z(t) − η G M(t) with G = XXᵀ and
M_ir = (u_i − y_i) a_r/√m 1{Z_ir > 0}, and W(T) = W(0) − η (Σ_t M(t))ᵀX. This is the same
GD as :func:`xordsim.mnist.fc.gd_full_batch` (the tests compare the two trajectories in
float64) at 2n²m instead of 4nDm operations a step (n ≤ D = 784 training images here).

Settings the paper leaves open (or that the seed text does not give), the defaults chosen
and their cost are in ``docs/mnist.md`` ("Random labels").
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from xordsim import fmt
from xordsim._validate import InputError, check_float, check_int
from xordsim.figures.common import MAX_WIDTH_IN, settings_text, style
from xordsim.io import save_figure, write_csv
from xordsim.measures.kernel import arora_complexity, arora_h_inf
from xordsim.mnist.fc import FCNet, GDCurve, arora_net
from xordsim.mnist.layers import one_blas_thread
from xordsim.seeds import substream
from xordsim.stats import proportion_ci

#: Images per class in the shipped ``mnist5k`` set (so n_train + n_test <= 1000).
PER_CLASS = 500
#: Columns of ``random-labels.csv``: one row per fraction p.
COLUMNS = ["p", "n_train", "n_replaced", "n_changed", "complexity", "width", "steps", "eta",
           "loss_initial", "loss_final", "loss_predicted_final", "max_rel_deviation",
           "converged", "train_error", "test_error", "test_error_ci95_low",
           "test_error_ci95_high", "n_test"]
#: Columns of ``random-labels-curves.csv``: the loss curves, measured and predicted.
CURVE_COLUMNS = ["p", "step", "loss_measured", "loss_predicted"]
#: At most this many recorded steps per curve (``record_every`` = ceil(steps / this)).
CURVE_POINTS = 200
DTYPES = {"float32": np.float32, "float64": np.float64}


def unit_rows(images) -> np.ndarray:
    """Images (N, 28, 28) or (N, D) as float64 rows of Euclidean norm 1 (Arora et al.'s
    assumption ‖x‖ = 1); an all-zero image is refused."""
    X = np.asarray(images, dtype=np.float64)
    X = X.reshape(X.shape[0], -1)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise InputError("images must not be all zero (they are scaled to unit norm)")
    return X / norms


def binary_task(classes=(0, 1), n_train: int = 500, n_test: int = 500, seed: int = 0,
                dataset: str = "mnist5k", data_dir: str | os.PathLike | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two digit classes of a dataset as a ±1 task on unit-norm images.

    ``mnist5k`` (the shipped 5,000 digits): the 2 × 500 images of ``classes`` are split by
    :func:`xordsim.mnist.data.stratified_split` (seed ``seed``: ``n_test`` test images,
    class proportions kept) and ``n_train`` training images are drawn from the rest
    (:func:`~xordsim.mnist.data.stratified_indices`, seed ``seed + 1``), as
    :func:`~xordsim.mnist.data.load_dataset` draws its sets. An IDX dataset (``mnist``,
    ``fashion-mnist``; ``data_dir`` or ``$XORDSIM_DATA_DIR``): the training images come from
    the images of ``classes`` in its training file and the test images from its ``t10k``
    file (stratified draws, seeds ``seed`` and ``seed + 1``, as ``load_dataset``). Label +1
    for ``classes[0]``, −1 for ``classes[1]``.

    Returns (X_train (n_train, 784), y_train, X_test (n_test, 784), y_test), X float64 with
    unit rows, y float64 ±1 (true labels).
    """
    from xordsim.mnist.config import DataConfig
    from xordsim.mnist.data import (
        load_idx_dir,
        load_mnist5k,
        resolve_data_dir,
        stratified_indices,
        stratified_split,
    )

    dataset = DataConfig.params()["dataset"].check(dataset)
    classes = tuple(int(check_int("classes", c, 0, 9)) for c in classes)
    if len(classes) != 2 or classes[0] == classes[1]:
        raise InputError(f"classes must name two different digits, got {classes}")
    n_train = check_int("n_train", n_train, 2, None)
    n_test = check_int("n_test", n_test, 1, None)
    if dataset == "mnist5k":
        if n_train + n_test > 2 * PER_CLASS:
            raise InputError(f"n_train + n_test must be at most {2 * PER_CLASS} (two classes "
                             f"of the mnist5k set); got {n_train} + {n_test}")
        images, labels = load_mnist5k()
        keep = np.flatnonzero(np.isin(labels, classes))
        images, labels = images[keep], labels[keep]
        rest, test = stratified_split(labels, n_test, seed)
        train = rest[stratified_indices(labels[rest], n_train, seed + 1)]
        sign = np.where(labels == classes[0], 1.0, -1.0)
        return unit_rows(images[train]), sign[train], unit_rows(images[test]), sign[test]
    directory = resolve_data_dir(dataset, data_dir)
    parts = []
    for part, n, name, part_seed in (("train", n_train, "n_train", seed),
                                     ("test", n_test, "n_test", seed + 1)):
        images, labels = load_idx_dir(directory, part)
        keep = np.flatnonzero(np.isin(labels, classes))
        if n > len(keep):
            raise InputError(f"{name} must be at most {len(keep)} (the images of classes "
                             f"{classes[0]},{classes[1]} in the {part} file of {dataset}); "
                             f"got {n}")
        pick = keep[stratified_indices(labels[keep], n, part_seed)]
        parts += [unit_rows(images[pick]), np.where(labels[pick] == classes[0], 1.0, -1.0)]
    return tuple(parts)


def replaced_count(n: int, fraction: float) -> int:
    """round(p·n), halves rounded up: the number of labels replaced at fraction p."""
    return int(np.floor(fraction * n + 0.5))


def corrupt_labels(y, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Replace exactly round(p·n) of the labels ``y`` (±1) by uniform ±1 draws.

    Zhang et al.'s corruption, as Arora et al. use it ("a portion of random labels"): the
    replaced labels are drawn uniformly from {−1, +1}, independently of the image, so about
    half of them keep their value (about p/2 of all labels change; the second array says
    which were replaced, ``y_new != y`` which changed). The draws are nested: one random order
    of the points and one ±1 draw per point, both from the stream ``seed``; fraction p
    replaces the first round(p·n) points of that order, so a larger p corrupts a superset
    with the same new labels.

    Returns (y_new float64 (n,), replaced bool (n,)).
    """
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1 or y.size == 0 or not np.all(np.abs(y) == 1):
        raise InputError("y must be a non-empty 1-d array of labels +-1")
    fraction = check_float("fraction", fraction, 0, 1)
    n = y.size
    rng = substream(seed, "random-labels/labels", n)
    order = rng.permutation(n)
    draws = 2.0 * rng.integers(0, 2, n) - 1.0
    replaced = np.zeros(n, dtype=bool)
    replaced[order[:replaced_count(n, fraction)]] = True
    return np.where(replaced, draws, y), replaced


def h_inf_eigen(H) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (ascending, clipped at 0: H^∞ is positive semi-definite) and
    orthonormal eigenvectors (columns) of the symmetric ``H``."""
    H = np.asarray(H, dtype=np.float64)
    lam, V = np.linalg.eigh(0.5 * (H + H.T))
    return np.maximum(lam, 0.0), V


def predicted_loss(lam, V, y, u0, eta: float, steps) -> np.ndarray:
    """Arora et al.'s Theorem 4.1: ‖y − u(t)‖² ≈ Σ_i (1 − ηλ_i)^{2t} (v_iᵀ(y − u(0)))².

    Exactly ‖(I − ηH)^t (y − u(0))‖² for H = V diag(λ) Vᵀ: the loss of the linearized model
    u(t+1) = u(t) − ηH(u(t) − y) (GD on Φ = ½ Σ_i (y_i − u_i)², a sum; η/n if Φ were a mean).

    Parameters
    ----------
    lam, V : eigenvalues (n,) and eigenvectors (n, n) of H (:func:`h_inf_eigen`)
    y, u0 : labels and initial outputs (n,)
    eta : the step η (> 0)
    steps : int array of the steps t (>= 0) to evaluate

    Returns
    -------
    ndarray of ‖y − u(t)‖² (not divided by n), one per step.
    """
    eta = check_float("eta", eta, 0, low_open=True)
    steps = np.asarray(steps, dtype=np.int64)
    if np.any(steps < 0):
        raise InputError("steps must be >= 0")
    coef2 = (np.asarray(V, dtype=np.float64).T
             @ (np.asarray(y, dtype=np.float64) - np.asarray(u0, dtype=np.float64))) ** 2
    rate = (1.0 - eta * np.asarray(lam, dtype=np.float64)) ** 2  # (1 - eta lam)^2 per step
    with np.errstate(under="ignore"):
        return np.array([float(np.sum(rate ** int(t) * coef2)) for t in steps])


def gd_gram(net: FCNet, X, y, lr: float, steps: int, record_every: int = 1) -> GDCurve:
    """Full-batch GD on Arora et al.'s net (:func:`xordsim.mnist.fc.arora_net`), run in the
    span of the training inputs; the same updates as :func:`xordsim.mnist.fc.gd_full_batch`.

    W ← W − η ∂Φ/∂W with Φ = ½ Σ_i (y_i − f(x_i))² (their Eq. 3). With G = XXᵀ, a = √m·V
    and M_ir = (u_i − y_i) a_r/√m 1{Z_ir > 0}: ∂Φ/∂W = MᵀX, so the pre-activations
    Z = XWᵀ step as Z ← Z − ηGM and W(T) = W(0) − η(Σ_t M(t))ᵀX, written back into
    ``net.params["U"]`` at the end. In the network's dtype.

    Returns the loss Φ at t = 0, ``record_every``, 2·``record_every``, ... and at ``steps``
    (as :func:`~xordsim.mnist.fc.gd_full_batch`).
    """
    if (net.bias or net.loss != "squared" or net.reduction != "sum" or net.n_out != 1
            or net.frozen != {"V"}):
        raise InputError("gd_gram trains Arora et al.'s net (xordsim.mnist.fc.arora_net) only")
    lr = check_float("lr", lr, 0, low_open=True)
    steps = check_int("steps", steps, 0)
    record_every = check_int("record_every", record_every, 1)
    X = net.flatten(X)
    dt = net.dtype
    y = np.asarray(y, dtype=dt)
    if y.shape != (len(X),) or len(X) == 0:
        raise InputError(f"y must have shape ({len(X)},) with at least one point; got "
                         f"{y.shape}")
    U0 = net.params["U"]
    a = net.params["V"][0]  # a_r / sqrt(m)
    G = X @ X.T
    Z = X @ U0.T
    S = np.zeros_like(Z)
    ts, losses = [], []

    def residual():
        return np.maximum(Z, 0) @ a - y

    G_lr = dt.type(lr) * G
    for t in range(steps):
        r = residual()
        if t % record_every == 0:
            ts.append(t)
            losses.append(0.5 * float(np.sum(np.square(r, dtype=np.float64))))
        M = np.outer(r, a)
        M *= Z > 0
        Z -= G_lr @ M
        S += M
    r = residual()
    ts.append(steps)
    losses.append(0.5 * float(np.sum(np.square(r, dtype=np.float64))))
    net.params["U"] = U0 - dt.type(lr) * (S.T @ X)
    return GDCurve(np.asarray(ts, dtype=np.int64), np.asarray(losses, dtype=np.float64))


def _check_settings(s: dict) -> None:
    fr = tuple(s["fractions"])
    if len(set(fr)) != len(fr):
        raise InputError("fractions must list distinct values")


def run(settings: dict, seed: int = 0, quiet: bool = True) -> dict:
    """The experiment: complexity, trained net and predicted curve for every fraction p.

    ``settings`` are the figure's validated settings (``classes``, ``n_train``, ``n_test``,
    ``width``, ``kappa``, ``lr_scale``, ``steps``, ``fractions``, ``loss_tol``, ``dtype``;
    :data:`xordsim.figures.FIGURES` ``["random-labels"]``). Every p trains the same initial
    net (stream ``random-labels/init`` of ``seed``) on its own labels. Returns a dict of
    per-p arrays and the curves.
    """
    from tqdm.auto import tqdm

    s = dict(settings)
    _check_settings(s)
    t0 = time.perf_counter()
    # one BLAS thread (as the other MNIST measures): OpenBLAS's float32 products of these
    # shapes give other roundings on 2 threads than on 1, and a seed fixes every number
    with one_blas_thread():
        return _run(s, seed, quiet, t0, tqdm)


def _run(s: dict, seed: int, quiet: bool, t0: float, tqdm) -> dict:
    Xtr, ytr, Xte, yte = binary_task(s["classes"], s["n_train"], s["n_test"], seed,
                                     s["dataset"], s["data_dir"])
    n = len(ytr)
    H = arora_h_inf(Xtr)
    lam, V = h_inf_eigen(H)
    eta = s["lr_scale"] / lam[-1]
    dtype = DTYPES[s["dtype"]]
    every = max(1, -(-s["steps"] // CURVE_POINTS))
    rows, curves = [], []
    for p in tqdm(s["fractions"], desc="random-labels", unit="p", disable=quiet):
        y, replaced = corrupt_labels(ytr, p, seed)
        complexity = arora_complexity(H, y)
        net = arora_net(s["width"], Xtr.shape[1], s["kappa"],
                        substream(seed, "random-labels/init"), dtype=dtype)
        u0 = net.forward(Xtr)[:, 0].astype(np.float64)
        curve = gd_gram(net, Xtr, y, eta, s["steps"], every)
        measured = 2.0 * curve.loss / n  # ||y - u(t)||^2 / n
        predicted = predicted_loss(lam, V, y, u0, eta, curve.steps) / n
        later = curve.steps > 0
        dev = np.abs(measured[later] - predicted[later]) / predicted[later]
        u = net.forward(Xtr)[:, 0]
        train_err = float(np.mean(np.where(u >= 0, 1.0, -1.0) != y))
        wrong = int(np.sum(net.predict(Xte) != yte))
        lo, hi = proportion_ci(wrong, len(yte))
        rows.append(dict(p=p, n_replaced=int(replaced.sum()), n_changed=int(np.sum(y != ytr)),
                         complexity=complexity, loss_initial=measured[0],
                         loss_final=measured[-1], loss_predicted_final=predicted[-1],
                         max_rel_deviation=float(dev.max()) if dev.size else 0.0,
                         converged=bool(measured[-1] <= s["loss_tol"]),
                         train_error=train_err, test_error=wrong / len(yte),
                         test_error_ci95_low=lo, test_error_ci95_high=hi))
        curves.append((p, curve.steps, measured, predicted))
    return dict(settings=s, seed=seed, rows=rows, curves=curves, eta=eta,
                lam_max=float(lam[-1]), lam_min=float(lam[0]), n_train=n, n_test=len(yte),
                seconds=time.perf_counter() - t0)


def _g(v: float) -> str:
    """A setting as given (``%g``), in significant figures where ``%g`` would print an
    exponent (captions never show ``e-05``)."""
    text = f"{v:g}"
    return fmt.sig(v, 3) if "e" in text else text


def _pct(x) -> str:
    return f"{fmt.sig(100 * x, 3)}%"


def draw(res: dict, out_dir: Path) -> tuple[str, list[Path]]:
    """Draw complexity and test error against p and the loss curves; write PNG, SVG and
    the two CSVs. Returns (caption, paths)."""
    import matplotlib
    from matplotlib.lines import Line2D

    s, rows = res["settings"], res["rows"]
    out_dir = Path(out_dir)
    ps = np.array([r["p"] for r in rows])
    cx = np.array([r["complexity"] for r in rows])
    err = np.array([[r["test_error"], r["test_error_ci95_low"], r["test_error_ci95_high"]]
                    for r in rows])
    order = np.argsort(ps)
    cmap = matplotlib.colormaps["viridis"]
    colors = {p: cmap(0.9 * i / max(1, len(ps) - 1)) for i, p in enumerate(ps[order])}
    with style():
        fig = Figure(figsize=(MAX_WIDTH_IN, 6.4), layout="constrained")
        gs = fig.add_gridspec(2, 2, height_ratios=[1, 1.35])
        ax_c, ax_e, ax_l = (fig.add_subplot(gs[0, 0]), fig.add_subplot(gs[0, 1]),
                            fig.add_subplot(gs[1, :]))
        ax_c.plot(ps[order], cx[order], "o-", color="tab:purple")
        ax_c.set_xlabel("fraction p of labels replaced")
        ax_c.set_ylabel("sqrt(2 yᵀ(H∞)⁻¹y / n)")
        ax_c.set_title("complexity (Thm 5.1)")
        e = 100 * err[order]
        ax_e.errorbar(ps[order], e[:, 0], yerr=[e[:, 0] - e[:, 1], e[:, 2] - e[:, 0]],
                      fmt="s-", color="tab:red", capsize=3)
        ax_e.set_xlabel("fraction p of labels replaced")
        ax_e.set_ylabel("test error (%)")
        ax_e.set_title(f"trained net, {res['n_test']} test images")
        for p, st, meas, pred in res["curves"]:
            ok_m, ok_p = meas > 0, pred > 0
            ax_l.plot(st[ok_m], meas[ok_m], "-", color=colors[p])
            ax_l.plot(st[ok_p], pred[ok_p], "--", color=colors[p])
        ax_l.set_yscale("log")
        ax_l.set_xlabel("GD step t")
        ax_l.set_ylabel("‖y − u(t)‖² / n")
        ax_l.set_title("training loss")
        handles = [Line2D([], [], color=colors[p], lw=2) for p in ps[order]]
        labels = [f"p = {p:g}" for p in ps[order]]
        handles += [Line2D([], [], color="k", ls="-"), Line2D([], [], color="k", ls="--")]
        labels += [f"net, width {s['width']}", "Theorem 4.1 (H∞)"]
        ax_l.legend(handles, labels, loc="center left", bbox_to_anchor=(1.01, 0.5),
                    frameon=False, borderaxespad=0.0)
        fig.suptitle(f"Random labels: digits {s['classes'][0]} vs {s['classes'][1]} "
                     f"({s['dataset']}), Arora et al.")
    caption = _caption(res)
    paths = save_figure(fig, out_dir, "random-labels", caption=caption)
    table = [[r["p"], res["n_train"], r["n_replaced"], r["n_changed"], r["complexity"],
              s["width"], s["steps"], res["eta"], r["loss_initial"], r["loss_final"],
              r["loss_predicted_final"], r["max_rel_deviation"], int(r["converged"]),
              r["train_error"], r["test_error"], r["test_error_ci95_low"],
              r["test_error_ci95_high"], res["n_test"]] for r in rows]
    paths.append(write_csv(out_dir / "random-labels.csv", COLUMNS, table))
    crow = [[p, int(t), m, q] for p, st, meas, pred in res["curves"]
            for t, m, q in zip(st, meas, pred, strict=True)]
    paths.append(write_csv(out_dir / "random-labels-curves.csv", CURVE_COLUMNS, crow))
    return caption, paths


def _caption(res: dict) -> str:
    s, rows = res["settings"], res["rows"]
    by_p = sorted(rows, key=lambda r: r["p"])
    lo, hi = by_p[0], by_p[-1]
    conv = sum(r["converged"] for r in rows)
    devs = [r["max_rel_deviation"] for r in rows]
    cxs = [r["complexity"] for r in by_p]
    rising = all(np.diff(cxs) > 0)
    return (
        f"Random labels (Arora et al., ICML 2019, Thm 4.1 and 5.1). Digits "
        f"{s['classes'][0]} (+1) vs {s['classes'][1]} (-1) of "
        + ("the shipped 5,000-digit set (mnist5k), " if s["dataset"] == "mnist5k" else
           f"{s['dataset']} (IDX files: training images from its training file, test images "
           f"from its t10k file), ")
        + f"{res['n_train']} training and {res['n_test']} test images (stratified), pixels "
        f"scaled to unit norm; a fraction p of the training labels replaced by uniform +-1 "
        f"draws (nested over p; about p/2 change), test labels true. Top left: the "
        f"complexity sqrt(2 yᵀ(H∞)⁻¹y / n), {fmt.sig(lo['complexity'], 3)} at p = "
        f"{lo['p']:g} and {fmt.sig(hi['complexity'], 3)} at p = {hi['p']:g} "
        f"({'increasing' if rising else 'not monotone'} in p). Top right: test error of the "
        f"trained net with 95% Clopper-Pearson intervals over the test images (one run per "
        f"p): {_pct(lo['test_error'])} at p = {lo['p']:g}, {_pct(hi['test_error'])} at p = "
        f"{hi['p']:g} (where {hi['n_changed']} of {res['n_train']} training labels differ "
        f"from the true ones). Bottom: ‖y − u(t)‖²/n of Arora et al.'s net (width m = "
        f"{s['width']}, a_r = +-1 fixed, w_r(0) ~ N(0, κ²I) with κ = {_g(s['kappa'])}, no "
        f"biases, full-batch GD on the summed squared loss, η = {_g(s['lr_scale'])}/λ_max(H∞) = "
        f"{fmt.sig(res['eta'], 3)}, {s['steps']} steps, {s['dtype']}; solid) and Theorem "
        f"4.1's Σ_i (1 − ηλ_i)^(2t) (v_iᵀ(y − u(0)))²/n (dashed); λ(H∞) from "
        f"{fmt.sig(res['lam_min'], 3)} to {fmt.sig(res['lam_max'], 3)}. Final loss "
        f"{fmt.sig(lo['loss_final'], 3)} (predicted {fmt.sig(lo['loss_predicted_final'], 3)}) "
        f"at p = {lo['p']:g}, {fmt.sig(hi['loss_final'], 3)} (predicted "
        f"{fmt.sig(hi['loss_predicted_final'], 3)}) at p = {hi['p']:g}; {conv} of "
        f"{len(rows)} runs reached loss <= {_g(s['loss_tol'])}. Largest relative deviation "
        f"|measured − predicted|/predicted over t >= 1: {fmt.sig(min(devs), 2)} to "
        f"{fmt.sig(max(devs), 2)} across p. Seed {res['seed']}. Settings: {settings_text(s)}."
    )


def build_random_labels(settings: dict, seed: int, out_dir: Path, quiet: bool):
    """Figure ``random-labels``: run the experiment and draw it -> (caption, paths)."""
    return draw(run(settings, seed, quiet), Path(out_dir))


__all__ = ["COLUMNS", "CURVE_COLUMNS", "binary_task", "build_random_labels", "corrupt_labels",
           "draw", "gd_gram", "h_inf_eigen", "predicted_loss", "replaced_count", "run",
           "unit_rows"]
