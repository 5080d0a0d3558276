"""Figure mnist-lazy (xordsim.mnist.lazy): the experiment on tiny settings is deterministic by
seed, its numbers are those of the NTK module and the training loop recomputed apart, the
CSVs hold the rows the settings ask for, the best lr is picked as documented, and bad
settings are refused before any work."""

import csv

import numpy as np
import pytest

from xordsim._validate import InputError
from xordsim.figures import FIGURES
from xordsim.mnist.data import load_dataset, stratified_indices
from xordsim.mnist.lazy import (
    LAZY_COLUMNS,
    LR_COLUMNS,
    _config,
    _init,
    _mark_best,
    _transfer_text,
    best_lrs,
    draw_mnist_lazy,
    mnist_lazy,
)
from xordsim.mnist.ntk import conv_ntk, params_relative_change, spectrum_summary, trace_kernel
from xordsim.mnist.train import train

SPEC = FIGURES["mnist-lazy"]
SMALL = dict(n_train=40, n_test=30, epochs=1, batch_size=20, channels_list=(2, 3),
             ntk_images=5, lr_channels=(2, 3), lrs=(1e-3, 3e-2))


@pytest.fixture(scope="module")
def run():
    s = SPEC.resolve(SMALL, mode="tiny")
    data = load_dataset(s["dataset"], s["n_train"], s["n_test"], 5)
    return s, data, mnist_lazy(s, 5, data=data)


def test_same_seed_same_numbers_other_seed_other_numbers(run):
    s, data, res = run
    again = mnist_lazy(s, 5, data=data)
    for a, b in zip(res["rows"], again["rows"], strict=True):
        assert {k: a[k] for k in LAZY_COLUMNS if k != "seconds"} == \
            {k: b[k] for k in LAZY_COLUMNS if k != "seconds"}
    assert res["lr_rows"] == again["lr_rows"]
    other = mnist_lazy(s, 6, data=data)
    assert other["rows"][0]["lambda_min_full"] != res["rows"][0]["lambda_min_full"]


def test_rows_are_the_ntk_module_and_the_training_loop_recomputed(run):
    s, data, res = run
    x = data.x_train[stratified_indices(data.y_train, s["ntk_images"], 5)]
    for row, c in zip(res["rows"], s["channels_list"], strict=True):
        net = _init(s, c, 5)
        p0 = {k: v.copy() for k, v in net.params.items()}
        g0 = conv_ntk(p0, x).gram()
        assert g0.shape == (10 * s["ntk_images"],) * 2
        lo, hi = spectrum_summary(g0)
        assert row["lambda_min_full"] == lo and row["lambda_max_full"] == hi
        assert row["lambda_min_full_per_c"] == pytest.approx(lo / c, rel=1e-15)
        assert row["lambda_min_trace"] == spectrum_summary(trace_kernel(g0, 10))[0]
        # the full block matrix's λ_min is at most the trace kernel's (a mean of its
        # diagonal blocks, each a compression of Θ)
        assert row["lambda_min_full"] <= row["lambda_min_trace"] * (1 + 1e-9)
        assert 0 < row["fc_share_of_trace"] < 1
        train(net, data.x_train, data.y_train, _config(s, 5))
        assert row["rel_weight_change"] == params_relative_change(net.params, p0)
        g1 = conv_ntk(net.params, x).gram()
        assert row["rel_kernel_change"] == pytest.approx(
            np.linalg.norm(g1 - g0) / np.linalg.norm(g0), rel=1e-12)
        assert row["n_params"] == sum(v.size for v in p0.values())
        assert row["diverged"] == 0 and 0 <= row["test_error"] <= 1
        assert row["test_error_ci95_low"] <= row["test_error"] <= row["test_error_ci95_high"]
        assert row["steps"] == row["epochs_run"] * 2  # 40 images, batch 20
    # the grid's point at the main lr is the main run
    main = {r["channels"]: r for r in res["rows"]}
    for r in res["lr_rows"]:
        if r["lr"] == s["lr"]:
            assert r["final_train_loss"] == main[r["channels"]]["final_train_loss"]


def test_grid_point_not_shared_is_a_fresh_run_of_the_same_init(run):
    s, data, res = run
    r = next(r for r in res["lr_rows"] if r["channels"] == 3 and r["lr"] == 3e-2)
    net = _init(s, 3, 5)
    hist = train(net, data.x_train, data.y_train, _config(s, 5, 3e-2))
    assert r["final_train_loss"] == hist["loss"][-1]


