"""``xordsim score STORE [STORE ...]``: score generalization measures on sweep stores.

Loads :func:`xordsim.sweep.benchmark_table` of the stores (one row per network), optionally
imports a user's module (``--module FILE.py``) whose ``xs.measures.register(...)`` calls
add measures, computes those from the stores' saved weights (``save_weights = true``), and
scores every measure against the target with :mod:`xordsim.measures.rank`: Kendall's τ-b
(with tie fractions), the granulated Kendall Ψ and its ψ per axis, the conditional mutual
information K and Dziugaite et al.'s sign error (mean, 90th percentile, max), each with a
95% percentile bootstrap interval over the seeds (``hp.seed``; :data:`N_BOOT` draws). Writes
``scores.csv`` (atomically) and prints the table sorted by Ψ (docs/benchmark.md).

Import-light by rule: at import time only the standard library and :mod:`xordsim.cli._common`;
:func:`score_table` and :func:`measure_columns` are the library behind the command (the
``rank-agreement`` figure uses them too).
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

from xordsim._validate import InputError
from xordsim.cli._common import add_json, check_output_dir, check_output_file, require_extra

#: Bootstrap draws of every interval (resampling the seeds; deterministic given BOOT_SEED).
N_BOOT = 100
#: Bootstrap draws of the CMI's interval (it does not decompose over seeds: each draw
#: rescores the table, O(networks^2) pairs).
CMI_BOOT = 20
#: Seed of the bootstrap resampling.
BOOT_SEED = 0
#: The targets a measure can be scored against.
TARGETS = ("gen.gap", "test_error")
#: The seed column of the benchmark table: conditioned on, resampled by the bootstrap.
SEED = "hp.seed"
#: Columns of ``scores.csv`` (one row per measure and score).
SCORE_COLUMNS = ["measure", "score", "estimate", "ci95_low", "ci95_high"]
#: Scores without a bootstrap interval (counts).
COUNTS = ("networks", "excluded")


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
            f"{N_BOOT} draws). With --module, the file's xs.measures.register(...) "
            "measures are computed from the stores' saved weights (save_weights = true) "
            "and scored too. Writes scores.csv to --out and prints the table sorted by Psi "
            "(docs/benchmark.md).", 79),
        epilog="Example: xordsim score results/xord_gen results/xord_gen_decoy --module "
        "mine.py --out results/scores")
    p.add_argument("stores", nargs="+", metavar="STORE", help="sweep stores (directories)")
    p.add_argument("--measure", action="append", default=None, metavar="NAME",
                   help="score only this measure (repeatable; default: every measure of the "
                        "stores and of --module)")
    p.add_argument("--module", default=None, metavar="FILE.py",
                   help="a Python file whose xs.measures.register(...) calls add measures, "
                        "computed from the stores' saved weights")
    p.add_argument("--target", default="gen.gap", choices=TARGETS,
                   help="what the measures should rank (default: gen.gap = test - train "
                        "error)")
    p.add_argument("--out", default=".", metavar="DIR",
                   help="where scores.csv is written (default: .)")
    add_json(p)
    p.set_defaults(func=run, command="score")


def import_module_file(path) -> list[str]:
    """Import the Python file ``path`` (running its ``register`` calls); returns the names
    of the measures it registered. A missing file or one that raises is an InputError."""
    import importlib.util

    from xordsim.measures import registry

    path = Path(path)
    if path.suffix != ".py" or not path.is_file():
        raise InputError(f"--module must name an existing .py file; got {str(path)!r}")
    before = set(registry.available())
    spec = importlib.util.spec_from_file_location(f"xordsim_user_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - any error in the user's file is bad input
        raise InputError(f"--module {path}: importing it raised {type(exc).__name__}: "
                         f"{exc}") from None
    return [n for n in registry.available() if n not in before]


def measure_columns(stores, names: list[str]) -> tuple[dict, dict]:
    """The values of the measures ``names`` for every network of ``stores``, from their saved
    weights, in :func:`~xordsim.sweep.benchmark_table` row order.

    Returns ``(values, failures)``: name -> float array over the rows (NaN where the measure
    failed), and name -> list of ``(point id, replica, reason)``.
    """
    import json

    import numpy as np

    from xordsim.measures import registry
    from xordsim.sweep.store import Store, load, load_points

    values: dict = {n: [] for n in names}
    failures: dict = {n: [] for n in names}
    for store in stores:
        manifest = Store(store).require_manifest()
        ids = {json.dumps(e["params"], sort_keys=True): e["id"] for e in manifest["points"]}
        rows = load(store)[["id", "replica"]]
        by_id = {}
        for params, point in load_points(store):
            pid = ids[json.dumps(params, sort_keys=True)]
            ev = registry.evaluate(point, names)
            by_id[pid] = ev.values
            for n in names:
                failures[n] += [(pid, r, why) for r, why in ev.failures.get(n, [])]
        for n in names:
            values[n].append(np.array([by_id[i][n][r] if i in by_id else np.nan
                                       for i, r in zip(rows["id"], rows["replica"],
                                                       strict=True)], dtype=float))
    return {n: np.concatenate(v) for n, v in values.items()}, failures


def axes_of(table) -> list[str]:
    """The axes scored: the table's ``hp.*`` columns but the seed."""
    return [h for h in table.attrs.get("hp", [c for c in table.columns
                                              if str(c).startswith("hp.")]) if h != SEED]


