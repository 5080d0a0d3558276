"""The small-k kernel ``lanes`` (xordsim/lanes.py, issue 16): generated code for k = 1..8
against the plain reference along trajectories for every loss and every key set; against
the ``replicas`` kernel on the benchmark's workload; statuses; lane refill and chunking
(the numbers never depend on them); bit-identical across thread counts; the generator and
its cache."""

from __future__ import annotations

import ast
import os

import numpy as np
import pytest
from oracles import (
    arrays_by_thread_count,
    check_against_reference,
    check_xor_statuses_as_replicas,
)

from xordsim import lanes
from xordsim.data import uniform_distribution, xor_dataset
from xordsim.engine import CONVERGED, DIVERGED, train
from xordsim.model import loss_groups
from xordsim.theorems.exact import thm_6_5_distribution


@pytest.mark.parametrize("k", range(1, lanes.MAX_K + 1))
def test_lanes_matches_reference_for_every_small_k(k, rng):
    """The hinge on fresh XORD data per replica (key set fstar), k = 1..8."""
    check_against_reference("lanes", "hinge", "xord", k, 1.0, "gaussian", rng, R=19)


@pytest.mark.parametrize("loss,problem,k,alpha,init,labels", [
    ("squared", "xord", 2, 0.6, "gaussian", None),
    ("squared", "xor", 6, 1.0, "antisymmetric", None),
    ("logistic", "xord", 2, 1.0, "antisymmetric", None),
    ("logistic", "xord", 3, 1.7, "gaussian", None),
    ("hinge", "xor", 3, 0.8, "gaussian", None),        # XOR: key set 'fstar'
    ("hinge", "xord", 4, 1.0, "gaussian", "random"),   # key set 'all'
    ("hinge", "xord", 2, 1.0, "gaussian", "thm6.5"),   # key set 'thm65'
    ("logistic", "xord", 2, 1.0, "gaussian", "random"),
], ids=str)
def test_lanes_matches_reference_every_loss_and_key_set(loss, problem, k, alpha, init, labels,
                                                        rng):
    check_against_reference("lanes", loss, problem, k, alpha, init, rng, R=11, labels=labels)


def test_key_sets_are_the_smallest_that_hold_the_data():
    x, y = xor_dataset()
    g = loss_groups(x, y, "xor")
    assert lanes.keyset_for(g.mask, g.y, g.count) == "fstar"
    x, y = uniform_distribution(6).sample_training_sets(5, 30, 0)
    g = loss_groups(x, y)
    assert lanes.keyset_for(g.mask, g.y, g.count) == "fstar"
    g = loss_groups(x, -y)
    assert lanes.keyset_for(g.mask, g.y, g.count) == "all"
    assert set(lanes.KEYSETS["thm65"]) < set(lanes.KEYSETS["fstar"]) < set(lanes.KEYSETS["all"])
    assert set(lanes.KEYSETS["dpm"]) < set(lanes.KEYSETS["fstar"])
    assert len(lanes.KEYSETS["dpm"]) == 6 and lanes.LARGE_ONLY == {"dpm"}
    assert len(lanes.KEYSETS["fstar"]) == 15 and len(lanes.KEYSETS["all"]) == 30
    # 'thm65': exactly the (mask, label) pairs of Theorem 6.5's distribution
    dist = thm_6_5_distribution(0.92, 0.92, 10)
    support = np.nonzero(dist.joint_mask_probs())
    assert sorted(2 * M + lab for lab, M in zip(*support, strict=True)) == list(
        lanes.KEYSETS["thm65"])
    x, y = dist.sample_training_sets(8, 50, 0)
    g = loss_groups(x, y)
    assert lanes.keyset_for(g.mask, g.y, g.count) == "thm65"
    # every key of 'fstar' has the label f* of its mask: 2 M + [M holds p1 or p3]
    assert all(key & 1 == bool((key >> 1) & 0b0101) for key in lanes.KEYSETS["fstar"])


