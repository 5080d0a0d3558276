"""The engine's kernels (issue 16): each against the plain reference along trajectories, for
every loss, init, output scale and record option; the kernels against each other; the
per-call choice; bit-identical results across thread counts for each kernel."""

from __future__ import annotations

import numpy as np
import pytest
from oracles import (
    arrays_by_thread_count,
    check_against_reference,
    check_xor_statuses_as_replicas,
)

from xordsim._validate import InputError
from xordsim.config import LOSSES
from xordsim.data import uniform_distribution, xor_dataset
from xordsim.engine import (
    CONVERGED,
    DIVERGED,
    KERNELS,
    SIMD_MIN_K,
    pick_kernel,
    train,
)
from xordsim.lanes import MAX_K as LANES_MAX_K
from xordsim.model import (
    GRAD_A,
    GRAD_B,
    MASK_SUMS,
    SEL,
    SIMD_PAD,
    SIMD_TABLES,
    descend,
    descend_simd,
    forward,
    forward_simd,
    mask_output,
    mask_output_simd,
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
    check_xor_statuses_as_replicas("simd", 8, 1.5, 200)
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


CHANNEL_CASES = ["random", "ties", "zeros", "one-sign"]


def random_channels(rng, case: str) -> tuple[int, list[np.ndarray]]:
    """k in [1, 30) and the (s, t) of k channels of w and of u, for a case of
    :data:`CHANNEL_CASES`: ties |s| = |t|, zero responses (+0.0 and -0.0), one sign
    class."""
    k = int(rng.integers(1, 30))
    sw, tw, su, tu = (rng.normal(size=k) for _ in range(4))
    if case == "ties":
        tw = sw * rng.choice([-1.0, 1.0], size=k)
        su = tu * rng.choice([-1.0, 1.0], size=k)
    elif case == "zeros":  # +0.0 and -0.0 responses
        sw[rng.random(k) < 0.3] = 0.0
        tu[rng.random(k) < 0.3] = -0.0
    elif case == "one-sign":
        sw, tw = np.abs(sw), -np.abs(tw)
    return k, [sw, tw, su, tu]


@pytest.mark.parametrize("case", CHANNEL_CASES)
def test_forward_simd_response_sums(case):
    """forward_simd's 8-sum form of N (docs/performance.md) against the class-sum form of
    forward and against its derivation (MASK_SUMS on the 8 sums computed in NumPy): N on
    every mask, and the mean filter response max_weight checks, on channels with ties
    |s| = |t|, zero responses and padding."""
    rng = np.random.default_rng(CHANNEL_CASES.index(case))
    for _ in range(50):
        k, (sw, tw, su, tu) = random_channels(rng, case)
        D = np.zeros((4, 4))
        forward(sw, tw, su, tu, D)
        want = np.array([mask_output(D, M, SEL) for M in range(16)])
        kp = padded_channels(k)
        pad = [np.concatenate([a, np.zeros(kp - k)]) for a in (sw, tw, su, tu)]
        D8 = np.full((4, 4), np.nan)
        size = forward_simd(*pad, D8, k)
        got = np.array([mask_output_simd(D8, M) for M in range(16)])
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)
        assert got[0] == 0.0
        # the kernel's call: ``one`` = 1.0 read at run time (sums by multiply-adds)
        D1 = np.full((4, 4), np.nan)
        assert forward_simd(*pad, D1, k, SIMD_TABLES.one[0]) == size
        assert np.array_equal(D1, D8)  # the same sums: x * 1 + acc is exactly x + acc

        def sums(s, t):
            r = [np.maximum(s, 0), np.maximum(t, 0), np.maximum(-s, 0), np.maximum(-t, 0)]
            p = [np.maximum(r[a], r[b]) for a, b in ((0, 1), (0, 3), (2, 1), (2, 3))]
            return np.array([x.sum() for x in r + p])

        S = sums(sw, tw) - sums(su, tu)
        np.testing.assert_allclose(MASK_SUMS @ S, want, rtol=1e-13, atol=1e-13)
        sizes = [np.maximum(np.abs(s), np.abs(t)).sum() / k for s, t in ((sw, tw), (su, tu))]
        assert size == pytest.approx(max(sizes), rel=1e-13)
    # a response that is not finite: NaN, which the engine records as diverged
    inf = np.array([np.inf] + [0.0] * 7)
    assert np.isnan(forward_simd(inf, np.zeros(8), np.zeros(8), np.zeros(8), np.zeros((4, 4)), 1))
    assert np.isnan(forward_simd(inf, np.zeros(8), np.zeros(8), np.zeros(8), np.zeros((4, 4)), 1,
                                 SIMD_TABLES.one[0]))


@pytest.mark.parametrize("case", CHANNEL_CASES)
def test_descend_simd_is_descend_bit_for_bit(case):
    """descend_simd on the (4, k') filter array (rows sw, tw, su, tu; padding channels)
    moves every channel exactly as descend moves w (step 2 eta) and u (-2 eta), and says
    whether anything moved (its OR of bit patterns against descend's sum of |ds| + |dt|):
    on ties |s| = |t|, +0.0 and -0.0 responses, zero class coefficients. (The class
    coefficients are finite whenever the engine descends: a non-finite loss stops a
    replica first.)"""
    rng = np.random.default_rng(10 + CHANNEL_CASES.index(case))
    for trial in range(60):
        k, (sw, tw, su, tu) = random_channels(rng, case)
        # class coefficients as the loss stage forms them: sum_g dn_g GRAD[c, M_g] over a
        # few active groups (exact zeros where no group's mask feeds a class)
        masks = rng.integers(1, 16, size=int(rng.integers(0, 5)))
        dn = rng.normal(size=masks.size)
        ca, cb = GRAD_A[:, masks] @ dn, GRAD_B[:, masks] @ dn
        if trial % 10 == 0:  # no gradient at all: nothing moves
            ca[:], cb[:] = 0.0, 0.0
        eta = float(rng.uniform(1e-3, 0.5))
        want = [a.copy() for a in (sw, tw, su, tu)]
        moved_w = descend(want[0], want[1], ca, cb, 2.0 * eta)
        moved_u = descend(want[2], want[3], ca, cb, -2.0 * eta)
        kp = padded_channels(k)
        F = np.zeros((4, kp))
        for row, a in enumerate((sw, tw, su, tu)):
            F[row, :k] = a
        moved = descend_simd(F, ca, cb, 2.0 * eta)
        assert moved == (moved_w or moved_u)
        for row in range(4):  # == : equal up to the sign of a zero response
            assert np.all(F[row, :k] == want[row]), (case, trial, row)
        assert not F[:, k:].any()  # the padding channels never move


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
