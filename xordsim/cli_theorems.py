"""``xordsim theorems``: Monte Carlo estimate of every lemma and theorem beside its bound."""

from __future__ import annotations

import time

from xordsim._validate import check_int
from xordsim.io import write_json

#: Keys of every object written by ``--json``.
JSON_KEYS = ("name", "params", "replicas", "estimate", "ci", "exact", "bound", "verdict")


def add_parser(sub) -> None:
    from xordsim.theorems import SPECS

    p = sub.add_parser(
        "theorems",
        help="estimate the probability of each lemma/theorem's event beside the paper's bound",
        description="Monte Carlo estimates (95%% Clopper-Pearson intervals) of the events "
        "bounded by the paper's lemmas and theorems, with exact values where derivable, the "
        "paper's bound and a verdict. Results: " + ", ".join(SPECS) + ".",
    )
    p.add_argument("--only", nargs="+", metavar="NAME", help="run only these results")
    p.add_argument("--replicas", type=int,
                   help="replicas per row (default: per result, at least 1000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a parameter of every selected result (repeatable)")
    p.add_argument("--json", metavar="FILE", help="also write the rows as JSON (atomically)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def json_rows(rows: list[dict]) -> list[dict]:
    """The rows reduced to the documented JSON schema plus ``relation`` and ``notes``."""
    keep = JSON_KEYS + ("relation", "notes")
    return [{k: r[k] for k in keep} for r in rows]


def run(args) -> int:
    from xordsim.theorems import CI_LEVEL, format_table, parse_overrides, resolve, run_all

    specs = resolve(args.only)
    replicas = None if args.replicas is None else check_int("--replicas", args.replicas, 1)
    seed = check_int("--seed", args.seed, 0)
    overrides = parse_overrides(specs, args.set)
    t0 = time.perf_counter()
    rows = run_all([s.name for s in specs], replicas, seed, overrides, quiet=args.quiet)
    wall = time.perf_counter() - t0
    counts = sorted({r["replicas"] for r in rows})
    print(f"xordsim theorems: Monte Carlo over independent replicas (init, and training set "
          f"where sampled); {'/'.join(map(str, counts))} replicas per row; seed {seed}; "
          f"{CI_LEVEL:.0%} Clopper-Pearson intervals; GD steps T = 'steps' (0 in --set means "
          f"the theorem's own T); bound: the paper's (c = 1e-10); {wall:.1f} s")
    print(format_table(rows))
    notes = [(r["name"], n) for r in rows for n in r["notes"]
             if not n.startswith("success needs")]
    for name, note in notes:
        print(f"note {name}: {note}")
    if args.json:
        write_json(args.json, json_rows(rows))
    return 0
