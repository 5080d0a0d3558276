"""The shared mechanism: per-replica event outcomes -> estimate, interval, verdict."""

from __future__ import annotations

import numpy as np

from xordsim.fmt import prob, sig
from xordsim.stats import proportion_ci
from xordsim.theorems.specs import (  # noqa: F401  (re-exported: the verdicts' names)
    CONSISTENT,
    CONVERGED_MIN,
    FIXED_POINT,
    LOSS_0,
    NON_CONVERGED,
    OUTSIDE,
    SPECS,
    VIOLATED,
)

#: The paper's negligible constant c (Sec. 6): c <= 1e-10. Bounds use c = 1e-10, the
#: weakest value the paper allows (so a ``violated`` verdict is never an artefact of c).
C_NEGLIGIBLE = 1e-10
CI_LEVEL = 0.95


# ----------------------------------------------------------------------------------------
# shared mechanism


def verdict(ci, bound: float, relation: str = ">=", inside: bool = True) -> str:
    """Verdict for an estimated probability with interval ``ci`` against ``bound``.

    ``relation`` '>=' (the paper claims P >= bound): consistent iff ci[1] >= bound;
    '<=' (P <= bound): consistent iff ci[0] <= bound. ``inside`` False (parameters
    outside the result's assumptions) overrides both.
    """
    if relation not in (">=", "<="):
        raise ValueError(f"relation must be '>=' or '<=', got {relation!r}")
    if not inside:
        return OUTSIDE
    ok = ci[1] >= bound if relation == ">=" else ci[0] <= bound
    return CONSISTENT if ok else VIOLATED


def make_row(name: str, params: dict, hits, bound: float, *, relation: str = ">=",
             exact: float | None = None, violations=(), notes=(), level: float = CI_LEVEL,
             bound_text: str | None = None, bound_deficit_log10: float | None = None,
             result: str | None = None, label: str | None = None, settings: dict | None = None,
             outcomes: dict | None = None, derived: dict | None = None, status=None,
             note: str | None = None) -> dict:
    """The JSON-ready row of one estimate from the per-replica event outcomes ``hits``.

    ``params`` is the flat dict of earlier versions (kept for readers of theorems.json);
    ``settings`` (the inputs), ``outcomes`` (what the runs did) and ``derived`` (numbers
    computed from the settings) are the same information, structured (``settings``
    defaults to ``params``). ``result`` names the spec (event, doc anchor, how convergence
    is treated); ``label`` tells the row apart from the other rows of a run (default: the
    name). ``status`` is the engine's per-replica status of the GD runs (None: the event
    is at initialization, and the convergence fields are null); ``note`` a sentence the
    table shows once. ``bound_deficit_log10`` is log10(1 - bound) for bounds that round
    to 1 (where 1 - bound underflows, ``bound`` is 1.0 and only this keeps the deficit).
    See ``docs/theorems.md`` for every key.
    """
    hits = np.asarray(hits, dtype=bool).ravel()
    n, s = int(hits.size), int(hits.sum())
    ci = proportion_ci(s, n, level)
    notes = list(notes)
    if exact is not None and not ci[0] <= exact <= ci[1]:
        notes.append(f"exact value {prob(float(exact), 6)} outside the "
                     f"{sig(100 * level)}% interval")
    if violations:
        notes.append("outside assumptions: " + "; ".join(violations))
    spec = SPECS.get(result) if result is not None else None
    verdict_ = verdict(ci, bound, relation, not violations)
    row = {
        "name": name,
        "label": label or name,
        "result": result,
        "params": _jsonable(params),
        "settings": _jsonable(params if settings is None else settings),
        "outcomes": _jsonable(outcomes or {}),
        "derived": _jsonable(derived or {}),
        "replicas": n,
        "estimate": s / n if n else float("nan"),
        "ci": [ci[0], ci[1]],
        "exact": None if exact is None else float(exact),
        "bound": float(bound),
        "verdict": verdict_,
        "relation": relation,
        "successes": s,
        "notes": notes,
        "bound_text": bound_text,
        "bound_deficit_log10": (None if bound_deficit_log10 is None
                                else float(bound_deficit_log10)),
        "event": spec.event if spec else None,
        "doc_anchor": spec.doc_anchor if spec else None,
        "note": note,
    }
    row.update(convergence_fields(status, spec, level))
    if status is not None:
        row["outcomes"] = dict(status_counts(status), **row["outcomes"])
    if row["flag"] == NON_CONVERGED:
        row["verdict_text"] = f"{verdict_} ({row['converged']} of {row['runs']} converged)"
    else:
        row["verdict_text"] = verdict_
    return row


def status_counts(status) -> dict:
    """The engine's per-replica status -> counts: converged (loss 0), stalled (a zero
    subgradient at a positive loss), still_running (at T), diverged."""
    from xordsim.engine import CONVERGED, DIVERGED, RUNNING, STALLED

    status = np.asarray(status).ravel()
    return {"converged": int((status == CONVERGED).sum()),
            "stalled": int((status == STALLED).sum()),
            "still_running": int((status == RUNNING).sum()),
            "diverged": int((status == DIVERGED).sum())}


def convergence_fields(status, spec=None, level: float = CI_LEVEL) -> dict:
    """The convergence keys of a row: ``converged`` (count), ``runs``,
    ``converged_fraction``, ``converged_ci`` (Clopper–Pearson), ``converged_means``
    ("loss 0" or "fixed point", from the spec), ``conditional_on_convergence`` (from the
    spec) and ``flag`` ("non-converged" when fewer than
    :data:`CONVERGED_MIN` of the runs converged). All null when ``status`` is None (an
    event at initialization)."""
    if status is None:
        return {"converged": None, "runs": None, "converged_fraction": None,
                "converged_ci": None, "converged_means": None,
                "conditional_on_convergence": None, "flag": None}
    counts = status_counts(status)
    means = (spec.converged_means if spec is not None and spec.converged_means else LOSS_0)
    runs = int(sum(counts.values()))
    done = counts["converged"] + (counts["stalled"] if means == FIXED_POINT else 0)
    low, high = proportion_ci(done, runs, level)
    fraction = done / runs if runs else float("nan")
    return {"converged": done, "runs": runs, "converged_fraction": fraction,
            "converged_ci": [low, high], "converged_means": means,
            "conditional_on_convergence": (None if spec is None
                                           else spec.conditional_on_convergence),
            "flag": NON_CONVERGED if runs and fraction < CONVERGED_MIN else None}


def _jsonable(params: dict) -> dict:
    out = {}
    for key, v in params.items():
        if isinstance(v, (np.integer,)):
            v = int(v)
        elif isinstance(v, (np.floating,)):
            v = float(v)
        elif isinstance(v, tuple):
            v = list(v)
        out[key] = v
    return out

