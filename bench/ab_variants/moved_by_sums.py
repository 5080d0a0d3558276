"""Variant for bench/bench_kernel_ab.py: descend_simd with its "moved" test as before
issue 16's change (|ds| + |dt| summed into one floating-point sum, not ORed bit patterns)
and not inlined. Same filters; measured 7 Dec 2026 (one thread, R = 400, T = 2000,
medians of 4): k = 8 1.50e7 (the engine) against 9.44e6 (this variant), k = 20 1.11e7
against 7.89e6 rs/s."""

from numba import njit

from xordsim.model import FASTMATH, _channel_step, class_steps


@njit(fastmath=FASTMATH)
def descend_simd(F, coef_a, coef_b, scale):
    e0, e1, e3, e4, e5, e7, f0, f1, f2, f3, f4, f6 = class_steps(coef_a, coef_b, scale)
    moved = 0.0
    for j in range(F.shape[1]):
        ds, dt = _channel_step(F[0, j], F[1, j], e0, e1, e3, e4, e5, e7, f0, f1, f2, f3, f4,
                               f6)
        moved += abs(ds) + abs(dt)
        F[0, j] -= ds
        F[1, j] -= dt
        ds, dt = _channel_step(F[2, j], F[3, j], e0, e1, e3, e4, e5, e7, f0, f1, f2, f3, f4,
                               f6)
        moved += abs(ds) + abs(dt)
        F[2, j] += ds
        F[3, j] += dt
    return moved != 0.0


REPLACE = {"descend_simd": descend_simd}
