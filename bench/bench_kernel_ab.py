"""A/B of engine kernel variants compiled and run in ONE process (the reliable way to
measure a kernel change on a shared machine).

Run:  python bench/bench_kernel_ab.py [--variant FILE ...] [--k K ...] [--replicas R]
                                      [--steps T] [--repeat N]

Why one process: on the shared 2-core machine of the closing notes the same build runs at
one of two speeds, by process, 20% apart (docs/performance.md, "two speeds"), so
before/after pairs in separate processes need many alternations to see a 10% change; and
numba's cache once served the engine's kernel compiled with old model code to the "after"
side (docs/performance.md, "A stale cache"). Here every build is a fresh copy of
``xordsim/engine.py`` executed as its own module with ``cache=False`` -- compiled in this
process from the current sources -- and the builds are called alternately, in rotating
order, on the same data and initial weights. Spreads are 1-3%.

A variant is a Python file defining ``REPLACE``, a dict from names of the engine module's
globals (``descend_simd``, ``forward_simd``, ``group_loss_simd``, ...) to replacements,
typically ``numba.njit`` functions (give them ``fastmath=xordsim.model.FASTMATH`` where the
original has it). The base build is the engine as it is. For each k the script prints each
build's median rate (executed replica-steps per CPU-second of this process, one thread
unless ``NUMBA_NUM_THREADS`` says otherwise), the spread, and whether the build's final
filters and stop steps equal the base's bit for bit. Example (the "moved" test before
issue 16's change to ORs of bit patterns):

    NUMBA_NUM_THREADS=1 python bench/bench_kernel_ab.py \\
        --variant bench/ab_variants/moved_by_sums.py --k 8 20 100
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
import types
from pathlib import Path

import numpy as np

import xordsim.engine as engine
from xordsim.config import default_init_std
from xordsim.data import uniform_distribution


def build(name: str, replace: dict | None = None) -> types.ModuleType:
    """A fresh copy of xordsim/engine.py as module ``name``, its kernels compiled in this
    process (``cache=False``), with the globals in ``replace`` swapped in."""
    src = Path(engine.__file__).read_text().replace("cache=True", "cache=False")
    mod = types.ModuleType(name)
    mod.__file__ = engine.__file__
    sys.modules[name] = mod
    exec(compile(src, f"<{name}>", "exec"), mod.__dict__)
    for key, value in (replace or {}).items():
        if key not in mod.__dict__:
            raise SystemExit(f"--variant: the engine has no global {key!r}")
        setattr(mod, key, value)
    return mod


def load_variant(path: Path) -> dict:
    spec = importlib.util.spec_from_file_location(f"ab_variant_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    if not isinstance(getattr(mod, "REPLACE", None), dict):
        raise SystemExit(f"--variant {path}: the file must define a dict REPLACE")
    return mod.REPLACE


def compare(builds: dict, k: int, R: int, T: int, repeat: int) -> None:
    x, y = uniform_distribution(10).sample_training_sets(20, R, 0)
    rng = np.random.default_rng(0)
    std = default_init_std(k, 0.01)
    w0, u0 = rng.normal(0, std, (R, k, 2)), rng.normal(0, std, (R, k, 2))
    kw = dict(problem="xord", c_eta=0.01, gamma=8.0)
    for mod in builds.values():  # compile outside the timing
        mod.train(x[:2], y[:2], k, w0=w0[:2], u0=u0[:2], steps=2, **kw)
    names = list(builds)
    rates = {name: [] for name in names}
    final = {}
    for rep in range(repeat):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            t0 = time.process_time()
            res = builds[name].train(x, y, k, w0=w0, u0=u0, steps=T, **kw)
            cpu = time.process_time() - t0
            rates[name].append(float((res.stop_step + 1).sum()) / cpu)
            final[name] = (res.w, res.u, res.stop_step)
    base = final[names[0]]
    for name in names:
        r = np.array(rates[name])
        same = all(np.array_equal(a, b) for a, b in zip(final[name], base, strict=True))
        print(f"k={k:<5d} {name:<24s} median {np.median(r):.3g} rs/s  "
              f"({r.min():.3g}-{r.max():.3g}, x{np.median(r) / np.median(rates[names[0]]):.3f})"
              f"  {'same filters and steps' if same else 'NUMBERS DIFFER from base'}",
              flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", type=Path, action="append", default=[],
                    help="a file defining REPLACE = {engine global: replacement}")
    ap.add_argument("--k", type=int, nargs="+", default=[8, 20, 100])
    ap.add_argument("--replicas", type=int, default=400)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=6)
    args = ap.parse_args()
    for name, value in (("--replicas", args.replicas), ("--steps", args.steps),
                        ("--repeat", args.repeat)):
        if value < 1:
            ap.error(f"{name} must be >= 1; got {value}")
    if any(k < 1 for k in args.k):
        ap.error(f"--k must be >= 1; got {args.k}")
    builds = {"base": build("ab_base")}
    for path in args.variant:
        if not path.is_file():
            ap.error(f"--variant {path}: no such file")
        builds[path.stem] = build(f"ab_{path.stem}", load_variant(path))
    import numba

    print(f"one process, {numba.get_num_threads()} thread(s); R={args.replicas}, "
          f"T={args.steps}, XORD d=10 m=20, c_eta=0.01, gamma=8; CPU-time rates, medians of "
          f"{args.repeat}, builds alternated", flush=True)
    for k in args.k:
        compare(builds, k, args.replicas, args.steps, args.repeat)


if __name__ == "__main__":
    main()
