"""Running the results (``estimate``, ``run_all``) and printing their rows.

The results themselves are declared in :mod:`xordsim.theorems.specs` (imported without
NumPy); the estimators are imported when a result runs.
"""

from __future__ import annotations

from xordsim.theorems.specs import (
    OPTIONS,
    SPECS,
    Spec,
    check_overrides,
    get,
    parse_overrides,
    resolve,
    settings_help,
)


def _replicas(replicas) -> int | None:
    return OPTIONS["replicas"].check(replicas, "replicas")


def estimate(name: str, replicas: int | None = None, seed: int = 0, progress=None,
             **params) -> list[dict]:
    """Run one result's estimator with ``params`` overriding its defaults; returns rows.

    ``params`` are checked against the result's declared parameters (unknown names and
    bad values raise a one-line :class:`InputError`).
    """
    spec = get(name)
    values = spec.check(params)
    replicas = _replicas(replicas) or spec.replicas
    seed = OPTIONS["seed"].check(seed, "seed")
    return spec.run(dict(spec.defaults, **values), replicas, seed, progress)


def run_all(names=None, replicas: int | None = None, seed: int = 0, overrides=None,
            quiet: bool = True) -> list[dict]:
    """Every selected result's rows (JSON-ready dicts), in registry order.

    ``overrides`` maps a result name to a dict of parameters, or is a list of
    ``KEY=VALUE`` strings applied to every selected result. Everything is checked before
    the first result runs.
    """
    specs = resolve(names)
    replicas = _replicas(replicas)
    seed = OPTIONS["seed"].check(seed, "seed")
    checked = check_overrides(specs, overrides)
    from tqdm.auto import tqdm

    total = sum((replicas or s.replicas) * s.rows for s in specs)
    rows: list[dict] = []
    with tqdm(total=total, desc="theorems", unit="replica", disable=quiet) as bar:
        for spec in specs:
            bar.set_postfix_str(spec.name)
            n = replicas or spec.replicas
            before = bar.n
            rows += spec.run(dict(spec.defaults, **checked[spec.name]), n, seed,
                             progress=bar.update)
            bar.update(max(0, before + n * spec.rows - bar.n))
    return rows


def format_bound(row: dict) -> str:
    b = row["bound"]
    if row.get("bound_text"):
        text = row["bound_text"]
    else:
        text = f"1 - {1 - b:.2e}" if 0.99 < b < 1 else f"{b:.6g}"
    return f"{row.get('relation', '>=')} {text}"


def format_table(rows: list[dict]) -> str:
    """Fixed-width table of rows (name, params, replicas, estimate, CI, exact, bound, verdict)."""
    head = ["name", "params", "replicas", "estimate", "95% CI", "exact", "bound", "verdict"]
    skip = {"max_angle_deg", "converged", "recovers", "max_converged_step", "last_step",
            "p_minus", "init_std"}
    body = []
    for r in rows:
        params = " ".join(f"{k}={_short(v)}" for k, v in r["params"].items() if k not in skip)
        exact = "—" if r["exact"] is None else f"{r['exact']:.6f}"
        body.append([r["name"], params, str(r["replicas"]), f"{r['estimate']:.4f}",
                     f"[{r['ci'][0]:.4f}, {r['ci'][1]:.4f}]", exact, format_bound(r),
                     r["verdict"]])
    widths = [max(len(row[i]) for row in [head] + body) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in [head] + body]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _short(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return ",".join(map(str, v))
    return str(v)


__all__ = ["SPECS", "Spec", "check_overrides", "estimate", "format_bound", "format_table",
           "parse_overrides", "resolve", "run_all", "settings_help"]
