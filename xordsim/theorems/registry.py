"""The results by name, their defaults, and running them (``estimate``, ``run_all``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from xordsim._validate import InputError, check_int, parse_settings
from xordsim.theorems.estimators import (
    est_lemma_3_1,
    est_lemma_3_2,
    est_lemma_6_1,
    est_lemma_6_2,
    est_thm_3_3,
    est_thm_3_4,
    est_thm_6_3,
    est_thm_6_4,
    est_thm_6_5,
)

# ----------------------------------------------------------------------------------------
# registry


@dataclass(frozen=True)
class Spec:
    """One result: its estimator, default parameters and default replica count."""

    name: str
    result: str
    event: str
    run: Callable
    defaults: dict = field(default_factory=dict)
    replicas: int = 1000
    rows: int = 1


_XOR = {"k": 50, "c_eta": 0.1, "init_std": 0.0, "steps": 0}
_XORD = {"k": 120, "c_eta": 1 / 410, "init_std": 0.0, "gamma": 8.0, "d": 4, "steps": 0}
_T65 = {"k": 120, "k_small": 2, "c_eta": 1 / 410, "init_std": 0.0, "gamma": 8.0, "d": 4,
        "steps": 0}

SPECS: dict[str, Spec] = {s.name: s for s in [
    Spec("lemma3.1", "Lemma 3.1", "k/2-2sqrt(k) <= |W0+(i)|,|U0+(i)| <= k/2+2sqrt(k), all i",
         est_lemma_3_1, {"k": 50}, 20000),
    Spec("lemma3.2", "Lemma 3.2", "w_t^(j) = a_i(t) eta x_i + v_t, v_t.x_i>0, |v_t.x_2|<2eta",
         est_lemma_3_2, dict(_XOR, a_convention="updates"), 1000),
    Spec("thm3.3", "Theorem 3.3", "global minimum after T and angle(w_T^(j), x_i) bounded",
         est_thm_3_3, dict(_XOR), 1000),
    Spec("thm3.4", "Theorem 3.4", "(a) an empty W0+(i)/U0+(i); (b) GD ends erring on an input",
         est_thm_3_4, {"k": 2, "c_eta": 0.1, "init_std": 0.0, "steps": 5000}, 10000, 2),
    Spec("lemma6.1", "Lemma 6.1", "||W0+(1) u W0+(3)| - k/2| <= 2sqrt(k)", est_lemma_6_1,
         {"k": 120}, 20000),
    Spec("lemma6.2", "Lemma 6.2", "w_t^(j) = a+(t) eta p_i + v_t, v_t.p_i>0, |v_t.p_2|<2eta",
         est_lemma_6_2, dict(_XORD, a_convention="updates"), 1000),
    Spec("thm6.3", "Theorem 6.3", "global minimum recovering f* and angle(w_T^(j), p_i) bounded",
         est_thm_6_3, dict(_XORD), 1000),
    Spec("thm6.4", "Theorem 6.4", "(a) global minimum not recovering f*; (b) and misclassifying"
         " some A_i", est_thm_6_4, dict(_XORD, k=2), 2000, 2),
    Spec("thm6.5", "Theorem 6.5", "P(test error <= eps) with m positives + m negatives",
         est_thm_6_5("thm6.5"), dict(_T65, p_plus=0.92, p_minus=0.92, eps=0.019, delta=0.16,
                                      ms=(1, 2, 4, 8)), 1000, 8),
    Spec("thm6.5ex1", "Theorem 6.5", "as thm6.5, the paper's first example (p+-=0.98)",
         est_thm_6_5("thm6.5ex1"), dict(_T65, p_plus=0.98, p_minus=0.98, eps=0.0049,
                                         delta=0.05, ms=(1, 16, 64)), 1000, 6),
]}


def resolve(names=None) -> list[Spec]:
    """Specs for ``names`` (all when None), in registry order; unknown names raise."""
    if not names:
        return list(SPECS.values())
    names = list(dict.fromkeys(names))
    unknown = [n for n in names if n not in SPECS]
    if unknown:
        raise InputError(f"--only: unknown result {unknown[0]!r}; choose from "
                         f"{', '.join(SPECS)}")
    return [SPECS[n] for n in SPECS if n in names]


def parse_overrides(specs: list[Spec], pairs) -> dict[str, dict]:
    """``--set KEY=VALUE`` strings -> per-result overrides; every key must be a parameter of
    every selected result."""
    out = {}
    for spec in specs:
        try:
            out[spec.name] = parse_settings(pairs, spec.defaults)
        except InputError as exc:
            raise InputError(f"{spec.name}: {exc}") from None
    return out


def estimate(name: str, replicas: int | None = None, seed: int = 0, progress=None,
             **params) -> list[dict]:
    """Run one result's estimator with ``params`` overriding its defaults; returns rows."""
    if name not in SPECS:
        raise InputError(f"unknown result {name!r}; choose from {', '.join(SPECS)}")
    spec = SPECS[name]
    unknown = sorted(set(params) - set(spec.defaults))
    if unknown:
        raise InputError(f"{name}: unknown parameter {unknown[0]!r}; allowed: "
                         f"{', '.join(sorted(spec.defaults))}")
    replicas = spec.replicas if replicas is None else check_int("replicas", replicas, 1)
    seed = check_int("seed", seed, 0)
    return spec.run(dict(spec.defaults, **params), replicas, seed, progress)


def run_all(names=None, replicas: int | None = None, seed: int = 0, overrides=None,
            quiet: bool = True) -> list[dict]:
    """Every selected result's rows (JSON-ready dicts), in registry order.

    ``overrides`` maps a result name to a dict of parameters, or is a list of
    ``KEY=VALUE`` strings applied to every selected result.
    """
    from tqdm.auto import tqdm

    specs = resolve(names)
    if replicas is not None:
        replicas = check_int("replicas", replicas, 1)
    if overrides is None:
        overrides = {}
    elif isinstance(overrides, (list, tuple)):
        overrides = parse_overrides(specs, overrides)
    total = sum((replicas or s.replicas) * s.rows for s in specs)
    rows: list[dict] = []
    with tqdm(total=total, desc="theorems", unit="replica", disable=quiet) as bar:
        for spec in specs:
            bar.set_postfix_str(spec.name)
            n = replicas or spec.replicas
            params = overrides.get(spec.name, {})
            before = bar.n
            rows += estimate(spec.name, n, seed, progress=bar.update, **params)
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


