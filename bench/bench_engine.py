"""Engine speed against the plain NumPy reference (and batched PyTorch autograd if importable).

Run:  python bench/bench_engine.py [--quick] [--repeat N]

All rates are *executed* replica-steps per second (a replica that reaches zero loss
stops, in the engine and in the baselines alike); every ratio is against a baseline
measured in the same run. The baselines are timed on a slice of the workload (fewer
replicas or steps) because at full size they would take hours; their rate does not
depend on the slice (no replica converges within it). The engine's time is the median of
``--repeat`` runs (default 3): a run takes well under a second, and a shared machine is noisy.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np

from xordsim.config import default_init_std, default_lr
from xordsim.data import uniform_distribution, xor_dataset
from xordsim.engine import train
from xordsim.reference import reference_train


def initial_weights(k, R, seed=0):
    """The paper's default init, drawn once and given to the engine and the baselines alike."""
    rng = np.random.default_rng(seed)
    std = default_init_std(k, 0.1)
    return rng.normal(0, std, (R, k, 2)), rng.normal(0, std, (R, k, 2))


def engine_rate(x, y, k, R, T, problem, repeat=1):
    w0, u0 = initial_weights(k, R)
    warm = (x[:2], y[:2]) if np.ndim(x) == 4 else (x, y)
    train(*warm, k, problem=problem, w0=w0[:2], u0=u0[:2], steps=2)  # compile / load cache
    times = []
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        res = train(x, y, k, problem=problem, w0=w0, u0=u0, steps=T)
        times.append(time.perf_counter() - t0)
    dt = float(np.median(times))
    executed = float((res.stop_step + 1).sum())
    return executed / dt, dt, executed, res


def reference_rate(x, y, k, R, T, problem, budget_s=8.0):
    """Time reference GD steps on R replicas until ``budget_s`` or T steps have run."""
    lr = default_lr(k, 0.1)
    w0, u0 = initial_weights(k, R)
    steps, t0 = 1, time.perf_counter()
    reference_train(x, y, w0, u0, lr, 1, problem)
    dt = time.perf_counter() - t0
    steps = max(1, min(T, int(budget_s / max(dt, 1e-9) / 2)))
    t0 = time.perf_counter()
    _, _, conv = reference_train(x, y, w0, u0, lr, steps, problem)
    dt = time.perf_counter() - t0
    executed = np.where(conv >= 0, conv + 1, steps + 1).sum()
    return executed / dt, steps


def torch_rate(x, y, k, R, T, problem, budget_s=8.0):
    """Batched autograd GD in PyTorch (float64, CPU); None if torch is not importable."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(os.cpu_count() or 1)
    xt = torch.as_tensor(np.asarray(x, np.float64))
    yt = torch.as_tensor(np.asarray(y, np.float64))
    if xt.ndim == 3:
        xt, yt = xt[None], yt[None]
    from xordsim.model import point_loss_weights

    weight, margin = (torch.as_tensor(a) for a in point_loss_weights(yt.numpy(), problem))
    w, u = (torch.as_tensor(a) for a in initial_weights(k, R))
    w.requires_grad_(True)
    u.requires_grad_(True)
    lr = default_lr(k, 0.1)

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


def workload(name, x, y, k, R, T, problem, repeat=1):
    rate, dt, executed, _ = engine_rate(x, y, k, R, T, problem, repeat)
    ref, ref_steps = reference_rate(x, y, k, R, T, problem)
    line = (f"{name:<28} engine {rate:>12,.0f} rs/s ({dt:6.2f} s, {executed:,.0f} steps run of "
            f"{R * (T + 1):,})  reference {ref:>10,.0f} rs/s ({ref_steps} steps)  "
            f"ratio {rate / ref:>8,.0f}x")
    tr = torch_rate(x, y, k, R, T, problem)
    if tr is not None:
        line += f"  torch {tr:>10,.0f} rs/s  ratio {rate / tr:,.0f}x"
    print(line, flush=True)


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
print(f"memory: R={R}, k=100, T={T}, shared d=10 m=20 data: peak RSS {{rss:,.0f}} MB "
      f"({{dt:.1f}} s, {{(res.stop_step + 1).sum():,}} steps run)")
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller R for a smoke run")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--repeat", type=int, default=3,
                    help="engine runs per workload; the median time is reported (default: 3)")
    args = ap.parse_args()
    R = 200 if args.quick else 1000
    import numba

    print(f"xordsim engine benchmark: numba {numba.__version__}, threads "
          f"{numba.get_num_threads()}, numpy {np.__version__}, cpus {os.cpu_count()}, "
          f"engine time: median of {max(1, args.repeat)} runs")
    dist = uniform_distribution(10)
    x, y = dist.sample_training_sets(20, R, 0)
    for k in (2, 20, 100):
        workload(f"(a) XORD d=10 m=20 k={k}", x, y, k, R, 2000, "xord", args.repeat)
    xx, yy = xor_dataset()
    workload("(b) XOR k=50", xx, yy, 50, R, 1000, "xor", args.repeat)
    proc = subprocess.run([sys.executable, "-c", THM63.format(R=R)], capture_output=True,
                          text=True)
    print((proc.stdout + proc.stderr).strip())
    if not args.skip_memory:
        mem_R = 10_000 if args.quick else 100_000
        proc = subprocess.run([sys.executable, "-c", MEMORY.format(R=mem_R, T=10_000)],
                              capture_output=True, text=True)
        print((proc.stdout + proc.stderr).strip())


if __name__ == "__main__":
    main()
