"""Engine speed, against the previous kernel, the plain NumPy reference (and batched PyTorch
autograd if importable), and against the machine's own ceiling.

Run:  python bench/bench_engine.py [--quick] [--repeat N] [--no-scaling] [--skip-memory]
                                   [--cores C] [--ghz F] [--add-latency A] [--lanes L]
                                   [--vec-ops V]

Rates are *executed* replica-steps per second (a replica that reaches zero loss stops, in
the engine and in the baselines alike), wall clock, median of ``--repeat`` runs. Every
ratio is against a baseline measured in the same run: ``old`` is the kernel that ran before
issue 16 (``train(..., _kernel="replicas")``, kept callable for this), ``ref`` the NumPy
reference of ``xordsim/reference.py``. The reference is timed on a slice of the workload
(fewer steps) because at full size it would take hours; its rate does not depend on the
slice. The CPU time of each engine run is printed too (``cpu rs/s`` = replica-steps per
CPU-second of this process times the cores): on a shared machine the wall clock counts the
time other processes hold the cores, the CPU time much less so.

**Ceiling.** For each workload the benchmark prints the operations per replica-step of the
kernel used, counted from its source (:data:`OPS_PER_CHANNEL`, :data:`OPS_PER_GROUP`: one
op is one double-precision lane of an arithmetic, compare, select or mask instruction, an
FMA counting 1; loads, stores and loop control are not counted), the machine's peak
P = cores x clock x SIMD lanes (FP64) x vector ops per cycle (lanes 8 with avx512f, 4 with
avx2, else 2, from ``/proc/cpuinfo``; 2 vector ops per cycle, the two FMA/ALU pipes of
current x86 cores), each overridable by flags, and the fraction rate x ops / P. The clock
is *measured* (:func:`measured_ghz`: a chain of dependent double-precision adds on every
core at once, ``--add-latency`` cycles each, default 3 as on AMD Zen 2-4), because the
``cpu MHz`` of ``/proc/cpuinfo`` is the nominal clock, which a virtual machine reports
whatever the cores run at: on the 2-core AMD EPYC of the closing notes it says 2.596 GHz
while the cores run at ~3.65 GHz, so a peak from it was 1.4x too low (one workload
reached "101% of peak"). Both clocks are printed and written. The peak is an upper bound
for *these* ops, not for the problem: a kernel that does fewer ops per step can be faster
at a lower fraction.

Writes ``bench/results/engine.json`` (every number printed) and
``bench/results/engine_scaling.png`` (rate against R = 10^2..10^5 at k = 20, T = 200,
and against k = 2..1000 at R = 1000, for the kernel ``train`` picks and the old kernel).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from xordsim import lanes
from xordsim.config import default_init_std, default_lr
from xordsim.data import uniform_distribution, xor_dataset
from xordsim.engine import pick_kernel, train
from xordsim.lanes import keyset_for
from xordsim.model import loss_groups, padded_channels
from xordsim.reference import reference_train

RESULTS = Path(__file__).parent / "results"

#: Ops per channel (one filter of w or of u) and GD step, counted from the source of each
#: kernel's channel loops (xordsim/model.py):
#:   simd -- descend_simd: 2 abs, 6 compares (s<0, t<0, |t|>|s|, |t|=|s|, s!=0, t!=0),
#:           3 mask and/or, 12 selects, 2 subtracts, 2 integer ORs (moved) = 27;
#:           forward_simd: 2 max (r1 = max(s, 0), r2), 2 subtracts (r3 = r1 - s, r4),
#:           4 max (the a-b pairs), 8 adds (the 8 response sums) = 16.      Total 43;
#:           per step (not per channel) its epilogue: 16 subtracts (w - u, the two sizes'
#:           parts) and 22 adds/subtracts (N on the 15 masks, the sizes) = 38
#:           (OPS_PER_STEP), and N on a group's mask is read from that table.
#:   replicas -- descend: 2 abs, 3 compares + 3 mask ops (class_flags), 7 selects (class),
#:           2 x (2 compares + 2 selects + 2 multiplies) (sign, step), 2 subtracts,
#:           2 abs + 2 adds (moved) = 31; accumulate: 2 abs, 1 max, 2 compares,
#:           2 selects, 4 subtracts + 4 multiplies (flags), 12 FMAs = 27.    Total 58.
#: The SIMD kernel runs padded_channels(k) channels per layer (zeros), the old one k.
#: The ``lanes`` kernel (k < 8) is generated code: its ops are counted from the generated
#: source itself (:func:`lanes_ops_per_replica_step`).
OPS_PER_CHANNEL = {"simd": 43, "replicas": 58}
OPS_PER_STEP = {"simd": 38, "replicas": 0}
#: Ops per loss group and step (both kernels): N on the group's mask (3 adds), the hinge
#: test (multiply, subtract, 2 compares), and for a group that misses its margin the loss
#: term (multiply, subtract, add), dn (multiply) and the 16 coefficient FMAs: 27 (the count
#: for a missing group; an upper bound for the others).
OPS_PER_GROUP = 27


def lanes_ops_per_replica_step(k: int, keyset: str, loss: str = "hinge") -> int:
    """Ops of one replica-step of the generated ``lanes`` kernel, counted on the AST of the
    body of its loop over the lanes (one lane = one replica-step): every arithmetic,
    comparison, boolean and/or/not, select (``a if c else b``), abs, max and exp/log1p
    counts 1; loads, stores and the event bookkeeping's loop control are not counted."""
    import ast

    from xordsim.lanes import source

    tree = ast.parse(source(k, keyset, loss))
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef)
              and n.name == "steps_until_event")
    loop = next(n for n in ast.walk(fn) if isinstance(n, ast.For))
    ops = 0
    for node in ast.walk(ast.Module(body=loop.body, type_ignores=[])):
        if isinstance(node, (ast.BinOp, ast.UnaryOp, ast.IfExp)):
            ops += 1
        elif isinstance(node, ast.Compare):
            ops += len(node.ops)
        elif isinstance(node, ast.Call):
            ops += 1
        elif isinstance(node, ast.AugAssign):
            ops += 1
    # index arithmetic (row offset + l) is address computation, not an op of the step
    ops -= sum(1 for node in ast.walk(ast.Module(body=loop.body, type_ignores=[]))
               if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.BinOp))
    return ops


