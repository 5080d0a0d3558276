"""Plain reference implementations shared by several test files (written from the
definitions, independent of the code under test), and the one way the tests run a script
under several numba thread counts."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np

from xordsim.patterns import PATTERNS


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
