"""Findings of the report: what this run says about the paper, with its numbers.

A finding is one function registered with :func:`finding`::

    @finding("my-name", "One-line title of the finding")
    def _mine(results: Results) -> Finding | None:
        rows = results.rows_of("thm6.3")
        if not rows:
            return Finding.not_computed("thm6.3 was not run")
        r = rows[0]
        return Finding(f"... {sig(r['estimate'])} ...", numbers=[results.row_number(r, "thm6.3")],
                       links=[results.row_link(r)], status=OBSERVED)

It reads the computed results of the run (:class:`Results`: the theorem rows, the
figures' sidecars and CSVs) and returns the statement, the measured numbers with their
intervals (:class:`Number`) and the anchors of the rows or figures that show it
(:class:`Link`). Every number of a finding comes from the results or from an exact
computation, never from typed text; where the run did not compute the data (quick or
tiny mode), the finding says so (:meth:`Finding.not_computed`; returning ``None`` means
the same). ``xordsim reproduce`` renders every registered finding, in registration order,
into the report (:func:`evaluate`).
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from xordsim.data import (
    exact_mask_probabilities,
    p_plus_exact,
    p_plus_paper,
    uniform_distribution,
)
from xordsim.fmt import interval, prob, sig
from xordsim.patterns import DIVERSE_POSITIVE_MASK
from xordsim.stats import proportion_ci
from xordsim.theorems.exact import m2_lower_bound
from xordsim.theorems.specs import SPECS
from xordsim.theorems.verdicts import C_NEGLIGIBLE, CONSISTENT, VIOLATED

#: A finding's status: what this run says about the statement.
OBSERVED = "observed"
NOT_OBSERVED = "not observed"
NOT_COMPUTED = "not computed"
EXACT = "exact"

STATUS_TEXT = {
    OBSERVED: "Shown by this run.",
    NOT_OBSERVED: "Not observed in this run.",
    NOT_COMPUTED: "Not computed in this run.",
    EXACT: "Exact computation (no simulation).",
}

#: Row parameters that tell apart the rows of one result (anchors).
IDENTITY_KEYS = ("k", "m", "a_convention")


@dataclass(frozen=True)
class Number:
    """A measured (or exact) number: ``label: value [low, high] (note)``."""

    label: str
    value: float
    low: float | None = None
    high: float | None = None
    digits: int = 3
    note: str = ""

    def text(self) -> str:
        """In significant figures (:mod:`xordsim.fmt`); probabilities near 1 as ``1 − q``."""
        s = f"{self.label}: {prob(self.value, self.digits)}"
        if self.low is not None and self.high is not None:
            s += f" {interval(self.low, self.high, self.digits, probability=True)}"
        return s + (f" ({self.note})" if self.note else "")


@dataclass(frozen=True)
class Link:
    """An anchor of the report (a theorem row or a figure) and the text of the link."""

    anchor: str
    text: str


@dataclass(frozen=True)
class Finding:
    """What a finding function returns: statement, numbers, links and status."""

    statement: str
    numbers: tuple[Number, ...] = ()
    links: tuple[Link, ...] = ()
    status: str = OBSERVED

    def __post_init__(self):
        if self.status not in STATUS_TEXT:  # pragma: no cover - a programming error
            raise ValueError(f"unknown finding status {self.status!r}")
        object.__setattr__(self, "numbers", tuple(self.numbers))
        object.__setattr__(self, "links", tuple(dict.fromkeys(self.links)))

    @classmethod
    def not_computed(cls, why: str, numbers=(), links=()) -> Finding:
        """The run did not compute the data this finding needs (``why`` says which)."""
        return cls(why, numbers, links, NOT_COMPUTED)


@dataclass(frozen=True)
class FindingSpec:
    name: str
    title: str
    func: Callable[[Results], Finding | None] = field(repr=False)

    @property
    def anchor(self) -> str:
        return "finding-" + slug(self.name)


#: Every registered finding, in registration order (the report's order).
FINDINGS: dict[str, FindingSpec] = {}


def finding(name: str, title: str):
    """Register ``func(results) -> Finding | None`` as the finding ``name``."""
    def register(func):
        if name in FINDINGS:  # pragma: no cover - a declaration error
            raise ValueError(f"finding {name!r} is registered twice")
        FINDINGS[name] = FindingSpec(name, title, func)
        return func
    return register


def evaluate(results: Results) -> list[tuple[FindingSpec, Finding]]:
    """Every registered finding evaluated on ``results`` (``None`` -> not computed)."""
    out = []
    for spec in FINDINGS.values():
        found = spec.func(results)
        if found is None:
            found = Finding.not_computed("This run has no data for this finding.")
        out.append((spec, found))
    return out


# ----------------------------------------------------------------------------------------
# the results of a run


def slug(text: str) -> str:
    """``text`` as an HTML id fragment: lower case letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")