def ops_per_replica_step(kernel: str, k: int, groups: float, keyset: str = "fstar") -> float:
    """Counted ops of one replica-step of ``kernel`` with k filters per layer and
    ``groups`` loss groups (mean per training set; the ``lanes`` kernel evaluates every
    key of its key set)."""
    if kernel == "lanes":
        return float(lanes_ops_per_replica_step(k, keyset))
    channels = padded_channels(k) if kernel == "simd" else k
    return (2 * channels * OPS_PER_CHANNEL[kernel] + OPS_PER_STEP[kernel]
            + groups * OPS_PER_GROUP)


def _add_chain(n: int, x: float, a: float) -> float:
    """n dependent double-precision adds (each waits for the last: one add latency each)."""
    for _ in range(n):
        x = x + a
    return x


def measured_ghz(add_latency: int = 3, cores: int | None = None, seconds: float = 0.3) -> float:
    """The clock the cores run at under load, in GHz: ``cores`` threads (default: this
    process's cores) each time a chain of dependent adds (:func:`_add_chain`, compiled
    without fastmath so that nothing is reassociated), and the clock is
    adds x ``add_latency`` / time, the median over the threads of the best of 3 runs each.
    ``add_latency`` is the cycles of one dependent FP64 add: 3 on AMD Zen 2-4 (and
    Intel Ice Lake / Sapphire Rapids' FMA units: 4; give ``--ghz`` there)."""
    import threading

    from numba import njit

    chain = njit(nogil=True)(_add_chain)
    chain(10, 0.0, 1e-9)
    n = 20_000_000
    t0 = time.perf_counter()
    chain(n, 0.0, 1e-9)
    n = max(n, int(n * seconds / max(time.perf_counter() - t0, 1e-9)))
    cores = cores or len(os.sched_getaffinity(0))
    out = [0.0] * cores

    def run(i):
        best = np.inf
        for _ in range(3):
            t = time.perf_counter()
            chain(n, 0.0, 1e-9)
            best = min(best, time.perf_counter() - t)
        out[i] = n * add_latency / best / 1e9

    threads = [threading.Thread(target=run, args=(i,)) for i in range(cores)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return float(np.median(out))


def machine_peak(cores=None, ghz=None, lanes=None, vec_ops=None, add_latency=3) -> dict:
    """The machine's FP64 peak in ops/s as cores x clock x lanes x vector ops per cycle,
    each read from the machine unless given (the clock measured, :func:`measured_ghz`;
    the nominal ``cpu MHz`` of /proc/cpuinfo recorded beside it)."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines()
                  if line.startswith("flags")), [])
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines()
                  if line.startswith("model name")), "unknown")
    mhz = [float(line.split(":", 1)[1]) for line in info.splitlines()
           if line.startswith("cpu MHz")]
    cores = cores or len(os.sched_getaffinity(0))
    nominal = max(mhz) / 1000 if mhz else None
    clock = "given" if ghz else f"measured (dependent adds, {add_latency} cycles each)"
    ghz = ghz or measured_ghz(add_latency, cores)
    lanes = lanes or (8 if "avx512f" in flags else 4 if "avx2" in flags else 2)
    vec_ops = vec_ops or 2
    return dict(model=model, cores=cores, ghz=round(ghz, 3), clock=clock,
                ghz_nominal=nominal and round(nominal, 3), fp64_lanes=lanes,
                vector_ops_per_cycle=vec_ops, peak_ops_per_s=cores * ghz * 1e9 * lanes * vec_ops,
                flags=[f for f in ("avx2", "fma", "avx512f") if f in flags])


def initial_weights(k, R, c_eta, seed=0):
    """The paper's init for c_eta, drawn once and given to every kernel and baseline."""
    rng = np.random.default_rng(seed)
    std = default_init_std(k, c_eta)
    return rng.normal(0, std, (R, k, 2)), rng.normal(0, std, (R, k, 2))


def engine_rate(x, y, k, R, T, problem, c_eta, gamma, kernel=None, repeat=1):
    """(wall rate, cpu rate, seconds, executed steps, result) of ``train`` with ``kernel``
    (None: the one train picks), median wall time of ``repeat`` runs."""
    w0, u0 = initial_weights(k, R, c_eta)
    kw = dict(problem=problem, c_eta=c_eta, gamma=gamma, _kernel=kernel)
    warm = (x[:2], y[:2]) if np.ndim(x) == 4 else (x, y)
    train(*warm, k, w0=w0[:2], u0=u0[:2], steps=2, **kw)  # compile / load the cache
    if (kernel or pick_kernel(k, R)) == "lanes":  # and the key sets lanes.plan gives this
        train(x, y, k, w0=w0, u0=u0, steps=T, **kw)  # call (a large call may split)
    walls, cpus = [], []
    for _ in range(max(1, repeat)):
        t0, c0 = time.perf_counter(), time.process_time()
        res = train(x, y, k, w0=w0, u0=u0, steps=T, **kw)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    dt, cpu = float(np.median(walls)), float(np.median(cpus))
    executed = float((res.stop_step + 1).sum())
    cores = len(os.sched_getaffinity(0))
    return executed / dt, executed / cpu * cores, dt, executed, res


def reference_rate(x, y, k, R, T, problem, c_eta, gamma, budget_s=6.0):
    """Time reference GD steps on R replicas until ``budget_s`` or T steps have run."""
    lr = default_lr(k, c_eta)
    w0, u0 = initial_weights(k, R, c_eta)
    t0 = time.perf_counter()
    reference_train(x, y, w0, u0, lr, 1, problem, gamma)
    dt = time.perf_counter() - t0
    steps = max(1, min(T, int(budget_s / max(dt, 1e-9) / 2)))
    t0 = time.perf_counter()
    _, _, conv = reference_train(x, y, w0, u0, lr, steps, problem, gamma)
    dt = time.perf_counter() - t0
    executed = np.where(conv >= 0, conv + 1, steps + 1).sum()
    return executed / dt, steps


def torch_rate(x, y, k, R, T, problem, c_eta, gamma, budget_s=6.0):
    """Batched autograd GD in PyTorch (float64, CPU); None if torch is not importable."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    xt = torch.as_tensor(np.asarray(x, np.float64))
    yt = torch.as_tensor(np.asarray(y, np.float64))
    if xt.ndim == 3:
        xt, yt = xt[None], yt[None]
    from xordsim.model import point_loss_weights

    weight, margin = (torch.as_tensor(a) for a in point_loss_weights(yt.numpy(), problem,
                                                                      gamma))
    w, u = (torch.as_tensor(a) for a in initial_weights(k, R, c_eta))
    w.requires_grad_(True)
    u.requires_grad_(True)
    lr = default_lr(k, c_eta)

    def step():
        nw = torch.relu(torch.einsum("rkc,rndc->rknd", w, xt).amax(-1)).sum(1)
        nu = torch.relu(torch.einsum("rkc,rndc->rknd", u, xt).amax(-1)).sum(1)
        loss = (weight * torch.relu(margin - yt * (nw - nu))).sum()
        gw, gu = torch.autograd.grad(loss, (w, u))
        with torch.no_grad():
            w.sub_(lr * gw)
            u.sub_(lr * gu)

    t0 = time.perf_counter()
    step()
    dt = time.perf_counter() - t0
    steps = max(1, min(T, int(budget_s / max(dt, 1e-9) / 2)))
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return R * steps / (time.perf_counter() - t0)


def workload(name, x, y, k, R, T, problem, c_eta, gamma, peak, repeat=1, baselines=True):
    """One workload: the picked kernel, the old kernel, the reference (and torch); prints
    one line and returns its record."""
    kernel = pick_kernel(k, R)
    rate, cpu_rate, dt, executed, res = engine_rate(x, y, k, R, T, problem, c_eta, gamma,
                                                    None, repeat)
    old, old_cpu, _, _, res_old = engine_rate(x, y, k, R, T, problem, c_eta, gamma,
                                              "replicas", repeat)
    same = bool(np.array_equal(res.stop_step, res_old.stop_step)
                and np.array_equal(res.status, res_old.status))
    g = loss_groups(x, y, problem, gamma)
    groups = float((g.count > 0).sum(axis=1).mean())
    keysets = {}
    if kernel == "lanes":  # the key sets lanes.plan gives the replicas: ops by executed steps
        data_idx = np.arange(R) if g.mask.shape[0] > 1 else np.zeros(R, np.int64)
        steps_of = res.stop_step + 1
        ops = 0.0
        for keyset, idx in lanes.plan(g, data_idx, T):
            keysets[keyset] = int(idx.size)
            ops += ops_per_replica_step(kernel, k, groups, keyset) * steps_of[idx].sum()
        ops /= executed
    else:
        ops = ops_per_replica_step(kernel, k, groups, keyset_for(g.mask, g.y, g.count))
    frac = rate * ops / peak["peak_ops_per_s"]
    rec = dict(name=name, problem=problem, k=k, R=R, T=T, c_eta=c_eta, gamma=gamma,
               kernel=kernel, rate=rate, cpu_rate=cpu_rate, seconds=dt, executed=executed,
               old_rate=old, old_cpu_rate=old_cpu, speedup=rate / old,
               cpu_speedup=cpu_rate / old_cpu, same_steps_as_old=same,
               ops_per_replica_step=ops, groups=groups, peak_fraction=frac)
    line = (f"{name:<26} {kernel:<8} {rate:>11.3g} rs/s (cpu {cpu_rate:.3g})  old "
            f"{old:>9.3g} (cpu {old_cpu:.3g})  x{rate / old:4.2f} (cpu x{cpu_rate / old_cpu:4.2f})"
            f"  {ops:6.0f} ops/rs  {100 * frac:5.2f}% of peak")
    if len(keysets) > 1:  # the same call with one key set for all replicas, for comparison
        min_work = lanes.LARGE_SET_MIN_WORK
        lanes.LARGE_SET_MIN_WORK = math.inf
        try:
            one, _, _, _, res_one = engine_rate(x, y, k, R, T, problem, c_eta, gamma, None,
                                                repeat)
        finally:
            lanes.LARGE_SET_MIN_WORK = min_work
        same_one = all(np.array_equal(getattr(res, key), getattr(res_one, key))
                       for key in ("w", "u", "stop_step", "loss", "active_counts"))
        rec.update(keysets=keysets, rate_one_keyset=one, same_as_one_keyset=same_one)
        line += (f"\n{'':<26} key sets {keysets} (lanes.plan); one key set for all: "
                 f"{one:.3g} rs/s (x{rate / one:.2f}), the same numbers: {same_one}")
    if baselines:
        ref, ref_steps = reference_rate(x, y, k, R, T, problem, c_eta, gamma)
        rec.update(reference_rate=ref, reference_steps=ref_steps, vs_reference=rate / ref)
        line += f"  ref {ref:9.3g} x{rate / ref:,.0f}"
        tr = torch_rate(x, y, k, R, T, problem, c_eta, gamma)
        if tr is not None:
            rec.update(torch_rate=tr, vs_torch=rate / tr)
            line += f"  torch {tr:9.3g} x{rate / tr:,.0f}"
    print(line, flush=True)
    return rec


def scaling(x_all, y_all, peak, quick):
    """Rate of the picked and the old kernel against R (k = 20, T = 200 for every R) and
    against k (R = 1000, T = 2000 down to 100 steps at large k)."""
    rows = []
    Rs = (100, 1000, 10_000) if quick else (100, 1000, 10_000, 100_000)
    for R in Rs:
        T = 200
        x, y = x_all[:R], y_all[:R]
        for kern in (None, "replicas"):
            rate, cpu, *_ = engine_rate(x, y, 20, R, T, "xord", 0.01, 8.0, kern)
            rows.append(dict(axis="R", R=R, k=20, T=T, kernel=kern or pick_kernel(20, R),
                             picked=kern is None, rate=rate, cpu_rate=cpu))
        print(f"scaling R={R:>6} k=20 T={T}: {rows[-2]['kernel']} {rows[-2]['rate']:.3g}"
              f"  old {rows[-1]['rate']:.3g} rs/s", flush=True)
    ks = (2, 8, 20, 100, 1000) if quick else (2, 4, 8, 12, 20, 50, 100, 200, 500, 1000)
    R = 200 if quick else 1000
    x, y = x_all[:R], y_all[:R]
    for k in ks:
        T = max(100, min(2000, int((2e6 if quick else 2e7) / (R * k))))
        for kern in (None, "replicas"):
            rate, cpu, *_ = engine_rate(x, y, k, R, T, "xord", 0.01, 8.0, kern)
            rows.append(dict(axis="k", R=R, k=k, T=T, kernel=kern or pick_kernel(k, R),
                             picked=kern is None, rate=rate, cpu_rate=cpu))
        print(f"scaling k={k:>5} R={R} T={T}: {rows[-2]['kernel']} {rows[-2]['rate']:.3g}"
              f"  old {rows[-1]['rate']:.3g} rs/s", flush=True)
    return rows


def plot_scaling(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, axis, label in ((axes[0], "R", "replicas R (k = 20, T = 200)"),
                            (axes[1], "k", "filters per layer k (R = 1000)")):
        for picked, name, style in ((True, "train (kernel picked per call)", "o-"),
                                    (False, "old kernel (replicas)", "s--")):
            pts = [r for r in rows if r["axis"] == axis and r["picked"] == picked]
            ax.plot([r[axis] for r in pts], [r["rate"] for r in pts], style, label=name)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("executed replica-steps / s (wall)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend()
    fig.suptitle("xordsim engine, XORD d=10 m=20, c_eta=0.01, gamma=8, float64")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


THM63 = """
import time, math, numpy as np
t0 = time.perf_counter()
from xordsim.data import decoy_training_set
from xordsim.config import theorem_6_3_steps
from xordsim.engine import train
from xordsim.model import recovers_f_star
c_eta, gamma, k, R = 1 / 410, 8.0, 120, {R}
T = theorem_6_3_steps(gamma, c_eta)
x, y = decoy_training_set(d=4, rng=0)
res = train(x, y, k, replicas=R, steps=T, c_eta=c_eta, gamma=gamma, seed=0)
dt = time.perf_counter() - t0
print(f"Theorem 6.3 regime: k={{k}} c_eta=1/410 gamma=8 T={{T}} R={{R}}: {{dt:.1f}} s wall "
      f"(fresh process, import + JIT cache load included); converged "
      f"{{res.converged.mean():.3f}}, recovers f* {{recovers_f_star(res.outputs).mean():.3f}}, "
      f"median steps {{np.median(res.stop_step):.0f}}")
"""

MEMORY = """
import time, numpy as np
from xordsim.data import uniform_distribution
from xordsim.engine import train
x, y = uniform_distribution(10).sample_training_set(20, 0)
t0 = time.perf_counter()
res = train(x, y, 100, replicas={R}, steps={T}, seed=0)
dt = time.perf_counter() - t0
# VmHWM is this process's own peak (ru_maxrss would include the parent's RSS at fork)
rss = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")][0] / 1024
print(f"{{rss:.1f}} {{dt:.2f}} {{(res.stop_step + 1).sum()}}")
"""

COMPILE = """
import time
t0 = time.perf_counter()
from xordsim.data import xor_dataset
from xordsim.engine import train
x, y = xor_dataset()
t1 = time.perf_counter()
for loss in ("hinge", "squared", "logistic"):
    train(x, y, {k}, problem="xor", steps=2, loss=loss)
t2 = time.perf_counter()
if {k} < 8:  # the lanes kernel's key set 'dpm', which only large calls use (lanes.plan)
    from xordsim import lanes
    lanes.kernel_module({k}, "dpm", "hinge").run_chunk.compile(
        lanes.kernel_module({k}, "fstar", "hinge").run_chunk.signatures[0])
print(f"{{t2 - t1:.2f}} {{time.perf_counter() - t2:.2f}}")
"""


def compile_seconds(k: int) -> list[float]:
    """Seconds to compile the kernel train picks for k, for all three losses, in a fresh
    process with an empty numba cache (what a first run on a fresh install pays once);
    and, for the lanes kernel, to compile its hinge pass for the key set 'dpm' beside
    (what the first call large enough to use it pays once, :func:`xordsim.lanes.plan`)."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        proc = subprocess.run([sys.executable, "-c", COMPILE.format(k=k)], env=env,
                              capture_output=True, text=True, check=True)
    return [float(v) for v in proc.stdout.split()[-2:]]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller R for a smoke run")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--no-scaling", action="store_true", help="skip the scaling figure")
    ap.add_argument("--no-baselines", action="store_true",
                    help="skip the NumPy reference and torch (the old kernel still runs)")
    ap.add_argument("--memory-steps", type=int, default=100,
                    help="T of the memory run (its peak RSS does not depend on T: the engine "
                         "allocates nothing per step without snapshots or trajectories; "
                         "default 100, the issue's 10000 takes minutes)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="engine runs per workload; the median time is reported (default: 3)")
    ap.add_argument("--cores", type=int, help="cores of the peak (default: this process's)")
    ap.add_argument("--ghz", type=float,
                    help="clock of the peak (default: measured, see --add-latency)")
    ap.add_argument("--add-latency", type=int, default=3,
                    help="cycles of one dependent FP64 add, for the measured clock (default "
                         "3: AMD Zen 2-4)")
    ap.add_argument("--lanes", type=int, help="FP64 SIMD lanes (default: 8 avx512f, 4 avx2)")
    ap.add_argument("--vec-ops", type=int, help="vector ops per cycle (default 2)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    R = 200 if args.quick else 1000
    import numba

    peak = machine_peak(args.cores, args.ghz, args.lanes, args.vec_ops, args.add_latency)
    load = os.getloadavg()
    print(f"xordsim engine benchmark: numba {numba.__version__}, threads "
          f"{numba.get_num_threads()}, numpy {np.__version__}; {peak['model']}, "
          f"{peak['cores']} cores x {peak['ghz']} GHz ({peak['clock']}; /proc/cpuinfo says "
          f"{peak['ghz_nominal']}) x {peak['fp64_lanes']} FP64 lanes x "
          f"{peak['vector_ops_per_cycle']} vector ops/cycle = peak "
          f"{peak['peak_ops_per_s']:.3g} ops/s; load average {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f}; engine time: median of {max(1, args.repeat)} runs", flush=True)
    record = dict(machine=peak, numba=numba.__version__, numpy=np.__version__,
                  threads=numba.get_num_threads(), load_average_start=load,
                  ops_per_channel=OPS_PER_CHANNEL, ops_per_group=OPS_PER_GROUP,
                  workloads=[], quick=args.quick)
    dist = uniform_distribution(10)
    x, y = dist.sample_training_sets(20, R, 0)
    base = not args.no_baselines
    for k in (2, 20, 100, 1000):
        record["workloads"].append(workload(
            f"(a) XORD d=10 m=20 k={k}", x, y, k, R, 2000, "xord", 0.01, 8.0, peak,
            args.repeat, base and k <= 100))
    xx, yy = xor_dataset()
    record["workloads"].append(workload("(b) XOR k=50", xx, yy, 50, R, 1000, "xor", 0.1, 1.0,
                                        peak, args.repeat, base))
    compiled = {k: compile_seconds(k) for k in (2, 20)}
    record["compile_seconds"] = {f"k={k}": v[0] for k, v in compiled.items()}
    record["compile_seconds_dpm_hinge_k2"] = compiled[2][1]
    print("compile (fresh numba cache, 3 losses): "
          + ", ".join(f"{key} {v:.1f} s" for key, v in record["compile_seconds"].items())
          + f"; k=2 key set 'dpm' (hinge, large calls only) {compiled[2][1]:.1f} s more",
          flush=True)
    proc = subprocess.run([sys.executable, "-c", THM63.format(R=R)], capture_output=True,
                          text=True)
    print((proc.stdout + proc.stderr).strip(), flush=True)
    record["theorem_6_3"] = (proc.stdout + proc.stderr).strip()
    if not args.skip_memory:
        mem_R = 10_000 if args.quick else 100_000
        proc = subprocess.run([sys.executable, "-c",
                               MEMORY.format(R=mem_R, T=args.memory_steps)],
                              capture_output=True, text=True, check=True)
        rss, dt, steps = proc.stdout.split()
        record["memory"] = dict(R=mem_R, k=100, T=args.memory_steps, peak_rss_mb=float(rss),
                                seconds=float(dt), steps_run=int(steps))
        print(f"memory: R={mem_R}, k=100, T={args.memory_steps}, shared d=10 m=20 data: peak "
              f"RSS {float(rss):,.0f} MB ({float(dt):.1f} s, {int(steps):,} steps run)",
              flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.no_scaling:
        xs_, ys_ = dist.sample_training_sets(20, 10_000 if args.quick else 100_000, 1)
        record["scaling"] = scaling(xs_, ys_, peak, args.quick)
        plot_scaling(record["scaling"], args.out / "engine_scaling.png")
        print(f"wrote {args.out / 'engine_scaling.png'}")
    record["load_average_end"] = os.getloadavg()
    path = args.out / "engine.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(path)
    print(f"wrote {path}; load average at the end {record['load_average_end'][0]:.2f}")


if __name__ == "__main__":
    main()