def test_key_arrays_against_numpy(rng):
    """The compiled key arrays against the NumPy formulation they replaced, on every key
    set (a set lacking some keys of the data leaves those groups out)."""
    x, y = uniform_distribution(5).sample_training_sets(4, 40, 3)
    y = np.where(rng.random(y.shape) < 0.2, -y, y)  # some keys outside 'fstar'
    g = loss_groups(x, y)
    for keys in lanes.KEYSETS.values():
        index = np.full(32, -1, np.int64)
        index[list(keys)] = np.arange(len(keys))
        gkey = np.where(g.count > 0, index[2 * g.mask + (g.y > 0)], -1)
        kw = np.zeros((40, len(keys)))
        km = np.full((40, len(keys)), -np.inf)
        rows, cols = np.nonzero(gkey >= 0)
        kw[rows, gkey[rows, cols]] = g.weight[rows, cols]
        km[rows, gkey[rows, cols]] = g.margin[rows, cols]
        got = lanes.key_arrays(g.arrays(), keys)
        for a, b in zip(got, (kw, km, gkey), strict=True):
            assert np.array_equal(a, b)
    assert lanes.keyset_for(g.mask, g.y, g.count) == "all"  # keys outside 'fstar' met


def test_key_set_changes_no_number(monkeypatch):
    """The same calls on Theorem 6.5's data with the key set 'thm65' and forced to 'fstar'
    (9 more keys, all absent: weight 0, margin -inf): bit-identical results."""
    x, y = thm_6_5_distribution(0.7, 0.7, 6).sample_training_sets(4, 40, 2)
    kw = dict(steps=3000, c_eta=0.05, gamma=8.0, seed=4, snapshot_steps=[0, 999],
              record_every=100, _kernel="lanes")
    a = train(x, y, 2, **kw)
    assert [name for name, _ in lanes.plan(loss_groups(x, y), np.arange(40), 3000)] == [
        "thm65"]
    monkeypatch.setattr(lanes, "plan", lambda groups, data_idx, steps: [
        ("fstar", np.arange(data_idx.shape[0]))])
    b = train(x, y, 2, **kw)
    assert (a.status == CONVERGED).any() and (a.status != CONVERGED).any()
    for key in ("w", "u", "status", "stop_step", "loss", "test_error", "outputs",
                "active_counts", "snapshots_w", "snapshots_active", "loss_trajectory"):
        assert np.array_equal(getattr(a, key), getattr(b, key)), key


def test_plan_splits_large_calls_by_key_set(monkeypatch):
    """lanes.plan: a small call runs with the one set keyset_for names; the replicas of a
    key set that amount to LARGE_SET_MIN_WORK replica-steps run with it ('dpm' only
    then), the rest together; the groups partition the replicas."""
    x, y = uniform_distribution(10).sample_training_sets(20, 300, 0)
    g = loss_groups(x, y)
    idx = np.arange(300)
    assert lanes.keyset_for(g.mask, g.y, g.count) == "fstar"
    assert [(n, list(i)) for n, i in lanes.plan(g, idx, 3000)] == [("fstar", list(idx))]
    keys = [set((2 * g.mask[r] + (g.y[r] > 0))[g.count[r] > 0].tolist()) for r in idx]
    n65 = sum(kr <= set(lanes.KEYSETS["thm65"]) for kr in keys)
    assert 0 < n65 < 100
    steps = (lanes.LARGE_SET_MIN_WORK - 1) // n65  # too few replica-steps for 'thm65'
    parts = dict(lanes.plan(g, idx, steps))
    assert list(parts) == ["dpm", "fstar"]
    assert np.array_equal(np.sort(np.concatenate(list(parts.values()))), idx)
    for r in idx:
        assert (keys[r] <= set(lanes.KEYSETS["dpm"])) == (r in parts["dpm"])
    assert list(dict(lanes.plan(g, idx, 10**6))) == ["thm65", "dpm", "fstar"]
    assert 0.7 < parts["dpm"].size / 300 < 0.95  # D+- at d = 10: most sets
    # a call that fits 'dpm' whole but is small runs with 'fstar' (no new compilation)
    small = [r for r in parts["dpm"] if not keys[r] <= set(lanes.KEYSETS["thm65"])][:20]
    sub = loss_groups(x[small], y[small])
    assert [n for n, _ in lanes.plan(sub, np.arange(20), 100)] == ["fstar"]
    assert [n for n, _ in lanes.plan(sub, np.arange(20), 10**6)] == ["dpm"]
    # shared data: one set for all; thm65 first where both 6-key sets hold the data
    x6, y6 = thm_6_5_distribution(0.7, 0.7, 10).sample_training_set(64, 1)
    g6 = loss_groups(x6, y6)
    assert [n for n, _ in lanes.plan(g6, np.zeros(500, np.int64), 10**5)] == ["thm65"]


