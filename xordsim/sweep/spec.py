"""The sweep spec: a grid of GD runs described in TOML (or the equivalent dict), validated
against the declarations of :class:`xordsim.config.GDConfig` before anything runs.

::

    problem = "xord"      # top level: problem, data, replicas, seed, chunk
    replicas = 1000
    seed = 0
    [fixed]               # any GDConfig parameter but the top-level ones
    d = 10
    [grid]                # cartesian product of these lists
    k = [2, 4, 10, 100]
    [[points]]            # optional: further points (fixed, then the entry's values)
    k = 7
    gamma = 3.0

``[[grid]]`` (an array of tables) instead of ``[grid]`` takes the union of several
cartesian products, e.g. the hinge loss with ``tol = 0`` and the logistic loss with
``tol = 0.01`` over the same other axes. ``save_weights = true`` (top level) also stores
every replica's initial and final filters, outputs and training counts
(:mod:`xordsim.sweep.store`).

Every point is reduced to its *canonical parameters* (derived values written out:
gamma, lr = c_eta / k, init_std = c_eta / (16 k^1.5); a distribution by its content, not
a file name; the loss under the column name ``loss_function``, since ``loss`` is the
final loss of each replica). Its seed is derived from the spec seed and those parameters
-- never from its position -- and its replicas are split into chunks of at most
``chunk``, chunk c
drawing from the spawned child (1, c) of the point's :class:`numpy.random.SeedSequence`
(the child (0,) draws a training set shared by every replica, for ``data = "shared"`` or
``"decoy"``). So a point's numbers are the same run alone, in a larger grid, in another
order, locally or on a cluster.

The parameters added after the first format (``loss``, ``tol``, ``output_scale``,
``init``: :data:`LATER_PARAMS`) are left out of the hashed parameters when they have
their default values, so that every point of an earlier spec keeps its id and seed.
``record_every`` is not a point parameter: a sweep stores per-replica scalars, not
trajectories.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

from xordsim._validate import InputError, Param, check_memory
from xordsim.config import MAX_REPLICAS, GDConfig

#: Version of the seeding and storage scheme (part of every point id).
FORMAT = 1

#: Keys of the spec's top level.
TOP_KEYS = ("problem", "data", "replicas", "seed", "chunk", "measures", "save_weights",
            "fixed", "grid", "points")

#: Prefix of the per-replica measure columns of the point files (``measure.NAME``).
MEASURE_PREFIX = "measure."

#: GDConfig parameters set once, at the top level of the spec.
TOP_PARAMS = ("problem", "data", "replicas", "seed")

#: Largest number of replicas in one task (the split of a point is fixed by the spec).
CHUNK = Param("chunk", "int", 10_000, "the most replicas of a point computed in one task",
              low=1, high=MAX_REPLICAS)

#: Parameters that describe XORD data (an error with problem = "xor").
XORD_ONLY = ("d", "m", "distribution", "prior_pos")

#: GDConfig parameters a sweep does not take (it stores per-replica scalars only).
NOT_SWEPT = ("record_every",)

#: The canonical name (the table column) of each point parameter whose field name is taken
#: by a result column.
COLUMN_NAMES = {"loss": "loss_function"}

#: Point parameters added after FORMAT 1 (canonical names -> GDConfig fields): left out of
#: the hashed parameters at their defaults, so that earlier points keep their ids and seeds.
LATER_PARAMS = {"loss_function": "loss", "tol": "tol", "output_scale": "output_scale",
                "init": "init"}

#: Most points in one spec, and the largest spec file read.
MAX_POINTS = 10**6
MAX_SPEC_FILE = 1 << 20


def point_params() -> dict[str, Param]:
    """The declared parameters a point may set in ``[fixed]``, ``[grid]`` or ``[[points]]``."""
    return {n: p for n, p in GDConfig.params().items()
            if n not in TOP_PARAMS and n not in NOT_SWEPT}


def hashed_params(params: dict) -> dict:
    """The part of a point's canonical parameters that its id and seed are derived from:
    all of them, but the :data:`LATER_PARAMS` that have their default values."""
    fields = GDConfig.params()
    return {k: v for k, v in params.items()
            if not (k in LATER_PARAMS and v == fields[LATER_PARAMS[k]].default)}


def config_values(params: dict) -> dict:
    """The :class:`GDConfig` values of a point's canonical parameters (by field name): every
    point parameter but the distribution, whose canonical text is read by
    :func:`point_distribution`."""
    fields = {COLUMN_NAMES.get(n, n): n for n in GDConfig.params()}
    return {fields[k]: v for k, v in params.items()
            if k in fields and k != "distribution"}


def canonical_json(obj) -> str:
    """Sorted keys, no spaces, floats in shortest round-trip form: the text that is hashed."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _sha(obj) -> str:
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


