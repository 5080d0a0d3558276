"""Batched full-batch gradient descent on the first layer (paper Sec. 3.1 and 4).

``train`` runs R independent replicas W <- W - eta * grad l(W) in one numba
kernel (``parallel=True``, one replica per ``prange`` iteration, float64), for the
hinge loss of the paper or the squared and logistic losses (:func:`xordsim.model.point_loss`),
with an output scale alpha. Initial weights come from a seeded NumPy generator *before*
the parallel loop, so results are bit-identical whatever the thread count.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from xordsim import (
    _jit,  # noqa: F401  (first: the package's kernel cache, _jit.py)
    lanes,
)
from xordsim._validate import InputError, check_choice, check_int
from xordsim.config import INITS, GDConfig
from xordsim.data import uniform_distribution
from xordsim.model import (
    SIMD_PAD,
    SIMD_TABLES,
    TABLES,
    Groups,
    LossGroups,
    Scratch,
    descend,
    descend_simd,
    forward,
    forward_simd,
    group_loss,
    group_loss_simd,
    kernel_groups,
    kernel_loss,
    loss_groups,
    mask_output,
    mask_output_simd,
    test_error_exact,
)

#: Replica status codes.
RUNNING, CONVERGED, STALLED, DIVERGED = 0, 1, 2, 3
STATUS_NAMES = {RUNNING: "not converged", CONVERGED: "converged", STALLED: "stalled",
                DIVERGED: "diverged"}


def gaussian_init(replicas: int, k: int, init_std: float,
                  seed: int | np.random.Generator | None = 0,
                  init: str = "gaussian") -> tuple[np.ndarray, np.ndarray]:
    """The engine's initialization: filters w, u, each (R, k, 2).

    ``init = "gaussian"``: w then u i.i.d. N(0, init_std^2). ``"antisymmetric"``: w drawn
    the same way (the same numbers as the gaussian w) and u a copy of w, so that
    N_{W_0} = 0 on every input; u draws nothing.
    """
    init = check_choice("init", init, INITS)
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((replicas, k, 2))
    w *= init_std
    if init == "antisymmetric":
        return w, w.copy()
    u = rng.standard_normal((replicas, k, 2))
    u *= init_std
    return w, u


@njit(cache=True, inline="always")
def _store_w(s, t, out):
    for j in range(out.shape[0]):  # s, t may hold padding channels after the k filters
        out[j, 0] = (s[j] + t[j]) * 0.5
        out[j, 1] = (s[j] - t[j]) * 0.5


class GDParams(NamedTuple):
    """The scalars of a GD run: learning rate eta, maximum number of updates T, the
    divergence threshold on the mean filter response (``max_weight``), the convergence
    tolerance on the loss, the trajectory interval (0: none), and whether the kernel is
    the channel-SIMD one (``"simd"``) or ``"replicas"`` (:data:`KERNELS`)."""

    eta: float
    steps: int
    max_abs: float
    tol: float
    record_every: int
    simd: bool


class Result(NamedTuple):
    """What the kernel writes per replica: final filters w, u (R, k, 2); status, stop_step
    (R,) int64; loss, train_err (R,); active (R, G) int64 margin counters (zeroed on entry);
    outputs (R, 16), N_W on every mask."""

    w: np.ndarray
    u: np.ndarray
    status: np.ndarray
    stop_step: np.ndarray
    loss: np.ndarray
    train_err: np.ndarray
    active: np.ndarray
    outputs: np.ndarray


class Trajectories(NamedTuple):
    """Loss and training error (R, S) at steps 0, e, 2e, ... (e = ``record_every``)."""

    loss: np.ndarray
    train_err: np.ndarray


class Snapshots(NamedTuple):
    """Requested steps (S,) int64 (sorted, unique) and what the kernel records at them:
    filters w, u (R, S, k, 2) and active counts (R, S, G)."""

    steps: np.ndarray
    w: np.ndarray
    u: np.ndarray
    active: np.ndarray


@njit(cache=True, parallel=True)
def _gd_kernel(w0, u0, data_idx, groups, params, tables, stables, result, snaps, traj,
               loss_spec):
    """GD for every replica r from (w0[r], u0[r]) on training set ``data_idx[r]`` of
    ``groups`` (a :class:`LossGroups` of (Rd, G) arrays) on ``loss_spec``
    (:func:`xordsim.model.kernel_loss`; the kernel is compiled once per loss type), with
    the channel loops of ``params.simd`` (:data:`KERNELS`); ``tables`` and ``stables`` are
    :data:`~xordsim.model.TABLES` and :data:`~xordsim.model.SIMD_TABLES`."""
    # Replicas are independent; chunks only amortize the scratch allocations, so the
    # result does not depend on the chunking or on the thread count.
    R, k = w0.shape[0], w0.shape[1]
    G = groups.mask.shape[1]
    gmask, gy, gweight, gmargin, gcount = groups
    n_chunks = min(R, 32)
    size = (R + n_chunks - 1) // n_chunks
    # the SIMD kernel's channels padded with zero filters (xordsim.model.SIMD_PAD)
    kp = -(-k // SIMD_PAD) * SIMD_PAD if params.simd else k
    for chunk in prange(n_chunks):
        F = np.zeros((4, kp))  # sw, tw, su, tu as rows of one array (descend_simd says why)
        sc = Scratch(F[0], F[1], F[2], F[3], np.zeros((4, 4)), np.empty(8), np.empty(8),
                     np.empty(G))
        for r in range(chunk * size, min(R, (chunk + 1) * size)):
            rd = data_idx[r]
            grp = LossGroups(gmask[rd], gy[rd], gweight[rd], gmargin[rd], gcount[rd])
            _train_replica(r, w0[r], u0[r], grp, params, tables, stables, result, snaps,
                           traj, sc, F, loss_spec)


@njit(cache=True, inline="always")
def _train_error(grp, out_n):
    """Fraction of the training points (group counts) with y N <= 0."""
    err = 0.0
    total = 0.0
    for g in range(grp.mask.shape[0]):
        total += grp.count[g]
        if grp.y[g] * out_n[g] <= 0.0:
            err += grp.count[g]
    return err / total


@njit(cache=True)
def _train_replica(r, w0, u0, grp, params, tables, stables, result, snaps, traj, sc, F,
                   loss_spec):
    """GD for replica r from filters (w0, u0) (k, 2) on the training set ``grp`` (a
    :class:`LossGroups` of (G,) arrays) until the loss is <= tol, a fixed point,
    divergence or ``params.steps`` updates; writes row r of ``result``, ``snaps`` and
    ``traj``. ``F`` (4, k') holds sc's filters sw, tw, su, tu as its rows (the array
    :func:`~xordsim.model.descend_simd` takes). ``loss_spec`` is the loss
    (:func:`xordsim.model.kernel_loss`). With
    ``params.simd`` the three stages of a step are
    :func:`~xordsim.model.group_loss_simd`, :func:`~xordsim.model.descend_simd` and
    :func:`~xordsim.model.forward_simd` (the same arithmetic, channel loops that
    vectorise), else :func:`~xordsim.model.group_loss`, :func:`~xordsim.model.descend`
    and :func:`~xordsim.model.forward`."""
    eta, steps, max_abs, tol, every, simd = params
    alpha = loss_spec.alpha
    w, u, status, stop_step, loss_out, train_err, active, outputs = result
    snap_steps, snap_w, snap_u, snap_active = snaps
    traj_loss, traj_err = traj
    sw, tw, su, tu, D, ca, cb, out_n = sc
    S = snap_steps.shape[0]
    n_traj = traj_loss.shape[1]
    for j in range(w0.shape[0]):
        sw[j] = w0[j, 0] + w0[j, 1]
        tw[j] = w0[j, 0] - w0[j, 1]
        su[j] = u0[j, 0] + u0[j, 1]
        tu[j] = u0[j, 0] - u0[j, 1]
    active_r = active[r]
    si = 0
    ti = 0
    st = RUNNING
    step = 0
    loss = 0.0
    k = w0.shape[0]
    one = stables.one[0]  # 1.0, from memory (xordsim.model.forward_simd)
    if simd:
        forward_simd(sw, tw, su, tu, D, k, one)
    else:
        forward(sw, tw, su, tu, D)
    while True:
        if simd:
            loss = group_loss_simd(sc, grp, stables, active_r, loss_spec)
        else:
            loss = group_loss(sc, grp, tables, active_r, loss_spec)
        if not (loss <= np.inf):  # an output, hence the loss, is not finite
            st = DIVERGED
            break
        while si < S and snap_steps[si] == step:
            _store_w(sw, tw, snap_w[r, si])
            _store_w(su, tu, snap_u[r, si])
            snap_active[r, si] = active_r
            si += 1
        if every > 0 and ti < n_traj and step == ti * every:
            traj_loss[r, ti] = loss
            traj_err[r, ti] = _train_error(grp, out_n)
            ti += 1
        if loss <= tol:
            st = CONVERGED
            break
        if step == steps:
            break
        if simd:
            moved_w = descend_simd(F, ca, cb, 2.0 * eta)
            moved_u = False
        else:
            moved_w = descend(sw, tw, ca, cb, 2.0 * eta)
            moved_u = descend(su, tu, ca, cb, -2.0 * eta)
        if not (moved_w or moved_u):  # zero subgradient, positive loss: GD stays here
            st = STALLED
            break
        step += 1
        big = forward_simd(sw, tw, su, tu, D, k, one) if simd else forward(sw, tw, su, tu, D)
        if not (big <= max_abs):
            st = DIVERGED
            break
    _store_w(sw, tw, w[r])
    _store_w(su, tu, u[r])
    status[r] = st
    stop_step[r] = step
    if st == DIVERGED:
        lanes.record_diverged(r, si, ti, loss_out, train_err, outputs, snap_w, snap_u,
                              snap_active, traj_loss, traj_err)
        return
    err = _train_error(grp, out_n)
    for M in range(1, 16):
        if simd:
            outputs[r, M] = alpha * mask_output_simd(D, M)
        else:
            outputs[r, M] = alpha * mask_output(D, M, tables.sel)
    lanes.record_stopped(r, st, step, steps, si, ti, loss, err, out_n, grp.weight, grp.margin,
                         grp.y, active_r, w, u, loss_out, train_err, snap_steps, snap_w,
                         snap_u, snap_active, traj_loss, traj_err)


#: The GD kernels :func:`train` can run (docs/performance.md): ``"replicas"``, one replica
#: per task (:func:`_train_replica`) with the original channel loops
#: (:func:`xordsim.model.descend`, :func:`xordsim.model.forward`,
#: :func:`xordsim.model.group_loss`); ``"simd"``, the same with loops that vectorise
#: across channels (:func:`xordsim.model.descend_simd`,
#: :func:`xordsim.model.forward_simd`, :func:`xordsim.model.group_loss_simd`);
#: ``"lanes"``, replicas in SIMD lanes with code generated per k (:mod:`xordsim.lanes`,
#: k <= :data:`xordsim.lanes.MAX_K`).
KERNELS = ("replicas", "simd", "lanes")

#: :func:`pick_kernel` runs the channel-SIMD kernel from this many filters per layer on
#: (measured with bench/bench_engine.py; docs/performance.md).
SIMD_MIN_K = 8


def pick_kernel(k: int, replicas: int, loss: str = "hinge") -> str:
    """The kernel :func:`train` runs for k filters, R = ``replicas`` and ``loss``:
    ``"simd"`` for k >= :data:`SIMD_MIN_K`, else ``"lanes"``. A function of the problem's
    size only -- never of the thread count -- so that a seed fixes every number. Every
    kernel supports every loss, snapshots and trajectories."""
    del replicas, loss  # the same choice for every R and loss (measured: docs/performance.md)
    return "simd" if k >= SIMD_MIN_K else "lanes"


@dataclass(repr=False)
class TrainResult:
    """Output of :func:`train` for R replicas of k filters.

    Attributes
    ----------
    w0, u0, w, u : (R, k, 2)
        Initial and final filters.
    status : (R,) int
        0 not converged within ``steps``; 1 converged: the loss of W_t reached
        ``tol`` (loss <= tol; with the default tol = 0 that is the hinge's exact zero
        loss, which the squared and logistic losses do not reach: they run all the
        steps unless tol > 0, see :class:`~xordsim.config.GDConfig`); 2 stalled (zero
        (sub)gradient with loss above tol: a point GD never leaves); 3 diverged (the mean
        filter response exceeded ``max_weight``, or a response, an output or the loss
        became non-finite).
    converged_step : (R,) int
        Step t at which the loss of W_t was first <= tol, or -1.
    stop_step : (R,) int
        Number of updates performed.
    loss, train_error, test_error : (R,)
        Final loss, training error, exact test error (NaN for diverged replicas).
    outputs : (R, 16)
        N_W on every mask at the end (the output scale alpha included).
    active_counts : (R, G)
        a_g(T): number of steps 0 <= t <= T at which group g missed its margin,
        y N < margin (for the hinge: its hinge was active; a_i(t) of Sec. 3.1, a+(t) of
        Sec. 6 for a diverse positive group). A replica that stopped before T counts as
        staying at its final weights. (The squared loss's outputs converge to the margins
        themselves, its targets, where this count is decided by rounding.)
    groups : Groups
        The training set reduced to groups.
    snapshot_steps, snapshots_w, snapshots_u, snapshots_active
        Filters (R, S, k, 2) and active counts (R, S, G) at the requested steps (after a
        replica stopped: its final weights).
    grad_norm : (R,), property
        Norm of the loss's (sub)gradient in all 4k filter coordinates at the final
        weights (0 for a converged hinge or a stalled replica, NaN when diverged): how
        close to stationary a squared or logistic run ended
        (:func:`xordsim.model.gradient_norm`, computed when read).
    trajectory_steps : (S',) int
        Steps 0, e, 2e, ... <= T at which the trajectories were recorded
        (e = ``record_every``; empty when it is 0).
    loss_trajectory, train_error_trajectory : (R, S') or None
        Loss and training error of W_t at those steps (after a replica stopped: its final
        values; NaN from the step it diverged).
    kernel : str
        The kernel that ran (:func:`pick_kernel`; docs/performance.md).
    """

    w0: np.ndarray
    u0: np.ndarray
    w: np.ndarray
    u: np.ndarray
    status: np.ndarray
    converged_step: np.ndarray
    stop_step: np.ndarray
    loss: np.ndarray
    train_error: np.ndarray
    test_error: np.ndarray
    outputs: np.ndarray
    active_counts: np.ndarray
    groups: Groups
    params: dict
    config: GDConfig | None = None
    snapshot_steps: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    snapshots_w: np.ndarray | None = None
    snapshots_u: np.ndarray | None = None
    snapshots_active: np.ndarray | None = None
    seconds: float = 0.0
    trajectory_steps: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    loss_trajectory: np.ndarray | None = None
    train_error_trajectory: np.ndarray | None = None
    kernel: str = "replicas"

    def __repr__(self) -> str:
        """Shapes and headline numbers, not the arrays (3 significant digits)."""
        from xordsim.fmt import sig

        R, k = self.w.shape[0], self.w.shape[1]
        ok = np.isfinite(self.test_error)
        mean = float(self.test_error[ok].mean()) if ok.any() else float("nan")
        counts = ", ".join(f"{name} {int((self.status == code).sum())}"
                           for code, name in STATUS_NAMES.items()
                           if (self.status == code).any())
        snaps = f", snapshots at {self.snapshot_steps.size} steps" if self.snapshot_steps.size \
            else ""
        loss = self.params.get("loss", "hinge")
        loss = f", loss={loss!r}" if loss != "hinge" else ""
        return (f"TrainResult(R={R}, k={k}, problem={self.params.get('problem')!r}{loss}, "
                f"steps<={self.params.get('steps')}; {counts}; converged fraction "
                f"{sig(float(self.converged.mean()))}; mean test error {sig(mean)}; "
                f"w, u: {self.w.shape}{snaps})")

    @property
    def converged(self) -> np.ndarray:
        """(R,) bool: the replicas whose loss reached ``tol`` (status 1)."""
        return self.status == CONVERGED

    @property
    def grad_norm(self) -> np.ndarray:
        """(R,): the norm of the loss's (sub)gradient at the final weights (NaN if diverged)."""
        from xordsim.model import gradient_norm

        p = self.params
        out = gradient_norm(self.w, self.u, self.groups, p.get("loss", "hinge"),
                            p.get("output_scale", 1.0))
        out[self.diverged] = np.nan
        return out

    @property
    def diverged(self) -> np.ndarray:
        return self.status == DIVERGED


def train(
    x,
    y,
    config: GDConfig | int | None = None,
    *,
    replicas: int | None = None,
    seed: int | np.random.Generator | None = None,
    w0=None,
    u0=None,
    test_distribution=None,
    snapshot_steps=None,
    _kernel: str | None = None,
    **params,
) -> TrainResult:
    """Train R replicas of the network of Eq. 2 (Eq. 1 for XOR) by full-batch GD.

    Parameters
    ----------
    x, y : arrays
        Training points (n, d, 2) and labels (n,) shared by all replicas, or
        (R, n, d, 2) and (R, n) for one training set per replica.
    config : GDConfig or int, optional
        The hyper-parameters (:class:`xordsim.config.GDConfig`: problem, k, steps, gamma,
        lr or c_eta, init_std, max_weight, seed, loss, tol, output_scale, init,
        record_every); an int is read as ``k``. Any field may also be given as a keyword
        (``train(x, y, k=2, steps=100)``), overriding it.
    replicas : int, optional
        R; defaults to ``len(w0)``, else to the number of training sets, else to
        ``config.replicas`` when a config is given, else 1.
    seed : int or Generator, optional
        Seeds the initialization N(0, sigma_g^2), drawn w first then u (u = w for
        ``init="antisymmetric"``; default ``config.seed``).
    w0, u0 : arrays (R, k, 2), optional
        Explicit initial filters (then ``init_std``, ``init`` and ``seed`` are unused;
        ``params["init"]`` is ``"explicit"``). They are
        not modified, and ``TrainResult.w0`` / ``u0`` refer to them (no copy) when they
        are C-contiguous float64 arrays.
    test_distribution : distribution, optional
        For the exact test error; default uniform D+/D- with the data's d.
    snapshot_steps : sequence of int, optional
        Steps t at which to record W_t (and the active counts).

    The loss (``loss``: hinge, squared or logistic, :func:`xordsim.model.point_loss`) is
    minimized over the network N = alpha sum_j (...) with alpha = ``output_scale``; a
    replica stops at the first step whose loss is <= ``tol`` (converged), at a zero
    gradient (stalled), on divergence, or after ``steps`` updates.

    The divergence threshold ``max_weight``: a replica is marked diverged when the mean
    over the w (or the u) filters of max(|w·p1|, |w·p2|) exceeds it, or a response, an
    output or the loss is not finite. It bounds the weights, whatever alpha.

    ``record_every`` > 0 records the loss and the training error every that many steps
    (memory 16 R (T / record_every + 1) bytes, refused up front when it would not fit).

    The GD kernel is picked per call by :func:`pick_kernel` (by k; docs/performance.md)
    and reported in ``TrainResult.kernel``; ``_kernel`` forces one of :data:`KERNELS`
    (private: the benchmark and the tests compare them).
    """
    t_start = time.perf_counter()
    cfg, explicit = _resolve_config(config, params)
    groups = loss_groups(x, y, cfg.problem, cfg.gamma)
    return _train_on_groups(groups, np.asarray(x).shape[-2], np.asarray(y).shape[-1], cfg,
                            explicit, replicas, seed, w0, u0, test_distribution,
                            snapshot_steps, t_start, _kernel)


def train_groups(
    groups: Groups,
    d: int,
    config: GDConfig | int | None = None,
    *,
    replicas: int | None = None,
    seed: int | np.random.Generator | None = None,
    w0=None,
    u0=None,
    test_distribution=None,
    snapshot_steps=None,
    _kernel: str | None = None,
    **params,
) -> TrainResult:
    """:func:`train` on training sets already reduced to loss groups -- no points needed.

    ``groups`` comes from :func:`xordsim.model.groups_from_counts` (training sets as counts
    over the pattern sets, e.g. :func:`xordsim.data.sample_mask_counts`) or
    :func:`xordsim.model.loss_groups`, built with the same ``problem`` and ``gamma`` as the
    config; ``d`` is the number of patterns per point (for the default test distribution
    and the record). Everything else is :func:`train`'s, through the same kernel call: the
    same groups, config and seed give bit-identical results.
    """
    t_start = time.perf_counter()
    cfg, explicit = _resolve_config(config, params)
    if not isinstance(groups, Groups):
        raise InputError(f"groups must be a Groups (loss_groups, groups_from_counts); got "
                         f"{type(groups).__name__}")
    d = check_int("d", d, 1)
    n = int(round(float(groups.count[0].sum())))
    return _train_on_groups(groups, d, n, cfg, explicit, replicas, seed, w0, u0,
                            test_distribution, snapshot_steps, t_start, _kernel)


def _resolve_config(config, params) -> tuple[GDConfig, bool]:
    """The run's config from ``config`` (a GDConfig, an int read as k, or None) and keyword
    overrides; and whether a config was given explicitly."""
    if isinstance(config, GDConfig):
        base, explicit = config, True
    elif config is None:
        base, explicit = GDConfig(), False
    else:
        base, explicit = GDConfig(), False
        params = dict(params, k=config)
    return (base.replace(**params) if params else base), explicit


def _train_on_groups(groups, d, n, cfg, explicit, replicas, seed, w0, u0, test_distribution,
                     snapshot_steps, t_start, kernel=None) -> TrainResult:
    """The common body of :func:`train` and :func:`train_groups`: initialization, the
    kernel call (``kernel`` as :func:`pick_kernel` chooses it, unless forced: the private
    ``_kernel`` of :func:`train`, for the benchmark and the tests), the exact test error
    and the record."""
    k, steps, problem, max_weight = cfg.k, cfg.steps, cfg.problem, cfg.max_weight
    lr = cfg.eta
    init = cfg.init
    seed = cfg.seed if seed is None else seed
    gamma = cfg.margin
    Rd = groups.mask.shape[0]
    if replicas is not None:
        replicas = check_int("replicas", replicas, 1)
    if w0 is not None or u0 is not None:
        if w0 is None or u0 is None:
            raise InputError("give both w0 and u0, or neither")
        # read, never written: no copy unless the dtype or layout needs one
        w0 = np.ascontiguousarray(w0, dtype=np.float64)
        u0 = np.ascontiguousarray(u0, dtype=np.float64)
        if w0.ndim == 2:
            w0, u0 = w0[None], u0[None]
        if w0.shape != u0.shape or w0.shape[1:] != (k, 2):
            raise InputError(
                f"w0 and u0 must have shape (R, {k}, 2); got {w0.shape}, {u0.shape}")
        replicas = w0.shape[0] if replicas is None else replicas
        if w0.shape[0] != replicas:
            raise InputError(f"replicas={replicas} but w0 has {w0.shape[0]}")
        init_std = float("nan") if cfg.init_std is None else cfg.init_std
        init = "explicit"
    else:
        if replicas is None:
            replicas = Rd if Rd > 1 else (cfg.replicas if explicit else 1)
        init_std = cfg.sigma_g
        w0, u0 = gaussian_init(replicas, k, init_std, seed, cfg.init)
    if Rd not in (1, replicas):
        raise InputError(f"got {Rd} training sets for {replicas} replicas")
    w, u = np.empty_like(w0), np.empty_like(u0)  # the kernel writes the final filters

    snaps = np.unique(np.asarray([] if snapshot_steps is None else snapshot_steps, np.int64))
    if snaps.size and (snaps[0] < 0 or snaps[-1] > steps):
        raise InputError(f"snapshot_steps must be in [0, steps={steps}]")
    R, G, S = replicas, groups.mask.shape[1], snaps.size
    cfg.check_trajectories_fit("record_every", R)
    n_traj = cfg.recorded_steps
    status = np.zeros(R, np.int64)
    stop_step = np.zeros(R, np.int64)
    loss = np.zeros(R)
    train_err = np.zeros(R)
    active = np.zeros((R, G), np.int64)
    outputs = np.zeros((R, 16))
    snap_w = np.zeros((R, S, k, 2))
    snap_u = np.zeros((R, S, k, 2))
    snap_active = np.zeros((R, S, G), np.int64)
    traj_loss = np.zeros((R, n_traj))
    traj_err = np.zeros((R, n_traj))
    data_idx = np.arange(R) if Rd > 1 else np.zeros(R, np.int64)
    kernel = pick_kernel(k, R, cfg.loss) if kernel is None else check_choice(
        "kernel", kernel, KERNELS)
    if kernel == "lanes" and k > lanes.MAX_K:
        raise InputError(f"kernel 'lanes' takes k in [1, {lanes.MAX_K}]; got k={k}")
    gd = GDParams(float(lr), steps, float(max_weight), float(cfg.tol), cfg.record_every,
                  kernel == "simd")
    spec = kernel_loss(cfg.loss, cfg.output_scale)
    kgroups = kernel_groups(groups.arrays(), spec)
    result = Result(w, u, status, stop_step, loss, train_err, active, outputs)
    snapshots = Snapshots(snaps, snap_w, snap_u, snap_active)
    trajectories = Trajectories(traj_loss, traj_err)
    if kernel == "lanes":
        lanes.run(k, w0, u0, data_idx, kgroups, float(lr), steps, float(max_weight),
                  float(cfg.tol), cfg.record_every, spec, result, snapshots, trajectories)
    else:
        _gd_kernel(w0, u0, data_idx, kgroups, gd, TABLES, SIMD_TABLES, result, snapshots,
                   trajectories, spec)

    dist = uniform_distribution(d) if test_distribution is None else test_distribution
    with np.errstate(invalid="ignore"):
        test_err = test_error_exact(outputs, dist.joint_mask_probs())
    test_err[status == DIVERGED] = np.nan
    converged_step = np.where(status == CONVERGED, stop_step, -1)
    record = dataclasses.replace(cfg, replicas=R, gamma=gamma, lr=float(lr),
                                 seed=seed if isinstance(seed, int) else cfg.seed)
    params = dict(problem=problem, k=k, d=int(d), n=int(n),
                  replicas=R, steps=steps, gamma=gamma, lr=float(lr), c_eta=cfg.c_eta,
                  init_std=float(init_std), max_weight=max_weight, loss=cfg.loss,
                  tol=cfg.tol, output_scale=cfg.output_scale, init=init,
                  record_every=cfg.record_every, shared_data=bool(Rd == 1 and R > 1),
                  seed=seed if isinstance(seed, (int, type(None))) else "generator")
    return TrainResult(
        w0=w0, u0=u0, w=w, u=u, status=status, converged_step=converged_step,
        stop_step=stop_step, loss=loss, train_error=train_err, test_error=test_err,
        outputs=outputs, active_counts=active, groups=groups, params=params, config=record,
        snapshot_steps=snaps, snapshots_w=snap_w if S else None,
        snapshots_u=snap_u if S else None, snapshots_active=snap_active if S else None,
        seconds=time.perf_counter() - t_start,
        trajectory_steps=np.arange(n_traj, dtype=np.int64) * cfg.record_every,
        loss_trajectory=traj_loss if n_traj else None,
        train_error_trajectory=traj_err if n_traj else None,
        kernel=kernel,
    )
