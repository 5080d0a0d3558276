"""The small-k GD kernel ``"lanes"``: replicas in SIMD lanes, code generated per k.

For a few filters per layer the channel loops of the other kernels are too short to
vectorise, and a replica-step is mostly overhead. This kernel turns the problem around:
:data:`LANES` replicas are advanced together, one per SIMD lane, with their state laid out
as a structure of arrays (row ``i`` of every lane contiguous), and the code of one GD step
is generated for the given k -- every channel loop unrolled, every mask constant folded --
as one straight-line loop body over the lanes, which LLVM vectorises across replicas.

**Generated code, compiled once, cached.** :func:`kernel_module` writes the source of
``(k, keyset, loss)`` to a file named by the hash of that source (in
``$NUMBA_CACHE_DIR/xordsim-lanes``, else ``$XDG_CACHE_HOME/xordsim/lanes`` or
``~/.cache/xordsim/lanes``) and imports it; numba caches the compiled functions beside it,
so a new process loads them in milliseconds. The file name holds the hash of the source,
which names the hash of every kernel source of the package (:func:`xordsim._jit.sources_digest`:
the generated code links this module's handler, which calls the model's functions): a
changed generator or kernel produces a new file, and a stale kernel is never reused.

**Key sets.** The training sets of a call are reduced to loss groups keyed by
(mask M, label y), key = 2 M + [y > 0] (:func:`xordsim.model.loss_groups`). The step is
straight-line code over a fixed list of keys, each lane reading its own replica's weight
and margin per key (0 and -inf for a key its training set lacks): ``"thm65"`` (the 6 keys
of Theorem 6.5's distribution: the sample-complexity figure and the thm6.5 rows, whose
k = 2 runs are the longest of ``reproduce``), ``"dpm"`` (the 6 keys of D+ and D- at large
d: positive points with 3 or 4 patterns, negative ones with p2 and p4), ``"fstar"`` (the
15 masks with the label f*: XORD data drawn from D+ and D-, and the XOR problem) or
``"all"`` (30 keys: any labels). :func:`plan` gives each replica the first set that holds
its training set's keys where that set's replicas amount to enough replica-steps
(:data:`LARGE_SET_MIN_WORK`), the rest of the call the smallest set that holds them (for
a call it does not split: :func:`keyset_for`); ``"dpm"`` only ever runs such large groups
(:data:`LARGE_ONLY`). A key set changes no number, only the time. (Few sets: each is a
compilation per k and loss; a set of the 4 one-pattern masks for XOR was dropped, its
runs are a few steps long and it doubled the compilations.)

**The step** (per lane; the derivation of the (s, t) form is in docs/performance.md). With
the responses r1 = sigma(s), r2 = sigma(t), r3 = sigma(-s), r4 = sigma(-t) of a filter,
its value on mask M is max_{l in M} r_l, so N_W on each mask of the key set is a sum over
the unrolled channels of one max-tree each (|s| = max(r1, r3), |t| = max(r2, r4)). The
loss stage is the engine's, key by key in key order (the groups' order), with dl/dN
accumulated into 12 sums: A_a (masks holding side a = p1 / p3), B_b (side b = p2 / p4),
Y_ab (a but not b), Z_ab (b but not a); a filter of sign class ab then receives
coef_a = Y_ab if b wins else A_a and coef_b = B_b if b wins else Z_ab, exactly the class
coefficients of :func:`xordsim.model.group_loss` (``GRAD_A``, ``GRAD_B``) summed in the
same order. The descend is :func:`xordsim.model.descend`'s arithmetic.

**Lane refill.** A lane whose replica converges, stalls, diverges, runs out of steps or
reaches a recorded step (snapshot, trajectory) raises an event; the step is not committed,
a scalar handler evaluates that lane alone (the same generated expressions), records what
is due, and either lets the step run or finishes the replica and loads the next one of the
chunk into the lane. Chunks (about two per thread) are taken from one queue by the calling
thread and ``numba.get_num_threads() - 1`` helper threads. Lanes never interact, so a
replica's numbers do not depend on its lane, its chunk, its key set or the thread count.

Results agree with :func:`xordsim.model.forward` / ``group_loss`` / ``descend`` to
rounding (the class sums are formed in another order); tests/test_engine_lanes.py checks
them against the plain reference along trajectories.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from numba import njit

from xordsim import _jit  # first: the package's kernel cache (_jit.py)
from xordsim.model import hinge_active

#: Replicas advanced together (one per SIMD lane of the generated step).
LANES = 16
#: The largest k the generator accepts (the engine picks this kernel for k < SIMD_MIN_K).
MAX_K = 8
#: Chunks per thread (:func:`chunk_size`).
CHUNKS_PER_THREAD = 2
#: The losses, by the name of their kernel type (:data:`xordsim.model.LOSS_TYPES`).
LOSS_NAMES = {"HingeLoss": "hinge", "SquaredLoss": "squared", "LogisticLoss": "logistic"}


def _fstar(M: int) -> int:
    """f*(M): 1 iff the mask holds p1 or p3 (bits 0 and 2)."""
    return 1 if M & 0b0101 else 0


#: The masks of Theorem 6.5's distribution: the diverse points (P+: every pattern, mask 15;
#: P-: {p2, p4}, mask 10) and the sets A_i of its other points ({p1, p2, p4}, {p2, p3, p4};
#: {p2}, {p4}), each with its label f*.
THM65_MASKS = (2, 8, 10, 11, 14, 15)

#: The masks of data from D+ and D- at large d: a positive point holds 3 or 4 of the
#: patterns, a negative one both p2 and p4 ({p2, p4}, mask 10). At d = 10 (m = 20) 86% of
#: the training sets of the uniform distribution have only these keys.
DPM_MASKS = (7, 10, 11, 13, 14, 15)

#: Key sets (keys 2 M + [y > 0], ascending), smallest first: ``thm65``, the 6 keys of
#: Theorem 6.5's distribution (the sample-complexity figure and the thm6.5 rows: their
#: loss stage evaluates 6 keys instead of 15); ``dpm``, the 6 keys of D+- at large d
#: (:data:`DPM_MASKS`; used only for many replica-steps, :data:`LARGE_ONLY`); ``fstar``,
#: the 15 masks with label f* (XORD from D+-, XOR); ``all``, the 30 keys of any labels.
KEYSETS: dict[str, tuple[int, ...]] = {
    "thm65": tuple(2 * M + _fstar(M) for M in THM65_MASKS),
    "dpm": tuple(2 * M + _fstar(M) for M in DPM_MASKS),
    "fstar": tuple(2 * M + _fstar(M) for M in range(1, 16)),
    "all": tuple(range(2, 32)),
}

#: Key sets that run only the replicas of a call amounting to at least
#: :data:`LARGE_SET_MIN_WORK` replica-steps (replicas x T): each is one more compilation
#: per (k, loss) -- paid once per machine, numba caches it -- which a small call (the
#: tests, ``--quick``) should not pay. Other sets run whatever holds their keys.
LARGE_ONLY = frozenset({"dpm"})
#: Replica-steps (replicas x T) from which a group of replicas runs with its own key set
#: (:func:`plan`): 2^20, about 6 ms of the k = 2 pass on two cores.
LARGE_SET_MIN_WORK = 2**20


#: Each key set's keys as bits of an integer (bit 2 M + [y > 0]).
KEYSET_BITS: dict[str, int] = {name: sum(1 << key for key in keys)
                               for name, keys in KEYSETS.items()}


def _first_holding(bits: int) -> str:
    """The first key set of :data:`KEYSETS`, :data:`LARGE_ONLY` aside, whose keys hold the
    keys ``bits`` (bit 2 M + [y > 0] per key)."""
    for name, keys in KEYSET_BITS.items():
        if name not in LARGE_ONLY and bits & ~keys == 0:
            return name
    raise AssertionError(f"keys outside 2..31: {bits:#x}")  # pragma: no cover


def keyset_for(mask: np.ndarray, y: np.ndarray, count: np.ndarray) -> str:
    """The smallest key set of :data:`KEYSETS` holding every key present (count > 0) in
    the groups (arrays (Rd, G)), :data:`LARGE_ONLY` sets aside: what a call runs with when
    :func:`plan` does not split it."""
    return _first_holding(int(_present_keys(mask, y, count)))


def plan(groups, data_idx: np.ndarray, steps: int) -> list[tuple[str, np.ndarray]]:
    """Which replicas of a call run with which key set: [(key set, replica indices)].

    Key sets in the order of :data:`KEYSETS`: the replicas not yet placed whose training
    sets (rows of the loss ``groups``) have only keys of the set run with it if they
    amount to at least :data:`LARGE_SET_MIN_WORK` replica-steps (replicas x ``steps``);
    the replicas left run with the first set, :data:`LARGE_ONLY` aside, that holds all
    their keys (a call that is not split runs with the set :func:`keyset_for` names). A
    key set changes no number -- a key a training set lacks has weight 0 and margin -inf
    in the pass -- only the time: on the benchmark's data (d = 10, m = 20, k = 2) 86% of
    the sets run with the 6 keys of ``dpm`` instead of the 15 of ``fstar``, 1.5x faster
    (docs/performance.md)."""
    rep_bits = _row_key_bits(groups.mask, groups.y, groups.count)[data_idx]
    left = np.ones(rep_bits.shape[0], bool)  # replicas not yet given a set
    runs: dict[str, np.ndarray] = {}  # key set -> which replicas run with it
    for name, keys in KEYSET_BITS.items():
        held = left & ((rep_bits & ~keys) == 0)
        if int(held.sum()) * max(steps, 1) >= LARGE_SET_MIN_WORK:
            runs[name] = held
            left &= ~held
    if left.any():
        name = _first_holding(int(np.bitwise_or.reduce(rep_bits[left])))
        runs[name] = runs[name] | left if name in runs else left
    return [(name, np.nonzero(held)[0]) for name, held in runs.items()]


@njit(cache=True)
def _row_key_bits(mask, y, count):
    """Per training set (row of the groups) its keys 2 M + [y > 0] (count > 0) as bits."""
    bits = np.zeros(mask.shape[0], np.int64)
    for r in range(mask.shape[0]):
        for g in range(mask.shape[1]):
            if count[r, g] > 0:
                bits[r] |= 1 << (2 * mask[r, g] + (1 if y[r, g] > 0 else 0))
    return bits


def _present_keys(mask, y, count) -> int:
    """The keys 2 M + [y > 0] of the groups with count > 0, as bits of an integer."""
    return int(np.bitwise_or.reduce(_row_key_bits(mask, y, count)))


# ----------------------------------------------------------------------------------------
# The generator


class _Layout:
    """Rows of the lane state ``st`` (one row = LANES floats, row r of lane l at r*L + l):
    s, t of the w filters, s, t of the u filters (k rows each), the same four blocks as
    they were before the last pass (the pass commits unconditionally; the handler of an
    event restores them), per key its loss weight, margin and active counter, then the
    step, the next recorded step, live, event."""

    def __init__(self, k: int, K: int):
        self.k, self.K = k, K
        self.sw, self.tw, self.su, self.tu = 0, k, 2 * k, 3 * k
        # the offsets the compiled driver uses: one definition (_rows)
        (self.prev, self.weight, self.margin, self.count, self.step, self.rec, self.live,
         self.event) = _rows.py_func(k, K)
        self.rows = self.event + 1


#: Entries of the handler's ``diag`` vector before the 15 mask outputs and the K flags.
DIAG_NAMES = ("loss", "lossbad", "conv", "atmax", "rec", "stall", "bigdiv")
_D_MASK = len(DIAG_NAMES)  # N on masks 1..15 at _D_MASK + M - 1
_D_ACT = _D_MASK + 15


def _value_expr(M: int, ch: str) -> str:
    """The filter's value on mask M, max over the patterns in M of sigma(response)."""
    if M == 15:
        return f"mx{ch}"
    a = "as" if M & 1 and M & 4 else ("r1" if M & 1 else ("r3" if M & 4 else None))
    b = "at" if M & 2 and M & 8 else ("r2" if M & 2 else ("r4" if M & 8 else None))
    if a and b:
        return f"max({a}{ch}, {b}{ch})"
    return f"{a or b}{ch}"


