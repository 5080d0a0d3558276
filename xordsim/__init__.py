"""xordsim: a fast, exact simulator of Brutzkus & Globerson (ICML 2019).

The front door: ``import xordsim as xs`` gives the public API (``__all__``)::

    import xordsim as xs

    cfg = xs.GDConfig(k=100, m=20, steps=5000)            # every default, declared once
    dist = xs.uniform_distribution(d=cfg.d)
    x, y = dist.sample_training_sets(cfg.m, cfg.replicas, rng=0)
    res = xs.train(x, y, cfg, test_distribution=dist)     # a TrainResult
    xs.theorems.estimate("lemma6.1", replicas=2000)       # Monte Carlo beside the bound
    xs.figures.draw("fig1", "results", mode="quick")      # one registered figure

Names are loaded on first use (PEP 562), so ``import xordsim`` is instant and the
command line (:mod:`xordsim.cli`) starts without NumPy. The layers, lowest first, are
described in ``docs/architecture.md``: patterns -> data -> model -> engine ->
diagnostics/stats -> theorems, figures, mnist -> report -> cli; :mod:`xordsim.config`
(the declared hyper-parameters) sits below them all.
"""

from __future__ import annotations

import importlib

__version__ = "0.2.0"

#: Public name -> the module that defines it.
_EXPORTS = {
    # configuration (declared defaults, constraints and derived formulas)
    "GDConfig": "xordsim.config",
    "default_lr": "xordsim.config",
    "default_init_std": "xordsim.config",
    "theorem_3_3_steps": "xordsim.config",
    "theorem_6_3_steps": "xordsim.config",
    "InputError": "xordsim._validate",
    # data
    "xor_dataset": "xordsim.data",
    "uniform_distribution": "xordsim.data",
    "PatternDistribution": "xordsim.data",
    "MaskDistribution": "xordsim.data",
    "distribution_from_spec": "xordsim.data",
    "decoy_training_set": "xordsim.data",
    "diverse_points": "xordsim.data",
    "exact_mask_probabilities": "xordsim.data",
    "p_plus_exact": "xordsim.data",
    "p_minus_exact": "xordsim.data",
    "p_plus_paper": "xordsim.data",
    "sample_mask_counts": "xordsim.data",
    "mask_counts": "xordsim.data",
    # model
    "network_output": "xordsim.model",
    "outputs_all_masks": "xordsim.model",
    "test_error_exact": "xordsim.model",
    "recovers_f_star": "xordsim.model",
    "groups_from_counts": "xordsim.model",
    # engine
    "train": "xordsim.engine",
    "train_groups": "xordsim.engine",
    "TrainResult": "xordsim.engine",
    "gaussian_init": "xordsim.engine",
    "STATUS_NAMES": "xordsim.engine",
    # statistics
    "proportion_ci": "xordsim.stats",
    "mean_ci": "xordsim.stats",
}

#: Public sub-packages and modules, loaded on first use.
_SUBMODULES = ("diagnostics", "measures", "theorems", "figures", "mnist", "patterns", "report",
               "sweep")

__all__ = ["__version__", *_EXPORTS, *_SUBMODULES]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"xordsim.{name}")
    else:
        raise AttributeError(f"module 'xordsim' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
