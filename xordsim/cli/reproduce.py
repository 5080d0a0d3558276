"""``xordsim reproduce``: the main job -- every theorem estimate, every figure, a report."""

from __future__ import annotations

import argparse

from xordsim._validate import Param
from xordsim.cli._common import (
    add_dask,
    add_out,
    add_quiet,
    add_seed,
    add_threads,
    apply_threads,
    check_output_dir,
    dask_value,
    seed_value,
)

#: ``--jobs``: stages computed at once (:func:`xordsim.report.reproduce`).
JOBS = Param("jobs", "int", None, "stages computed at once", low=1, high=64)


def add_parser(sub) -> None:
    from xordsim.figures.registry import sweep_figures

    p = sub.add_parser(
        "reproduce",
        help="run every theorem estimate and every figure and write a report (the main job)",
        description="Reproduce the paper: theorem estimates, Figures 1-4 and more, with "
        "report.md and a self-contained report.html in the output directory. Finished "
        "stages with the same seed and settings are reused (an interrupted run resumes; the "
        "figures that are sweeps also keep their finished points in DIR/sweeps); without the "
        "optional xordsim[mnist] dependencies the MNIST stages are skipped, without "
        "xordsim[sweep] the sweep figures, and the report says so.",
    )
    add_out(p, "results")
    p.add_argument("--quick", action="store_true",
                   help="fewer replicas and runs (a few minutes); the report says so")
    add_seed(p)
    p.add_argument("--force", action="store_true",
                   help="recompute stages whose outputs already exist")
    add_dask(p, "run the figures that are sweeps (" + ", ".join(sweep_figures())
             + ") on Dask, one cluster for all of them; the theorem stage and the other "
             "figures run in-process")
    add_quiet(p)
    add_threads(p)
    p.add_argument("--jobs", default=None, metavar="N",
                   help="stages computed at once, each in a worker process with 1/N of the "
                   "numba threads: an integer in [1, 64] (default: 2 with 2 or more "
                   "threads, else 1; 1 runs them one after the other in this process); the "
                   "numbers do not depend on it")
    p.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # tests only
    p.set_defaults(func=run, command="reproduce")


def run(args) -> int:
    seed = seed_value(args)
    dask = dask_value(args, "xordsim reproduce --dask")
    jobs = None if args.jobs is None else JOBS.parse(args.jobs, "--jobs")
    out = check_output_dir("--out", args.out)
    apply_threads(args)

    import time

    from xordsim.report import reproduce

    t0 = time.perf_counter()
    report = reproduce(out, seed=seed, quick=args.quick, quiet=args.quiet, force=args.force,
                       tiny=args.tiny, dask=dask or "off", jobs=jobs)
    print(f"report: {report} ({time.perf_counter() - t0:.0f} s)")
    return 0