def _body(k: int, keys: tuple[int, ...], loss: str) -> list[str]:
    """Statements of one GD step of lane ``l`` in the generated pass: loads, N on the
    keys' masks, the loss stage over ``keys``, the descend, the event flags. The new
    filters, active counters and step are stored as they come, the old filters kept in
    the ``prev`` rows (an event's handler restores them). :func:`lane_step` does the same
    operations in the same order for one lane."""
    commit = True
    lay = _Layout(k, len(keys))
    out = []
    emit = out.append

    def at(row: int) -> str:
        return f"st[{row * LANES} + l]"

    layers = (("w", lay.sw, lay.tw), ("u", lay.su, lay.tu))
    for name, rs, rt in layers:
        for j in range(k):
            ch = f"{name}{j}"
            emit(f"s{ch} = {at(rs + j)}")
            emit(f"t{ch} = {at(rt + j)}")
            if commit:
                emit(f"{at(lay.prev + rs + j)} = s{ch}")
                emit(f"{at(lay.prev + rt + j)} = t{ch}")
            emit(f"as{ch} = abs(s{ch})")
            emit(f"at{ch} = abs(t{ch})")
            emit(f"sn{ch} = s{ch} < 0.0")
            emit(f"tn{ch} = t{ch} < 0.0")
            emit(f"r1{ch} = 0.0 if sn{ch} else as{ch}")
            emit(f"r3{ch} = as{ch} if sn{ch} else 0.0")
            emit(f"r2{ch} = 0.0 if tn{ch} else at{ch}")
            emit(f"r4{ch} = at{ch} if tn{ch} else 0.0")
            emit(f"mx{ch} = max(as{ch}, at{ch})")
    done: set[int] = set()

    def n_of(M: int) -> None:  # N on mask M, w sums minus u sums, channels in order
        if M in done:
            return
        done.add(M)
        for name, _, _ in layers:
            emit(f"S{name}{M} = " + " + ".join(_value_expr(M, f"{name}{j}")
                                              for j in range(k)))
        emit(f"N{M} = Sw{M} - Su{M}")

    # the loss stage, key by key in key order (the groups' order); the 12 coefficient
    # sums of group_loss accumulated in the same order, from 0.0
    emit("loss = 0.0")
    for name in ("A1", "A3", "B2", "B4", "Y0", "Y1", "Y2", "Y3", "Z0", "Z1", "Z2", "Z3"):
        emit(f"{name} = 0.0")
    for i, key in enumerate(keys):
        M, pos = key >> 1, key & 1
        n_of(M)
        emit(f"w{i} = {at(lay.weight + i)}")
        emit(f"m{i} = {at(lay.margin + i)}")
        if loss == "hinge":  # a key the training set lacks has margin -inf: never active
            emit(f"sl{i} = m{i} - N{M}" if pos else f"sl{i} = m{i} + N{M}")
            emit(f"ac{i} = sl{i} > 0.0")
            emit(f"lt{i} = w{i} * sl{i}")
            emit(f"z{i} = lt{i} if ac{i} else 0.0")
            emit(f"loss = loss + z{i}")
            emit(f"nw{i} = -w{i}" if pos else f"nw{i} = w{i}")
            emit(f"dn{i} = nw{i} if ac{i} else 0.0")
        else:
            emit(f"n{i} = alpha * N{M}")
            emit(f"sl{i} = m{i} - n{i}" if pos else f"sl{i} = m{i} + n{i}")
            emit(f"pz{i} = w{i} > 0.0")
            emit(f"hs{i} = sl{i} > 0.0")
            emit(f"ac{i} = pz{i} & hs{i}")
            if loss == "squared":
                emit(f"q{i} = n{i} - m{i}" if pos else f"q{i} = n{i} + m{i}")
                emit(f"h{i} = 0.5 * q{i}")
                emit(f"v{i} = h{i} * q{i}")
                emit(f"g{i} = q{i}")
            else:  # logistic: softplus(-y n) and its slope, as model.point_loss
                emit(f"y{i} = n{i}" if pos else f"y{i} = -n{i}")
                emit(f"e{i} = np.exp(-abs(y{i}))")
                emit(f"v{i} = max(-y{i}, 0.0) + np.log1p(e{i})")
                emit(f"c{i} = e{i} if y{i} > 0.0 else 1.0")
                emit(f"b{i} = -c{i}" if pos else f"b{i} = c{i}")
                emit(f"g{i} = b{i} / (1.0 + e{i})")
            emit(f"lt{i} = w{i} * v{i}")
            emit(f"z{i} = lt{i} if pz{i} else 0.0")
            emit(f"loss = loss + z{i}")
            emit(f"ws{i} = w{i} * g{i}")
            emit(f"da{i} = alpha * ws{i}")
            emit(f"dn{i} = da{i} if pz{i} else 0.0")
        if commit:  # counted now; the handler of an event takes it back where due
            emit(f"inc{i} = 1.0 if ac{i} else 0.0")
            emit(f"{at(lay.count + i)} = {at(lay.count + i)} + inc{i}")
        targets = [n for bit, n in ((0, "A1"), (2, "A3"), (1, "B2"), (3, "B4")) if M >> bit & 1]
        for ab in range(4):
            in_a = M >> (0 if ab >> 1 == 0 else 2) & 1
            in_b = M >> (1 if ab & 1 == 0 else 3) & 1
            if in_a and not in_b:
                targets.append(f"Y{ab}")
            if in_b and not in_a:
                targets.append(f"Z{ab}")
        for name in targets:
            emit(f"{name} = {name} + dn{i}")
    for name, _, _ in layers:  # the sizes the engine compares with max_weight
        emit(f"big{name} = " + " + ".join(f"mx{name}{j}" for j in range(k)))
    # the descend, descend's arithmetic per channel
    emit("mv = False")
    for name, rs, rt in layers:
        sc = "scale" if name == "w" else "nscale"
        for j in range(k):
            ch = f"{name}{j}"
            emit(f"g1{ch} = at{ch} > as{ch}")
            emit(f"eq{ch} = at{ch} == as{ch}")
            emit(f"np{ch} = not tn{ch}")
            emit(f"g2{ch} = eq{ch} & sn{ch}")
            emit(f"g3{ch} = g2{ch} & np{ch}")
            emit(f"bw{ch} = g1{ch} | g3{ch}")
            for acc_name in ("Y", "Z"):
                emit(f"{acc_name}s{ch} = {acc_name}1 if tn{ch} else {acc_name}0")
                emit(f"{acc_name}n{ch} = {acc_name}3 if tn{ch} else {acc_name}2")
                emit(f"{acc_name}a{ch} = {acc_name}n{ch} if sn{ch} else {acc_name}s{ch}")
            emit(f"Aa{ch} = A3 if sn{ch} else A1")
            emit(f"Bb{ch} = B4 if tn{ch} else B2")
            emit(f"ca{ch} = Ya{ch} if bw{ch} else Aa{ch}")
            emit(f"cb{ch} = Bb{ch} if bw{ch} else Za{ch}")
            emit(f"o1{ch} = -1.0 if sn{ch} else 0.0")
            emit(f"gs{ch} = 1.0 if s{ch} > 0.0 else o1{ch}")
            emit(f"o2{ch} = -1.0 if tn{ch} else 0.0")
            emit(f"gt{ch} = 1.0 if t{ch} > 0.0 else o2{ch}")
            emit(f"ka{ch} = {sc} * ca{ch}")
            emit(f"kb{ch} = {sc} * cb{ch}")
            emit(f"ds{ch} = ka{ch} * gs{ch}")
            emit(f"dt{ch} = kb{ch} * gt{ch}")
            emit(f"m1{ch} = ds{ch} != 0.0")
            emit(f"m2{ch} = dt{ch} != 0.0")
            emit(f"mv = mv | m1{ch}")
            emit(f"mv = mv | m2{ch}")
            if commit:
                emit(f"{at(rs + j)} = s{ch} - ds{ch}")
                emit(f"{at(rt + j)} = t{ch} - dt{ch}")
    # events, in the engine's order of checks
    emit(f"step = {at(lay.step)}")
    emit(f"bw1 = bigw / {float(k)!r}")
    emit(f"bu1 = bigu / {float(k)!r}")
    emit("ok1 = bw1 <= max_abs")
    emit("ok2 = bu1 <= max_abs")
    emit("okb = ok1 & ok2")
    emit("bad = not okb")
    emit("sp = step > 0.0")
    emit("bigdiv = sp & bad")
    emit("okl = loss <= np.inf")
    emit("lossbad = not okl")
    emit("conv = loss <= tol")
    emit("atmax = step == steps")
    emit(f"isrec = step == {at(lay.rec)}")
    emit("stall = not mv")
    if commit:
        emit(f"{at(lay.step)} = step + 1.0")
    return out


