"""``xordsim reproduce``: the main job -- every theorem estimate, every figure, a report."""

from __future__ import annotations

import argparse
import time

from xordsim._validate import check_int


def add_parser(sub) -> None:
    p = sub.add_parser(
        "reproduce",
        help="run every theorem estimate and every figure and write a report",
        description="Reproduce the paper: theorem estimates, Figures 1-4 and more, with "
        "report.md and a self-contained report.html in the output directory.",
    )
    p.add_argument("--out", default="results", help="output directory (default: results)")
    p.add_argument("--quick", action="store_true",
                   help="fewer replicas and runs (a few minutes); the report says so")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--force", action="store_true",
                   help="recompute stages whose outputs already exist")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # tests only
    p.set_defaults(func=run)


def run(args) -> int:
    from xordsim.report import reproduce

    seed = check_int("--seed", args.seed, 0)
    t0 = time.perf_counter()
    report = reproduce(args.out, seed=seed, quick=args.quick, quiet=args.quiet,
                       force=args.force, tiny=args.tiny)
    print(f"report: {report} ({time.perf_counter() - t0:.0f} s)")
    return 0
