"""Figures that are sweeps: the grids of GD runs behind ``fig1``, ``margin``,
``sample-complexity`` and the studies of issue 13 (``measures``, ``ntk-eigen``,
``lazy-rich``, ``lr-transfer``, ``losses``) go through :mod:`xordsim.sweep`, the one code
path for grids of runs.

A sweep figure declares (in :mod:`xordsim.figures.registry`) a function ``(settings, seed)
-> sweep spec`` (a dict, docs/sweeps.md), or, for a figure that needs several sweeps, a
:class:`SweepParts` (part name -> spec). :func:`xordsim.figures.draw` validates the
spec(s) with the settings, before anything runs, computes them into the store
``OUT/sweeps/NAME`` (:func:`store_dir`), or one store per part ``OUT/sweeps/NAME/PART``
(:func:`part_dir`); rerunning the figure computes only the points the stores lack, and
``dask`` runs them on a cluster with the same numbers. Then it calls the figure's builder
with the store (or the dict part -> store), which plots the loaded tables.

The numbers depend only on the figure's seed: the spec's seed is :func:`sweep_seed` of it
and the figure's name (each figure its own streams), and every point's seed derives from
that and its parameters (docs/sweeps.md).
"""

from __future__ import annotations

import json
import shutil
import zlib
from pathlib import Path

import numpy as np

from xordsim._validate import check_memory
from xordsim.patterns import mask_patterns

#: The folder of the figures' sweep stores, inside the output directory.
SWEEPS = "sweeps"


def store_dir(out_dir, name: str) -> Path:
    """The sweep store of figure ``name`` drawn into ``out_dir``: ``out_dir/sweeps/NAME``."""
    return Path(out_dir) / SWEEPS / name


class SweepParts(dict):
    """What a figure's sweep function returns when the figure needs several sweeps: part
    name -> sweep spec (a dict each). :func:`xordsim.figures.draw` computes part ``PART``
    into ``OUT/sweeps/NAME/PART`` (:func:`part_dir`) with the same ``dask``, records every
    part in the sidecar (``sweep.parts``) and calls the builder with the dict part -> store.
    A plain spec dict (one sweep) keeps the store ``OUT/sweeps/NAME``."""


def part_dir(out_dir, name: str, part: str) -> Path:
    """The store of part ``part`` of figure ``name``'s sweeps: ``out_dir/sweeps/NAME/PART``."""
    return store_dir(out_dir, name) / part


def remove_store(out_dir, name: str) -> None:
    """Delete figure ``name``'s sweep store in ``out_dir``, with every part of a
    :class:`SweepParts` figure (``reproduce --force``): every point is computed anew on the
    next draw."""
    store = store_dir(out_dir, name)
    if store.is_dir():
        shutil.rmtree(store)


def discard_if_other_version(store: Path) -> bool:
    """Delete the store if another xordsim version wrote it (its points are only as
    reproducible as the code that computed them); returns whether it did."""
    from xordsim import __version__

    try:
        manifest = json.loads((store / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    if manifest.get("xordsim_version") == __version__:
        return False
    shutil.rmtree(store)
    return True


def sweep_seed(seed: int, name: str) -> int:
    """The seed of figure ``name``'s sweep spec: a function of the figure's seed and name
    only (a 32-bit integer), so two figures never share a stream."""
    ss = np.random.SeedSequence([int(seed), zlib.crc32(f"sweep/{name}".encode())])
    return int(ss.generate_state(1)[0])


def pattern_distribution(q) -> str:
    """The spec's ``distribution`` of i.i.d. positions with pattern probabilities ``q``."""
    return "pattern:" + ",".join(repr(float(v)) for v in q)


def mask_table(dist) -> dict:
    """The spec's ``distribution`` table of a :class:`~xordsim.data.MaskDistribution`:
    ``{"pos": {"1,2,3,4": p, ...}, "neg": {...}}`` (pattern indices, as docs/sweeps.md)."""
    table = {}
    for side in ("pos", "neg"):
        table[side] = {_pattern_key(key): float(p) for key, p in getattr(dist, side).items()}
    return table


def _pattern_key(key) -> str:
    """A MaskDistribution key (a mask 1..15, or a tuple of 1-based pattern indices) as the
    spec's ``"1,2,4"``."""
    indices = sorted(key) if isinstance(key, tuple) else mask_patterns(int(key))
    return ",".join(map(str, indices))


def check_task_memory(option: str, k: int, replicas: int, chunk: int) -> None:
    """Refuse up front, naming the figure setting ``option``, a point whose task (at most
    ``chunk`` replicas at width ``k``) would not fit in memory."""
    from xordsim.sweep.spec import task_memory_bytes

    n = min(replicas, chunk)
    check_memory(option, task_memory_bytes(k, n), f"arrays of one task (k = {k}, {n} runs)")


def points(table, key: str | tuple[str, ...]) -> dict:
    """The rows of a loaded sweep table grouped by the parameter(s) ``key``: value ->
    DataFrame (for a tuple of keys, a tuple of values)."""
    keys = [key] if isinstance(key, str) else list(key)
    out = {}
    for value, group in table.groupby(keys, sort=False):
        value = value if isinstance(key, tuple) else value[0] if isinstance(value, tuple) \
            else value
        out[_plain(value)] = group
    return out


def _plain(value):
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value.item() if hasattr(value, "item") else value


__all__ = ["SWEEPS", "SweepParts", "check_task_memory", "discard_if_other_version", "mask_table",
           "part_dir", "pattern_distribution", "points", "remove_store", "store_dir", "sweep_seed"]
