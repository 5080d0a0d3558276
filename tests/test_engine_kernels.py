"""The engine's kernels (issue 16): each against the plain reference along trajectories, for
every loss, init, output scale and record option; the kernels against each other; the
per-call choice; bit-identical results across thread counts for each kernel."""

from __future__ import annotations

import numpy as np
import pytest
from oracles import arrays_by_thread_count, check_against_reference

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
from xordsim.lanes import MAX_K as LANES_MAX_K
from xordsim.model import (
    GRAD_A,
    GRAD_B,
    SIMD_PAD,
    padded_channels,
)

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


@pytest.mark.parametrize("kernel,loss,problem,k,alpha,init",
                         [(kern, *case) for kern in KERNELS for case in CASES
                          if kern != "lanes" or case[2] <= LANES_MAX_K], ids=str)
def test_kernel_matches_reference_along_trajectories(kernel, loss, problem, k, alpha, init,
                                                     rng):
    check_against_reference(kernel, loss, problem, k, alpha, init, rng)


@pytest.mark.parametrize("k", [8, 20, 61])
def test_simd_kernel_agrees_with_replica_kernel_on_the_bench_workload(k):
    """XORD d=10, m=20 (the benchmark's workload, fewer replicas and steps): the same
    statuses, stop steps, active counts, test errors; weights and snapshots to 1e-12."""
    x, y = uniform_distribution(10).sample_training_sets(20, 24, 3)
    runs = [train(x, y, k, steps=600, c_eta=0.3, gamma=8.0, seed=1, _kernel=kern,
                  snapshot_steps=[0, 17, 300]) for kern in ("replicas", "simd")]
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
                  _kernel=kern) for kern in ("replicas", "simd")]
    assert np.array_equal(runs[0].status, runs[1].status)
    assert np.array_equal(runs[0].stop_step, runs[1].stop_step)
    assert (runs[1].status == STALLED).any() and (runs[1].status == CONVERGED).any()
    x, y = uniform_distribution(4).sample_training_set(5, 0)
    for kern in ("replicas", "simd"):
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
        want = "simd" if k >= SIMD_MIN_K else "lanes"
        for R in (1, 1000):
            for loss in LOSSES:
                assert pick_kernel(k, R, loss) == want
    x, y = xor_dataset()
    assert train(x, y, 2, problem="xor", steps=3).kernel == "lanes"
    assert train(x, y, 50, problem="xor", steps=3).kernel == "simd"
    with pytest.raises(InputError, match="kernel"):
        train(x, y, 2, problem="xor", steps=3, _kernel="gpu")
    with pytest.raises(InputError, match=r"kernel 'lanes' takes k in \[1, 8\]"):
        train(x, y, 9, problem="xor", steps=3, _kernel="lanes")


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
