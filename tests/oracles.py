"""Plain reference implementations shared by several test files (written from the
definitions, independent of the code under test), and the one way the tests run a script
under several numba thread counts."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np

from xordsim.data import uniform_distribution, xor_dataset
from xordsim.engine import CONVERGED, DIVERGED, STALLED, train
from xordsim.model import outputs_all_masks
from xordsim.patterns import PATTERNS
from xordsim.reference import (
    reference_init,
    reference_loss_and_grad,
    reference_output,
    reference_run,
)


def direct_features(w: np.ndarray) -> np.ndarray:
    """1{max_{l∈A} w·p_l > 0}·p_{l*(A)} on the 16 masks, (N, 16, 2), straight from the
    definition: a running argmax over the members with strict '>' (ties to the lowest
    index). Independent of the sector construction of the kernel and the NTK."""
    resp = w @ PATTERNS.T.astype(float)
    out = np.zeros((w.shape[0], 16, 2))
    for mask in range(1, 16):
        best = np.full(w.shape[0], -np.inf)
        star = np.zeros(w.shape[0], np.int64)
        for l in range(4):
            if mask >> l & 1:
                better = resp[:, l] > best
                best = np.where(better, resp[:, l], best)
                star = np.where(better, l, star)
        out[:, mask] = PATTERNS[star] * (best > 0)[:, None]
    return out


def tau_b_loop(x, y) -> tuple[float | None, int, int]:
    """Kendall's τ-b = (P − Q)/√((n₀ − n₁)(n₀ − n₂)) by enumerating the pairs, with the
    numbers of pairs tied in x and in y; τ is None when undefined (x or y constant)."""
    n = len(x)
    P = Q = tx = ty = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = x[i] - x[j], y[i] - y[j]
            tx += dx == 0
            ty += dy == 0
            P += dx * dy > 0
            Q += dx * dy < 0
    n0 = n * (n - 1) // 2
    if n0 in (tx, ty):
        return None, tx, ty
    return (P - Q) / math.sqrt((n0 - tx) * (n0 - ty)), tx, ty


def arrays_by_thread_count(script: str, tmp_path, threads=("1", "2")) -> list[np.ndarray]:
    """Run ``script`` once per thread count, each in a fresh interpreter with
    ``NUMBA_NUM_THREADS`` set; the script saves one array with ``np.save(sys.argv[1], ...)``.
    Returns the arrays, after checking that each run really used its thread count."""
    probe = "\nimport numba\nprint(numba.get_num_threads())\n"
    outs = []
    for n in threads:
        path = tmp_path / f"threads{n}.npy"
        proc = subprocess.run([sys.executable, "-c", script + probe, str(path)],
                              env=dict(os.environ, NUMBA_NUM_THREADS=n), capture_output=True,
                              text=True, check=True)
        assert proc.stdout.strip().splitlines()[-1] == n
        outs.append(np.load(path))
    return outs


def check_xor_statuses_as_replicas(kernel, k, c_eta, replicas):
    """XOR runs where some replicas stall (Theorem 3.4) and some converge: ``kernel``'s
    statuses and stop steps are those of the ``replicas`` kernel."""
    x, y = xor_dataset()
    runs = [train(x, y, k, problem="xor", replicas=replicas, steps=1500, c_eta=c_eta, seed=2,
                  _kernel=kern) for kern in ("replicas", kernel)]
    assert np.array_equal(runs[0].status, runs[1].status)
    assert np.array_equal(runs[0].stop_step, runs[1].stop_step)
    assert (runs[1].status == STALLED).any() and (runs[1].status == CONVERGED).any()


def check_against_reference(kernel, loss, problem, k, alpha, init, rng, R=6, labels=None,
                            T=240, every=6, shared=False):
    """Run GD with ``kernel`` (None: the one :func:`train` picks) and compare it with the
    plain reference along the whole trajectory: the initialization, loss and training
    error every ``every`` steps, snapshots, final weights (1e-12), convergence steps, and
    the final record (loss, training error, outputs, gradient norm). ``labels="random"``
    draws the XORD labels at random (not f*), so that a training set holds any (mask,
    label) pair; ``labels="thm6.5"`` draws the points from Theorem 6.5's distribution
    (p+ = p- = 0.6, so that its rarer masks occur: the lanes kernel's key set ``thm65``);
    ``shared`` gives every replica the same training set."""
    if problem == "xor":
        x, y = xor_dataset()
    elif labels == "thm6.5":
        from xordsim.theorems.exact import thm_6_5_distribution

        x, y = thm_6_5_distribution(0.6, 0.6, 4).sample_training_sets(3, R, rng)
    elif shared:
        x, y = uniform_distribution(4).sample_training_set(5, rng)
    else:
        x, y = uniform_distribution(4).sample_training_sets(5, R, rng)
        if labels == "random":
            y = np.where(rng.random(y.shape) < 0.5, 1, -1).astype(y.dtype)
            y[:, 0], y[:, 1] = 1, -1
    # an exactly realisable training set can reach squared loss 0 in the engine and
    # 1e-32 in the reference: a tolerance far above rounding makes the stop step robust
    tol = 1e-20 if loss == "squared" else 0.0
    # no round numbers: from N_0 = 0 (antisymmetric init) the hinge's piecewise-linear
    # steps would otherwise land exactly on a margin, a kink the two implementations
    # round to different sides of
    lr = 0.0937 / (k * alpha ** 2)
    seed = int(rng.integers(2**31))
    res = train(x, y, k, problem=problem, replicas=R, steps=T, lr=lr, gamma=2.3, seed=seed,
                loss=loss, output_scale=alpha, init=init, tol=tol, record_every=every,
                init_std=0.5, snapshot_steps=[0, 1, 60, T], _kernel=kernel)
    if kernel is not None:
        assert res.kernel == kernel
    # the initialization, drawn from the seed as the reference draws it
    w0, u0 = reference_init(R, k, 0.5, seed, init)
    assert np.array_equal(res.w0, w0) and np.array_equal(res.u0, u0)
    if init == "antisymmetric":
        assert np.array_equal(res.u0, res.w0)
    assert not (res.status == DIVERGED).any()
    ref = reference_run(x, y, w0, u0, lr, T, problem, 2.3, loss=loss, output_scale=alpha,
                        tol=tol, record_every=every)
    np.testing.assert_allclose(res.w, ref.w, atol=1e-12, rtol=0)
    np.testing.assert_allclose(res.u, ref.u, atol=1e-12, rtol=0)
    assert (res.converged_step == ref.converged_step).all()
    assert np.array_equal(res.trajectory_steps, ref.steps)
    np.testing.assert_allclose(res.loss_trajectory, ref.loss, rtol=1e-12, atol=1e-12)
    assert np.array_equal(res.train_error_trajectory, ref.train_error)
    for i, t in enumerate(res.snapshot_steps):
        if t % every == 0:
            j = int(t // every)
            np.testing.assert_allclose(res.snapshots_w[:, i], ref.w_at[:, j], atol=1e-12,
                                       rtol=0)
            np.testing.assert_allclose(res.snapshots_u[:, i], ref.u_at[:, j], atol=1e-12,
                                       rtol=0)
    # the final record: loss, training error, outputs (alpha included), gradient norm
    xr = x if x.ndim == 4 else x[None]
    yr = y if y.ndim == 2 else y[None]
    value, gw, gu = reference_loss_and_grad(res.w, res.u, xr, yr, problem, 2.3, loss, alpha)
    np.testing.assert_allclose(res.loss, value, rtol=1e-12, atol=1e-12)
    out = reference_output(res.w, res.u, xr, alpha)
    np.testing.assert_allclose(res.train_error, (yr * out <= 0).mean(axis=1))
    np.testing.assert_allclose(res.outputs, outputs_all_masks(res.w, res.u, alpha),
                               rtol=1e-12, atol=1e-12)
    norm = np.sqrt((gw ** 2).sum(axis=(1, 2)) + (gu ** 2).sum(axis=(1, 2)))
    np.testing.assert_allclose(res.grad_norm, norm, rtol=1e-9, atol=1e-12)
    assert res.params["loss"] == loss and res.config.loss == loss
    assert res.params["output_scale"] == alpha and res.params["init"] == init
    return res
