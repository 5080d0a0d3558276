"""Sweep throughput in-process against ``--dask local:2``, and the memory of one big point.

Run:  python bench/bench_sweep.py [--quick] [--json FILE] [--cores-per-node C]

1. A 16-point Figure-1-style grid (XORD, d = 10, m = 20, T = 5000, 16 widths k from 2 to
   100) with 1000 replicas per point, computed in-process (the numba-parallel engine on
   every core) and with ``dask="local:2"`` (two single-threaded worker processes; the wall
   time includes starting and stopping the cluster). Both stores are checked to hold the
   same numbers. Rates are *executed* replica-steps (a replica that converges stops) per
   wall second.
2. One point with R = 10^5 replicas and m = 10^4 (d = 10, k = 10, T = 200, chunk 10^4) run
   in a child process (``python -m xordsim sweep``); its peak resident memory is read
   with ``getrusage(RUSAGE_CHILDREN)`` and must stay under 500 MB. As point arrays the
   training sets alone would take R * 2m * d * 2 bytes = 40 GB.
3. The projected wall time of a 10^4-point grid of such points on 10 and 100 nodes, from
   the measured compute time per point on one single-threaded worker (perfect packing
   plus about 1 ms of Dask overhead per task).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KS = [2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 25, 32, 40, 50, 64, 100]


def fig1_spec(replicas: int, steps: int, ks) -> dict:
    return {"problem": "xord", "replicas": replicas, "seed": 0,
            "fixed": {"d": 10, "m": 20, "steps": steps}, "grid": {"k": list(ks)}}


def timed_run(spec, out, dask=None) -> dict:
    from xordsim import sweep

    t0 = time.perf_counter()
    rec = sweep.run(spec, out, dask=dask or "off", quiet=True)
    wall = time.perf_counter() - t0
    df = sweep.load(out)
    steps = int(df["stop_step"].sum())
    per_point = df.groupby("id")["point_seconds"].first()
    return {"executor": dask or "in-process", "points": rec["computed"], "wall_s": wall,
            "points_per_s": rec["computed"] / wall, "replica_steps": steps,
            "replica_steps_per_s": steps / wall,
            "compute_s_per_point": float(per_point.mean()),
            "table": df.drop(columns="point_seconds")}


MEMORY_SPEC = """\
problem = "xord"
replicas = {R}
seed = 0
chunk = 10000
[fixed]
d = 10
m = {m}
k = 10
steps = {T}
"""


def point_memory(tmp: Path, R: int, m: int, T: int) -> dict:
    spec = tmp / "memory.toml"
    spec.write_text(MEMORY_SPEC.format(R=R, m=m, T=T))
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "xordsim", "sweep", str(spec), "--out",
                    str(tmp / "memory"), "--quiet"], check=True)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    # a child's peak is only visible if it exceeds every earlier child's
    return {"replicas": R, "m": m, "steps": T, "wall_s": wall,
            "peak_rss_mb": peak * 1024 / 1e6, "earlier_children_peak_mb": before * 1024 / 1e6,
            "point_arrays_would_need_gb": R * 2 * m * 10 * 2 / 1e9}


def projection(compute_s_per_point: float, nodes: int, cores: int, points: int = 10**4,
               overhead_s: float = 1e-3) -> float:
    """Wall seconds of ``points`` points on ``nodes`` x ``cores`` single-threaded workers."""
    return points * (compute_s_per_point + overhead_s) / (nodes * cores)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="100 replicas, T = 1000, R = 10^4")
    ap.add_argument("--json", default=None, metavar="FILE")
    ap.add_argument("--cores-per-node", type=int, default=32)
    args = ap.parse_args()
    replicas, steps = (100, 1000) if args.quick else (1000, 5000)
    R, m, T = (10**4, 10**4, 100) if args.quick else (10**5, 10**4, 200)

    tmp = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    try:
        # the memory point first: no earlier child then hides its peak
        mem = point_memory(tmp, R, m, T)
        from xordsim.sweep.compute import warm

        warm()
        spec = fig1_spec(replicas, steps, KS)
        runs = [timed_run(spec, tmp / "inproc"), timed_run(spec, tmp / "local2", "local:2")]
        import pandas as pd

        pd.testing.assert_frame_equal(runs[0]["table"], runs[1]["table"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    cpp = runs[1]["compute_s_per_point"]  # one single-threaded worker
    proj = {n: projection(cpp, n, args.cores_per_node) for n in (10, 100)}

    print(f"machine: {os.cpu_count()} cores; grid: {len(KS)} points x {replicas} replicas, "
          f"d = 10, m = 20, T = {steps}")
    print(f"{'executor':<12} {'wall s':>8} {'points/s':>9} {'replica-steps/s':>16} "
          f"{'compute s/point':>16}")
    for r in runs:
        print(f"{r['executor']:<12} {r['wall_s']:8.2f} {r['points_per_s']:9.2f} "
              f"{r['replica_steps_per_s']:16.3g} {r['compute_s_per_point']:16.3f}")
    print("tables identical: yes")
    print(f"one point, R = {R}, m = {m}, k = 10, T = {T}: peak RSS {mem['peak_rss_mb']:.0f} MB "
          f"(limit 500 MB; as point arrays the data alone: "
          f"{mem['point_arrays_would_need_gb']:.0f} GB), wall {mem['wall_s']:.1f} s")
    for n, s in proj.items():
        print(f"projection: 10^4 such grid points on {n} nodes x {args.cores_per_node} "
              f"cores: {s:.0f} s ({s / 3600:.2f} h)")
    ok = mem["peak_rss_mb"] < 500
    if args.json:
        Path(args.json).write_text(json.dumps({
            "runs": [{k: v for k, v in r.items() if k != "table"} for r in runs],
            "memory": mem, "projection_s": proj, "cores_per_node": args.cores_per_node,
            "memory_ok": ok}, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
