"""The two MNIST experiments of Section 7, returning numbers (no drawing).

* :func:`fig4a`: filters of a trained 120-channel network cluster around a few
  prototypes; the same procedure on an untrained network does not.
* :func:`fig4b`: for several training-set sizes, test error of (i) a small
  network trained normally, (ii) a small network whose filters are the k-means
  centres of the trained large network (only the conv bias and the fully
  connected layer are trained), (iii) the large network trained normally.

Settings are plain dicts declared in :mod:`xordsim.figures.registry` (figures
``fig4a`` and ``fig4b``: kinds, defaults, ranges, ``quick`` / ``tiny`` modes; documented
in ``docs/mnist.md``). Each function takes the full settings dict, or any part of it:
the rest comes from the registry's defaults, and every value is checked before any work.
"""

from __future__ import annotations

import time

import numpy as np
from scipy import stats
from tqdm.auto import tqdm

from xordsim._validate import check_choice
from xordsim.figures.registry import get as get_figure
from xordsim.mnist.cluster import filter_angles, kmeans_centers, unit_filters
from xordsim.mnist.data import Dataset, load_dataset, stratified_indices
from xordsim.mnist.net import ConvNet, init_params
from xordsim.mnist.train import TrainConfig, evaluate, train


def _settings(name: str, settings: dict | None) -> dict:
    """The full validated settings of figure ``name`` (registry defaults for what is missing)."""
    return get_figure(name).resolve(settings)


def _config(s: dict, seed: int) -> TrainConfig:
    return TrainConfig(
        epochs=s["epochs"], min_steps=s["min_steps"], batch_size=s["batch_size"],
        optimizer=s["optimizer"], lr=s["lr"], beta1=s["beta1"], beta2=s["beta2"],
        eps=s["eps"], seed=seed,
    ).validate()


def _load(s: dict, seed: int) -> Dataset:
    return load_dataset(s["dataset"], s["n_train"], s["n_test"], seed, s["data_dir"] or None)


