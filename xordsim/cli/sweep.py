"""``xordsim sweep``: a grid of GD runs from a spec file, into a resumable store.

``xordsim sweep SPEC --out DIR [--dask ADDRESS|local:N] [--force] [--quiet]`` computes the
points that DIR does not hold yet; ``--status`` reports progress instead;
``xordsim sweep --summary DIR [--csv FILE]`` prints one row per finished point.
The spec format is in docs/sweeps.md. Nothing heavy is imported before ``run``.
"""

from __future__ import annotations

from xordsim._validate import InputError
from xordsim.cli._common import (
    add_quiet,
    add_threads,
    apply_threads,
    check_output_dir,
    check_output_file,
    require_extra,
)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "sweep",
        help="run a grid of GD runs from a spec file into a resumable store",
        description="Run every point of a sweep spec (TOML: problem, data, replicas, seed, "
        "chunk, [fixed], [grid], [[points]]; see docs/sweeps.md) into the store --out DIR: "
        "one Parquet file per point, one row per replica. Rerunning computes only the "
        "missing points. In-process by default; --dask local:N or a scheduler address "
        "(or $XORDSIM_DASK_SCHEDULER) runs the tasks on a Dask cluster with the same "
        "numbers.",
        epilog="Examples: xordsim sweep study.toml --out results/study; xordsim sweep "
        "study.toml --out results/study --dask local:4; xordsim sweep study.toml --out "
        "results/study --status; xordsim sweep --summary results/study --csv summary.csv",
    )
    p.add_argument("spec", nargs="?", default=None, metavar="SPEC",
                   help="the sweep spec (TOML file)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="the store: created if new, resumed if it holds this spec")
    p.add_argument("--dask", default=None, metavar="ADDRESS",
                   help="run on Dask: local:N (N single-threaded worker processes on this "
                   "machine) or a scheduler address tcp://HOST:PORT; default: in-process, "
                   "or $XORDSIM_DASK_SCHEDULER when set ('off' forces in-process); needs "
                   "the dask extra")
    p.add_argument("--force", action="store_true",
                   help="replace a store of another spec (points with unchanged parameters "
                   "are kept)")
    p.add_argument("--status", action="store_true",
                   help="report points done / total and the estimated remaining time; "
                   "compute nothing")
    p.add_argument("--summary", default=None, metavar="DIR",
                   help="print one row per finished point of the store DIR (means and 95%% "
                   "intervals) instead of running")
    p.add_argument("--csv", default=None, metavar="FILE",
                   help="with --summary: also write the full summary table as CSV "
                   "(atomically)")
    add_threads(p)
    add_quiet(p)
    p.set_defaults(func=run, command="sweep")


def run(args) -> int:
    if args.summary is not None:
        return _summary(args)
    if args.csv is not None:
        raise InputError("--csv applies only with --summary DIR")
    if args.spec is None:
        raise InputError("give a SPEC file and --out DIR, or --summary DIR")
    if args.out is None:
        raise InputError("--out DIR is required: the store the sweep writes")
    if args.status:
        for opt, given in (("--dask", args.dask), ("--force", args.force or None),
                           ("--threads", args.threads)):
            if given is not None:
                raise InputError(f"{opt} does not apply to --status")
    out = check_output_dir("--out", args.out)
    require_extra("xordsim sweep", "sweep")

    from xordsim.sweep.runner import parse_dask

    dask = parse_dask(args.dask)
    if dask is not None:
        require_extra("xordsim sweep --dask", "dask")

    from xordsim.sweep import load_spec, status
    from xordsim.sweep import run as run_sweep

    spec = load_spec(args.spec)
    if args.status:
        return _status(status(out, spec), out)
    apply_threads(args)
    rec = run_sweep(spec, out, dask=dask or "off", force=args.force, quiet=args.quiet)
    if not args.quiet:
        from xordsim.fmt import sig

        print(f"xordsim sweep: {rec['computed']} points computed ({rec['replicas']} replicas, "
              f"{rec['executor']}), {rec['skipped']} already in the store, of "
              f"{rec['points']}; {sig(rec['seconds'])} s; store {out}")
    return 0


def _status(st: dict, out) -> int:
    from xordsim.fmt import sig

    line = f"{out}: {st['done']} of {st['total']} points done, {st['remaining']} to go"
    if st["remaining"] and st["done"]:
        line += (f"; about {sig(st['remaining_seconds'])} s of compute left at "
                 f"{sig(st['point_seconds_mean'])} s per point (divide by the workers)")
    elif st["state"] == "not started":
        line += " (not started)"
    print(line)
    return 0


def _summary(args) -> int:
    if args.spec is not None or args.out is not None:
        raise InputError("--summary DIR takes no SPEC or --out")
    for opt, given in (("--dask", args.dask), ("--force", args.force or None),
                       ("--status", args.status or None), ("--threads", args.threads)):
        if given is not None:
            raise InputError(f"{opt} does not apply to --summary")
    from pathlib import Path

    store = Path(args.summary)
    if not (store / "manifest.json").is_file():
        raise InputError(f"--summary: {store} holds no sweep (no manifest.json)")
    csv = None if args.csv is None else check_output_file("--csv", args.csv)
    require_extra("xordsim sweep --summary", "sweep")

    from xordsim.fmt import interval, sig
    from xordsim.io import atomic_path
    from xordsim.sweep import load

    table = load(store, summary=True)
    if csv is not None:
        with atomic_path(csv) as tmp:
            table.to_csv(tmp, index=False, float_format="%.8g")
    if table.empty:
        print(f"{store}: no finished points yet")
    else:
        from xordsim.sweep.store import SUMMARY_COLUMNS

        params = [c for c in table.columns if c not in SUMMARY_COLUMNS]
        varying = [c for c in params if table[c].nunique() > 1] or params[:1]
        head = varying + ["replicas", "converged (95% CI)", "test error (95% CI)"]
        rows = []
        for _, r in table.iterrows():
            rows.append([str(r[c]) if not isinstance(r[c], float) else sig(r[c])
                         for c in varying] + [
                str(r["replicas"]), f"{sig(r['frac_converged'])} "
                f"{interval(r['frac_converged_ci95_low'], r['frac_converged_ci95_high'])}",
                f"{sig(r['test_error_mean'])} "
                f"{interval(r['test_error_ci95_low'], r['test_error_ci95_high'])}"])
        width = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
        print("  ".join(h.ljust(w) for h, w in zip(head, width, strict=True)))
        for row in rows:
            print("  ".join(v.ljust(w) for v, w in zip(row, width, strict=True)))
        print(f"({len(table)} points; fractions: Clopper-Pearson; mean errors: bounded BCa "
              "bootstrap intervals)")
    if csv is not None:
        print(f"wrote {csv}")
    return 0
