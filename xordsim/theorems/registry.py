"""Running the results (``estimate``, ``run_all``) and printing their rows.

The results themselves are declared in :mod:`xordsim.theorems.specs` (imported without
NumPy); the estimators are imported when a result runs.
"""

from __future__ import annotations

import math

from xordsim.config import default_init_std
from xordsim.fmt import interval, prob, sig, sig_log10
from xordsim.theorems.specs import (
    CONSISTENT,
    CONVENTION,
    FIXED_POINT,
    K_M,
    OPTIONS,
    OUTSIDE,
    SPECS,
    VIOLATED,
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


# ----------------------------------------------------------------------------------------
# printing: one definition of the cells for the terminal table and the report's tables

#: Deficits 1 - bound below this are written ``1 − q`` (the bound rounds to 1 at 3 digits).
_ROUNDS_TO_1 = math.log10(5e-4)

#: Short names of settings in the table.
_SHORT = {"steps": "T"}

#: How each outcome is written in the table's ``outcomes`` column (None: not shown there).
_OUTCOMES = {
    "converged": None,  # the converged column
    "stalled": "stalled {}",
    "still_running": "running {}",
    "diverged": "diverged {}",
    "recovers": "recover f* {}",
    "max_converged_step": "conv. by t={}",
    "last_step": "checked to t={}",
}


def format_bound(row: dict, unicode: bool = True) -> str:
    """The paper's bound with its relation, ``≥ 1 − 2.16·10⁻¹⁷³`` or ``≤ 0.948``: 3
    significant digits, and ``1 − q`` (q from the row's ``bound_deficit_log10``, exact
    where 1 − q underflows) for bounds that round to 1."""
    rel = row.get("relation", ">=")
    if unicode:
        rel = {">=": "≥", "<=": "≤"}.get(rel, rel)
    deficit = row.get("bound_deficit_log10")
    if deficit is not None and deficit < _ROUNDS_TO_1:
        text = prob((1, sig_log10(deficit, unicode=unicode)), unicode=unicode)
    elif row.get("bound_text"):
        text = row["bound_text"]
    else:
        text = prob(row["bound"], unicode=unicode)
    return f"{rel} {text}"


def _value(v, unicode: bool) -> str:
    """A setting: exactly where 1 to 3 significant digits say it (0.1, 0.0049), else 3."""
    if isinstance(v, (list, tuple)):
        return ",".join(_value(x, unicode) for x in v)
    if isinstance(v, float) and math.isfinite(v) and v != 0:
        for digits in (1, 2):
            if float(sig(v, digits, unicode=False)) == v:
                return sig(v, digits, unicode=unicode)
    return sig(v, unicode=unicode)


def _label_keys(spec: Spec | None) -> set[str]:
    if spec is None:
        return set()
    return {K_M: {"k", "m"}, CONVENTION: {"a_convention"}}.get(spec.labelling, set())


def settings_text(row: dict, unicode: bool = True) -> str:
    """The row's settings, short: those its label does not already say; for each result
    the ones that define it (k, T, ...) and any other that is not the result's default
    (init_std only when not c_eta / (16 k^1.5))."""
    settings = row.get("settings", row.get("params", {}))
    spec = SPECS.get(row.get("result") or "")
    if spec is None:
        return " ".join(f"{_SHORT.get(k, k)}={_value(v, unicode)}"
                        for k, v in settings.items())
    skip = _label_keys(spec)
    shown = [k for k in spec.shown if k in settings and k not in skip]
    for key, v in settings.items():
        if key in skip or key in shown or key not in spec.params:
            continue
        if key == "init_std":
            if "k" in settings and "c_eta" in settings and math.isclose(
                    v, default_init_std(settings["k"], settings["c_eta"]), rel_tol=1e-12):
                continue
        elif key == "steps" or v == spec.params[key].default:
            continue
        shown.append(key)
    parts = []
    for key in shown:
        v = settings[key]
        if key == "p_plus" and settings.get("p_minus") == v:
            parts.append(f"{'p±' if unicode else 'p+-'}={_value(v, unicode)}")
        elif key == "p_minus" and settings.get("p_plus") == v and "p_plus" in shown:
            continue
        else:
            parts.append(f"{_SHORT.get(key, key)}={_value(v, unicode)}")
    return " ".join(parts)


def outcomes_text(row: dict, unicode: bool = True) -> str:
    """What the runs did besides converging (stalled, still moving, recovered f*, ...)."""
    parts = []
    for key, v in (row.get("outcomes") or {}).items():
        template = _OUTCOMES.get(key, key + "={}")
        if template is None or (key in ("stalled", "still_running", "diverged") and not v):
            continue
        if key == "max_converged_step" and v < 0:
            continue
        parts.append(template.format(_value(v, unicode)))
    return ", ".join(parts) or ("—" if unicode else "-")


def converged_text(row: dict, unicode: bool = True) -> str:
    """``293/1000``: runs that converged of all runs; ``*`` marks rows where converged
    means a fixed point of GD (loss 0 or a zero subgradient) rather than loss 0; a dash
    for events at initialization."""
    if row.get("converged") is None:
        return "—" if unicode else "-"
    star = "*" if row.get("converged_means") == FIXED_POINT else ""
    return f"{row['converged']}/{row['runs']}{star}"


#: Columns of :func:`table_columns`.
HEADER = ["result", "settings", "replicas", "converged", "outcomes", "estimate", "95% CI",
          "exact", "bound", "verdict"]


def table_columns(rows: list[dict], unicode: bool = True) -> tuple[list[str], list[list[str]]]:
    """The header and one list of cells per row, every number in significant figures
    (:mod:`xordsim.fmt`): label, short settings, replicas, converged runs, other outcomes,
    estimate, 95% interval, exact value (6 significant digits), bound and verdict (with
    the converged count where fewer than 95% converged). The terminal table
    (:func:`format_table`) and the report's tables render these cells."""
    dash = "—" if unicode else "-"
    body = []
    for r in rows:
        exact = dash if r.get("exact") is None else prob(r["exact"], 6, unicode=unicode)
        body.append([
            r.get("label") or r["name"], settings_text(r, unicode), str(r["replicas"]),
            converged_text(r, unicode), outcomes_text(r, unicode),
            prob(r["estimate"], unicode=unicode),
            interval(r["ci"][0], r["ci"][1], unicode=unicode, probability=True),
            exact, format_bound(r, unicode), r.get("verdict_text") or r["verdict"]])
    return list(HEADER), body


def format_table(rows: list[dict], unicode: bool = True) -> str:
    """Fixed-width table of :func:`table_columns` (no cell is ever broken across lines)."""
    head, body = table_columns(rows, unicode)
    widths = [max(len(row[i]) for row in [head] + body) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in [head] + body]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def summary_counts(rows: list[dict]) -> dict[str, int]:
    """How many rows: ``rows`` in all, ``consistent``, ``violated``, ``outside
    assumptions`` (by verdict) and ``flagged`` (a ``flag``, e.g. fewer than 95% of the
    runs converged; a flagged row also has one of the three verdicts)."""
    out = {"rows": len(rows)}
    for v in (CONSISTENT, VIOLATED, OUTSIDE):
        out[v] = sum(r["verdict"] == v for r in rows)
    out["flagged"] = sum(bool(r.get("flag")) for r in rows)
    return out


def flagged_rows(rows: list[dict]) -> list[dict]:
    """The rows with a ``flag``, in order."""
    return [r for r in rows if r.get("flag")]


__all__ = ["HEADER", "SPECS", "Spec", "check_overrides", "converged_text", "estimate",
           "flagged_rows", "format_bound", "format_table", "outcomes_text", "parse_overrides",
           "resolve", "run_all", "settings_help", "settings_text", "summary_counts",
           "table_columns"]