def mannwhitney(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Two-sided Mann-Whitney U test: (U statistic, p-value)."""
    res = stats.mannwhitneyu(a, b, alternative="two-sided")
    return float(res.statistic), float(res.pvalue)


def fig4a(settings: dict | None = None, seed: int = 0, quiet: bool = True,
          data: Dataset | None = None) -> dict:
    """Angles of trained and random filters to their closest k-means centre.

    ``settings``: those of figure ``fig4a`` (:mod:`xordsim.figures.registry`); missing keys
    take the registry's defaults. ``data`` replaces the dataset the settings name.

    Returns
    -------
    dict with ``angles_trained``, ``angles_random`` (degrees), their medians,
    the Mann-Whitney U and Kolmogorov-Smirnov p-values, the trained network's
    test error, the centres, the settings used and the wall time.
    """
    s = _settings("fig4a", settings)
    t0 = time.perf_counter()
    data = data or _load(s, seed)
    net = ConvNet.create(s["channels"], s["filter_size"], seed, conv_scale=s["init_scale"])
    random_w = net.params["conv_w"].copy()
    hist = train(net, data.x_train, data.y_train, _config(s, seed), quiet,
                 desc=f"{s['channels']}ch n={len(data.y_train)}")
    err = evaluate(net, data.x_test, data.y_test)
    trained, centers = filter_angles(net.params["conv_w"], s["clusters"], seed)
    rand, rand_centers = filter_angles(random_w, s["clusters"], seed)
    u, p = mannwhitney(trained, rand)
    ks = stats.ks_2samp(trained, rand)
    return {
        "settings": s,
        "seed": seed,
        "n_train": int(len(data.y_train)),
        "n_test": int(len(data.y_test)),
        "epochs_run": hist["epochs"][0],
        "final_train_loss": hist["loss"][-1],
        "test_error": err,
        "angles_trained": trained,
        "angles_random": rand,
        "median_trained": float(np.median(trained)),
        "median_random": float(np.median(rand)),
        "mannwhitney_u": u,
        "mannwhitney_p": p,
        "ks_stat": float(ks.statistic),
        "ks_p": float(ks.pvalue),
        "centers_trained": centers,
        "centers_random": rand_centers,
        "seconds": time.perf_counter() - t0,
    }


def compressed_net(large: ConvNet, k: int, seed: int, center_norm: str = "raw") -> ConvNet:
    """A k-channel network whose filters are the k-means centres of ``large``'s unit filters.

    Its conv bias and fully connected layer are freshly initialised (seed
    ``seed``); the filters are frozen. ``center_norm="unit"`` rescales each
    centre to unit norm, ``"raw"`` keeps k-means' centres as they are.
    """
    check_choice("center_norm", center_norm, ("raw", "unit"))
    f = large.filter_size
    centers = kmeans_centers(unit_filters(large.params["conv_w"]), k, seed)
    if center_norm == "unit":
        centers = centers / np.linalg.norm(centers, axis=1, keepdims=True)
    p = init_params(k, f, seed, image_size=28, dtype=large.dtype)
    p["conv_w"] = centers.reshape(k, f, f).astype(large.dtype)
    return ConvNet(p, frozen=("conv_w",))


def fig4b(settings: dict | None = None, seed: int = 0, quiet: bool = True,
          data: Dataset | None = None) -> dict:
    """Test errors of the small, compressed and large networks for several training sizes.

    Replicate ``r`` (``r < seeds``) uses seed ``seed + r`` for its training
    subset (stratified, drawn from the ``n_train`` training pool), the
    initialisations and the minibatch order; the test set is fixed by ``seed``.
    The two small networks train for ``small_epochs_factor`` times the epochs
    (and minimum steps) of the large one: with few parameters they converge
    more slowly, and they are cheap.

    ``settings``: those of figure ``fig4b`` (:mod:`xordsim.figures.registry`); missing keys
    take the registry's defaults. ``data`` replaces the dataset the settings name.

    Returns
    -------
    dict with ``train_sizes``, ``errors`` ``{"small"|"compressed"|"large":
    array (sizes, seeds)}``, their means and standard deviations, the last epoch's mean
    training loss of every run (``final_loss``, same shapes), the settings and the wall
    time.
    """
    s = _settings("fig4b", settings)
    sizes, seeds = s["train_sizes"], s["seeds"]
    small, large, factor = s["small_channels"], s["large_channels"], s["small_epochs_factor"]
    t0 = time.perf_counter()
    data = data or _load(s, seed)
    errors = {k: np.full((len(sizes), seeds), np.nan) for k in ("small", "compressed", "large")}
    losses = {k: np.full((len(sizes), seeds), np.nan) for k in errors}
    runs = tqdm(total=len(sizes) * seeds, desc="fig4b runs", unit="run", disable=quiet)
    for i, n in enumerate(sizes):
        for r in range(seeds):
            rs = seed + r
            idx = stratified_indices(data.y_train, n, rs)
            x, y = data.x_train[idx], data.y_train[idx]
            cfg = _config(s, rs)
            small_cfg = _config({**s, "epochs": factor * s["epochs"],
                                 "min_steps": factor * s["min_steps"]}, rs)
            big = ConvNet.create(large, s["filter_size"], rs, conv_scale=s["init_scale"])
            hist = train(big, x, y, cfg, quiet, desc=f"{large}ch n={n} seed={rs}")
            errors["large"][i, r] = evaluate(big, data.x_test, data.y_test)
            losses["large"][i, r] = hist["loss"][-1]
            sm = ConvNet.create(small, s["filter_size"], rs, conv_scale=s["init_scale"])
            hist = train(sm, x, y, small_cfg, quiet, desc=f"{small}ch n={n} seed={rs}")
            errors["small"][i, r] = evaluate(sm, data.x_test, data.y_test)
            losses["small"][i, r] = hist["loss"][-1]
            comp = compressed_net(big, small, rs, s["center_norm"])
            hist = train(comp, x, y, small_cfg, quiet,
                         desc=f"{small}ch centres n={n} seed={rs}")
            errors["compressed"][i, r] = evaluate(comp, data.x_test, data.y_test)
            losses["compressed"][i, r] = hist["loss"][-1]
            runs.update(1)
    runs.close()
    ddof = 1 if seeds > 1 else 0
    return {
        "settings": s,
        "seed": seed,
        "train_sizes": np.array(sizes),
        "seeds_used": [seed + r for r in range(seeds)],
        "n_test": int(len(data.y_test)),
        "errors": errors,
        "final_loss": losses,
        "mean": {k: v.mean(axis=1) for k, v in errors.items()},
        "std": {k: v.std(axis=1, ddof=ddof) for k, v in errors.items()},
        "seconds": time.perf_counter() - t0,
    }
