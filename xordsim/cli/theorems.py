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

#: Keys of every object written by ``--json`` (docs/theorems.md describes each).
JSON_KEYS = ("name", "params", "replicas", "estimate", "ci", "exact", "bound", "verdict")
#: The structured keys written after :data:`JSON_KEYS`.
JSON_EXTRA = ("label", "result", "settings", "outcomes", "derived", "converged", "runs",
              "converged_fraction", "converged_ci", "converged_means",
              "conditional_on_convergence", "flag", "verdict_text", "relation", "successes",
              "bound_text", "bound_deficit_log10", "event", "doc_anchor", "note", "notes")

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
    """The rows in the documented JSON schema (:data:`JSON_KEYS`, then :data:`JSON_EXTRA`)."""
    keep = JSON_KEYS + JSON_EXTRA
    return [{k: r.get(k) for k in keep} for r in rows]


#: Notes not repeated under the table (the table or a row's ``note`` already says them).
_QUIET_NOTES = ("success needs", "status counts:", "(a) and (b) agree")


def report_lines(rows: list[dict]) -> list[str]:
    """The lines printed under the table: each row's sentence (``note``, once), its other
    notes, the flagged rows with their converged fraction and interval, and the counts."""
    from xordsim.fmt import interval, prob
    from xordsim.theorems import SPECS, flagged_rows, summary_counts

    lines, seen = [], set()
    for r in rows:
        label = r.get("label") or r["name"]
        if r.get("note") and r["note"] not in seen:
            seen.add(r["note"])
            lines.append(f"note {r.get('result') or label}: {r['note']}")
        lines += [f"note {label}: {n}" for n in r["notes"] if not n.startswith(_QUIET_NOTES)]
    flagged = flagged_rows(rows)
    if flagged:
        lines.append(f"flagged non-converged: {len(flagged)} row(s) where fewer than 95% of "
                     "the runs converged within T:")
    for r in flagged:
        spec = SPECS.get(r.get("result") or "")
        lines.append(f"  {r['label']}: {r['converged']} of {r['runs']} converged "
                     f"({prob(r['converged_fraction'])}, 95% CI "
                     f"{interval(*r['converged_ci'], probability=True)})"
                     + (f"; {spec.if_not_converged}" if spec and spec.if_not_converged else ""))
    c = summary_counts(rows)
    lines.append(f"{c['rows']} rows: {c['consistent']} consistent, {c['violated']} violated, "
                 f"{c['outside assumptions']} outside assumptions; {c['flagged']} flagged "
                 "non-converged")
    return lines


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

    from xordsim.fmt import sig
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
    print(f"xordsim theorems: Monte Carlo over independent replicas (a fresh Gaussian "
          f"initialization each, and a fresh training set where the result samples one); "
          f"{'/'.join(map(str, counts))} replicas per row; seed {seed}; {sig(100 * CI_LEVEL)}% "
          f"Clopper-Pearson intervals; T = the GD steps of each run (steps=0 in --set means "
          f"the theorem's own T, printed resolved); converged = runs at loss 0 within T (*: "
          f"at a fixed point of GD, loss 0 or a zero subgradient), running = runs still "
          f"moving at T; bounds are the paper's "
          f"with c = 10⁻¹⁰; {sig(wall)} s")
    print(format_table(rows))
    for line in report_lines(rows):
        print(line)
    if json_file is not None:
        write_json(json_file, json_rows(rows))
    return 0