@dataclass(frozen=True)
class Point:
    """One grid point: its canonical parameters, id and seed material.

    ``id`` (16 hex digits) names the point's file; it depends on the canonical parameters,
    the spec seed, the replicas and the chunk size, never on the position in the grid.
    ``entropy`` seeds the point's :class:`numpy.random.SeedSequence`: the spec seed and
    four 32-bit words of the SHA-256 of the canonical parameters.
    """

    params: dict
    id: str
    entropy: tuple
    replicas: int
    chunk: int
    label: str = ""
    measures: tuple = ()
    save_weights: bool = False

    @property
    def chunks(self) -> list[tuple[int, int]]:
        """(first replica, number of replicas) of every chunk, in order."""
        return [(s, min(self.chunk, self.replicas - s))
                for s in range(0, self.replicas, self.chunk)]


@dataclass(frozen=True)
class SweepSpec:
    """A validated spec: the top-level settings, its points in spec order, the text as
    given (for the store) and its hash (the set of point ids)."""

    problem: str
    data: str
    replicas: int
    seed: int
    chunk: int
    points: tuple
    text: str = ""
    source: str = "spec"
    hash: str = field(default="")
    measures: tuple = ()
    save_weights: bool = False

    def to_dict(self) -> dict:
        """The normalized spec (top level and canonical points), JSON-ready."""
        return {"problem": self.problem, "data": self.data, "replicas": self.replicas,
                "seed": self.seed, "chunk": self.chunk, "measures": list(self.measures),
                "save_weights": self.save_weights,
                "points": [p.params for p in self.points]}


def load_spec(spec, *, base_dir=None) -> SweepSpec:
    """Read and validate a spec: a TOML file's path, TOML text (``str`` holding a newline)
    or a dict. Every problem raises :class:`InputError` with one line naming the key.

    Relative distribution files are read from ``base_dir`` (default: the spec file's
    folder, or the current directory for a dict).
    """
    if isinstance(spec, dict):
        source, table = "spec", spec
        text = json.dumps(spec, indent=2, default=str, sort_keys=False) + "\n"
        base = Path(base_dir) if base_dir is not None else Path.cwd()
    elif isinstance(spec, (str, Path)) and "\n" not in str(spec):
        path = Path(spec)
        source = str(path)
        if not path.exists():
            raise InputError(f"{source}: no such spec file")
        if not path.is_file():
            raise InputError(f"{source}: not a regular file")
        if path.stat().st_size > MAX_SPEC_FILE:
            raise InputError(f"{source}: larger than {MAX_SPEC_FILE} bytes")
        try:
            text = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{source}: cannot read ({type(exc).__name__})") from None
        table = _parse_toml(text, source)
        base = Path(base_dir) if base_dir is not None else path.resolve().parent
    elif isinstance(spec, str):
        source, text = "spec", spec
        table = _parse_toml(text, source)
        base = Path(base_dir) if base_dir is not None else Path.cwd()
    else:
        raise InputError(f"a sweep spec is a TOML file, TOML text or a dict; got "
                         f"{type(spec).__name__}")
    try:
        return _build(table, text, source, base)
    except InputError as exc:
        raise InputError(f"{source}: {' '.join(str(exc).split())}") from None


def _parse_toml(text: str, source: str) -> dict:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import importlib.util

        if importlib.util.find_spec("tomli") is None:
            raise InputError(f"{source}: reading TOML on Python 3.10 needs tomli; install it "
                             "with: pip install \"xordsim[sweep]\"")
        import tomli as tomllib
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{source}: not valid TOML ({' '.join(str(exc).split())})") from None


