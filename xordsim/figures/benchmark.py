"""The ``rank-agreement`` figure: how well each measure ranks XORD networks (issue 15).

A sweep figure over one benchmark grid (setting ``grid``): a shipped spec
``xordsim/studies/NAME.toml`` (:data:`~xordsim.config.BENCHMARK_STUDIES`: ``xord_gen``, the
full grid of 7,200 networks; ``xord_gen_decoy``; ``xord_gen_quick``, 576 networks, the
default) or a cut of the quick grid (:data:`CUTS`: ``small`` for ``reproduce --quick``,
``tiny`` for the tests), with the spec's seed set from the figure's seed
(:func:`~xordsim.figures.sweeps.sweep_seed`), computed into the resumable store
``OUT/sweeps/rank-agreement``. The builder scores every measure of
:func:`xordsim.sweep.benchmark_table` with :func:`xordsim.sweep.scores.score_table` (τ-b, Ψ
and ψ per axis, CMI, sign error, 95% bootstrap intervals over the seeds) and draws the
scores as a heat table beside the CDF over environments of the sign error (the
distribution Dziugaite et al. 2020 plot); ``rank-agreement.csv`` holds every score with its
interval (the layout of ``xordsim score``'s ``scores.csv``).
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from xordsim.figures.common import MAX_WIDTH_IN, converged_text, settings_text, style
from xordsim.figures.sweeps import sweep_seed
from xordsim.io import save_figure, write_csv
from xordsim.sweep.scores import (
    SCORE_COLUMNS,
    Encoded,
    axes_of,
    environment_sign_errors,
    score_rows,
    score_table,
)

#: The CSV's columns (those of ``scores.csv``).
COLUMNS = SCORE_COLUMNS
#: Cuts of the quick grid (``xord_gen_quick``): (replicas, steps, the [[grid]] tables kept
#: (hinge, logistic), the axes kept whole, every other axis at its first value; the measures,
#: None for every registered one). ``small``: 96 networks, ``reproduce --quick``; ``tiny``:
#: 16 networks of the hinge loss and eight measures (one or more of each family, the
#: baseline and the oracle), the tests.
CUTS = {"small": (3, 300, 2, ("k", "m", "c_eta", "init_std"), None),
        "tiny": (2, 60, 1, ("k", "m", "c_eta"),
                 ["#parameter", "oracle", "dist.init", "path.norm", "Frobenius1", "Our bound",
                  "arora.complexity", "lazy.predictor_test_error"])}
#: The baseline of the headline: the number of parameters (4k).
BASELINE = "#parameter"
#: The sanity line (exact test error plus noise), left out of "best".
ORACLE = "oracle"
#: The related papers (shared/seeds 002-004), recognized by the measures' ``source``.
RELATED_SOURCES = ("Neyshabur et al., ICLR 2019", "Arora et al., ICML 2019",
                   "Terjek & Gonzalez-Sanchez")
#: Measures drawn in the sign-error CDF: the best ones by Ψ, plus the baseline and oracle.
CDF_TOP = 6


def _spec(grid: str, seed: int) -> dict:
    """The sweep spec of grid ``grid`` with the seed of the figure's ``seed``."""
    from xordsim.sweep.benchmark import study_path
    from xordsim.sweep.spec import _parse_toml

    name = "xord_gen_quick" if grid in CUTS else grid
    path = study_path(name)
    spec = _parse_toml(path.read_text(), str(path))
    spec["seed"] = sweep_seed(seed, f"rank-agreement/{grid}")
    if grid in CUTS:
        replicas, steps, tables, whole, measures = CUTS[grid]
        spec["replicas"] = replicas
        if measures is not None:
            spec["measures"] = list(measures)
        spec["fixed"] = dict(spec["fixed"], steps=steps)
        grids = spec["grid"] if isinstance(spec["grid"], list) else [spec["grid"]]
        spec["grid"] = [{key: (v if key in whole else v[:1]) for key, v in copy.deepcopy(g)
                         .items()} for g in grids[:tables]]
    return spec


def rank_agreement_sweep(s: dict, seed: int) -> dict:
    """The figure's sweep: the benchmark grid of setting ``grid``."""
    return _spec(s["grid"], seed)


def related_measures(names) -> list[str]:
    """The measures among ``names`` whose registry ``source`` is one of the related papers
    (:data:`RELATED_SOURCES`), the baseline excluded."""
    from xordsim.measures import registry

    known = set(registry.available(builtin=True))
    return [n for n in names if n in known and n != BASELINE
            and any(src in (registry.get(n).source or "") for src in RELATED_SOURCES)]


def headline(results: list[dict]) -> dict:
    """What the figure's caption and the report's finding state: the best measure by Ψ
    apart from the oracle, the baseline's Ψ, and the related papers' measures whose Ψ is
    higher than the baseline's (``higher``: point estimate; ``clearly``: the 95% interval's
    low end above the baseline's high end)."""
    psi = {r["measure"]: r["scores"]["psi"] for r in results}
    real = [r for r in results if r["measure"] != ORACLE and np.isfinite(r["scores"]["psi"][0])]
    base = psi.get(BASELINE, (np.nan,) * 3)
    related = related_measures(psi)
    higher = [m for m in related if np.isfinite(psi[m][0]) and psi[m][0] > base[0]]
    clearly = [m for m in higher if psi[m][1] > base[2]]
    return {"best": real[0]["measure"] if real else None,
            "best_psi": real[0]["scores"]["psi"] if real else (np.nan,) * 3,
            "baseline_psi": base, "related": related, "higher": higher, "clearly": clearly}


