"""``xordsim theorems``: Monte Carlo estimate of every lemma and theorem beside its bound."""

from __future__ import annotations

from xordsim.cli._common import (
    add_json,
    add_quiet,
    add_seed,
    add_set,
    add_threads,
    apply_threads,
    check_output_file,
    seed_value,
)
from xordsim.theorems.specs import OPTIONS

#: Keys of every object written by ``--json``.
JSON_KEYS = ("name", "params", "replicas", "estimate", "ci", "exact", "bound", "verdict")

REPLICAS = OPTIONS["replicas"]


def add_parser(sub) -> None:
    from xordsim.theorems.specs import SPECS, settings_help

    p = sub.add_parser(
        "theorems",
        help="estimate the probability of each lemma/theorem's event beside the paper's bound",
        description="Monte Carlo estimates (95% Clopper-Pearson intervals) of the events "
        "bounded by the paper's lemmas and theorems, with exact values where derivable, the "
        "paper's bound and a verdict (docs/theorems.md defines each event).\n\n"
        "--set keys of each result (steps=0 means the theorem's own T):\n" + settings_help(),
    )
    p.add_argument("--only", nargs="+", metavar="NAME", default=None,
                   help="run only these results: one or more of " + ", ".join(SPECS)
                   + " (default: all)")
    p.add_argument("--replicas", default=None, metavar="N", help=REPLICAS.help_text())
    add_seed(p)
    add_set(p, "applied to every selected result, which must all have the key")
    add_json(p)
    add_quiet(p)
    add_threads(p)
    p.set_defaults(func=run, command="theorems")


def json_rows(rows: list[dict]) -> list[dict]:
    """The rows reduced to the documented JSON schema plus ``relation`` and ``notes``."""
    keep = JSON_KEYS + ("relation", "notes")
    return [{k: r[k] for k in keep} for r in rows]


def run(args) -> int:
    from xordsim.theorems.specs import parse_overrides, resolve

    names = [spec.name for spec in resolve(args.only)]
    replicas = None if args.replicas is None else REPLICAS.parse(args.replicas, "--replicas")
    seed = seed_value(args)
    overrides = parse_overrides(names, args.set)
    json_file = None if args.json in (None, "-") else check_output_file("--json", args.json)

    import json
    import sys
    import time

    from xordsim.io import write_json
    from xordsim.theorems import CI_LEVEL, format_table, run_all

    apply_threads(args)
    t0 = time.perf_counter()
    rows = run_all(names, replicas, seed, overrides, quiet=args.quiet)
    wall = time.perf_counter() - t0
    if args.json == "-":
        json.dump(json_rows(rows), sys.stdout, indent=2, default=str)
        print()
        return 0
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
    if json_file is not None:
        write_json(json_file, json_rows(rows))
    return 0
