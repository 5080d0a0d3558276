"""The paper's figures (and two more): ``SPECS`` by name, ``FIGURES`` for ``xordsim figure``.

Each figure writes ``NAME.png``, ``NAME.svg``, ``NAME.csv`` (the numbers behind it) and
``NAME.json`` (caption, settings, seed, run time) into the output directory.
"""

from __future__ import annotations

from xordsim.figures.common import FigureSpec, cli_builder, run_figure
from xordsim.figures.generalization import build_fig1, build_margin
from xordsim.figures.sample_complexity import build_sample_complexity
from xordsim.figures.weights import build_dynamics, build_fig2, build_fig3

_KS = (2, 4, 6, 10, 20, 50, 100, 200)
_XORD = dict(d=10, m=20, gamma=8.0, c_eta=0.1, steps=5000, q=(0.25, 0.25, 0.25, 0.25))

SPECS: dict[str, FigureSpec] = {s.name: s for s in [
    FigureSpec("fig1", "Figure 1: test error against the number of channels", build_fig1,
               dict(_XORD, ks=_KS, runs=500), quick=dict(runs=100),
               tiny=dict(ks=(2, 6), runs=8, steps=300)),
    FigureSpec("fig2", "Figure 2: XOR filters at t = 0 and at convergence", build_fig2,
               dict(k_large=50, k_small=2, runs=100, steps=5000, c_eta=0.1),
               tiny=dict(runs=10, steps=300)),
    FigureSpec("fig3", "Figure 3: XORD decoy set, filters at t = 0 and at convergence",
               build_fig3, dict(k_large=100, k_small=2, runs=100, steps=5000, c_eta=0.1,
                                gamma=8.0, d=4, n_per_class=6),
               tiny=dict(runs=10, steps=300, k_large=20)),
    FigureSpec("margin", "Margin: test error for gamma = 1 and gamma = 8", build_margin,
               dict(_XORD, ks=(2, 4, 10, 20, 50, 100), gammas=(1.0, 8.0), runs=300),
               quick=dict(runs=60), tiny=dict(ks=(2, 4), runs=6, steps=200)),
    FigureSpec("sample-complexity", "Sample complexity (Theorem 6.5)", build_sample_complexity,
               dict(k=120, k_small=2, p_plus=0.92, p_minus=0.92, eps=0.019, delta=0.16,
                    ms=(1, 2, 4, 8, 16, 32), c_eta=1 / 410, gamma=8.0, d=4, steps=0, replicas=500),
               quick=dict(ms=(1, 2, 4, 8), replicas=100, c_eta=0.01, steps=20000),
               tiny=dict(ms=(1, 2), replicas=8, k=20, c_eta=0.05, steps=400)),
    FigureSpec("dynamics", "Exploration and clustering over training", build_dynamics,
               dict(k_small=2, k_large=100, runs=200, steps=400, points=101, c_eta=0.1,
                    gamma=8.0, d=4), quick=dict(runs=50),
               tiny=dict(runs=4, steps=40, points=5, k_large=10)),
]}

FIGURES = {name: cli_builder(spec) for name, spec in SPECS.items()}

__all__ = ["FIGURES", "SPECS", "FigureSpec", "run_figure"]