def _indent(lines: list[str], n: int) -> str:
    return "".join(" " * n + line + "\n" for line in lines)


# ----------------------------------------------------------------------------------------
# One lane alone: the handler's step (scalar; the same operations in the same order as the
# generated pass, so the same numbers)

LOSS_CODES = {"hinge": 0, "squared": 1, "logistic": 2}


@njit(cache=True, nogil=True)
def next_record(si, ti, snap_steps, every, n_traj):
    """The next step with a snapshot (``snap_steps[si]``) or a trajectory entry
    (``ti * every``) due, or -1."""
    nxt = -1
    if si < snap_steps.shape[0]:
        nxt = snap_steps[si]
    if every > 0 and ti < n_traj:
        t_next = ti * every
        if nxt < 0 or t_next < nxt:
            nxt = t_next
    return nxt


@njit(cache=True, nogil=True)
def _mask_value(M, a_s, a_t, r1, r2, r3, r4, mx):
    """A filter's value on mask M (the generated pass's :func:`_value_expr`)."""
    if M == 15:
        return mx
    has_a = True
    a = 0.0
    if M & 1 and M & 4:
        a = a_s
    elif M & 1:
        a = r1
    elif M & 4:
        a = r3
    else:
        has_a = False
    has_b = True
    b = 0.0
    if M & 2 and M & 8:
        b = a_t
    elif M & 2:
        b = r2
    elif M & 8:
        b = r4
    else:
        has_b = False
    if has_a and has_b:
        return max(a, b)
    return a if has_a else b