def build_rank_agreement(s: dict, seed: int, out_dir: Path, quiet: bool, store: Path):
    """The ``rank-agreement`` figure from its sweep store."""
    from xordsim import fmt
    from xordsim.sweep.benchmark import benchmark_table

    table = benchmark_table(store)
    measures = table.attrs["measures"]
    results = score_table(table, measures, s["target"], n_boot=s["n_boot"], seed=seed)
    csv = write_csv(out_dir / "rank-agreement.csv", COLUMNS, score_rows(results))
    axes = axes_of(table)
    cols = ["tau", "psi", *[f"psi.{a}" for a in axes], "cmi"]
    labels = ["τ-b", "Ψ", *[f"ψ {a[3:]}" for a in axes], "CMI K"]
    grid = np.array([[r["scores"][c][0] for c in cols] for r in results])
    order = [r["measure"] for r in results]
    head = headline(results)
    shown = [m for m in order if m != ORACLE][:CDF_TOP]
    shown += [m for m in (BASELINE, ORACLE) if m in order and m not in shown]
    with style():
        fig = Figure(figsize=(MAX_WIDTH_IN - 0.15, max(5.0, 0.13 * len(order) + 2.4)),
                     layout="constrained")
        gs = fig.add_gridspec(3, 2, width_ratios=(1.25, 1), height_ratios=(1.0, 0.9, 0.06))
        ax = fig.add_subplot(gs[:, 0])
        cdf = fig.add_subplot(gs[0, 1])
        key = fig.add_subplot(gs[1, 1])
        key.axis("off")  # holds the legend of the CDF
        bar = fig.add_subplot(gs[2, 1])
        im = ax.imshow(np.ma.masked_invalid(grid), cmap="RdBu", vmin=-1, vmax=1,
                       aspect="auto", interpolation="nearest")
        ax.set_facecolor("0.8")  # undefined scores (NaN) in grey
        ax.set_xticks(range(len(labels)), labels, rotation=90)
        ax.set_yticks(range(len(order)), order, fontsize=8)
        ax.set_title(f"scores vs {s['target']}, sorted by Ψ")
        fig.colorbar(im, cax=bar, orientation="horizontal", label="score (grey: undefined)")
        cmap = __import__("matplotlib").colormaps["tab10"]
        handles = []
        enc = Encoded(table)
        curves: list[tuple[list[str], np.ndarray]] = []  # identical curves drawn once
        for name in shown:
            v = np.sort(environment_sign_errors(table, name, s["target"], enc))
            same = [c for c in curves if np.array_equal(c[1], v)]
            if same:
                same[0][0].append(name)
            elif v.size:
                curves.append(([name], v))
        for i, (names, v) in enumerate(curves):
            handles += cdf.step(np.r_[0.0, v, 1.0],
                                np.r_[0.0, np.arange(1, v.size + 1) / v.size, 1.0],
                                where="post", color=cmap(i % 10), label=" = ".join(names),
                                linestyle="--" if names[0] in (BASELINE, ORACLE) else "-")
        cdf.set(xlabel="sign error of an environment", ylabel="CDF over environments",
                xlim=(-0.02, 1.02), ylim=(0, 1.02), title="sign error")
        key.legend(handles=handles, fontsize=8, loc="upper left", frameon=False)

    def ci(t) -> str:
        return (f"{fmt.sig(t[0], 3)} [{fmt.sig(t[1], 3)}, {fmt.sig(t[2], 3)}]"
                if np.isfinite(t[0]) else "undefined")

    status = table["status"].to_numpy()
    failed = {r["measure"]: r["excluded"] for r in results if r["excluded"]}
    caption = (
        f"Rank agreement of {len(measures)} measures with the {s['target']} of "
        f"{len(table)} XORD networks (grid {s['grid']}: {table['id'].nunique()} grid points "
        f"x {table['hp.seed'].nunique()} seeds; axes {', '.join(a[3:] for a in axes)}; "
        f"converged (the loss rule of each point's loss): "
        f"{converged_text(int((status == 1).sum()), len(status))}; sweep store "
        f"sweeps/rank-agreement). Left: Kendall's τ-b over all networks, the granulated "
        f"Kendall Ψ and its ψ per axis (Jiang et al. 2020; a group where the measure or the "
        f"target is constant is skipped, so a measure constant along an axis has no ψ "
        f"there), the conditional mutual information K (|S| <= 2); right: the CDF over "
        f"environments of Dziugaite et al.'s (2020) sign error for the {CDF_TOP} best "
        f"measures by Ψ, {BASELINE} and the {ORACLE} (dashed; measures with identical "
        f"sign errors share a curve). Best by Ψ apart from the "
        f"oracle: {head['best']} (Ψ = {ci(head['best_psi'])}; 95% percentile bootstrap "
        f"over the seeds, {s['n_boot']} draws). {BASELINE}: Ψ = {ci(head['baseline_psi'])}. "
        f"Related papers' measures (Neyshabur et al., Arora et al., lazy training) with a "
        f"higher Ψ than {BASELINE}: {', '.join(head['higher']) or 'none'}; with the whole "
        f"interval above its interval: {', '.join(head['clearly']) or 'none'}. Networks "
        f"excluded (a non-finite measure): "
        f"{'; '.join(f'{m} {n}' for m, n in failed.items()) or 'none'}. All scores with "
        f"intervals: rank-agreement.csv. Settings: {settings_text(s)}; seed {seed}.")
    return caption, save_figure(fig, out_dir, "rank-agreement", caption=caption) + [csv]


__all__ = ["BASELINE", "CDF_TOP", "COLUMNS", "CUTS", "ORACLE", "RELATED_SOURCES",
           "build_rank_agreement", "headline", "rank_agreement_sweep", "related_measures"]