def row_anchors(rows: list[dict]) -> list[str]:
    """One unique anchor per theorem row: ``row-NAME``, with the identity parameters
    (k, m, a_convention) that differ between rows of the same name appended."""
    by_name: dict[str, list[dict]] = {}
    for r in rows:
        by_name.setdefault(r["name"], []).append(r)
    anchors, seen = [], set()
    for r in rows:
        same = by_name[r["name"]]
        keys = [key for key in IDENTITY_KEYS
                if len({repr(o["params"].get(key)) for o in same}) > 1]
        anchor = "-".join(["row", slug(r["name"])]
                          + [slug(f"{key}{r['params'].get(key)}") if key != "a_convention"
                             else slug(r["params"].get(key)) for key in keys])
        base, n = anchor, 2
        while anchor in seen:
            anchor, n = f"{base}-{n}", n + 1
        seen.add(anchor)
        anchors.append(anchor)
    return anchors


def _number(text: str):
    try:
        return float(text)
    except ValueError:
        return text


@dataclass
class Results:
    """The computed results of a ``reproduce`` run, as the findings see them.

    ``rows``: the theorem rows (``theorems.json``); ``figures``: name -> sidecar
    (``NAME.json``: title, caption, settings, files) of every figure drawn; ``out``: the
    output directory (the figures' CSVs); ``mode`` and ``seed``.
    """

    rows: list[dict]
    figures: dict[str, dict]
    out: Path
    mode: str = "full"
    seed: int = 0
    anchors: list[str] = field(init=False)

    def __post_init__(self):
        self.out = Path(self.out)
        self.anchors = row_anchors(self.rows)

    # theorem rows
    def rows_of(self, name: str, **params) -> list[dict]:
        """The rows of result ``name`` whose parameters equal ``params``."""
        return [r for r in self.rows if r["name"] == name
                and all(r["params"].get(k) == v for k, v in params.items())]

    def row_anchor(self, row: dict) -> str:
        for r, anchor in zip(self.rows, self.anchors, strict=True):
            if r is row:
                return anchor
        raise ValueError("row is not one of this run's rows")

    def row_link(self, row: dict, text: str | None = None) -> Link:
        if text is None:
            ident = ", ".join(f"{k}={row['params'][k]}" for k in IDENTITY_KEYS
                              if k in row["params"])
            text = f"{row['name']} ({ident})" if ident else row["name"]
        return Link(self.row_anchor(row), text)

    @staticmethod
    def row_number(row: dict, label: str) -> Number:
        """The row's estimate with its 95% Clopper-Pearson interval."""
        return Number(label, row["estimate"], row["ci"][0], row["ci"][1],
                      note=f"95% CI, {row['replicas']} replicas, {row['verdict']}")

    # figures
    def figure(self, name: str) -> dict | None:
        """The sidecar of figure ``name`` if this run drew it."""
        return self.figures.get(name)

    def figure_link(self, name: str) -> Link:
        return Link(figure_anchor(name), self.figures[name]["title"])

    def csv(self, name: str, file: str | None = None) -> list[dict] | None:
        """The rows of figure ``name``'s CSV (``file``, default ``NAME.csv``), numbers as
        floats; ``None`` if the figure was not drawn or the file is missing."""
        if name not in self.figures:
            return None
        path = self.out / (file or f"{name}.csv")
        if not path.exists():
            return None
        with open(path, newline="") as fh:
            return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def figure_anchor(name: str) -> str:
    return "fig-" + slug(name)


def _g(v: float) -> str:
    return f"{v:g}"


def _ids(values) -> str:
    return ", ".join(_g(v) for v in values) if values else "none"


# ----------------------------------------------------------------------------------------
# today's findings


