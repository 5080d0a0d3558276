"""The store of a sweep: a directory that survives interruption.

::

    DIR/spec.toml            the spec as given (spec.json for a dict)
    DIR/manifest.json        xordsim version, spec hash, the settings, every point
                             (id, canonical parameters, state) -- states refreshed at the
                             start and the end of each run; the point files are the truth
    DIR/points/ID.parquet    one file per finished point, one row per replica
    DIR/points/ID.weights.npz   with save_weights = true: w0, u0, w, u (R, k, 2), outputs
                             (R, 16) and the training counts (R, 2, 16) of every replica,
                             written (atomically) before the point's parquet file
    DIR/lock                 held (flock) while a sweep writes the store

Point files are written atomically (a temporary file beside it, then a rename), so a
killed sweep leaves whole files or none; leftover temporary files (hidden, ``.ID.*``) are
removed when the next run starts. :func:`load_points` rebuilds the trained points
(:class:`~xordsim.measures.registry.TrainedPoint`) of a store with weights, so new measures
need no retraining.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

import numpy as np

from xordsim._validate import InputError
from xordsim.sweep.spec import MEASURE_PREFIX

MANIFEST = "manifest.json"
POINTS = "points"
LOCK = "lock"
WEIGHTS_SUFFIX = ".weights.npz"

#: Columns of every point file after the point's parameters.
ROW_COLUMNS = ("id", "replica", "status", "converged_step", "stop_step", "loss",
               "train_error", "test_error", "recovers_f_star", "point_seconds")


class Store:
    """A sweep's directory (see the module docstring)."""

    def __init__(self, path):
        self.path = Path(path)
        self.points_dir = self.path / POINTS

    # -- reading ---------------------------------------------------------------------------

    def manifest(self) -> dict | None:
        """The manifest, or None when the directory holds no sweep."""
        path = self.path / MANIFEST
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: unreadable manifest ({type(exc).__name__})") from None

    def require_manifest(self) -> dict:
        manifest = self.manifest()
        if manifest is None:
            raise InputError(f"{self.path} holds no sweep (no {MANIFEST})")
        return manifest

    def point_path(self, pid: str) -> Path:
        return self.points_dir / f"{pid}.parquet"

    def weights_path(self, pid: str) -> Path:
        return self.points_dir / f"{pid}{WEIGHTS_SUFFIX}"

    def done_ids(self) -> set[str]:
        """Ids of the points that have a (complete) file."""
        if not self.points_dir.is_dir():
            return set()
        return {p.stem for p in self.points_dir.iterdir()
                if p.suffix == ".parquet" and not p.name.startswith(".")}

    # -- writing ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self):
        """Hold the store for one sweep; a second sweep on the same directory is refused."""
        self.path.mkdir(parents=True, exist_ok=True)
        fh = open(self.path / LOCK, "a+")  # noqa: SIM115 - held for the whole run
        try:
            if os.name == "posix":
                import fcntl

                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    raise InputError(f"--out {self.path} is in use by another sweep") from None
            yield self
        finally:
            fh.close()

    def remove_temporary(self) -> list[Path]:
        """Delete the temporary files a killed run left behind (call under :meth:`lock`)."""
        gone = []
        for folder in (self.path, self.points_dir):
            if folder.is_dir():
                for p in folder.iterdir():
                    if p.name.startswith(".") and p.is_file() and (
                            p.suffix in (".parquet", ".npz") or p.name.startswith((".manifest.",
                                                                         ".spec."))):
                        p.unlink()
                        gone.append(p)
        return gone

    def prepare(self, spec, force: bool = False) -> list:
        """Check the store against ``spec`` (refusing another spec's store unless ``force``),
        write the spec and manifest, and return the points still to compute, in spec order.

        With ``force`` the files of points not in ``spec`` are deleted; a point whose id is
        unchanged (same canonical parameters, seed, replicas and chunk: same numbers) is
        kept.
        """
        from xordsim.io import write_text

        manifest = self.manifest()
        if manifest is None:
            others = [p.name for p in self.path.iterdir() if p.name != LOCK] \
                if self.path.is_dir() else []
            if others and not force:
                raise InputError(f"--out {self.path} is not empty and holds no sweep; choose a "
                                 "new directory (or --force to write into it)")
        elif manifest.get("spec_hash") != spec.hash and not force:
            raise InputError(f"--out {self.path} holds a sweep of another spec (hash "
                             f"{str(manifest.get('spec_hash'))[:12]}, this one "
                             f"{spec.hash[:12]}); use another --out, or --force to replace "
                             "it (points with unchanged parameters are kept)")
        ids = {p.id for p in spec.points}
        self.points_dir.mkdir(parents=True, exist_ok=True)
        if force:
            for pid in self.done_ids() - ids:
                self.point_path(pid).unlink()
                self.weights_path(pid).unlink(missing_ok=True)
        old_spec = [p for p in self.path.glob("spec.*") if p.is_file()]
        name = "spec.json" if spec.source == "spec" and spec.text.lstrip().startswith("{") \
            else "spec.toml"
        if manifest is None or manifest.get("spec_hash") != spec.hash or \
                not (self.path / name).exists():
            for p in old_spec:
                if p.name != name:
                    p.unlink()
            write_text(self.path / name, spec.text)
        self.write_manifest(spec, name)
        done = self.done_ids()
        return [p for p in spec.points if p.id not in done]

    def write_manifest(self, spec, spec_file: str | None = None) -> None:
        from xordsim import __version__
        from xordsim.io import write_json

        old = self.manifest() or {}
        done = self.done_ids()
        write_json(self.path / MANIFEST, {
            "format": 1,
            "xordsim_version": __version__,
            "spec_hash": spec.hash,
            "spec_file": spec_file or old.get("spec_file", "spec.toml"),
            "problem": spec.problem, "data": spec.data, "replicas": spec.replicas,
            "seed": spec.seed, "chunk": spec.chunk,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "points": [{"id": p.id, "params": p.params,
                        "state": "done" if p.id in done else "pending"}
                       for p in spec.points],
        })

    def write_point(self, point, parts: list[dict]) -> Path:
        """Assemble the chunk results of ``point`` (any order) into its table and write it
        atomically; ``point_seconds`` is the sum of the chunks' compute times."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from xordsim.io import atomic_path
        from xordsim.sweep.compute import RESULT_COLUMNS

        parts = sorted(parts, key=lambda r: r["chunk"])
        if [r["chunk"] for r in parts] != list(range(len(point.chunks))):
            raise RuntimeError(f"point {point.id}: chunks {[r['chunk'] for r in parts]}")
        R = point.replicas
        cols: dict = {}
        for name, value in point.params.items():
            cols[name] = pa.array([value] * R) if isinstance(value, str) else \
                pa.array(np.full(R, value))
        cols["id"] = pa.array([point.id] * R)
        cols["replica"] = pa.array(np.arange(R, dtype=np.int64))
        for name in RESULT_COLUMNS:
            cols[name] = pa.array(np.concatenate([r["arrays"][name] for r in parts]))
        for name in parts[0]["arrays"]:  # measure.NAME columns and measure_failures
            if name not in RESULT_COLUMNS:
                cols[name] = pa.array(np.concatenate([r["arrays"][name] for r in parts]),
                                      type=pa.string() if name == "measure_failures" else None)
        seconds = float(sum(r["seconds"] for r in parts))
        cols["point_seconds"] = pa.array(np.full(R, seconds))
        table = pa.table(cols)
        if getattr(point, "save_weights", False):
            self._write_weights(point, parts)
        path = self.point_path(point.id)
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
        return path


    def _write_weights(self, point, parts: list[dict]) -> Path:
        """The weights file of ``point`` from its chunks (in chunk order), atomically."""
        from xordsim.io import atomic_path
        from xordsim.sweep.compute import WEIGHT_KEYS

        arrays = {key: np.concatenate([r["weights"][key] for r in parts])
                  for key in WEIGHT_KEYS}
        path = self.weights_path(point.id)
        with atomic_path(path) as tmp:
            np.savez(tmp, **arrays)
        return path


def load(path, summary: bool = False, *, seed: int | None = None):
    """The finished points of the sweep in ``path`` as one pandas DataFrame.

    One row per replica: the point's canonical parameters, ``id``, ``replica``, ``status``
    (0 not converged, 1 converged, 2 stalled, 3 diverged), ``converged_step`` (-1 if not),
    ``stop_step`` (updates performed), ``loss``, ``train_error``, exact ``test_error`` (NaN
    when diverged), ``recovers_f_star`` and ``point_seconds`` (the point's compute time),
    in spec order. ``summary=True``: one row per point (:func:`summarize`).
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    store = Store(path)
    manifest = store.require_manifest()
    done = store.done_ids()
    tables = [pq.read_table(store.point_path(p["id"])) for p in manifest["points"]
              if p["id"] in done]
    if tables:
        df = pa.concat_tables(tables, promote_options="default").to_pandas()
    else:
        names = list(manifest["points"][0]["params"]) if manifest["points"] else []
        df = pd.DataFrame(columns=names + list(ROW_COLUMNS))
    if summary:
        return summarize(df, manifest["seed"] if seed is None else seed)
    return df


#: The columns of :func:`summarize` after the parameters.
SUMMARY_COLUMNS = (
    "id", "replicas", "converged", "not_converged", "stalled", "diverged",
    "frac_converged", "frac_converged_ci95_low", "frac_converged_ci95_high",
    "train_error_mean", "train_error_ci95_low", "train_error_ci95_high",
    "test_error_mean", "test_error_ci95_low", "test_error_ci95_high",
    "test_error_converged_mean", "test_error_converged_ci95_low",
    "test_error_converged_ci95_high",
    "recovers_f_star", "frac_recovers_f_star", "frac_recovers_f_star_ci95_low",
    "frac_recovers_f_star_ci95_high", "converged_step_mean", "point_seconds",
)


#: Per measure column ``measure.NAME``, the summary's columns ``measure.NAME.STAT``: the
#: median and quartiles of its finite values, how many are finite, how many are +-inf
#: (the rest are NaN: failed, or undefined such as a bound with margin <= 0).
MEASURE_SUMMARY = ("median", "q25", "q75", "finite", "inf")


def summarize(df, seed: int = 0):
    """One row per point of a sweep table (:func:`load`): its parameters, the replicas,
    counts per status, and means with 95% intervals.

    Fractions (converged, recovering f*): exact Clopper-Pearson. Mean errors (bounded in
    [0, 1] and skewed): :func:`xordsim.stats.bounded_mean_ci` (BCa bootstrap seeded by
    ``seed``; an exact bound when all replicas agree), never outside [0, 1]; diverged
    replicas are counted and left out of the means.
    """
    import pandas as pd

    from xordsim.stats import bounded_mean_ci, proportion_ci

    result_cols = set(ROW_COLUMNS) | {"measure_failures"}
    measures = [c for c in df.columns if c.startswith(MEASURE_PREFIX)]
    params = [c for c in df.columns if c not in result_cols and c not in measures]
    rows = []
    for pid, g in df.groupby("id", sort=False):
        status = g["status"].to_numpy()
        conv = status == 1
        ok = status != 3
        R = len(g)
        tr = g["train_error"].to_numpy()
        te = g["test_error"].to_numpy()
        rec = int(g["recovers_f_star"].sum())
        row = {c: g[c].iloc[0] for c in params}
        row.update(
            id=pid, replicas=R, converged=int(conv.sum()), not_converged=int((status == 0).sum()),
            stalled=int((status == 2).sum()), diverged=int((status == 3).sum()),
            frac_converged=conv.mean(),
        )
        row["frac_converged_ci95_low"], row["frac_converged_ci95_high"] = proportion_ci(
            int(conv.sum()), R)
        for name, values in (("train_error", tr[ok]), ("test_error", te[ok]),
                             ("test_error_converged", te[conv])):
            mean, lo, hi = bounded_mean_ci(values, seed=seed)
            row[f"{name}_mean"], row[f"{name}_ci95_low"], row[f"{name}_ci95_high"] = mean, lo, hi
        row["recovers_f_star"] = rec
        row["frac_recovers_f_star"] = rec / R
        row["frac_recovers_f_star_ci95_low"], row["frac_recovers_f_star_ci95_high"] = \
            proportion_ci(rec, R)
        steps = g["converged_step"].to_numpy()[conv]
        row["converged_step_mean"] = float(steps.mean()) if steps.size else float("nan")
        row["point_seconds"] = float(g["point_seconds"].iloc[0])
        for c in measures:
            v = g[c].to_numpy(dtype=float)
            fin = v[np.isfinite(v)]
            q = np.percentile(fin, [25, 50, 75]) if fin.size else [np.nan] * 3
            row[f"{c}.median"], row[f"{c}.q25"], row[f"{c}.q75"] = q[1], q[0], q[2]
            row[f"{c}.finite"] = int(fin.size)
            row[f"{c}.inf"] = int(np.isinf(v).sum())
        rows.append(row)
    extra = [f"{c}.{s}" for c in measures for s in MEASURE_SUMMARY]
    return pd.DataFrame(rows, columns=params + list(SUMMARY_COLUMNS) + extra)


def load_points(path):
    """The trained points of the store in ``path``, with their weights, in spec order.

    Yields ``(params, point)`` per finished point: its canonical parameters (a dict, as in
    the manifest) and a :class:`~xordsim.measures.registry.TrainedPoint` of all its
    replicas, rebuilt from ``ID.weights.npz`` (filters, outputs, training counts) and the
    point file (status, train and test errors), so that any registered measure can be
    evaluated without retraining. A shared or decoy training set is one set (Rd = 1), as
    in the sweep. Raises :class:`InputError` if a finished point has no weights (the spec
    needs ``save_weights = true``).
    """
    import pyarrow.parquet as pq

    from xordsim.config import GDConfig
    from xordsim.data import uniform_distribution
    from xordsim.measures.registry import TrainedPoint
    from xordsim.sweep.compute import WEIGHT_KEYS
    from xordsim.sweep.spec import config_values, point_distribution

    store = Store(path)
    manifest = store.require_manifest()
    done = store.done_ids()
    for entry in manifest["points"]:
        pid, params = entry["id"], entry["params"]
        if pid not in done:
            continue
        wpath = store.weights_path(pid)
        if not wpath.is_file():
            raise InputError(f"{wpath}: no weights for point {pid} (the spec needs "
                             "save_weights = true)")
        try:
            with np.load(wpath, allow_pickle=False) as z:
                arrays = {key: z[key] for key in WEIGHT_KEYS}
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"{wpath}: unreadable weights ({type(exc).__name__})") from None
        table = pq.read_table(store.point_path(pid),
                              columns=["replica", "status", "train_error", "test_error"])
        R = arrays["w"].shape[0]
        if table.num_rows != R or not np.array_equal(table["replica"].to_numpy(),
                                                     np.arange(R)):
            raise InputError(f"{wpath}: {R} replicas, the point file "
                             f"{table.num_rows}")
        cfg = GDConfig(**config_values(params), replicas=R).resolved()
        if params["problem"] == "xor":
            d, dist = 1, uniform_distribution(1)
        else:
            d, dist = int(params["d"]), point_distribution(params)
        counts = arrays["counts"]
        if params["problem"] == "xor" or params.get("data") != "fresh":
            counts = counts[:1]
        point = TrainedPoint(
            config=cfg, counts=counts, w0=arrays["w0"], u0=arrays["u0"], w=arrays["w"],
            u=arrays["u"], outputs=arrays["outputs"],
            status=table["status"].to_numpy().astype(np.int64),
            train_error=table["train_error"].to_numpy(),
            test_error=table["test_error"].to_numpy(),
            test_probs=np.asarray(dist.joint_mask_probs(), dtype=float), d=d)
        yield params, point


__all__ = ["Store", "load", "load_points", "summarize"]
