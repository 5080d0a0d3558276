"""The figures: one registry (:data:`FIGURES`) and one way to draw them (:func:`draw`).

Every figure (Figures 1-4 of the paper, the margin comparison, the sample-complexity gap
and the training dynamics) is a :class:`~xordsim.figures.registry.FigureSpec` in
:mod:`xordsim.figures.registry`: its declared settings, the smaller ``quick`` and
``tiny`` settings, its optional dependencies and its builder. :func:`draw` writes
``NAME.png``, ``NAME.svg``, the CSVs of the numbers behind it and ``NAME.json``
(title, caption, seed, settings, files, run time) into the output directory.

The grid figures (``fig1``, ``margin``, ``sample-complexity`` and the studies
``measures``, ``ntk-eigen``, ``lazy-rich``, ``lr-transfer``, ``losses``) are sweeps
(:mod:`xordsim.figures.sweeps`): :func:`draw` turns their settings into a sweep spec,
computes it into the store ``OUT/sweeps/NAME`` with :func:`xordsim.sweep.run` (rerunning
computes only the missing points; ``dask`` runs them on a Dask cluster with the same
numbers) and the builder plots the loaded table. A figure with several sweeps (its
function returns :class:`~xordsim.figures.sweeps.SweepParts`, e.g. ``ntk-eigen``: sampled
sets and the decoy set) gets one store per part, ``OUT/sweeps/NAME/PART``, all run the
same way and recorded in the sidecar.

This package is import-light: the plotting modules are imported when a figure is drawn
(or on first use of one of their names, PEP 562).
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path

from xordsim._validate import InputError, Param
from xordsim.figures.registry import (
    FIGURES,
    FigureSpec,
    get,
    missing_requirements,
    requirement_error,
    sweep_figures,
)

_SEED = Param("seed", "seed", 0, "random seed")

#: Heavy names, loaded on first use: name -> module.
_LAZY = {
    "BLUE": "xordsim.figures.common",
    "RED": "xordsim.figures.common",
    "settings_text": "xordsim.figures.common",
    "write_sidecar": "xordsim.figures.common",
    "build_fig1": "xordsim.figures.generalization",
    "build_margin": "xordsim.figures.generalization",
    "build_sample_complexity": "xordsim.figures.sample_complexity",
    "fig1_sweep": "xordsim.figures.generalization",
    "margin_sweep": "xordsim.figures.generalization",
    "sample_complexity_sweep": "xordsim.figures.sample_complexity",
    "build_fig2": "xordsim.figures.weights",
    "build_fig3": "xordsim.figures.weights",
    "build_dynamics": "xordsim.figures.weights",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY])


def draw(name: str, out_dir, seed: int = 0, settings: dict | None = None, *,
         mode: str = "full", set_pairs: list[str] | None = None,
         quiet: bool = True, dask: str | None = None) -> list[Path]:
    """Draw figure ``name`` into ``out_dir``; return the paths written (``NAME.json`` last).

    ``settings`` (a dict of Python values) and ``set_pairs`` (``KEY=VALUE`` strings, as
    ``--set``) override the defaults after ``mode``'s smaller settings (``"quick"``,
    ``"tiny"``); see :meth:`FigureSpec.resolve`. Everything is checked first (the
    settings, the seed, the optional dependencies, a sweep figure's spec and ``dask``);
    only then is the output directory created and the builder imported and run. A
    directory this call created is removed again, if still empty, when the build fails.

    A sweep figure (:func:`~xordsim.figures.registry.sweep_figures`) computes its runs into
    the store ``out_dir/sweeps/NAME`` (several parts: ``out_dir/sweeps/NAME/PART`` each, the
    builder gets the dict part -> store) first, reusing the points it already holds (a store of
    other settings is replaced, keeping the points that did not change; one written by
    another xordsim version is recomputed). ``dask``:
    ``"local:N"`` or a scheduler address runs them on Dask (same numbers); None runs them
    in-process, or on ``$XORDSIM_DASK_SCHEDULER`` when set (``"off"``: in-process). Other
    figures take no ``dask``.
    """
    spec = get(name)
    full = spec.resolve(settings, mode, set_pairs)
    seed = _SEED.check(seed, "seed")
    if spec.sweep is None and dask is not None:
        raise InputError(f"dask applies only to the figures that are sweeps "
                         f"({', '.join(sweep_figures())}), not to {name}")
    missing = missing_requirements(spec)
    if missing:
        raise requirement_error(spec, missing)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"output directory {out_dir} exists and is not a directory")
    sweep = None
    if spec.sweep is not None:
        from xordsim.sweep import load_spec, parse_dask
        from xordsim.sweep.runner import require

        dask = parse_dask(dask, "dask")
        if dask is not None:
            require("dask", "dask")
        sweep = _load_sweeps(spec.sweep_spec(full, seed), load_spec)
    build = spec.load_builder()
    created = _make_dirs(out_dir)
    try:
        t0 = time.perf_counter()
        record = None
        if sweep is None:
            caption, paths = build(full, seed, out_dir, quiet)
        else:
            store, record = _run_sweeps(name, sweep, out_dir, dask, quiet)
            caption, paths = build(full, seed, out_dir, quiet, store)
        seconds = time.perf_counter() - t0
        from xordsim.figures.common import write_sidecar

        sidecar = write_sidecar(out_dir, spec, caption, seed, full, paths, seconds,
                                sweep=record)
    except BaseException:
        _remove_empty(created)
        raise
    return [*paths, sidecar]


def _load_sweeps(specs, load_spec):
    """Validate a sweep figure's spec, or each spec of its
    :class:`~xordsim.figures.sweeps.SweepParts` (part -> validated spec)."""
    from xordsim.figures.sweeps import SweepParts

    if isinstance(specs, SweepParts):
        return SweepParts({part: load_spec(sp) for part, sp in specs.items()})
    return load_spec(specs)


def _run_sweeps(name: str, sweep, out_dir: Path, dask: str | None, quiet: bool):
    """Compute a sweep figure's store(s); return what the builder gets (the store, or the
    dict part -> store) and the sidecar's ``sweep`` record."""
    from xordsim.figures.sweeps import (
        SWEEPS,
        SweepParts,
        discard_if_other_version,
        part_dir,
        store_dir,
    )
    from xordsim.sweep import run

    def one(spec, store: Path) -> dict:
        discard_if_other_version(store)
        rec = run(spec, store, dask=dask or "off", force=True, quiet=quiet)
        return {"store": store.relative_to(out_dir).as_posix(), "points": rec["points"],
                "computed": rec["computed"], "reused": rec["skipped"],
                "executor": rec["executor"], "seed": spec.seed}

    root = store_dir(out_dir, name)
    if not isinstance(sweep, SweepParts):
        return root, one(sweep, root)
    if (root / "manifest.json").exists():  # a single store of an older layout
        import shutil

        shutil.rmtree(root)
    parts = {part: one(spec, part_dir(out_dir, name, part)) for part, spec in sweep.items()}
    record = {"store": f"{SWEEPS}/{name}",
              **{key: sum(p[key] for p in parts.values())
                 for key in ("points", "computed", "reused")},
              "executor": next(iter(parts.values()))["executor"], "parts": parts}
    return {part: part_dir(out_dir, name, part) for part in sweep}, record


def _make_dirs(path: Path) -> list[Path]:
    """Create ``path`` (and its parents); return the directories created, deepest first."""
    created, p = [], path
    while not p.exists() and p != p.parent:
        created.append(p)
        p = p.parent
    path.mkdir(parents=True, exist_ok=True)
    return created


def _remove_empty(created: list[Path]) -> None:
    for p in created:
        try:
            p.rmdir()
        except OSError:  # not empty (or gone): leave it and its parents
            return


__all__ = ["FIGURES", "FigureSpec", "draw", "get", "missing_requirements", "sweep_figures"]
