"""The engine's kernels (issue 16): each against the plain reference along trajectories, for
every loss, init, output scale and record option; the kernels against each other; the
per-call choice; bit-identical results across thread counts for each kernel."""

from __future__ import annotations

import numpy as np
import pytest
from oracles import arrays_by_thread_count

from xordsim._validate import InputError
from xordsim.config import LOSSES
from xordsim.data import uniform_distribution, xor_dataset
from xordsim.engine import (
    CONVERGED,
    DIVERGED,
    KERNELS,
    SIMD_MIN_K,
    STALLED,
    pick_kernel,
    train,
)
from xordsim.model import (
    GRAD_A,
    GRAD_B,
    SIMD_PAD,
    outputs_all_masks,
    padded_channels,
)
from xordsim.reference import reference_init, reference_output, reference_run

# (loss, problem, k, alpha, init): k = 1 and 13 are not multiples of SIMD_PAD (padding
# channels), 16 is; every loss, both inits, alpha != 1 for each loss.
CASES = [
    ("hinge", "xord", 1, 1.0, "gaussian"),
    ("hinge", "xord", 13, 1.0, "gaussian"),
    ("hinge", "xor", 16, 0.7, "antisymmetric"),
    ("squared", "xord", 3, 1.0, "gaussian"),
    ("squared", "xord", 13, 0.4, "antisymmetric"),
    ("logistic", "xor", 5, 1.0, "antisymmetric"),
    ("logistic", "xord", 13, 1.3, "gaussian"),
]


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("loss,problem,k,alpha,init", CASES, ids=str)
def test_kernel_matches_reference_along_trajectories(kernel, loss, problem, k, alpha, init,
                                                     rng):
    R, T, every = 6, 240, 6
    if problem == "xor":
        x, y = xor_dataset()
    else:
        x, y = uniform_distribution(4).sample_training_sets(5, R, rng)
    tol = 1e-20 if loss == "squared" else 0.0  # as in test_losses: a robust stop step
    lr = 0.0937 / (k * alpha ** 2)  # no round numbers (see test_losses)
    seed = int(rng.integers(2**31))
    res = train(x, y, k, problem=problem, replicas=R, steps=T, lr=lr, gamma=2.3, seed=seed,
                loss=loss, output_scale=alpha, init=init, tol=tol, record_every=every,
                init_std=0.5, snapshot_steps=[0, 1, 60, T], _kernel=kernel)
    assert res.kernel == kernel
    w0, u0 = reference_init(R, k, 0.5, seed, init)
    assert np.array_equal(res.w0, w0) and np.array_equal(res.u0, u0)
    assert not (res.status == DIVERGED).any()
    ref = reference_run(x, y, w0, u0, lr, T, problem, 2.3, loss=loss, output_scale=alpha,
                        tol=tol, record_every=every)
    np.testing.assert_allclose(res.w, ref.w, atol=1e-12, rtol=0)
    np.testing.assert_allclose(res.u, ref.u, atol=1e-12, rtol=0)
    assert (res.converged_step == ref.converged_step).all()
    np.testing.assert_allclose(res.loss_trajectory, ref.loss, rtol=1e-12, atol=1e-12)
    assert np.array_equal(res.train_error_trajectory, ref.train_error)
    for i, t in enumerate(res.snapshot_steps):
        if t % every == 0:
            j = int(t // every)
            np.testing.assert_allclose(res.snapshots_w[:, i], ref.w_at[:, j], atol=1e-12,
                                       rtol=0)
            np.testing.assert_allclose(res.snapshots_u[:, i], ref.u_at[:, j], atol=1e-12,
                                       rtol=0)
    xr = x if x.ndim == 4 else x[None]
    yr = y if y.ndim == 2 else y[None]
    out = reference_output(res.w, res.u, xr, alpha)
    np.testing.assert_allclose(res.train_error, (yr * out <= 0).mean(axis=1))
    np.testing.assert_allclose(res.outputs, outputs_all_masks(res.w, res.u, alpha),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k", [8, 20, 61])
def test_simd_kernel_agrees_with_replica_kernel_on_the_bench_workload(k):
    """XORD d=10, m=20 (the benchmark's workload, fewer replicas and steps): the same
    statuses, stop steps, active counts, test errors; weights and snapshots to 1e-12."""
    x, y = uniform_distribution(10).sample_training_sets(20, 24, 3)
    runs = [train(x, y, k, steps=600, c_eta=0.3, gamma=8.0, seed=1, _kernel=kern,
                  snapshot_steps=[0, 17, 300]) for kern in KERNELS]
    a, b = runs
    assert (a.status == CONVERGED).any() and (a.stop_step > 100).any()  # not trivial
    for key in ("status", "stop_step", "converged_step", "active_counts",
                "snapshots_active"):
        assert np.array_equal(getattr(a, key), getattr(b, key)), key
    for key in ("w", "u", "snapshots_w", "snapshots_u", "outputs", "loss", "test_error"):
        np.testing.assert_allclose(getattr(a, key), getattr(b, key), rtol=1e-12,
                                   atol=1e-13, err_msg=key)


def test_simd_kernel_statuses_stalled_and_diverged():
    x, y = xor_dataset()
    runs = [train(x, y, 8, problem="xor", replicas=200, steps=1500, c_eta=1.5, seed=2,
                  _kernel=kern) for kern in KERNELS]
    assert np.array_equal(runs[0].status, runs[1].status)
    assert np.array_equal(runs[0].stop_step, runs[1].stop_step)
    assert (runs[1].status == STALLED).any() and (runs[1].status == CONVERGED).any()
    x, y = uniform_distribution(4).sample_training_set(5, 0)
    for kern in KERNELS:
        res = train(x, y, 9, replicas=4, steps=50, lr=10.0, seed=1, max_weight=5.0,
                    _kernel=kern)
        assert (res.status == DIVERGED).all() and (res.stop_step < 50).all()
        assert np.isnan(res.test_error).all()
        res = train(x, y, 9, replicas=4, steps=50, lr=1e300, seed=1, _kernel=kern)
        assert (res.status == DIVERGED).all()
        # the kernel's own record of a diverged replica (these stores were once lost
        # when the loss stage was inlined into the replica loop at numba IR level)
        assert np.isnan(res.loss).all() and np.isnan(res.train_error).all()
        assert np.isnan(res.outputs).all() and np.isnan(res.test_error).all()


def test_kernel_choice_is_by_size_only():
    """The choice is a function of k (and R, loss), never of the thread count; train
    reports it; a forced kernel must be one of KERNELS."""
    for k in (1, 2, SIMD_MIN_K - 1, SIMD_MIN_K, 20, 1000):
        want = "simd" if k >= SIMD_MIN_K else "replicas"
        for R in (1, 1000):
            for loss in LOSSES:
                assert pick_kernel(k, R, loss) == want
    x, y = xor_dataset()
    assert train(x, y, 2, problem="xor", steps=3).kernel == "replicas"
    assert train(x, y, 50, problem="xor", steps=3).kernel == "simd"
    with pytest.raises(InputError, match="kernel"):
        train(x, y, 2, problem="xor", steps=3, _kernel="gpu")


def test_padding_and_table_facts():
    """The facts the SIMD kernel rests on: padded channel counts, and the structure of the
    subgradient tables that descend_simd folds in."""
    assert [padded_channels(k) for k in (1, 8, 9, 16, 100)] == [8, 8, 16, 16, 104]
    assert SIMD_PAD == 8
    for c in range(8):
        if c & 1:  # b wins: side b gets the subgradient iff b is in the mask
            assert np.array_equal(GRAD_B[c], GRAD_B[c ^ 4])
        else:  # b loses: side a iff a is in the mask
            assert np.array_equal(GRAD_A[c], GRAD_A[c ^ 2])


SCRIPT = """
import sys
import numpy as np
from xordsim.data import uniform_distribution
from xordsim.engine import train
x, y = uniform_distribution(6).sample_training_sets(5, 64, 11)
parts = []
for kern in ("replicas", "simd"):
    for k, loss in ((9, "hinge"), (13, "logistic")):
        r = train(x, y, k, replicas=64, steps=300, c_eta=0.4, seed=5, loss=loss,
                  record_every=50, _kernel=kern)
        parts += [r.w.ravel(), r.u.ravel(), r.test_error, r.loss_trajectory.ravel(),
                  r.converged_step.astype(float)]
np.save(sys.argv[1], np.concatenate(parts))
"""


def test_every_kernel_bit_identical_across_thread_counts(tmp_path):
    outs = arrays_by_thread_count(SCRIPT, tmp_path)
    assert outs[0].size > 0 and outs[0].tobytes() == outs[1].tobytes()