@njit(cache=True, nogil=True)
def lane_step(st, l, k, L, keys, loss_code, scale, steps, tol, max_abs, alpha, diag,
              commit, work):
    """One GD step of lane ``l`` alone, by the generated pass's operations in its order:
    fills ``diag`` (loss, the event flags lossbad, conv, atmax, rec, stall, bigdiv, N on
    masks 1..15, the active flags of the keys); with ``commit`` also moves the filters,
    counts the active keys and advances the step, as a pass does. ``work`` is scratch of
    shape (9, 2, >= k)."""
    K = keys.shape[0]
    w_row, m_row, c_row, step_row = 8 * k, 8 * k + K, 8 * k + 2 * K, 8 * k + 3 * K
    s, t, a_s, a_t, r1, r2, r3, r4, mx = (work[0], work[1], work[2], work[3], work[4],
                                          work[5], work[6], work[7], work[8])
    for h in range(2):
        for j in range(k):
            sj = st[((2 * h) * k + j) * L + l]
            tj = st[((2 * h + 1) * k + j) * L + l]
            s[h, j] = sj
            t[h, j] = tj
            a_s[h, j] = abs(sj)
            a_t[h, j] = abs(tj)
            sn = sj < 0.0
            tn = tj < 0.0
            r1[h, j] = 0.0 if sn else a_s[h, j]
            r3[h, j] = a_s[h, j] if sn else 0.0
            r2[h, j] = 0.0 if tn else a_t[h, j]
            r4[h, j] = a_t[h, j] if tn else 0.0
            mx[h, j] = max(a_s[h, j], a_t[h, j])
    for M in range(1, 16):
        sw = _mask_value(M, a_s[0, 0], a_t[0, 0], r1[0, 0], r2[0, 0], r3[0, 0], r4[0, 0],
                         mx[0, 0])
        su = _mask_value(M, a_s[1, 0], a_t[1, 0], r1[1, 0], r2[1, 0], r3[1, 0], r4[1, 0],
                         mx[1, 0])
        for j in range(1, k):
            sw = sw + _mask_value(M, a_s[0, j], a_t[0, j], r1[0, j], r2[0, j], r3[0, j],
                                  r4[0, j], mx[0, j])
            su = su + _mask_value(M, a_s[1, j], a_t[1, j], r1[1, j], r2[1, j], r3[1, j],
                                  r4[1, j], mx[1, j])
        diag[_D_MASK + M - 1] = sw - su
    # A1, A3, B2, B4, Y0..Y3, Z0..Z3
    c0 = c1 = c2 = c3 = c4 = c5 = c6 = c7 = c8 = c9 = c10 = c11 = 0.0
    loss = 0.0
    for i in range(K):
        M = keys[i] >> 1
        pos = keys[i] & 1 == 1
        w = st[(w_row + i) * L + l]
        m = st[(m_row + i) * L + l]
        NM = diag[_D_MASK + M - 1]
        if loss_code == 0:  # a key the training set lacks has margin -inf: never active
            sl = m - NM if pos else m + NM
            ac = sl > 0.0
            lt = w * sl
            z = lt if ac else 0.0
            loss = loss + z
            nw = -w if pos else w
            dn = nw if ac else 0.0
        else:
            n = alpha * NM
            sl = m - n if pos else m + n
            pz = w > 0.0
            hs = sl > 0.0
            ac = pz & hs
            if loss_code == 1:
                q = n - m if pos else n + m
                hq = 0.5 * q
                v = hq * q
                g = q
            else:
                y = n if pos else -n
                e = np.exp(-abs(y))
                v = max(-y, 0.0) + np.log1p(e)
                c = e if y > 0.0 else 1.0
                b = -c if pos else c
                g = b / (1.0 + e)
            lt = w * v
            z = lt if pz else 0.0
            loss = loss + z
            ws = w * g
            da = alpha * ws
            dn = da if pz else 0.0
        diag[_D_ACT + i] = 1.0 if ac else 0.0
        if commit:
            inc = 1.0 if ac else 0.0
            st[(c_row + i) * L + l] = st[(c_row + i) * L + l] + inc
        p1, p2, p3, p4 = M & 1, M & 2, M & 4, M & 8
        if p1:
            c0 = c0 + dn
        if p3:
            c1 = c1 + dn
        if p2:
            c2 = c2 + dn
        if p4:
            c3 = c3 + dn
        # Y_ab: a in M, b not; Z_ab: b in M, a not (ab = 0: p1 p2, 1: p1 p4, 2: p3 p2,
        # 3: p3 p4)
        if p1 and not p2:
            c4 = c4 + dn
        if p1 and not p4:
            c5 = c5 + dn
        if p3 and not p2:
            c6 = c6 + dn
        if p3 and not p4:
            c7 = c7 + dn
        if p2 and not p1:
            c8 = c8 + dn
        if p4 and not p1:
            c9 = c9 + dn
        if p2 and not p3:
            c10 = c10 + dn
        if p4 and not p3:
            c11 = c11 + dn
    big_w = mx[0, 0]
    big_u = mx[1, 0]
    for j in range(1, k):
        big_w = big_w + mx[0, j]
        big_u = big_u + mx[1, j]
    mv = False
    for h in range(2):
        sc = scale if h == 0 else -scale
        for j in range(k):
            sj, tj = s[h, j], t[h, j]
            sn = sj < 0.0
            tn = tj < 0.0
            g1 = a_t[h, j] > a_s[h, j]
            eq = a_t[h, j] == a_s[h, j]
            ntn = not tn
            g2 = eq & sn
            g3 = g2 & ntn
            bw = g1 | g3
            ys = c5 if tn else c4
            yn = c7 if tn else c6
            ya = yn if sn else ys
            zs = c9 if tn else c8
            zn = c11 if tn else c10
            za = zn if sn else zs
            aa = c1 if sn else c0
            bb = c3 if tn else c2
            ca = ya if bw else aa
            cb = bb if bw else za
            o1 = -1.0 if sn else 0.0
            gs = 1.0 if sj > 0.0 else o1
            o2 = -1.0 if tn else 0.0
            gt = 1.0 if tj > 0.0 else o2
            ka = sc * ca
            kb = sc * cb
            ds = ka * gs
            dt = kb * gt
            mv = mv | (ds != 0.0) | (dt != 0.0)
            if commit:
                st[((2 * h) * k + j) * L + l] = sj - ds
                st[((2 * h + 1) * k + j) * L + l] = tj - dt
    step = st[step_row * L + l]
    kf = float(k)
    bad = not ((big_w / kf <= max_abs) & (big_u / kf <= max_abs))
    diag[0] = loss
    diag[1] = 1.0 if not (loss <= np.inf) else 0.0
    diag[2] = 1.0 if loss <= tol else 0.0
    diag[3] = 1.0 if step == steps else 0.0
    diag[4] = 1.0 if step == st[(step_row + 1) * L + l] else 0.0
    diag[5] = 1.0 if not mv else 0.0
    diag[6] = 1.0 if (step > 0.0) & bad else 0.0
    if commit:
        st[step_row * L + l] = step + 1.0