def _boot_stats(table, measure: str, target: str, axes: list[str], n_boot: int,
                seed: int) -> dict:
    """Every score of one measure with its bootstrap draws over the seeds.

    τ-b, ψ per axis, Ψ and the sign error decompose over seeds: with ``hp.seed`` among the
    ``hp.*`` columns, the groups of Ψ and the environments of the sign error lie within one
    seed, so the score of a resampled table (each drawn seed a new seed, as
    :func:`~xordsim.measures.rank.bootstrap_scores` builds it) is computed from per-seed
    parts (:func:`~xordsim.measures.rank.granulated_kendall_groups` and
    :func:`~xordsim.measures.rank.sign_error_units` of each seed's rows) -- the same numbers,
    without rescoring the table per draw. The CMI does not decompose: its interval uses
    :func:`~xordsim.measures.rank.bootstrap_scores` with :data:`CMI_BOOT` draws.
    """
    import numpy as np

    from xordsim.measures import rank

    keys = list(dict.fromkeys(table[SEED].tolist()))
    parts = []
    for key in keys:
        block = table[table[SEED] == key]
        g = rank.granulated_kendall_groups(block, measure, target, axes)
        psi = g["psi"].to_numpy(float)
        used = g["used"].to_numpy(float)
        u = rank.sign_error_units(block, measure, target, axes)["sign_error"].to_numpy(float)
        parts.append({"sum": np.where(used > 0, psi * used, 0.0), "used": used,
                      "se": u[np.isfinite(u)], "x": block[measure].to_numpy(float),
                      "y": block[target].to_numpy(float)})

    def scores(pick) -> dict:
        x = np.concatenate([parts[p]["x"] for p in pick])
        y = np.concatenate([parts[p]["y"] for p in pick])
        ok = np.isfinite(x) & np.isfinite(y)
        k = rank.kendall(x[ok], y[ok], "networks")
        n0 = k.pairs
        used = sum(parts[p]["used"] for p in pick)
        with np.errstate(invalid="ignore", divide="ignore"):
            psi = np.where(used > 0, sum(parts[p]["sum"] for p in pick) / used, np.nan)
        se = np.concatenate([parts[p]["se"] for p in pick])
        out = {"tau": k.tau, "tie_fraction.measure": k.ties_measure / n0 if n0 else np.nan,
               "tie_fraction.target": k.ties_error / n0 if n0 else np.nan,
               "psi": float(np.mean(psi[np.isfinite(psi)])) if np.isfinite(psi).any()
               else np.nan}
        out.update({f"psi.{a}": float(v) for a, v in zip(axes, psi, strict=True)})
        out.update({"sign_error.mean": float(se.mean()) if se.size else np.nan,
                    "sign_error.p90": float(np.quantile(se, 0.9)) if se.size else np.nan,
                    "sign_error.max": float(se.max()) if se.size else np.nan})
        return out

    est = scores(range(len(keys)))
    rng = np.random.default_rng(seed)
    draws = [scores(rng.integers(0, len(keys), size=len(keys))) for _ in range(n_boot)]
    cmi = rank.bootstrap_scores(
        table, measure, lambda t, m: rank.conditional_mutual_information(t, m, target,
                                                                         axes)["cmi"],
        seed_column=SEED, n_boot=min(n_boot, CMI_BOOT), seed=seed)
    out = {}
    for name in est:
        v = np.array([d[name] for d in draws], dtype=float)
        v = v[np.isfinite(v)]
        lo, hi = np.quantile(v, [0.025, 0.975]) if v.size else (np.nan, np.nan)
        out[name] = (float(est[name]), float(lo), float(hi))
    out["cmi"] = tuple(float(c) for c in cmi)
    return out


def score_table(table, measures: list[str], target: str = "gen.gap", n_boot: int = N_BOOT,
                seed: int = BOOT_SEED) -> list[dict]:
    """Score each measure of the benchmark table ``table`` against ``target``.

    Returns one dict per measure, sorted by Ψ (best first, undefined last): ``measure``,
    ``networks`` (rows), ``excluded`` (rows with a non-finite measure or target), and
    ``scores``: score name -> (estimate, low, high), the 95% percentile bootstrap interval
    over the seeds (``hp.seed`` resampled with replacement, ``n_boot`` draws, ``seed``;
    :func:`_boot_stats`). Scores: ``tau`` (τ-b over all networks),
    ``tie_fraction.measure``/``.target``, ``psi`` (Ψ) and ``psi.AXIS`` (ψ of each axis),
    ``sign_error.mean``/``.p90``/``.max`` (over every axis' environments), ``cmi`` (K, its
    interval from :data:`CMI_BOOT` draws). The seed is conditioned on: Ψ's groups and the
    sign error's environments hold networks of one seed; it is not an axis.
    """
    import numpy as np

    if SEED not in table.columns:
        raise InputError(f"the table has no {SEED} column (a benchmark_table has one)")
    axes = axes_of(table)
    out = []
    for m in measures:
        ok = np.isfinite(table[m].to_numpy(float)) & np.isfinite(table[target].to_numpy(float))
        out.append({"measure": m, "networks": int(len(table)), "excluded": int((~ok).sum()),
                    "scores": _boot_stats(table, m, target, axes, n_boot, seed)})
    return sorted(out, key=lambda r: _psi_key(r["scores"]["psi"][0]))


