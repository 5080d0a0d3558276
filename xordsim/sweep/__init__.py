"""Sweeps: studies over grids of GD runs, resumable, run in-process or on a Dask cluster.

::

    from xordsim import sweep

    spec = sweep.load_spec("study.toml")          # or a dict; validated before anything runs
    sweep.run(spec, "results/study")              # in-process; dask="local:4" or an address
    df = sweep.load("results/study")              # one row per replica (pandas)
    table = sweep.load("results/study", summary=True)   # one row per point, 95% intervals
    for params, point in sweep.load_points("results/study"):   # save_weights = true
        ...                                       # a TrainedPoint: evaluate any measure
    bench = sweep.benchmark_table("results/study")      # hp.*, measures, gen.gap per network

The spec format, the store, the seeding and the scale-out are described in
``docs/sweeps.md``. The store needs the ``sweep`` extra (pandas, pyarrow), a cluster the
``dask`` extra.
"""

from __future__ import annotations

from xordsim.sweep.benchmark import benchmark_table, study_path
from xordsim.sweep.runner import SCHEDULER_ENV, parse_dask, run, status
from xordsim.sweep.spec import Point, SweepSpec, load_spec, point_params
from xordsim.sweep.store import Store, load, load_points, summarize

__all__ = ["SCHEDULER_ENV", "Point", "Store", "SweepSpec", "benchmark_table", "load",
           "load_points", "load_spec", "parse_dask", "point_params", "run", "status",
           "study_path", "summarize"]
