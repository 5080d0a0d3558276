"""``xordsim reproduce``: wall time, CPU time and core use, per stage and in all.

Run:  python bench/bench_reproduce.py [--mode quick|full|tiny ...] [--jobs N ...]
                                      [--cold] [--repeat R] [--json FILE]

Each run is ``python -m xordsim reproduce --MODE --out TMP --jobs N --quiet`` in a child
process started fresh (imports, numba cache loading and the report included), in an empty
output folder, so every stage is computed. For each (mode, jobs) it records

* the wall time and the CPU time of the whole run (``getrusage(RUSAGE_CHILDREN)``: the
  child and its worker processes) and the CPU utilisation, CPU / (wall x cores): 1.0
  means every core busy for the whole run, 1 / cores one core busy;
* each stage's computation time (the ``seconds`` of ``theorems.json`` and of every
  figure's ``NAME.json``: with ``--jobs`` > 1 stages run at once, so these add up to
  more than the wall time);
* the load average before and after (the machine is shared: a load above the number of
  cores means other processes took part of it).

``--cold`` runs each with an empty ``NUMBA_CACHE_DIR`` (a first run after install: every
kernel is compiled); by default the numba cache of the checkout is used (warm after any
earlier run). ``--jobs 1 --jobs 2`` measures one stage after the other against two at
once, back to back under the same conditions; every run's CSVs and theorem rows are
compared with the first run's of the same mode and must be identical (exit status 1 if
not). Results are appended to the runs already in ``bench/results/reproduce.json``
(written atomically; each run carries its date).
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

HERE = Path(__file__).resolve().parent
DEFAULT_JSON = HERE / "results" / "reproduce.json"


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def stage_seconds(out: Path) -> dict[str, float]:
    """The computation time of every stage of the run in ``out`` (registry order)."""
    from xordsim.figures.registry import FIGURES

    times = {}
    for name in ["theorems", *FIGURES]:
        path = out / f"{name}.json"
        if path.exists():
            doc = json.loads(path.read_text())
            if doc.get("seconds") is not None:
                times[name] = round(float(doc["seconds"]), 2)
    return times


def numbers(out: Path) -> dict[str, bytes]:
    """What must not change between runs: every CSV's bytes (less a row of run time,
    ``seconds,...``, as fig4a_summary.csv has) and the theorem rows."""
    found = {p.name: b"\n".join(line for line in p.read_bytes().split(b"\n")
                                 if not line.startswith(b"seconds,"))
             for p in sorted(out.glob("*.csv"))}
    theorems = out / "theorems.json"
    if theorems.exists():
        found["theorems.json rows"] = json.dumps(json.loads(theorems.read_text())["rows"],
                                                 sort_keys=True).encode()
    return found


def run_once(mode: str, jobs: int, cold: bool, keep: Path | None = None) -> dict:
    """One fresh ``xordsim reproduce`` in a child process; its times and CSVs."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-reproduce-"))
    out = tmp / "out"
    env = dict(os.environ)
    if cold:
        env["NUMBA_CACHE_DIR"] = str(tmp / "numba-cache")
    cmd = [sys.executable, "-m", "xordsim", "reproduce", "--out", str(out), "--quiet",
           "--jobs", str(jobs)]
    if mode != "full":
        cmd.append(f"--{mode}")
    load0 = os.getloadavg()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-4000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result = {"mode": mode, "jobs": jobs, "cold_numba_cache": cold, "wall_s": round(wall, 2),
              "cpu_s": round(cpu, 2), "cpu_utilisation": round(cpu / (wall * cores()), 3),
              "load_before": [round(x, 2) for x in load0],
              "load_after": [round(x, 2) for x in os.getloadavg()],
              "stages_s": stage_seconds(out), "numbers": numbers(out)}
    if keep is not None:
        shutil.copytree(out, keep, dirs_exist_ok=True)
    shutil.rmtree(tmp, ignore_errors=True)
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", action="append", choices=("tiny", "quick", "full"),
                    help="reproduce mode(s) to time (default: quick)")
    ap.add_argument("--jobs", action="append", type=int,
                    help="--jobs value(s) of reproduce, run back to back (default: 1 and 2)")
    ap.add_argument("--cold", action="store_true",
                    help="an empty NUMBA_CACHE_DIR for every run (compile everything)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each (mode, jobs)")
    ap.add_argument("--json", default=str(DEFAULT_JSON),
                    help="where the results go: this invocation's runs are appended to the "
                         "file's earlier ones (the docs cite them by number)")
    args = ap.parse_args(argv)
    modes = args.mode or ["quick"]
    jobs_list = args.jobs or [1, 2]
    runs = []
    for mode in modes:
        reference = None
        for rep in range(args.repeat):
            for jobs in jobs_list:
                r = run_once(mode, jobs, args.cold)
                found = r.pop("numbers")
                if reference is None:
                    reference = found
                r["numbers_identical_to_first_run"] = found == reference
                r["repeat"] = rep
                r["date"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
                runs.append(r)
                print(f"{mode:5s} jobs={jobs} wall {r['wall_s']:7.1f} s  cpu {r['cpu_s']:7.1f} s"
                      f"  utilisation {r['cpu_utilisation']:.2f} of {cores()} cores  load "
                      f"{r['load_before'][0]:.1f}->{r['load_after'][0]:.1f}  same numbers: "
                      f"{r['numbers_identical_to_first_run']}", flush=True)
                print("      stages: " + ", ".join(f"{k} {v:.1f}" for k, v in
                                                   r["stages_s"].items()), flush=True)
    import platform

    from xordsim.io import write_json

    earlier = []
    if Path(args.json).is_file():
        earlier = json.loads(Path(args.json).read_text()).get("runs", [])
    doc = {"bench": "reproduce", "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
           "cores": cores(), "python": platform.python_version(),
           "machine": platform.platform(), "runs": earlier + runs}
    write_json(args.json, doc)
    print(f"wrote {args.json}")
    return 0 if all(r["numbers_identical_to_first_run"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