# ----------------------------------------------------------------------------------------
# The driver's handler (generic: compiled once for every k, key set and loss)


@njit(cache=True, nogil=True)
def _rows(k, K):
    """Row offsets of the lane state (see :class:`_Layout`): prev, weight, margin, count,
    step, rec, live, event."""
    step = 8 * k + 3 * K
    return 4 * k, 8 * k, 8 * k + K, 8 * k + 2 * K, step, step + 1, step + 2, step + 3


@njit(cache=True, nogil=True)
def _load(st, k, K, L, l, r, rd, w0, u0, kw, km, nxt):
    """Put replica r (training set rd) into lane l at step 0."""
    _, w_row, m_row, c_row, step_row, rec_row, live_row, ev_row = _rows(k, K)
    for j in range(k):
        st[(0 * k + j) * L + l] = w0[r, j, 0] + w0[r, j, 1]
        st[(1 * k + j) * L + l] = w0[r, j, 0] - w0[r, j, 1]
        st[(2 * k + j) * L + l] = u0[r, j, 0] + u0[r, j, 1]
        st[(3 * k + j) * L + l] = u0[r, j, 0] - u0[r, j, 1]
    for i in range(K):
        st[(w_row + i) * L + l] = kw[rd, i]
        st[(m_row + i) * L + l] = km[rd, i]
        st[(c_row + i) * L + l] = 0.0
    st[step_row * L + l] = 0.0
    st[rec_row * L + l] = float(nxt)
    st[live_row * L + l] = 1.0
    st[ev_row * L + l] = 0.0


@njit(cache=True, nogil=True)
def _store_filters(st, k, L, l, w, u):
    """Filters (k, 2) of lane l into w, u (the engine's _store_w)."""
    for j in range(k):
        s, t = st[(0 * k + j) * L + l], st[(1 * k + j) * L + l]
        w[j, 0] = (s + t) * 0.5
        w[j, 1] = (s - t) * 0.5
        s, t = st[(2 * k + j) * L + l], st[(3 * k + j) * L + l]
        u[j, 0] = (s + t) * 0.5
        u[j, 1] = (s - t) * 0.5