def _psi_key(psi: float) -> float:
    return -psi if math.isfinite(psi) else math.inf


def score_rows(results: list[dict]) -> list[list]:
    """The rows of ``scores.csv`` (:data:`SCORE_COLUMNS`)."""
    rows = []
    for r in results:
        rows.append([r["measure"], "networks", r["networks"], "", ""])
        rows.append([r["measure"], "excluded", r["excluded"], "", ""])
        for k, (e, lo, hi) in r["scores"].items():
            rows.append([r["measure"], k, e, lo, hi])
    return rows


def format_scores(results: list[dict], target: str) -> str:
    """The printed table: one row per measure, sorted by Ψ (best first)."""
    from xordsim import fmt

    def s(x: float) -> str:
        return "-" if not math.isfinite(x) else fmt.sig(x, 3)

    def ci(t) -> str:
        return f"{s(t[0])} [{s(t[1])}, {s(t[2])}]"

    width = max([len(r["measure"]) for r in results] + [7])
    cols = ("psi", "tau", "cmi", "sign_error.mean", "sign_error.p90", "sign_error.max")
    head = ("Psi", "tau_b", "CMI K", "SE mean", "SE p90", "SE max")
    lines = [f"{'measure':<{width}}  " + "  ".join(f"{h:<22}" for h in head) + "  excluded"]
    for r in results:
        lines.append(f"{r['measure']:<{width}}  "
                     + "  ".join(f"{ci(r['scores'][c]):<22}" for c in cols)
                     + f"  {r['excluded']}/{r['networks']}")
    lines.append(f"Target {target}; estimate [95% percentile bootstrap interval over the "
                 f"seeds, {N_BOOT} draws]; sorted by Psi; excluded: networks with a "
                 f"non-finite measure or target. Psi per axis and tie fractions: scores.csv.")
    return "\n".join(lines)


def run(args) -> int:
    require_extra("xordsim score", "sweep")
    out_dir = check_output_dir("--out", args.out)
    json_file = None if args.json in (None, "-") else check_output_file("--json", args.json)
    stores = [Path(s) for s in args.stores]
    for s in stores:
        if not (s / "manifest.json").is_file():
            raise InputError(f"STORE {str(s)!r} is not a sweep store (no manifest.json)")
    from xordsim.measures import registry

    added = import_module_file(args.module) if args.module is not None else []
    try:
        return _score(args, stores, added, out_dir, json_file)
    finally:
        for n in added:  # the module's measures live for this command only
            registry.unregister(n)


def _score(args, stores: list[Path], added: list[str], out_dir: Path, json_file) -> int:
    import json
    import sys

    from xordsim.sweep.benchmark import benchmark_table

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
    results = score_table(table, names, args.target)
    result = {"stores": [str(s) for s in stores], "target": args.target, "n_boot": N_BOOT,
              "networks": int(len(table)), "axes": axes_of(table), "measures": results,
              "failures": {n: [{"id": i, "replica": int(r), "reason": why}
                               for i, r, why in f] for n, f in failures.items() if f}}
    csv = _write_csv(out_dir / "scores.csv", score_rows(results))
    if args.json == "-":
        json.dump(result, sys.stdout, indent=2)
        print()
        return 0
    print(format_scores(results, args.target))
    for n, f in result["failures"].items():
        print(f"{n}: failed on {len(f)} of {len(table)} networks (NaN, excluded); first: "
              f"point {f[0]['id']} replica {f[0]['replica']}: {f[0]['reason']}")
    print(f"wrote {csv}")
    if json_file is not None:
        from xordsim.io import write_json

        write_json(json_file, result)
        print(f"wrote {json_file}")
    return 0


def _write_csv(path: Path, rows: list[list]) -> Path:
    from xordsim.io import write_csv

    path.parent.mkdir(parents=True, exist_ok=True)
    return write_csv(path, SCORE_COLUMNS, rows)


__all__ = ["BOOT_SEED", "CMI_BOOT", "N_BOOT", "SCORE_COLUMNS", "TARGETS", "add_parser", "axes_of",
           "format_scores", "import_module_file", "measure_columns", "run", "score_rows",
           "score_table"]