@finding("a-convention", "Lemmas 3.2 and 6.2 hold only when a_i(t) counts the steps t' < t")
def _a_convention(results: Results) -> Finding | None:
    numbers, links, parts, shown = [], [], [], []
    for name in ("lemma3.2", "lemma6.2"):
        upd = results.rows_of(name, a_convention="updates")
        inc = results.rows_of(name, a_convention="inclusive")
        for rows, text in ((upd, "a(t) counts t' < t"), (inc, "a(t) counts t' <= t")):
            for r in rows:
                numbers.append(results.row_number(r, f"{name}, {text}"))
                links.append(results.row_link(r, f"{name} ({r['params']['a_convention']})"))
        if upd and inc:
            u, i = upd[0], inc[0]
            shown.append(u["verdict"] == CONSISTENT and i["verdict"] == VIOLATED)
            parts.append(f"{name}: the event holds on {u['successes']}/{u['replicas']} "
                         f"replicas with t' < t ({u['verdict']}) and on "
                         f"{i['successes']}/{i['replicas']} with t' <= t ({i['verdict']})")
    if not parts:
        return Finding.not_computed(
            "The theorem stage of this run did not compute Lemma 3.2 or 6.2 with both "
            "conventions (a_convention=updates and inclusive).", numbers, links)
    why = ("W_t has received only the updates of the steps 0..t-1, so with the paper's "
           "literal t' <= t the decomposition w_t = a_i(t) eta x_i + v_t fails whenever the "
           "hinge of x_i is active at step t; xordsim's default a_convention=updates counts "
           "the updates that built W_t, as the proof by induction does")
    if all(shown):
        return Finding(f"{'; '.join(parts)}. {why[0].upper()}{why[1:]}.", numbers, links,
                       OBSERVED)
    return Finding(f"{'; '.join(parts)}: the difference between the two conventions is not "
                   f"what the lemmas predict in this run (expected: consistent with t' < t, "
                   f"violated with t' <= t).", numbers, links, NOT_OBSERVED)


@finding("p-plus", "The paper's p+ (Sec. 4) is the unconditional probability of a diverse "
         "point")
def _p_plus(results: Results) -> Finding | None:
    numbers, parts, agree = [], [], True
    for d in (4, 10):
        paper, exact = p_plus_paper(d), p_plus_exact(d)
        uncond = float(exact_mask_probabilities((0.25,) * 4, d)[DIVERSE_POSITIVE_MASK])
        cond = uniform_distribution(d).p_plus
        positive = 1.0 - 0.5 ** d
        agree &= (math.isclose(paper, uncond, rel_tol=1e-12)
                  and math.isclose(exact, cond, rel_tol=1e-12)
                  and math.isclose(paper, exact * positive, rel_tol=1e-12))
        numbers += [
            Number(f"d = {d}, the paper's p+ = 1 - (4*3^d - 6*2^d + 4)/4^d", paper, digits=6,
                   note="exact"),
            Number(f"d = {d}, P(x diverse) for x uniform on all of {{+-1}}^(2d)", uncond,
                   digits=6, note="exact, by inclusion-exclusion over the pattern sets"),
            Number(f"d = {d}, p+ = P(x diverse | x ~ uniform D+)", cond, digits=6,
                   note="exact, as the simulator's uniform D+ has it"),
        ]
        parts.append(f"d = {d}: {sig(paper, 6)} against {sig(cond, 6)} "
                     f"(ratio {sig(paper / cond, 6)} "
                     f"= P(x positive) = 1 - 2^-{d})")
    if not agree:  # pragma: no cover - would be a bug in xordsim.data
        return Finding("The paper's p+ matches neither the unconditional nor the "
                       "conditional probability: " + "; ".join(parts) + ".", numbers,
                       status=NOT_OBSERVED)
    return Finding(
        "The closed form of Sec. 4 equals the probability that a point drawn uniformly from "
        "all of {+-1}^(2d) is diverse, not the probability under the uniform D+, which "
        "conditions on the point being positive (p_plus_exact = (4^d - 4*3^d + 6*2^d - 4) / "
        "(4^d - 2^d)); the two differ by the factor P(x positive): " + "; ".join(parts)
        + ". xordsim uses the conditional value.", numbers, status=EXACT)


#: The paper's stated values of m2 in its two examples of Theorem 6.5 (quoted from the
#: paper: "m2 >= 129" and "m2 >= 17"), which this finding explains.
PAPER_M2 = {"thm6.5ex1": 129, "thm6.5": 17}