@njit(cache=True, nogil=True)
def _group_out(diag, M, alpha, loss_code):
    """The output the engine compares on a group of mask M (alpha N for the smooth losses,
    N for the hinge, whose margins are divided by alpha)."""
    n = diag[_D_MASK + M - 1]
    return alpha * n if loss_code != 0 else n


@njit(cache=True, nogil=True)
def _train_error(diag, rd, gmask, gy, gcount, alpha, loss_code):
    err = 0.0
    total = 0.0
    for g in range(gmask.shape[1]):
        total += gcount[rd, g]
        if gy[rd, g] * _group_out(diag, gmask[rd, g], alpha, loss_code) <= 0.0:
            err += gcount[rd, g]
    return err / total


@njit(cache=True, nogil=True)
def _finish(st, k, K, L, l, r, rd, code, step, diag, alpha, loss_code, steps, si, ti, data,
            out, snaps, traj):
    """Write replica r's record, as the engine's _train_replica does."""
    gkey, gmask, gy, gweight, gmargin, gcount = data
    w, u, status, stop_step, loss_out, train_err, active, outputs = out
    snap_steps, snap_w, snap_u, snap_active = snaps
    traj_loss, traj_err = traj
    c_row = _rows(k, K)[3]
    G = gmask.shape[1]
    _store_filters(st, k, L, l, w[r], u[r])
    status[r] = code
    stop_step[r] = step
    for g in range(G):
        key = gkey[rd, g]
        active[r, g] = int(st[(c_row + key) * L + l]) if key >= 0 else 0
    if code == _DIVERGED:
        record_diverged(r, si, ti, loss_out, train_err, outputs, snap_w, snap_u, snap_active,
                        traj_loss, traj_err)
        return
    err = _train_error(diag, rd, gmask, gy, gcount, alpha, loss_code)
    for M in range(1, 16):
        outputs[r, M] = alpha * diag[_D_MASK + M - 1]
    out_n = np.empty(G)
    for g in range(G):
        out_n[g] = _group_out(diag, gmask[rd, g], alpha, loss_code)
    record_stopped(r, code, step, steps, si, ti, diag[0], err, out_n, gweight[rd], gmargin[rd],
                   gy[rd], active[r], w, u, loss_out, train_err, snap_steps, snap_w, snap_u,
                   snap_active, traj_loss, traj_err)


_RUNNING, _CONVERGED, _STALLED, _DIVERGED = 0, 1, 2, 3


@njit(cache=True, nogil=True)
def record_stopped(r, code, step, steps, si, ti, loss, err, out_n, weight, margin, y, active_r,
                   w, u, loss_out, train_err, snap_steps, snap_w, snap_u, snap_active,
                   traj_loss, traj_err):
    """The record of replica r that stopped at ``step`` with status ``code`` (not
    diverged), every kernel's: its loss and training error; the snapshots and trajectory
    entries from the first not yet recorded (``si``, ``ti``) on are those of the final
    network (``w[r]``, ``u[r]`` stored), and a group that misses its margin there
    (:func:`xordsim.model.hinge_active`) does so at every later step: its active count
    ``active_r`` grows by the steps left (to T for a converged or stalled replica). For the
    hinge with tol = 0 and a stalled replica this is what GD does (a fixed point)."""
    loss_out[r] = loss
    train_err[r] = err
    for t2 in range(ti, traj_loss.shape[1]):
        traj_loss[r, t2] = loss
        traj_err[r, t2] = err
    G = out_n.shape[0]
    for s2 in range(si, snap_steps.shape[0]):
        snap_w[r, s2] = w[r]
        snap_u[r, s2] = u[r]
        for g in range(G):
            extra = snap_steps[s2] - step
            if hinge_active(weight[g], margin[g], y[g], out_n[g]):
                snap_active[r, s2, g] = active_r[g] + extra
            else:
                snap_active[r, s2, g] = active_r[g]
    if code == _STALLED or code == _CONVERGED:
        for g in range(G):
            if hinge_active(weight[g], margin[g], y[g], out_n[g]):
                active_r[g] += steps - step


@njit(cache=True, nogil=True)
def record_diverged(r, si, ti, loss_out, train_err, outputs, snap_w, snap_u, snap_active,
                    traj_loss, traj_err):
    """The record of a diverged replica r, every kernel's: NaN loss, training error and
    outputs, and from the first snapshot (``si``) and trajectory entry (``ti``) not yet
    recorded on, NaN filters, active counts -1 and NaN trajectories."""
    loss_out[r] = np.nan
    train_err[r] = np.nan
    outputs[r, :] = np.nan
    for s2 in range(si, snap_w.shape[1]):
        snap_w[r, s2] = np.nan
        snap_u[r, s2] = np.nan
        snap_active[r, s2] = -1
    for t2 in range(ti, traj_loss.shape[1]):
        traj_loss[r, t2] = np.nan
        traj_err[r, t2] = np.nan


@njit(cache=True, nogil=True)
def lanes_start(st, ip, lanes, order, w0, u0, data_idx, kw, km, snaps, traj):
    """Fill the lanes from the chunk's queue ``lanes`` = (next, end, live, lane_r...,
    lane_si..., lane_ti...); ``ip`` = (k, L, loss code, record_every, steps). Returns the
    number of live lanes. (Sizes come as array entries, never as compile-time constants:
    this function is compiled once for every generated kernel.)"""
    k, L, every = ip[0], ip[1], ip[3]
    K = kw.shape[1]
    first = next_record(0, 0, snaps[0], every, traj[0].shape[1])
    for l in range(L):
        lanes[3 + l] = -1
        if lanes[0] < lanes[1]:
            r = order[lanes[0]]
            _load(st, k, K, L, l, r, data_idx[r], w0, u0, kw, km, first)
            lanes[3 + l] = r
            lanes[3 + L + l] = 0
            lanes[3 + 2 * L + l] = 0
            lanes[0] += 1
            lanes[2] += 1
    return lanes[2]


