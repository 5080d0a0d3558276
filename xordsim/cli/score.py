"""``xordsim score STORE [STORE ...]``: score generalization measures on sweep stores.

A thin shell over :mod:`xordsim.sweep.scores` (the library, also behind the
``rank-agreement`` figure): loads :func:`xordsim.sweep.benchmark_table` of the stores (one
row per network), optionally imports a user's module (``--module FILE.py``) whose
``xs.measures.register(...)`` calls add measures, computes those from the stores' saved
weights (``save_weights = true``), and scores every measure against the target: Kendall's
τ-b (with tie fractions), the granulated Kendall Ψ and its ψ per axis, the conditional
mutual information K and Dziugaite et al.'s sign error (mean, 90th percentile, max), each
with a 95% percentile bootstrap interval over the seeds (``hp.seed``). Writes
``scores.csv`` (atomically) and prints the table sorted by Ψ (docs/benchmark.md).

Import-light by rule: at import time only the standard library, the declarations
(:data:`~xordsim.config.SCORE_TARGET`, :data:`~xordsim.config.SCORE_N_BOOT`) and
:mod:`xordsim.cli._common`.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from xordsim._validate import InputError
from xordsim.cli._common import (
    add_json,
    add_param,
    check_output_dir,
    check_output_file,
    param_value,
    require_extra,
)
from xordsim.config import SCORE_N_BOOT, SCORE_TARGET


def add_parser(sub) -> None:
    p = sub.add_parser(
        "score", help="score generalization measures on sweep stores (tau, Psi, CMI, "
        "sign error)",
        description=textwrap.fill(
            "Score every measure of the sweep stores STORE (computed with measures = "
            "\"all\" or a list) against the generalization gap or the exact test error: "
            "Kendall's tau-b with tie fractions, the granulated Kendall Psi and its psi "
            "per axis (Jiang et al. 2020), the conditional mutual information K, and "
            "Dziugaite et al.'s sign error (mean, 90th percentile, max over environments), "
            "each with a 95% bootstrap interval over the seeds (hp.seed, "
            f"{SCORE_N_BOOT.default} draws by default). With --module, the file's "
            "xs.measures.register(...) measures are computed from the stores' saved "
            "weights (save_weights = true) and scored too. Writes scores.csv to --out "
            "and prints the table sorted by Psi (docs/benchmark.md).", 79),
        epilog="Example: xordsim score results/xord_gen results/xord_gen_decoy --module "
        "mine.py --out results/scores")
    p.add_argument("stores", nargs="+", metavar="STORE", help="sweep stores (directories)")
    p.add_argument("--measure", action="append", default=None, metavar="NAME",
                   help="score only this measure (repeatable; default: every measure of the "
                        "stores and of --module)")
    p.add_argument("--module", default=None, metavar="FILE.py",
                   help="a Python file whose xs.measures.register(...) calls add measures, "
                        "computed from the stores' saved weights")
    add_param(p, SCORE_TARGET)
    add_param(p, SCORE_N_BOOT)
    p.add_argument("--out", default=".", metavar="DIR",
                   help="where scores.csv is written (default: .)")
    add_json(p)
    p.set_defaults(func=run, command="score")


def run(args) -> int:
    require_extra("xordsim score", "sweep")
    target = param_value(args, SCORE_TARGET)
    n_boot = param_value(args, SCORE_N_BOOT)
    out_dir = check_output_dir("--out", args.out)
    json_file = None if args.json in (None, "-") else check_output_file("--json", args.json)
    stores = [Path(s) for s in args.stores]
    for s in stores:
        if not (s / "manifest.json").is_file():
            raise InputError(f"STORE {str(s)!r} is not a sweep store (no manifest.json)")
    from xordsim.measures import registry
    from xordsim.sweep.scores import import_module_file

    added = import_module_file(args.module) if args.module is not None else []
    try:
        return _score(args, stores, added, out_dir, json_file, target, n_boot)
    finally:
        for n in added:  # the module's measures live for this command only
            registry.unregister(n)


def _score(args, stores: list[Path], added: list[str], out_dir: Path, json_file,
           target: str, n_boot: int) -> int:
    import json
    import sys

    from xordsim.sweep.benchmark import benchmark_table
    from xordsim.sweep.scores import (
        axes_of,
        format_scores,
        measure_columns,
        score_table,
        write_scores,
    )

    table = benchmark_table(stores)
    known = [*table.attrs["measures"], *added]
    if args.measure is not None:
        for n in args.measure:
            if n not in known:
                raise InputError(f"--measure {n!r} is neither in the stores nor registered "
                                 f"by --module; known: {', '.join(known)}")
    names = list(dict.fromkeys(args.measure if args.measure is not None else known))
    compute = [n for n in names if n in added and n not in table.attrs["measures"]]
    failures: dict = {}
    if compute:
        values, failures = measure_columns(stores, compute)
        for n in compute:
            table[n] = values[n]
    if not names:
        raise InputError("the stores hold no measure (their spec needs measures = \"all\" "
                         "or a list) and --module registered none")
    results = score_table(table, names, target, n_boot)
    result = {"stores": [str(s) for s in stores], "target": target, "n_boot": n_boot,
              "networks": int(len(table)), "axes": axes_of(table), "measures": results,
              "failures": {n: [{"id": i, "replica": int(r), "reason": why}
                               for i, r, why in f] for n, f in failures.items() if f}}
    csv = write_scores(out_dir / "scores.csv", results)
    if args.json == "-":
        json.dump(result, sys.stdout, indent=2)
        print()
        return 0
    print(format_scores(results, target, n_boot))
    for n, f in result["failures"].items():
        print(f"{n}: failed on {len(f)} of {len(table)} networks (NaN, excluded); first: "
              f"point {f[0]['id']} replica {f[0]['replica']}: {f[0]['reason']}")
    print(f"wrote {csv}")
    if json_file is not None:
        from xordsim.io import write_json

        write_json(json_file, result)
        print(f"wrote {json_file}")
    return 0


__all__ = ["add_parser", "run"]