def _delta_for_m2(m2: float, p_plus: float, p_minus: float, c: float = C_NEGLIGIBLE) -> float:
    """The delta at which ``m2_lower_bound`` equals ``m2`` (it decreases with delta)."""
    return 33 * (1 - c) / 48 * math.exp(m2 * math.log(p_plus * p_minus) / 2)


@finding("delta-129", "delta = 0.05 gives the 129 of Theorem 6.5's first example")
def _delta_129(results: Results) -> Finding | None:
    numbers, links, parts, ok = [], [], [], True
    delta_ex1 = SPECS["thm6.5ex1"].defaults["delta"]
    for name, quoted in PAPER_M2.items():
        p = SPECS[name].defaults
        rows = results.rows_of(name)
        if rows:
            p = dict(p, **{k: rows[0]["params"][k] for k in ("p_plus", "p_minus", "delta")})
            links.append(results.row_link(rows[0], f"{name} rows (m2_bound)"))
        pp, pm, delta = p["p_plus"], p["p_minus"], p["delta"]
        m2 = m2_lower_bound(pp, pm, delta)
        lo, hi = _delta_for_m2(quoted + 1, pp, pm), _delta_for_m2(quoted, pp, pm)
        numbers += [Number(f"{name}: m2 bound at delta = {delta:g} (p+ = {pp:g}, p- = {pm:g})",
                           m2, digits=5, note="exact"),
                    Number(f"{name}: largest delta whose m2 bound rounds down to {quoted}", hi,
                           digits=5, note="exact"),
                    Number(f"{name}: smallest delta whose m2 bound rounds down to {quoted}", lo,
                           digits=5, note="exact, excluded")]
        ok &= math.floor(m2) == quoted
        if name == "thm6.5ex1":
            delta_ex1 = delta
            literal = 1 - pp * pm * (1 - C_NEGLIGIBLE - 16 * math.exp(-8))
            m2_lit = m2_lower_bound(pp, pm, literal)
            numbers += [Number(f"{name}: delta written as 1 - p+ p- (1 - c - 16e^-8)",
                               literal, digits=5, note="exact"),
                        Number(f"{name}: m2 bound at that delta", m2_lit, digits=5,
                               note="exact")]
            parts.append(f"the first example (p+ = p- = {pp:g}) gives m2 >= {sig(m2, 5)} with "
                         f"delta = {delta:g}, which the paper writes as {quoted}; every delta "
                         f"in ({sig(lo, 4)}, {sig(hi, 4)}] gives {quoted}, while the delta the "
                         f"example writes out, 1 - p+ p- (1 - c - 16e^-8) = {sig(literal, 4)}, "
                         f"gives {sig(m2_lit, 5)}")
        else:
            parts.append(f"the second example (p+ = p- = {pp:g}, delta = {delta:g}) gives "
                         f"{sig(m2, 5)}, written as {quoted}")
        if rows and not math.isclose(rows[0]["params"]["m2_bound"], m2, rel_tol=1e-9):
            ok = False  # pragma: no cover - the rows and this finding disagree
    head = (f"Theorem 6.5's bound m2 >= 2 log(48 delta / (33 (1 - c))) / log(p+ p-), with "
            f"c = {C_NEGLIGIBLE:g}: {'; '.join(parts)}")
    if not ok:  # pragma: no cover - only if the examples' declared settings change
        return Finding(head + ". The declared settings no longer reproduce the paper's "
                       "values.", numbers, links, NOT_OBSERVED)
    return Finding(f"{head}. So the paper's {PAPER_M2['thm6.5ex1']} takes its 'delta <= "
                   f"{delta_ex1:g}' at delta = {delta_ex1:g}, and both examples round down.",
                   numbers, links, EXACT)


@finding("k120-falls-with-m", "For the wide network, P(test error <= eps) falls as m grows "
         "(Theorem 6.5 rows)")