@njit(cache=True, nogil=True)
def lanes_handle(st, ip, fp, keys, diag, lanes, order, w0, u0, data_idx, kw, km, data, out,
                 snaps, traj):
    """Handle the lanes whose event row is set after a pass: take the pass back, evaluate
    the lane alone (:func:`lane_step`), record what is due at this step, then either run
    the step alone or finish the replica (:func:`_finish`) and load the next one of the
    queue. ``ip`` = (k, L, loss code, record_every, steps), ``fp`` = (2 eta, tol,
    max_weight, alpha). Returns the number of live lanes."""
    k, L, loss_code, every, steps = ip[0], ip[1], ip[2], ip[3], ip[4]
    scale, tol, max_abs, alpha = fp[0], fp[1], fp[2], fp[3]
    K = keys.shape[0]
    prev, _, _, c_row, step_row, rec_row, live_row, ev_row = _rows(k, K)
    gkey, gmask, gy, gweight, gmargin, gcount = data
    snap_steps, snap_w, snap_u, snap_active = snaps
    traj_loss, traj_err = traj
    S = snap_steps.shape[0]
    n_traj = traj_loss.shape[1]
    stepsf = float(steps)
    work = np.empty((9, 2, k))
    for l in range(L):
        if st[ev_row * L + l] == 0.0:
            continue
        st[ev_row * L + l] = 0.0
        r = lanes[3 + l]
        rd = data_idx[r]
        for row in range(4 * k):  # the pass is taken back
            st[row * L + l] = st[(prev + row) * L + l]
        st[step_row * L + l] -= 1.0
        step = int(st[step_row * L + l])
        lane_step(st, l, k, L, keys, loss_code, scale, stepsf, tol, max_abs, alpha, diag,
                  False, work)
        for i in range(K):  # the pass counted this step (the same flags): undone
            st[(c_row + i) * L + l] -= diag[_D_ACT + i]
        si = lanes[3 + L + l]
        ti = lanes[3 + 2 * L + l]
        code = -1
        if diag[6] > 0.0:  # diverged at the last update (max_weight, non-finite)
            code = _DIVERGED
        elif diag[1] > 0.0:  # the loss is not finite: the loss stage ran
            code = _DIVERGED
        else:
            while si < S and snap_steps[si] == step:
                _store_filters(st, k, L, l, snap_w[r, si], snap_u[r, si])
                for g in range(gmask.shape[1]):
                    key = gkey[rd, g]
                    snap_active[r, si, g] = (int(st[(c_row + key) * L + l]
                                                 + diag[_D_ACT + key]) if key >= 0 else 0)
                si += 1
            if every > 0 and ti < n_traj and step == ti * every:
                traj_loss[r, ti] = diag[0]
                traj_err[r, ti] = _train_error(diag, rd, gmask, gy, gcount, alpha,
                                               loss_code)
                ti += 1
            if diag[2] > 0.0:
                code = _CONVERGED
            elif diag[3] > 0.0:
                code = _RUNNING
            elif diag[5] > 0.0:
                code = _STALLED
        lanes[3 + L + l] = si
        lanes[3 + 2 * L + l] = ti
        if code >= 0 and diag[6] == 0.0:
            for i in range(K):  # the loss stage ran at this step: its counts stand
                st[(c_row + i) * L + l] += diag[_D_ACT + i]
        if code < 0:  # nothing ends here (a record was due): the step runs, alone
            lane_step(st, l, k, L, keys, loss_code, scale, stepsf, tol, max_abs, alpha, diag,
                      True, work)
            st[rec_row * L + l] = float(next_record(si, ti, snap_steps, every, n_traj))
            continue
        _finish(st, k, K, L, l, r, rd, code, step, diag, alpha, loss_code, steps, si, ti,
                data, out, snaps, traj)
        if lanes[0] < lanes[1]:
            r = order[lanes[0]]
            _load(st, k, K, L, l, r, data_idx[r], w0, u0, kw, km,
                  next_record(0, 0, snap_steps, every, n_traj))
            lanes[3 + l] = r
            lanes[3 + L + l] = 0
            lanes[3 + 2 * L + l] = 0
            lanes[0] += 1
        else:
            st[live_row * L + l] = 0.0
            lanes[3 + l] = -1
            lanes[2] -= 1
    return lanes[2]


_TEMPLATE = '''\
"""Generated by xordsim.lanes for k = {k}, key set {keyset!r}, loss {loss!r}: do not edit.

Keys (2 M + [y > 0]): {keys}. Generator {generator}."""
import numpy as np
from numba import njit

from xordsim.lanes import lanes_handle, lanes_start

L = {L}
K = {K}
NROWS = {rows}
NDIAG = {d_act} + K


@njit(cache=True, nogil=True)
def steps_until_event(st, scale, steps, tol, max_abs, alpha):
    """Advance every lane one GD step per pass until some live lane raises an event;
    returns the number of lanes that did (the event row says which). Every pass commits
    (filters, counters, step); the handler of an event takes the lane's pass back."""
    nscale = -scale
    while True:
        nev = 0
        for l in range(L):
{body_pass}
            live = st[{live_at}] > 0.0
            anyev = bigdiv | lossbad
            anyev = anyev | conv
            anyev = anyev | atmax
            anyev = anyev | isrec
            anyev = anyev | stall
            ev = live & anyev
            st[{event_at}] = 1.0 if ev else 0.0
            nev += 1 if ev else 0
        if nev > 0:
            return nev


@njit(cache=True, nogil=True)
def run_chunk(lo, hi, order, ip, fp, keys, w0, u0, data_idx, kw, km, data, out, snaps, traj):
    """GD for replicas order[lo:hi], L at a time: a lane whose replica finishes takes the
    next one (xordsim.lanes.lanes_handle). Releases the GIL: the chunks run on threads."""
    st = np.zeros(NROWS * L)
    diag = np.zeros(NDIAG)
    lanes = np.zeros(3 + 3 * L, np.int64)
    lanes[0] = lo
    lanes[1] = hi
    live = lanes_start(st, ip, lanes, order, w0, u0, data_idx, kw, km, snaps, traj)
    stepsf = float(ip[4])
    while live > 0:
        steps_until_event(st, fp[0], stepsf, fp[1], fp[2], fp[3])
        live = lanes_handle(st, ip, fp, keys, diag, lanes, order, w0, u0, data_idx, kw, km,
                            data, out, snaps, traj)
'''


def source(k: int, keyset: str, loss: str) -> str:
    """The generated module for k filters per layer, key set ``keyset`` and ``loss``."""
    if not 1 <= k <= MAX_K:
        raise ValueError(f"k must be in [1, {MAX_K}] for the lanes kernel; got {k}")
    keys = KEYSETS[keyset]
    lay = _Layout(k, len(keys))
    generator = _jit.sources_digest()  # every kernel source: run_chunk links lanes_handle
    return _TEMPLATE.format(
        k=k, keyset=keyset, loss=loss, keys=", ".join(map(str, keys)), generator=generator,
        L=LANES, K=len(keys), rows=lay.rows,
        d_act=_D_ACT,
        body_pass=_indent(_body(k, keys, loss), 12).rstrip("\n"),
        live_at=f"{lay.live * LANES} + l", event_at=f"{lay.event * LANES} + l",
    )