def test_split_by_key_set_changes_no_number(monkeypatch):
    """The benchmark's data (d = 10, m = 20) split into 'thm65', 'dpm' and 'fstar' groups
    (LARGE_SET_MIN_WORK lowered so that a small call splits) against one key set for all:
    bit-identical results, snapshots and trajectories included."""
    x, y = uniform_distribution(10).sample_training_sets(20, 600, 5)
    kw = dict(steps=500, c_eta=0.3, gamma=8.0, seed=2, snapshot_steps=[0, 40, 500],
              record_every=25, _kernel="lanes")
    monkeypatch.setattr(lanes, "LARGE_SET_MIN_WORK", 16 * 500)
    names = [n for n, _ in lanes.plan(loss_groups(x, y), np.arange(600), 500)]
    assert len(names) >= 2 and "dpm" in names
    a = train(x, y, 2, **kw)
    monkeypatch.setattr(lanes, "LARGE_SET_MIN_WORK", np.inf)
    assert [n for n, _ in lanes.plan(loss_groups(x, y), np.arange(600), 500)] == ["fstar"]
    b = train(x, y, 2, **kw)
    assert (a.status == CONVERGED).any() and (a.stop_step < 500).any()
    for key in ("w", "u", "status", "stop_step", "loss", "test_error", "outputs",
                "active_counts", "snapshots_w", "snapshots_u", "snapshots_active",
                "loss_trajectory", "train_error_trajectory"):
        assert np.array_equal(getattr(a, key), getattr(b, key), equal_nan=True), key


@pytest.mark.parametrize("k", [2, 7])
def test_lanes_agree_with_replicas_kernel_on_the_bench_workload(k):
    """XORD d=10, m=20 (the benchmark's data), snapshots and trajectories on: the same
    statuses, stop steps, active counts; weights, outputs, losses to 1e-12."""
    x, y = uniform_distribution(10).sample_training_sets(20, 150, 3)
    runs = [train(x, y, k, steps=700, c_eta=0.3, gamma=8.0, seed=1, _kernel=kern,
                  snapshot_steps=[0, 17, 300], record_every=50)
            for kern in ("replicas", "lanes")]
    a, b = runs
    assert b.kernel == "lanes"
    assert (a.status == CONVERGED).any() and (a.stop_step > 100).any()  # not trivial
    for key in ("status", "stop_step", "converged_step", "active_counts",
                "snapshots_active", "train_error_trajectory"):
        assert np.array_equal(getattr(a, key), getattr(b, key)), key
    for key in ("w", "u", "snapshots_w", "snapshots_u", "outputs", "loss", "test_error",
                "loss_trajectory"):
        np.testing.assert_allclose(getattr(a, key), getattr(b, key), rtol=1e-12,
                                   atol=1e-13, err_msg=key)


def test_lanes_statuses_stalled_and_diverged():
    check_xor_statuses_as_replicas("lanes", 2, 0.4, 300)  # k = 2: some stall (Thm 3.4)
    x, y = uniform_distribution(4).sample_training_set(5, 0)
    for kw in (dict(lr=10.0, max_weight=5.0), dict(lr=1e300)):
        a, b = (train(x, y, 3, replicas=21, steps=50, seed=1, snapshot_steps=[0, 5, 50],
                      record_every=10, _kernel=kern, **kw) for kern in ("replicas", "lanes"))
        assert (b.status == DIVERGED).all() and (b.stop_step < 50).all()
        assert np.array_equal(a.stop_step, b.stop_step)
        assert np.isnan(b.loss).all() and np.isnan(b.train_error).all()
        assert np.isnan(b.outputs).all() and np.isnan(b.test_error).all()
        assert np.array_equal(a.snapshots_active, b.snapshots_active)
        assert np.array_equal(np.isnan(a.loss_trajectory), np.isnan(b.loss_trajectory))


