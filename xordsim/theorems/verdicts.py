"""The shared mechanism: per-replica event outcomes -> estimate, interval, verdict."""

from __future__ import annotations

import numpy as np

from xordsim.stats import proportion_ci

#: The paper's negligible constant c (Sec. 6): c <= 1e-10. Bounds use c = 1e-10, the
#: weakest value the paper allows (so a ``violated`` verdict is never an artefact of c).
C_NEGLIGIBLE = 1e-10
CI_LEVEL = 0.95
CONSISTENT, VIOLATED, OUTSIDE = "consistent", "violated", "outside assumptions"


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
             bound_text: str | None = None) -> dict:
    """The JSON-ready row of one estimate from the per-replica event outcomes ``hits``."""
    hits = np.asarray(hits, dtype=bool).ravel()
    n, s = int(hits.size), int(hits.sum())
    ci = proportion_ci(s, n, level)
    notes = list(notes)
    if exact is not None and not ci[0] <= exact <= ci[1]:
        notes.append(f"exact value {exact:.6g} outside the {level:.0%} interval")
    if violations:
        notes.append("outside assumptions: " + "; ".join(violations))
    return {
        "name": name,
        "params": _jsonable(params),
        "replicas": n,
        "estimate": s / n if n else float("nan"),
        "ci": [ci[0], ci[1]],
        "exact": None if exact is None else float(exact),
        "bound": float(bound),
        "verdict": verdict(ci, bound, relation, not violations),
        "relation": relation,
        "successes": s,
        "notes": notes,
        "bound_text": bound_text,
    }


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