def _falls_with_m(results: Results) -> Finding | None:
    numbers, links, observed, parts, computed = [], [], [], [], False
    for name in ("thm6.5ex1", "thm6.5"):
        large = sorted((r for r in results.rows_of(name) if r["relation"] == ">="),
                       key=lambda r: r["params"]["m"])
        for r in large:
            n, conv = r["replicas"], r["params"]["converged"]
            lo, hi = proportion_ci(conv, n)
            numbers += [results.row_number(r, f"{name}, k = {r['params']['k']}, m = "
                                              f"{r['params']['m']}, P(test error <= eps)"),
                        Number(f"{name}, k = {r['params']['k']}, m = {r['params']['m']}, "
                               f"fraction reaching loss 0 within T", conv / n, lo, hi,
                               note="95% CI")]
            links.append(results.row_link(r))
        if len(large) < 2:
            continue
        computed = True
        first, last = large[0], large[-1]
        p = first["params"]
        falls = last["ci"][1] < first["ci"][0]
        monotone = all(b["estimate"] <= a["estimate"]
                       for a, b in zip(large, large[1:], strict=False))
        observed.append(falls)
        head = (f"{name} (p+ = {p['p_plus']:g}, p- = {p['p_minus']:g}, eps = {p['eps']:g}, "
                f"k = {p['k']}, T = {p.get('steps')} steps): {sig(first['estimate'])} at "
                f"m = {p['m']} and {sig(last['estimate'])} at m = {last['params']['m']}")
        if falls:
            (c0, n0), (c1, n1) = ((r["params"]["converged"], r["replicas"])
                                  for r in (first, last))
            fewer = proportion_ci(c1, n1)[1] < proportion_ci(c0, n0)[0]
            parts.append(head + ", 95% intervals disjoint"
                         + (", falling at every m" if monotone else "")
                         + (f"; the runs reaching loss 0 within T fall from {sig(c0 / n0)} to "
                            f"{sig(c1 / n1)} (95% intervals disjoint)" if fewer else ""))
        else:
            parts.append(head + ", 95% intervals overlap")
    if not computed:
        return Finding.not_computed(
            "The theorem stage of this run has no Theorem 6.5 rows (thm6.5, thm6.5ex1) with "
            "two or more m for the wide network.", numbers, links)
    if any(observed):
        return Finding(
            "More training points, lower probability of a small test error for the wide "
            "network at a fixed number of steps T: " + "; ".join(parts) + ". The paper's "
            "lower bound (p+ p-)^m (1 - c - 16e^-8) falls with m too (it counts only "
            "all-diverse training sets, which Theorem 6.3 covers), so this is no violation. "
            "A result shows the fall only where its smallest and largest m have disjoint 95% "
            "intervals.",
            numbers, links, OBSERVED)
    return Finding("The intervals of the smallest and largest m overlap: " + "; ".join(parts)
                   + ".", numbers, links, NOT_OBSERVED)


#: The interval columns of the margin figure's CSV.
LOW, HIGH = "test_error_ci95_low", "test_error_ci95_high"


@finding("margin-gamma", "gamma > 1 tests better than gamma = 1 (footnote 5)")
def _margin(results: Results) -> Finding | None:
    fig, rows = results.figure("margin"), results.csv("margin")
    if fig is None or rows is None:
        return Finding.not_computed("The margin figure was not drawn in this run.")
    by = {(r["gamma"], r["k"]): r for r in rows}
    gammas = sorted({r["gamma"] for r in rows})
    ks = sorted({r["k"] for r in rows})
    link = results.figure_link("margin")
    if 1.0 not in gammas or not any(g > 1 for g in gammas):
        return Finding.not_computed(f"The margin figure of this run has gammas "
                                    f"{_ids(gammas)}: it needs gamma = 1 and a gamma > 1.",
                                    links=[link])
    numbers = []
    for k in ks:
        for g in gammas:
            r = by.get((g, k))
            if r is not None:
                numbers.append(Number(f"k = {k:g}, gamma = {g:g}, mean test error",
                                      r["test_error_mean"], r[LOW], r[HIGH],
                                      note=f"95% BCa bootstrap interval over {r['runs']:g} "
                                           "runs"))
    parts, verdicts = [], []
    for g in (g for g in gammas if g > 1):
        pairs = [(k, by[(1.0, k)], by[(g, k)]) for k in ks if (1.0, k) in by and (g, k) in by]
        lower = [k for k, a, b in pairs if b["test_error_mean"] < a["test_error_mean"]]
        better = [k for k, a, b in pairs if b[HIGH] < a[LOW]]
        worse = [k for k, a, b in pairs if b[LOW] > a[HIGH]]
        verdicts.append(bool(better) and not worse)
        parts.append(f"gamma = {g:g} has the lower mean test error at {len(lower)} of "
                     f"{len(pairs)} widths (k = {_ids(lower)}); its 95% interval lies below "
                     f"gamma = 1's at k = {_ids(better)} and above it at k = {_ids(worse)}")
    runs = fig["settings"].get("runs")
    text = "; ".join(parts) + f" ({runs} runs per point, d = {fig['settings'].get('d')}, " \
        f"m = {fig['settings'].get('m')})"
    if all(verdicts):
        return Finding(f"Footnote 5's claim holds in this run: {text}.", numbers, [link],
                       OBSERVED)
    return Finding(f"Stated only when at some width gamma > 1's interval lies below gamma = "
                   f"1's and at none above it: {text}.", numbers, [link], NOT_OBSERVED)


