"""Whole-process start-up and small-run times of the command line, beside ``python -c pass``.

Run:  python bench/bench_cli.py [--runs N] [--baseline-python PATH]

Each command runs N times as a fresh process (after one untimed warm-up run that fills
numba's cache); the table gives min / median / max wall seconds and the median's excess
over ``python -c pass`` measured in the same run (the machines are noisy: compare only
numbers from one run). Targets (issue 10): ``--version``, ``--help`` and ``train --help``
within 0.15 s of ``python -c pass``; ``train --k 100 --replicas 1000 --steps 2000`` within
1.5 s whole-process with a warm numba cache.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

TARGETS = {"--version": 0.15, "--help": 0.15, "train --help": 0.15,
           "train --k 100 --replicas 1000 --steps 2000": 1.5}


def timed(argv: list[str], runs: int) -> list[float]:
    subprocess.run(argv, capture_output=True, check=True)  # warm-up (numba cache, page cache)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    exe = shutil.which("xordsim")
    cli = [exe] if exe else [sys.executable, "-m", "xordsim"]
    base = timed([sys.executable, "-c", "pass"], args.runs)
    b = statistics.median(base)
    print(f"python -c pass: median {b:.3f} s  (min {min(base):.3f}, max {max(base):.3f})")
    print(f"{'command':48} {'min':>7} {'median':>7} {'max':>7} {'excess':>7}  target")
    ok = True
    for cmd, target in TARGETS.items():
        t = timed([*cli, *cmd.split()], args.runs)
        m = statistics.median(t)
        excess = m - b
        limit = f"excess <= {target}" if target < 1 else f"total <= {target}"
        met = excess <= target if target < 1 else m <= target
        ok &= met
        print(f"xordsim {cmd:40} {min(t):7.3f} {m:7.3f} {max(t):7.3f} {excess:7.3f}  {limit}"
              f" {'met' if met else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