@pytest.mark.parametrize("R", [1, 3, lanes.LANES, lanes.LANES + 1, 200])
def test_lane_refill_and_chunking_change_no_number(R, monkeypatch):
    """Any number of replicas (fewer than the lanes, not a multiple, many chunks), and
    the same replicas under other chunkings: bit-identical results."""
    x, y = uniform_distribution(5).sample_training_sets(6, R, 4)
    kw = dict(steps=400, c_eta=0.3, seed=9, snapshot_steps=[3, 200], record_every=7,
              _kernel="lanes")
    base = train(x, y, 3, **kw)
    ref = train(x, y, 3, **dict(kw, _kernel="replicas"))
    assert np.array_equal(base.stop_step, ref.stop_step)
    np.testing.assert_allclose(base.w, ref.w, atol=1e-12, rtol=0)
    for per_thread in (1, 2, 3, 50):
        monkeypatch.setattr(lanes, "CHUNKS_PER_THREAD", per_thread)
        other = train(x, y, 3, **kw)
        for key in ("w", "u", "stop_step", "active_counts", "snapshots_w", "snapshots_active",
                    "loss_trajectory", "outputs"):
            assert np.array_equal(getattr(base, key), getattr(other, key)), key
    # one replica's numbers do not depend on the others run beside it
    one = train(x[R - 1:], y[R - 1:], 3, **dict(kw, seed=None), w0=base.w0[R - 1:],
                u0=base.u0[R - 1:])
    assert np.array_equal(one.w[0], base.w[R - 1])


SCRIPT = """
import sys
import numpy as np
from xordsim.data import uniform_distribution
from xordsim.engine import train
x, y = uniform_distribution(6).sample_training_sets(5, 300, 11)
parts = []
for k, loss in ((2, "hinge"), (2, "logistic")):
    r = train(x, y, k, replicas=300, steps=300, c_eta=0.4, seed=5, loss=loss,
              record_every=50, _kernel="lanes")
    parts += [r.w.ravel(), r.u.ravel(), r.test_error, r.loss_trajectory.ravel(),
              r.converged_step.astype(float), r.active_counts.ravel().astype(float)]
np.save(sys.argv[1], np.concatenate(parts))
"""


def test_lanes_bit_identical_across_thread_counts(tmp_path):
    """1 and 2 threads (and so different chunkings, :func:`xordsim.lanes.chunk_size`)."""
    outs = arrays_by_thread_count(SCRIPT, tmp_path)
    assert outs[0].size > 0 and outs[0].tobytes() == outs[1].tobytes()


def test_generated_source_is_straight_line_code_cached_by_its_hash(tmp_path, monkeypatch):
    src = lanes.source(3, "fstar", "hinge")
    assert src == lanes.source(3, "fstar", "hinge")  # deterministic
    tree = ast.parse(src)
    names = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert names == {"steps_until_event", "run_chunk"}
    # channels unrolled and mask constants folded: no loop over channels or keys
    assert "for j in" not in src and "sw2 = st[" in src and "sw3" not in src
    assert src != lanes.source(3, "fstar", "squared") != lanes.source(4, "fstar", "hinge")
    with pytest.raises(ValueError, match="k must be in"):
        lanes.source(lanes.MAX_K + 1, "fstar", "hinge")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert lanes.cache_dir() == tmp_path / "xordsim-lanes"
    monkeypatch.setattr(lanes, "_MODULES", {})
    mod = lanes.kernel_module(1, "fstar", "squared")
    files = list((tmp_path / "xordsim-lanes").glob("xordsim_lanes_k1_fstar_squared_*.py"))
    assert len(files) == 1 and files[0].read_text() == lanes.source(1, "fstar", "squared")
    assert lanes.kernel_module(1, "fstar", "squared") is mod
    assert not [p for p in os.listdir(tmp_path / "xordsim-lanes") if p.endswith(".tmp")]


def _train_in_child(queue):
    x, y = uniform_distribution(4).sample_training_sets(5, 150, 2)
    res = train(x, y, 2, steps=200, c_eta=0.3, seed=3, _kernel="lanes")
    queue.put(res.w.tobytes())


def test_lanes_work_in_a_forked_child():
    """A child forked after the kernel ran (the thread pool is the parent's, without its
    threads) trains again, with the same numbers."""
    import multiprocessing

    x, y = uniform_distribution(4).sample_training_sets(5, 150, 2)
    res = train(x, y, 2, steps=200, c_eta=0.3, seed=3, _kernel="lanes")
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_train_in_child, args=(queue,), daemon=True)
    child.start()
    try:
        got = queue.get(timeout=120)  # a hung child (no pool threads) never answers
        child.join(timeout=60)
    finally:
        if child.is_alive():
            child.terminate()
    assert child.exitcode == 0 and got == res.w.tobytes()