def test_csvs_have_one_row_per_point_and_one_best_lr_per_width(run, tmp_path):
    s, _, res = run
    caption, paths = draw_mnist_lazy(res, tmp_path)
    assert {p.name for p in paths} == {"mnist-lazy.png", "mnist-lazy.svg", "mnist-lazy.csv",
                                       "mnist-lazy-lr.csv"}
    with open(tmp_path / "mnist-lazy.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == LAZY_COLUMNS
    assert [int(r["channels"]) for r in rows] == list(s["channels_list"])
    with open(tmp_path / "mnist-lazy-lr.csv") as fh:
        lr = list(csv.DictReader(fh))
    assert list(lr[0]) == LR_COLUMNS
    assert [(int(r["channels"]), float(r["lr"])) for r in lr] == \
        [(c, v) for c in s["lr_channels"] for v in s["lrs"]]
    for c in s["lr_channels"]:
        sel = [r for r in lr if int(r["channels"]) == c]
        assert sum(int(r["best"]) for r in sel) == 1
        best = min(sel, key=lambda r: float(r["final_train_loss"]))
        assert best["best"] == "1"
    assert "divided by C" in caption and "per-logit trace kernel" in caption
    assert f"on {s['ntk_images']} training images" in caption
    assert "Diverged (non-finite) runs: 0 of 4" in caption  # 2 main + 2 not shared


def test_best_lr_skips_diverged_runs_and_the_caption_says_whether_it_transfers():
    rows = [{"channels": 4, "lr": lr, "final_train_loss": loss, "test_error": err,
             "diverged": div, "best": 0}
            for lr, loss, err, div in ((1e-3, 0.5, 0.2, 0), (1e-2, 0.1, 0.3, 0),
                                       (1e-1, float("nan"), float("nan"), 1))]
    _mark_best(rows, "train_loss")
    assert [r["best"] for r in rows] == [0, 1, 0]
    for r in rows:
        r["best"] = 0
    _mark_best(rows, "test_error")
    assert [r["best"] for r in rows] == [1, 0, 0]
    wide = [dict(r, channels=64, best=0) for r in rows]
    _mark_best(wide, "train_loss")
    s = {"lr_criterion": "train_loss", "lrs": (1e-3, 1e-2, 1e-1)}
    assert best_lrs(rows + wide) == {4: 1e-3, 64: 1e-2}
    text = _transfer_text(rows + wide, s)
    assert "C = 4: 0.001, C = 64: 0.01" in text and "does not transfer" in text
    assert "span a factor 10)" in text
    assert "At C = 4 the best lr is at the edge of the grid" in text
    dead = [dict(r, channels=8, diverged=1, best=0) for r in rows]
    _mark_best(dead, "train_loss")
    assert best_lrs(dead) == {8: pytest.approx(float("nan"), nan_ok=True)}
    assert "C = 8: none (all diverged)" in _transfer_text(dead, s)


def test_bad_settings_are_refused_before_any_work():
    with pytest.raises(InputError, match="ntk_images must be at most n_train = 60; got 61"):
        SPEC.resolve({"ntk_images": 61}, mode="tiny")
    with pytest.raises(InputError, match="channels_list must list distinct values"):
        SPEC.resolve(pairs=["channels_list=4,4"])
    with pytest.raises(InputError, match="lrs must list distinct values"):
        SPEC.resolve(pairs=["lrs=0.01,0.01"])
    with pytest.raises(InputError, match="lr_criterion"):
        SPEC.resolve(pairs=["lr_criterion=best"])


def test_defaults_measure_every_width_of_the_issue():
    s = SPEC.resolve()
    assert s["channels_list"] == (4, 8, 16, 32, 64, 120, 256)
    assert set(s["lr_channels"]) <= set(s["channels_list"]) and s["lr"] in s["lrs"]
    assert s["optimizer"] == "adam" and s["init_scale"] == 0.1  # Fig. 4's


def test_numbers_do_not_depend_on_the_thread_count(run):
    """The same rows with one numba thread in a fresh process (the kernel's BLAS calls run
    on one thread, the fused training kernels sum in image order)."""
    import json
    import os
    import subprocess
    import sys

    s, _, res = run
    code = ("import json, sys; from xordsim.mnist.data import load_dataset; "
            "from xordsim.mnist.lazy import mnist_lazy; s = json.loads(sys.argv[1]); "
            "d = load_dataset(s['dataset'], s['n_train'], s['n_test'], 5); "
            "r = mnist_lazy(s, 5, data=d); "
            "print(json.dumps([[row[k] for k in row if k != 'seconds'] for row in r['rows']]))")
    env = dict(os.environ, NUMBA_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(s)], capture_output=True,
                         text=True, check=True, env=env).stdout
    here = [[row[k] for k in row if k != "seconds"] for row in res["rows"]]
    assert json.loads(out) == json.loads(json.dumps(here))


def test_diverged_runs_are_counted_left_out_and_their_measures_are_nan(run, monkeypatch):
    import xordsim.mnist.lazy as lazy

    s, data, _ = run
    real = lazy.train

    def blow_up(net, x, y, cfg, quiet=True, desc=""):
        hist = real(net, x, y, cfg, quiet, desc)
        if cfg.lr == 3e-2 or net.channels == 3:  # every run of width 3, one of width 2
            net.params["fc_w"][0, 0] = np.nan
            hist["loss"][-1] = float("nan")
        return hist

    monkeypatch.setattr(lazy, "train", blow_up)
    res = mnist_lazy(s, 5, data=data)
    two, three = res["rows"]
    assert two["diverged"] == 0 and np.isfinite(two["rel_weight_change"])
    assert three["diverged"] == 1
    assert all(np.isnan(three[k]) for k in lazy.AFTER_COLUMNS)
    assert np.isfinite(three["lambda_min_full"])  # measured at init, before training
    assert np.isnan(three["test_error"]) and np.isnan(three["test_error_ci95_low"])
    grid = {(r["channels"], r["lr"]): r for r in res["lr_rows"]}
    assert grid[(2, 3e-2)]["diverged"] == 1 and grid[(2, 1e-3)]["best"] == 1
    assert best_lrs(res["lr_rows"])[3] != best_lrs(res["lr_rows"])[3]  # none: NaN
    caption = lazy.caption_text(res)
    # 2 main runs (one diverged) + 2 grid runs not shared (both diverged)
    assert "Diverged (non-finite) runs: 3 of 4" in caption
    assert "C = 3: none (all diverged)" in caption