@finding("which-measure", "Which of the related papers' measures fall with k as the test "
         "error does (first-layer norms, yes; the capacity bounds, no)")
def _which_measure(results: Results) -> Finding | None:
    rows = results.csv("measures", "measures-tau.csv")
    if rows is None:
        return Finding.not_computed("The measures figure was not drawn in this run.")
    link = results.figure_link("measures")
    runs = results.figure("measures")["settings"].get("runs")
    reps = [r for r in rows if r["level"] == "replicas"]
    falls = [r["measure"] for r in reps if str(r["falls_with_k"]) == "True"]
    rises = [r["measure"] for r in reps if isinstance(r["ratio_last_first"], float)
             and r["ratio_last_first"] > 1.1]
    def ratio(r: dict) -> str:
        v = r["ratio_last_first"]
        return (f"median at the largest k / at the smallest k = {sig(v)}"
                if isinstance(v, float) and math.isfinite(v)
                else "no ratio: a median of 0 at the smallest or largest k")

    numbers = [Number(f"{r['measure']}: Kendall tau-b with the exact test error over runs",
                      r["tau"], note=ratio(r))
               for r in reps if r["flag"] == "ok" and isinstance(r["tau"], float)]
    const = [r["measure"] for r in reps if r["flag"] != "ok"]
    text = (f"Medians over {runs} runs per k: falling with k (largest-k median below 0.9 x "
            f"the smallest-k one): {', '.join(falls) or 'none'}; rising by more than 10%: "
            f"{', '.join(rises) or 'none'}"
            + (f"; tau undefined (constant): {', '.join(const)}" if const else "") + ".")
    expected = {"Frobenius1", "Distance1"} <= set(falls) and "Our bound" in rises
    return Finding(text, numbers, [link], OBSERVED if expected else NOT_OBSERVED)


@finding("singular-ntk", "The NTK Gram is singular on XORD: lambda_min = 0 on sampled "
         "training sets, and the labels are often outside the kernel's range")
def _singular_ntk(results: Results) -> Finding | None:
    rows = results.csv("ntk-eigen", "ntk-eigen-fractions.csv")
    if rows is None:
        return Finding.not_computed("The ntk-eigen figure was not drawn in this run.")
    link = results.figure_link("ntk-eigen")
    numbers, total = [], {}
    for q in ("lambda_min_zero", "y_outside_range"):
        sel = [r for r in rows if r["quantity"] == q and r["data"] == "fresh"]
        n = int(sum(r["runs"] for r in sel))
        c = int(sum(r["count"] for r in sel))
        if n:
            lo, hi = proportion_ci(c, n)
            total[q] = (c, n)
            what = ("lambda_min(Theta_0) = 0" if q == "lambda_min_zero"
                    else "labels outside range(H), complexity = inf")
            numbers.append(Number(f"fraction of sampled training sets with {what}", c / n,
                                  lo, hi, note=f"{c} of {n}, 95% Clopper-Pearson"))
    if "lambda_min_zero" not in total:
        return Finding.not_computed("The ntk-eigen figure of this run has no sampled sets.",
                                    links=[link])
    c, n = total["lambda_min_zero"]
    text = (f"Every empirical NTK Gram has rank <= 8 on the pattern sets (N_W spans 8 of the "
            f"15 dimensions), so lambda_min(Theta_0) = 0 on {c} of {n} sampled training sets; "
            f"the positive-definite Gram that the kernel analyses assume fails on XORD.")
    return Finding(text, numbers, [link], OBSERVED if c == n else NOT_OBSERVED)


@finding("rank-agreement", "A related paper's measure ranks XORD networks by their exact "
         "generalization gap better than the number of parameters (granulated Kendall Psi)")
