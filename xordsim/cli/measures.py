"""``xordsim measures FILE.npz``: every registered measure of the networks ``xordsim train
--save`` wrote, per replica, with a summary and each measure's rank agreement with the
exact test error (docs/measures.md).

Import-light by rule: at import time only the standard library and :mod:`xordsim.cli._common`.
"""

from __future__ import annotations

import textwrap

from xordsim._validate import InputError
from xordsim.cli._common import add_json, check_output_file


def add_parser(sub) -> None:
    p = sub.add_parser(
        "measures", help="measures of trained networks (capacity, kernel, NTK, lazy)",
        description=textwrap.fill(
            "Compute the registered measures (Neyshabur et al.'s capacity measures and "
            "bounds, Arora et al.'s complexity, the empirical NTK's spectrum, lazy-training "
            "diagnostics and the lazy limit's exact test error; docs/measures.md) of every "
            "replica in FILE.npz, the output of 'xordsim train --save'. Prints per measure "
            "the median and quartiles over the replicas, the counts of inf and NaN values, "
            "and Kendall's tau-b against the exact test error over the replicas.", 79))
    p.add_argument("file", metavar="FILE.npz", help="a file written by 'xordsim train --save'")
    p.add_argument("--measure", action="append", default=None, metavar="NAME",
                   help="a measure to compute (repeatable; default: every registered one; "
                        "'list' prints the names)")
    add_json(p)
    p.set_defaults(func=run, command="measures")


def _check_names(names: list[str], available: list[str]) -> list[str]:
    for n in names:
        if n not in available:
            raise InputError(f"--measure must be one of the registered measures (see "
                             f"'--measure list'); got {n!r}")
    return list(dict.fromkeys(names))


def run(args) -> int:
    import json
    import sys

    from xordsim.measures import registry

    available = registry.available()
    if args.measure is not None and "list" in args.measure:
        for n in available:
            m = registry.get(n)
            print(f"{n}: {m.description}" if m.description else n)
        return 0
    names = available if args.measure is None else _check_names(args.measure, available)
    json_file = None if args.json in (None, "-") else check_output_file("--json", args.json)
    point = registry.TrainedPoint.from_npz(args.file)
    ev = registry.evaluate(point, names)
    result = summarize(point, ev)
    if args.json == "-":
        json.dump(result, sys.stdout, indent=2)
        print()
        return 0
    print(format_summary(result))
    if json_file is not None:
        from xordsim.io import write_json

        write_json(json_file, result)
        print(f"wrote {json_file}")
    return 0


def summarize(point, ev) -> dict:
    """Per measure: the values per replica, median and quartiles of the finite values, the
    counts of +-inf and NaN (with the failures' reasons), Kendall's tau-b against the exact
    test error over the replicas (flagged when undefined)."""
    import numpy as np

    from xordsim.measures.rank import kendall

    err = np.asarray(point.test_error, dtype=float)
    out = {"file_config": point.config.to_dict(), "replicas": point.replicas,
           "test_error_mean": float(np.nanmean(err)) if np.isfinite(err).any() else None,
           "measures": {}}
    for name, v in ev.values.items():
        finite = np.isfinite(v)
        q = np.percentile(v[finite], [25, 50, 75]) if finite.any() else [np.nan] * 3
        ok = finite & np.isfinite(err)
        tau = kendall(v[ok], err[ok], excluded=int((~ok).sum()))
        out["measures"][name] = {
            "values": [None if np.isnan(x) else float(x) for x in v],
            "median": _num(q[1]), "q25": _num(q[0]), "q75": _num(q[2]),
            "finite": int(finite.sum()), "inf": int(np.isinf(v).sum()),
            "nan": int(np.isnan(v).sum()),
            "failures": [{"replica": r, "reason": why} for r, why in ev.failures.get(name, [])],
            "kendall_tau_b": _num(tau.tau), "kendall_flag": tau.flag,
            "kendall_reason": tau.reason,
        }
    return out


def _num(x):
    import math

    x = float(x)
    return None if math.isnan(x) else x


def format_summary(result: dict) -> str:
    from xordsim import fmt

    def s(x):
        return "-" if x is None else fmt.sig(x, 4)

    names = list(result["measures"])
    width = max([len(n) for n in names] + [7])
    lines = [f"{result['replicas']} replicas, k = {result['file_config']['k']}, loss = "
             f"{result['file_config']['loss']}; mean exact test error "
             f"{s(result['test_error_mean'])}",
             f"{'measure':<{width}}  {'median':>10}  {'q25':>10}  {'q75':>10}  {'inf':>5}  "
             f"{'NaN':>5}  tau_b(test error)"]
    for n in names:
        m = result["measures"][n]
        tau = s(m["kendall_tau_b"]) if m["kendall_flag"] == "ok" else m["kendall_flag"]
        lines.append(f"{n:<{width}}  {s(m['median']):>10}  {s(m['q25']):>10}  "
                     f"{s(m['q75']):>10}  {m['inf']:>5}  {m['nan']:>5}  {tau}")
    lines.append("Median and quartiles over the finite values; tau_b: Kendall's tau-b over the "
                 "replicas (NaN/inf excluded); NaN: failed or undefined (e.g. a bound with "
                 "margin <= 0).")
    return "\n".join(lines)


__all__ = ["add_parser", "format_summary", "run", "summarize"]