# ----------------------------------------------------------------------------------------
# Loading the generated modules


def cache_dir() -> Path:
    """Where the generated sources (and numba's cache of them) live."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"]) / "xordsim-lanes"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "xordsim" / "lanes"


_MODULES: dict[tuple[int, str, str], object] = {}
_LOCK = threading.Lock()


def _writable(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, delete=True)
        probe.close()
        return path
    except OSError:
        fallback = Path(tempfile.gettempdir()) / f"xordsim-lanes-{os.getuid()}"
        fallback.mkdir(parents=True, exist_ok=True)
        return fallback


def kernel_module(k: int, keyset: str, loss: str):
    """The generated module of (k, keyset, loss), written and imported once per process;
    its functions are numba-cached beside the file."""
    key = (k, keyset, loss)
    with _LOCK:
        mod = _MODULES.get(key)
        if mod is not None:
            return mod
        text = source(k, keyset, loss)
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        name = f"xordsim_lanes_k{k}_{keyset}_{loss}_{digest}"
        folder = _writable(cache_dir())
        path = folder / f"{name}.py"
        if not path.exists() or path.read_text() != text:
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".py.tmp")
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            os.replace(tmp, path)
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        _MODULES[key] = mod
        return mod


def key_arrays(groups, keys: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per training set the loss weight and margin of each key, (Rd, K) each -- 0 and -inf
    where the set lacks the key (so that its hinge, margin - y N, is never positive and a
    smooth loss's term is masked by the zero weight) -- and each group's key index
    (Rd, G), -1 for padding groups."""
    mask, y, weight, margin, count = groups
    index = np.full(32, -1, np.int64)
    index[list(keys)] = np.arange(len(keys))
    return _key_arrays(np.ascontiguousarray(mask, np.int64), np.ascontiguousarray(y, float),
                       np.ascontiguousarray(weight, float),
                       np.ascontiguousarray(margin, float),
                       np.ascontiguousarray(count, float), index, len(keys))


@njit(cache=True)
def _key_arrays(mask, y, weight, margin, count, index, K):
    """The arrays of :func:`key_arrays`; ``index`` maps a key 2 M + [y > 0] to its
    position in the key set (-1: not in it, the group is left out)."""
    Rd, G = mask.shape
    kw = np.zeros((Rd, K))
    km = np.full((Rd, K), -np.inf)
    gkey = np.full((Rd, G), -1, np.int64)
    for r in range(Rd):
        for g in range(G):
            if count[r, g] > 0:
                i = index[2 * mask[r, g] + (1 if y[r, g] > 0 else 0)]
                if i >= 0:
                    gkey[r, g] = i
                    kw[r, i] = weight[r, g]
                    km[r, i] = margin[r, g]
    return kw, km, gkey


def chunk_size(R: int, threads: int) -> int:
    """Replicas per chunk (a chunk keeps LANES lanes busy from one queue): about two
    chunks per thread, at least 4 LANES replicas each. Lanes never interact, so the
    chunking changes no number."""
    return max(4 * LANES, math.ceil(R / (CHUNKS_PER_THREAD * max(1, threads))))


def run(k, w0, u0, data_idx, groups, eta, steps, max_abs, tol, record_every, loss_spec,
        result, snaps, traj) -> None:
    """GD of every replica with the lanes kernel; writes ``result``, ``snaps``, ``traj``
    (the engine's :class:`~xordsim.engine.Result`, ``Snapshots``, ``Trajectories``) as
    the engine's other kernels do. ``groups`` are the kernel's loss groups
    (:func:`xordsim.model.kernel_groups`). Chunks of replicas run on
    ``numba.get_num_threads()`` threads (the kernel releases the GIL)."""
    import numba

    loss = LOSS_NAMES[type(loss_spec).__name__]
    threads = numba.get_num_threads()
    ip = np.array([k, LANES, LOSS_CODES[loss], record_every, steps], np.int64)
    fp = np.array([2.0 * eta, tol, max_abs, loss_spec.alpha], np.float64)
    bounds = []  # (chunk runner, lo, hi, replica order, the rest of its arguments)
    for keyset, order in plan(groups, data_idx, steps):
        kw, km, gkey = key_arrays(groups, KEYSETS[keyset])
        mod = kernel_module(k, keyset, loss)
        data = (gkey, groups.mask, groups.y, groups.weight, groups.margin, groups.count)
        args = (ip, fp, np.array(KEYSETS[keyset], np.int64), w0, u0, data_idx, kw, km, data,
                tuple(result), tuple(snaps), tuple(traj))
        n = order.shape[0]
        chunk = chunk_size(n, threads)
        bounds += [(mod.run_chunk, lo, min(n, lo + chunk), order, args)
                   for lo in range(0, n, chunk)]
    queue = iter(bounds)  # the chunks, taken one at a time by whichever thread is free

    def work() -> None:
        for run_chunk, lo, hi, order, args in queue:  # next() of a list iterator is
            run_chunk(lo, hi, order, *args)  # atomic under the GIL

    helpers = min(threads, len(bounds)) - 1
    if helpers == 0:
        work()
        return
    futures = [_pool(helpers).submit(work) for _ in range(helpers)]
    try:
        work()  # the calling thread runs chunks too (it would only wait otherwise)
    finally:
        for fut in futures:
            fut.result()


_POOLS: dict[int, ThreadPoolExecutor] = {}


def _after_fork_in_child() -> None:
    """A forked child (multiprocessing's default start method on Linux before Python 3.14;
    ``reproduce --jobs`` and Dask spawn instead) inherits the pools without their threads,
    and perhaps a held lock: it starts afresh."""
    global _LOCK
    _LOCK = threading.Lock()
    _POOLS.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _pool(threads: int) -> ThreadPoolExecutor:
    """A thread pool of ``threads`` workers, kept for the process (the kernel releases the
    GIL, so the chunks run in parallel)."""
    with _LOCK:
        if threads not in _POOLS:
            _POOLS[threads] = ThreadPoolExecutor(max_workers=threads,
                                                 thread_name_prefix="xordsim-lanes")
        return _POOLS[threads]