def _build(table: dict, text: str, source: str, base: Path) -> SweepSpec:
    unknown = [k for k in table if k not in TOP_KEYS]
    if unknown:
        hint = (" (a point parameter: put it under [fixed] or [grid])"
                if unknown[0] in point_params() else "")
        raise InputError(f"unknown key {unknown[0]!r}{hint}; allowed at the top level: "
                         f"{', '.join(TOP_KEYS)}")
    cfg = GDConfig.params()
    top = {name: cfg[name].check(table.get(name, cfg[name].default), name)
           for name in TOP_PARAMS}
    chunk = CHUNK.check(table.get("chunk", CHUNK.default), "chunk")
    measures = _check_measures(table.get("measures", []))
    save_weights = table.get("save_weights", False)
    if not isinstance(save_weights, bool):
        raise InputError(f"save_weights must be true or false; got {save_weights!r}")
    problem, data, replicas, seed = top["problem"], top["data"], top["replicas"], top["seed"]
    if problem == "xor" and "data" in table:
        raise InputError("data applies only to problem = \"xord\" (XOR has its 4 points)")

    fixed = _table(table.get("fixed", {}), "fixed")
    raw_grid = table.get("grid", {})
    if isinstance(raw_grid, list):
        if not raw_grid or not all(isinstance(g, dict) for g in raw_grid):
            raise InputError("grid must be a table ([grid]) or a non-empty list of tables "
                             "([[grid]])")
        grids = [(g, f"grid[{i}]") for i, g in enumerate(raw_grid)]
    else:
        grids = [(_table(raw_grid, "grid"), "grid")] if raw_grid else []
    entries = table.get("points", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise InputError("points must be a list of tables ([[points]])")

    fixed_vals = {k: _check(k, v, f"fixed.{k}") for k, v in fixed.items()}
    checked_grids = [(_check_grid(g, name, fixed), name) for g, name in grids]
    n_grid = sum(math.prod(len(v) for v in g.values()) for g, _ in checked_grids if g)
    if n_grid + len(entries) > MAX_POINTS:
        raise InputError(f"the grid has {n_grid + len(entries)} points; at most {MAX_POINTS}")

    designs = []  # (values, labels, description)
    for grid_vals, gname in checked_grids:
        if not grid_vals:
            continue
        keys = list(grid_vals)
        for combo in itertools.product(*(grid_vals[k] for k in keys)):
            values = dict(fixed_vals, **dict(zip(keys, combo, strict=True)))
            labels = {k: f"fixed.{k}" for k in fixed_vals} | {k: f"{gname}.{k}" for k in keys}
            desc = f"{gname} point " + ", ".join(f"{k}={_short(v)}" for k, v in
                                                 zip(keys, combo, strict=True))
            designs.append((values, labels, desc))
    for i, entry in enumerate(entries):
        values = dict(fixed_vals)
        labels = {k: f"fixed.{k}" for k in fixed_vals}
        for key, v in entry.items():
            values[key] = _check(key, v, f"points[{i}].{key}")
            labels[key] = f"points[{i}].{key}"
        designs.append((values, labels, f"points[{i}]"))
    if not designs:
        designs.append((fixed_vals, {k: f"fixed.{k}" for k in fixed_vals}, "the point"))

    points, seen, dist_cache = [], {}, {}
    for values, labels, desc in designs:
        params = _canonical(values, labels, problem, data, base, dist_cache)
        hashed = hashed_params(params)
        ident = {"format": FORMAT, "params": hashed, "seed": seed, "replicas": replicas,
                 "chunk": chunk}
        if measures:  # the file's columns change, the numbers do not (same entropy)
            ident["measures"] = list(measures)
        if save_weights:  # likewise: a weights file beside the point's
            ident["save_weights"] = True
        pid = _sha(ident)[:16]
        if pid in seen:
            raise InputError(f"{desc} is the same point as {seen[pid]}")
        seen[pid] = desc
        digest = hashlib.sha256(canonical_json(hashed).encode()).digest()
        words = tuple(int.from_bytes(digest[4 * i:4 * i + 4], "little") for i in range(4))
        points.append(Point(params, pid, (seed, *words), replicas, chunk, desc, measures,
                            save_weights))

    _check_task_memory(points)
    spec_hash = _sha({"format": FORMAT, "ids": sorted(seen)})
    return SweepSpec(problem, data, replicas, seed, chunk, tuple(points), text, source,
                     spec_hash, measures, save_weights)


def _check_grid(grid: dict, name: str, fixed: dict) -> dict:
    """The checked value lists of one ``[grid]`` table (``name``: grid or grid[i])."""
    grid_vals = {}
    for key, values in grid.items():
        label = f"{name}.{key}"
        if key in fixed:
            raise InputError(f"{label}: {key} is also in [fixed]; give it in one place")
        if not isinstance(values, list):
            raise InputError(f"{label} must be a list of values, got {values!r}")
        if not values:
            raise InputError(f"{label} must list at least one value")
        checked = [_check(key, v, label) for v in values]
        seen = set()
        for v in checked:
            token = canonical_json(v)
            if token in seen:
                raise InputError(f"{label} lists {v!r} twice")
            seen.add(token)
        grid_vals[key] = checked
    return grid_vals


def _check_measures(value) -> tuple:
    """The top-level ``measures``: a list of built-in measure names
    (:mod:`xordsim.measures`), or ``"all"``; computed per replica into ``measure.NAME``
    columns."""
    if value == []:
        return ()
    from xordsim.measures.registry import available

    builtin = available(builtin=True)
    if value == "all":
        return tuple(builtin)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise InputError(f"measures must be \"all\" or a list of measure names; got {value!r}")
    for v in value:
        if v not in builtin:
            raise InputError(f"measures: unknown measure {v!r}; allowed: \"all\" or any of "
                             f"{', '.join(builtin)}")
    if len(set(value)) != len(value):
        raise InputError("measures lists a measure twice")
    return tuple(value)


def _short(v) -> str:
    return v if isinstance(v, str) and len(v) < 40 else (f"{v:g}" if isinstance(v, float)
                                                         else str(v)[:40])


def _table(value, name: str) -> dict:
    if not isinstance(value, dict):
        raise InputError(f"[{name}] must be a table of parameters, got {value!r}")
    return value


def _check(key: str, value, label: str):
    """One point parameter's value, checked against its declaration."""
    params = point_params()
    if key in TOP_PARAMS:
        raise InputError(f"{label}: {key} is set once, at the top level of the spec")
    if key == "chunk":
        raise InputError(f"{label}: chunk is set once, at the top level of the spec")
    if key in NOT_SWEPT:
        raise InputError(f"{label}: a sweep stores per-replica results, not trajectories; "
                         f"{key} applies to xordsim train and xordsim.train only")
    if key not in params:
        raise InputError(f"{label}: unknown parameter {key!r}; allowed: "
                         f"{', '.join(params)}")
    if key == "distribution" and isinstance(value, dict):
        return _check_mask_table(value, label)
    return params[key].check(value, label)


def _check_mask_table(value: dict, label: str) -> dict:
    """A distribution given as pattern-set probabilities: {pos = {"1,2,3,4" = 0.9, ...},
    neg = {...}} -> the same with canonical keys (the check against d comes later)."""
    from xordsim.data import _mask_of_key
    from xordsim.patterns import mask_patterns

    if set(value) != {"pos", "neg"} or not all(isinstance(value[k], dict)
                                               for k in ("pos", "neg")):
        raise InputError(f"{label} as a table needs exactly the keys pos and neg, each a "
                         'table like {"1,3" = 0.5, "2" = 0.5}')
    out = {}
    for side in ("pos", "neg"):
        table = {}
        for key, p in value[side].items():
            try:
                idx = tuple(int(v) for v in str(key).split(","))
            except ValueError:
                raise InputError(f"{label}.{side}: key {key!r} is not a comma-separated list "
                                 "of pattern indices 1..4") from None
            try:
                M = _mask_of_key(side, idx)
            except InputError as exc:
                raise InputError(f"{label}.{exc}") from None
            name = ",".join(map(str, mask_patterns(M)))
            if name in table:
                raise InputError(f"{label}.{side} lists the pattern set {name} twice")
            if isinstance(p, bool) or not isinstance(p, (int, float)) or not (
                    math.isfinite(p) and p >= 0):
                raise InputError(f"{label}.{side}.{key} must be a finite number >= 0, "
                                 f"got {p!r}")
            table[name] = float(p)
        out[side] = table
    return out


def _canonical(values: dict, labels: dict, problem: str, data: str, base: Path,
               dist_cache: dict) -> dict:
    """The canonical parameters of one point: every value that determines its numbers,
    derived values written out (the key of its seed and id, and its table columns)."""
    if problem == "xor":
        for name in XORD_ONLY:
            if name in values:
                raise InputError(f"{labels[name]} applies only to problem = \"xord\" (XOR has "
                                 "its 4 points)")
    if data == "decoy" and problem == "xord" and "m" in values:
        raise InputError(f"{labels['m']} does not apply to data = \"decoy\" (6 + 6 diverse "
                         "points)")
    if "lr" in values and "c_eta" in values and values["lr"] is not None:
        raise InputError(f"{labels['lr']} and {labels['c_eta']}: give one of them "
                         "(lr = c_eta / k)")
    plain = {k: v for k, v in values.items() if k != "distribution"}
    cfg = GDConfig(problem=problem, **({"data": data} if problem == "xord" else {}), **plain)
    params = {"problem": problem, "k": cfg.k, "steps": cfg.steps, "gamma": cfg.margin,
              "c_eta": cfg.c_eta, "lr": cfg.eta, "init_std": cfg.sigma_g,
              "max_weight": cfg.max_weight, "loss_function": cfg.loss, "tol": cfg.tol,
              "output_scale": cfg.output_scale, "init": cfg.init}
    if problem == "xord":
        if data == "decoy" and cfg.d < 4:
            raise InputError(f"{labels.get('d', 'fixed.d')} must be >= 4 for data = \"decoy\" "
                             f"(a diverse positive holds all 4 patterns), got {cfg.d}")
        dist = values.get("distribution", cfg.distribution)
        label = labels.get("distribution", "distribution")
        key = (canonical_json(dist), cfg.d, cfg.prior_pos)
        if key not in dist_cache:
            dist_cache[key] = _canonical_distribution(dist, cfg.d, cfg.prior_pos, label, base)
        params.update(data=data, d=cfg.d, distribution=dist_cache[key],
                      prior_pos=cfg.prior_pos)
        if data != "decoy":
            params["m"] = cfg.m
    return params


def _canonical_distribution(value, d: int, prior_pos: float, label: str, base: Path) -> str:
    """'uniform', 'pattern:q1,q2,q3,q4' (shortest round-trip floats) or 'masks:{json}' (the
    pattern-set probabilities, also for a JSON file: its content, not its name)."""
    from xordsim.data import distribution_from_spec

    if isinstance(value, dict):
        table = value
    elif value == "uniform" or value.startswith("pattern:"):
        dist = distribution_from_spec(value, d, prior_pos, option=label)
        return "uniform" if value == "uniform" else "pattern:" + ",".join(
            repr(float(q)) for q in dist.q)
    else:
        path = Path(value)
        path = path if path.is_absolute() else base / path
        distribution_from_spec(str(path), d, prior_pos, option=label)
        raw = json.loads(path.read_bytes().decode("utf-8"))
        table = _check_mask_table(raw, label)
    text = "masks:" + canonical_json(table)
    point_distribution({"distribution": text, "d": d, "prior_pos": prior_pos}, label)
    return text


def point_distribution(params: dict, label: str = "distribution"):
    """The XORD distribution of a point from its canonical parameters."""
    from xordsim.data import MaskDistribution, distribution_from_spec

    text = params["distribution"]
    d, prior_pos = params["d"], params["prior_pos"]
    if not text.startswith("masks:"):
        return distribution_from_spec(text, d, prior_pos, option=label)
    table = json.loads(text[len("masks:"):])
    tables = {side: {tuple(int(v) for v in k.split(",")): p for k, p in table[side].items()}
              for side in ("pos", "neg")}
    try:
        return MaskDistribution(d=d, pos=tables["pos"], neg=tables["neg"], prior_pos=prior_pos)
    except InputError as exc:
        raise InputError(f"{label}: {exc}") from None


def task_memory_bytes(k: int, replicas: int) -> int:
    """Rough size of the arrays of one task of ``replicas`` replicas at width k: filters
    w0, u0, w, u, the loss groups and counts, and the per-replica results."""
    return int(replicas * (4 * k * 2 * 8 + 32 * 8 * 6 + 2 * 16 * 8 + 16 * 8 * 2 + 64))


def _check_task_memory(points) -> None:
    if not points:
        return
    worst = max(points, key=lambda p: task_memory_bytes(p.params["k"], min(p.chunk,
                                                                             p.replicas)))
    need = task_memory_bytes(worst.params["k"], min(worst.chunk, worst.replicas))
    check_memory("chunk", need, f"arrays of one task ({worst.label}, k={worst.params['k']})")


__all__ = ["CHUNK", "COLUMN_NAMES", "FORMAT", "LATER_PARAMS", "NOT_SWEPT", "Point",
           "SweepSpec", "canonical_json", "config_values", "hashed_params", "load_spec",
           "point_distribution", "point_params", "task_memory_bytes"]