def _rank_agreement(results: Results) -> Finding | None:
    rows = results.csv("rank-agreement")
    if rows is None:
        return Finding.not_computed("The rank-agreement figure was not drawn in this run.")
    from xordsim.figures.benchmark import BASELINE, ORACLE, headline

    link = results.figure_link("rank-agreement")
    settings = results.figure("rank-agreement")["settings"]
    scores: dict = {}
    for r in rows:
        lo = r["ci95_low"] if isinstance(r["ci95_low"], float) else math.nan
        hi = r["ci95_high"] if isinstance(r["ci95_high"], float) else math.nan
        scores.setdefault(r["measure"], {})[r["score"]] = (float(r["estimate"]), lo, hi)
    measures = [{"measure": m, "scores": sc} for m, sc in scores.items()]
    measures.sort(key=lambda r: -r["scores"]["psi"][0] if math.isfinite(r["scores"]["psi"][0])
                  else math.inf)
    if BASELINE not in scores or not measures:
        return Finding.not_computed(f"The rank-agreement figure of this run has no {BASELINE} "
                                    "column.", links=[link])
    head = headline(measures)
    networks = int(next(iter(scores.values()))["networks"][0])
    note = (f"95% percentile bootstrap over the seeds, {settings.get('n_boot')} draws; "
            f"target {settings.get('target')}")

    def number(m: str) -> Number:
        e, lo, hi = scores[m]["psi"]
        return Number(f"{m}: granulated Kendall Psi", e, lo, hi, note=note)

    shown = [m for m in dict.fromkeys([head["best"], BASELINE, ORACLE, *head["clearly"]])
             if m is not None and m in scores and math.isfinite(scores[m]["psi"][0])]
    text = (f"Grid {settings.get('grid')}, {networks} networks: the best measure by Psi "
            f"(apart from the oracle) is {head['best']}; {BASELINE} has Psi "
            f"{prob(head['baseline_psi'][0])}. Measures of the related papers (Neyshabur et "
            f"al., Arora et al., lazy training) with a higher Psi than {BASELINE}: "
            f"{', '.join(head['higher']) or 'none'}; with the whole 95% interval above "
            f"{BASELINE}'s interval: {', '.join(head['clearly']) or 'none'} (of "
            f"{len(head['related'])} scored).")
    return Finding(text, [number(m) for m in shown], [link],
                   OBSERVED if head["clearly"] else NOT_OBSERVED)


def _ends(rows: list[dict], key: str) -> tuple[dict, dict]:
    """The rows at the smallest and the largest value of ``key``."""
    ordered = sorted(rows, key=lambda r: r[key])
    return ordered[0], ordered[-1]


def _mean_at(rows: list[dict], key: str, value, column: str) -> float:
    vals = [r[column] for r in rows if r[key] == value and isinstance(r[column], float)]
    return sum(vals) / len(vals) if vals else math.nan


@finding("four-explanations", "The four explanations side by side: what each predicts as "
         "width grows, and whether this run shows it")
