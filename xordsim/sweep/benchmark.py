"""The generalization-measure benchmark's table: one row per trained network.

The layout of Dziugaite et al.'s released table (*In Search of Robust Measures of
Generalization*, NeurIPS 2020): the varied hyper-parameters in ``hp.*`` columns (``hp.seed``
the replica), every measure in a column named by its registry name, ``train_error``, the
exact ``test_error`` and ``gen.gap`` = test - train error. The shipped grids are
``xordsim/studies/xord_gen*.toml`` (:func:`study_path`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from xordsim._validate import InputError
from xordsim.config import BENCHMARK_STUDIES
from xordsim.sweep.spec import COLUMN_NAMES, MEASURE_PREFIX

#: The shipped benchmark specs (``xordsim/studies/NAME.toml``; declared in
#: :data:`xordsim.config.BENCHMARK_STUDIES`).
STUDIES = BENCHMARK_STUDIES

#: Columns of :func:`benchmark_table` besides the ``hp.*`` and measure columns.
TARGETS = ("train_error", "test_error", "gen.gap")
INFO = ("id", "status", "measure_failures")

#: hp column names that differ from the canonical parameter names.
HP_NAMES = {"loss_function": "loss"}


def study_path(name: str) -> Path:
    """The path of the shipped spec ``name`` (one of :data:`STUDIES`)."""
    if name not in STUDIES:
        raise InputError(f"unknown study {name!r}; shipped: {', '.join(STUDIES)}")
    return Path(__file__).resolve().parent.parent / "studies" / f"{name}.toml"


def _spec_axes(store_path: Path, manifest: dict) -> list[str]:
    """The canonical names of the parameters a store's spec sets per point: the keys of its
    ``[grid]`` / ``[[grid]]`` tables and ``[[points]]`` entries."""
    from xordsim.sweep.spec import _parse_toml

    path = store_path / manifest.get("spec_file", "spec.toml")
    text = path.read_text()
    table = json.loads(text) if path.suffix == ".json" else _parse_toml(text, str(path))
    grids = table.get("grid", {})
    grids = grids if isinstance(grids, list) else [grids]
    keys: list[str] = []
    for entry in [*grids, *table.get("points", [])]:
        for key in entry:
            name = COLUMN_NAMES.get(key, key)
            if name not in keys:
                keys.append(name)
    return keys


def benchmark_table(paths):
    """The tidy table of one or more sweep stores (a path or a list of paths).

    Parameters
    ----------
    paths : path or iterable of paths
        Finished (or partly finished) sweep stores, computed with ``measures``; e.g. the
        stores of ``xord_gen.toml`` and ``xord_gen_decoy.toml``.

    Returns
    -------
    pandas.DataFrame
        One row per network (replica), in store then spec order, with columns

        - ``hp.NAME``: every parameter that a store's spec varies (keys of ``[grid]``,
          ``[[grid]]``, ``[[points]]``; ``hp.loss`` for the loss) and that takes more than
          one value in the table, plus ``hp.data`` when the stores' ``data`` differ; a
          parameter in one-to-one correspondence with an earlier one (``tol``, set with the
          loss) is the same axis and is left out. ``hp.seed``: the replica index.
        - the measures, one column per registry name (``measure.NAME`` in the store);
        - ``train_error``, ``test_error`` (exact; NaN if diverged) and ``gen.gap`` =
          test_error - train_error;
        - ``id`` (point id), ``status`` and ``measure_failures``.

        ``table.attrs["hp"]`` and ``table.attrs["measures"]`` list the two groups.
    """
    import pandas as pd

    from xordsim.sweep.store import Store, load

    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise InputError("benchmark_table needs at least one store")
    frames, axes, datas = [], [], []
    for path in paths:
        manifest = Store(path).require_manifest()
        df = load(path)
        if "data" not in df.columns:
            df["data"] = manifest.get("data", "")
        datas.append(manifest.get("data"))
        for key in _spec_axes(path, manifest):
            if key not in axes:
                axes.append(key)
        frames.append(df)
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if len(set(datas)) > 1 and "data" not in axes:
        axes.append("data")
    varied = [a for a in axes if a in df.columns and df[a].nunique(dropna=False) > 1]
    hp: list[str] = []
    for a in varied:
        same = any(df.groupby(b, dropna=False)[a].nunique(dropna=False).max() <= 1 and
                   df.groupby(a, dropna=False)[b].nunique(dropna=False).max() <= 1
                   for b in hp)
        if not same:
            hp.append(a)
    out = {f"hp.{HP_NAMES.get(a, a)}": df[a].to_numpy() for a in hp}
    out["hp.seed"] = df["replica"].to_numpy()
    measures = [c[len(MEASURE_PREFIX):] for c in df.columns if c.startswith(MEASURE_PREFIX)]
    clash = [m for m in measures if m in TARGETS or m in INFO or m.startswith("hp.")]
    if clash:
        raise InputError(f"measure {clash[0]!r} has the name of a benchmark column")
    for m in measures:
        out[m] = df[MEASURE_PREFIX + m].to_numpy()
    out["train_error"] = df["train_error"].to_numpy()
    out["test_error"] = df["test_error"].to_numpy()
    out["gen.gap"] = out["test_error"] - out["train_error"]
    out["id"] = df["id"].to_numpy()
    out["status"] = df["status"].to_numpy()
    out["measure_failures"] = (df["measure_failures"].to_numpy() if "measure_failures" in df
                               else [""] * len(df))
    table = pd.DataFrame(out)
    table.attrs["hp"] = [c for c in table.columns if c.startswith("hp.")]
    table.attrs["measures"] = measures
    return table


def run_studies(names: Iterable[str], out, **kwargs) -> list[Path]:
    """Run the shipped specs ``names`` into ``out/NAME`` (resumable; ``kwargs`` go to
    :func:`xordsim.sweep.run`) and return the store paths, for :func:`benchmark_table`."""
    from xordsim.sweep.runner import run

    stores = []
    for name in names:
        store = Path(out) / name
        run(str(study_path(name)), store, **kwargs)
        stores.append(store)
    return stores


__all__ = ["HP_NAMES", "INFO", "STUDIES", "TARGETS", "benchmark_table", "run_studies",
           "study_path"]