def _four_explanations(results: Results) -> Finding | None:
    """One line per explanation, each from its own figure of this run: exploration and
    clustering (Brutzkus & Globerson; the exact XORD test error of ``measures``), norm-based
    capacity (Neyshabur et al.; ``capacity-width``), the kernel complexity (Arora et al.;
    ``random-labels``) and lazy training (``mnist-lazy``)."""
    parts, numbers, links, held = [], [], [], []
    rows = results.csv("measures")
    if rows is not None:
        err = [r for r in rows if r["measure"] == "test_error"]
        lo, hi = _ends(err, "k")
        ok = hi["error_mean"] < lo["error_mean"]
        held.append(ok)
        links.append(results.figure_link("measures"))
        parts.append(f"exploration and clustering (XORD, exact): mean test error "
                     f"{prob(lo['error_mean'])} at k = {int(lo['k'])}, {prob(hi['error_mean'])}"
                     f" at k = {int(hi['k'])} ({'falls' if ok else 'does not fall'} with k)")
        for r in (lo, hi):
            numbers.append(Number(f"XORD mean exact test error at k = {int(r['k'])}",
                                  r["error_mean"], r["error_ci95_low"], r["error_ci95_high"],
                                  note=f"{int(r['runs'])} runs, 95% CI"))
    rows = results.csv("capacity-width")
    if rows is not None:
        hs = sorted({r["h"] for r in rows})
        bounds = ("Our bound", "VC bound", "Fro bound", "Spec_Fro bound", "L1max bound")
        ratio = {b: _mean_at(rows, "h", hs[-1], b) / _mean_at(rows, "h", hs[0], b)
                 for b in bounds}
        ok = all(ratio["Our bound"] < ratio[b] for b in bounds[1:])
        held.append(ok)
        links.append(results.figure_link("capacity-width"))
        others = ", ".join(f"{b} x{sig(ratio[b], 2)}" for b in bounds[1:])
        parts.append(f"norm-based capacity (MNIST two-layer nets, h = {int(hs[0])} to "
                     f"{int(hs[-1])}): Neyshabur et al.'s bound x{sig(ratio['Our bound'], 2)}"
                     f" against {others} ({'the smallest growth' if ok else 'not the smallest'}"
                     f"); mean test error {prob(_mean_at(rows, 'h', hs[0], 'test_error'))} -> "
                     f"{prob(_mean_at(rows, 'h', hs[-1], 'test_error'))}")
        numbers += [Number(f"capacity-width: {b} at h = {int(hs[-1])} / at h = {int(hs[0])}",
                           ratio[b], note="mean over seeds") for b in bounds]
    rows = results.csv("random-labels")
    if rows is not None:
        lo, hi = _ends(rows, "p")
        ok = hi["complexity"] > lo["complexity"]
        held.append(ok)
        links.append(results.figure_link("random-labels"))
        dev = max(r["max_rel_deviation"] for r in rows)
        parts.append(f"kernel complexity (MNIST, two digits, Arora et al.'s net): "
                     f"sqrt(2 y^T (H^inf)^-1 y / n) = {sig(lo['complexity'])} with true labels "
                     f"and {sig(hi['complexity'])} with a fraction p = {sig(hi['p'])} "
                     f"randomized ({'higher' if ok else 'not higher'}); test error "
                     f"{prob(lo['test_error'])} -> {prob(hi['test_error'])}; the loss curve "
                     f"predicted from H^inf is off by up to {sig(dev, 2)} (relative)")
        for r in (lo, hi):
            numbers.append(Number(f"random-labels: test error at p = {sig(r['p'])}",
                                  r["test_error"], r["test_error_ci95_low"],
                                  r["test_error_ci95_high"],
                                  note=f"{int(r['n_test'])} test images, 95% Clopper-Pearson"))
    rows = results.csv("mnist-lazy")
    if rows is not None:
        good = [r for r in rows if not r["diverged"]]
        if good:
            lo, hi = _ends(good, "channels")
            ok = (hi["rel_kernel_change"] < lo["rel_kernel_change"]
                  and hi["rel_weight_change"] < lo["rel_weight_change"])
            held.append(ok)
            links.append(results.figure_link("mnist-lazy"))
            parts.append(f"lazy training (the conv net of Sec. 7, C = {int(lo['channels'])} to "
                         f"{int(hi['channels'])} channels): relative kernel change "
                         f"{sig(lo['rel_kernel_change'], 2)} -> {sig(hi['rel_kernel_change'], 2)}"
                         f", relative weight change {sig(lo['rel_weight_change'], 2)} -> "
                         f"{sig(hi['rel_weight_change'], 2)} ("
                         f"{'both fall' if ok else 'not both falling'}; lazy would be both "
                         f"<< 1)")
            numbers += [Number(f"mnist-lazy: relative {what} change at C = "
                               f"{int(r['channels'])}", r[f"rel_{what}_change"],
                               note="one network") for what in ("kernel", "weight")
                        for r in (lo, hi)]
    if not parts:
        return Finding.not_computed("None of the figures measures, capacity-width, "
                                    "random-labels, mnist-lazy was drawn in this run.")
    text = ("As width grows: " + "; ".join(parts) + ". Each line is the direction its "
            "explanation predicts; " + f"{sum(held)} of {len(held)} hold in this run.")
    return Finding(text, numbers, links, OBSERVED if all(held) else NOT_OBSERVED)


__all__ = ["EXACT", "FINDINGS", "Finding", "FindingSpec", "Link", "NOT_COMPUTED",
           "NOT_OBSERVED", "Number", "OBSERVED", "Results", "STATUS_TEXT", "evaluate",
           "figure_anchor", "finding", "row_anchors", "slug"]
