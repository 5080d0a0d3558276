"""The measure registry: a generalization measure is a function of one trained grid point.

A measure receives a :class:`TrainedPoint` -- the initial and final filters of R replicas,
their training sets as counts over the pattern sets, the settings, and the exact outputs
and errors -- and returns one float per replica. The built-in measures of the related
papers are registered the same way as a user's (:func:`register`), so the sweeps, the
``xordsim measures`` command and the benchmark loop over one registry.

A measure that raises, returns the wrong shape or returns NaN for some replicas is never
dropped silently: :func:`evaluate` retries a failing measure replica by replica, marks the
failing replicas NaN and reports each failure (:class:`Evaluation`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from xordsim._validate import InputError
from xordsim.config import GDConfig

#: What a measure may need from a trained point.
NEEDS = {
    "init": "the initial filters w0, u0",
    "final": "the final filters w, u",
    "data": "the training sets (counts over the pattern sets and labels)",
    "test": "the test distribution (exact mask probabilities)",
    "outcome": "the run's outcome: status, final outputs, train and test errors",
}


@dataclass(frozen=True, eq=False)
class TrainedPoint:
    """One trained grid point: R replicas of one :class:`~xordsim.config.GDConfig`.

    Attributes
    ----------
    config : GDConfig
        The settings, resolved (gamma, lr and init_std written out).
    counts : ndarray (Rd, 2, 16) int64
        The training sets as counts over the pattern sets: ``counts[r, 1, M]`` positives
        and ``counts[r, 0, M]`` negatives of set r with pattern set M (Rd = 1: one set
        shared by every replica; :func:`xordsim.data.sample_mask_counts`).
    w0, u0, w, u : ndarray (R, k, 2) float64
        Initial and final filters.
    outputs : ndarray (R, 16)
        N_W of the final network on every pattern set (column 0, the empty set, unused).
    status, train_error, test_error : ndarray (R,)
        The engine's outcome (:data:`xordsim.engine.STATUS_NAMES`), exact errors.
    test_probs : ndarray (2, 16)
        The test distribution's joint P(y, P_x = M) (row 0: y = -1, row 1: y = +1).
    d : int
        Patterns per point.
    cache : dict
        Intermediate results shared by several measures of the same point (e.g. all the
        capacity keys come from one computation); not part of the point's identity.
    """

    config: GDConfig
    counts: np.ndarray
    w0: np.ndarray
    u0: np.ndarray
    w: np.ndarray
    u: np.ndarray
    outputs: np.ndarray
    status: np.ndarray
    train_error: np.ndarray
    test_error: np.ndarray
    test_probs: np.ndarray
    d: int
    cache: dict = field(default_factory=dict, repr=False)

    @property
    def replicas(self) -> int:
        return int(self.w.shape[0])

    @property
    def k(self) -> int:
        return int(self.w.shape[1])

    def replica_counts(self) -> np.ndarray:
        """The training set of every replica, (R, 2, 16) (a view when one set is shared)."""
        return np.broadcast_to(self.counts, (self.replicas, 2, 16))

    def select(self, index) -> TrainedPoint:
        """The replicas ``index`` (an int, slice or index array) as a point of their own."""
        idx = np.atleast_1d(np.arange(self.replicas)[index])
        counts = self.counts if self.counts.shape[0] == 1 else self.counts[idx]
        return dataclasses.replace(
            self, counts=counts, w0=self.w0[idx], u0=self.u0[idx], w=self.w[idx],
            u=self.u[idx], outputs=self.outputs[idx], status=self.status[idx],
            train_error=self.train_error[idx], test_error=self.test_error[idx],
            config=self.config.replace(replicas=idx.size), cache={})

    @classmethod
    def from_result(cls, result, counts, test_distribution=None) -> TrainedPoint:
        """A point from a :class:`~xordsim.engine.TrainResult` and its training sets' counts
        (:func:`xordsim.data.mask_counts` of the points, or the sampled counts)."""
        from xordsim.data import uniform_distribution

        d = int(result.params["d"])
        dist = uniform_distribution(d) if test_distribution is None else test_distribution
        counts = np.asarray(counts, dtype=np.int64)
        if counts.ndim == 2:
            counts = counts[None]
        if counts.shape[1:] != (2, 16) or counts.shape[0] not in (1, result.w.shape[0]):
            R = result.w.shape[0]
            raise InputError(f"counts must have shape (2, 16), (1, 2, 16) or (R={R}, 2, 16); "
                             f"got {counts.shape}")
        return cls(config=result.config.resolved(), counts=counts, w0=result.w0, u0=result.u0,
                   w=result.w, u=result.u, outputs=result.outputs, status=result.status,
                   train_error=result.train_error, test_error=result.test_error,
                   test_probs=np.asarray(dist.joint_mask_probs(), dtype=float), d=d)

    @classmethod
    def from_npz(cls, path) -> TrainedPoint:
        """A point from the file ``xordsim train --save FILE.npz`` writes.

        Every key is checked (present, shape, dtype, finite where it must be); a file that
        is not such an archive raises :class:`InputError` naming the file and the key.
        """
        import json
        import zipfile
        from pathlib import Path

        from xordsim.data import distribution_from_spec, mask_counts, uniform_distribution
        from xordsim.model import outputs_all_masks

        path = Path(path)
        name = str(path)
        if not path.is_file():
            raise InputError(f"{name}: no such file")
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {key: z[key] for key in z.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
            raise InputError(f"{name}: not an npz archive written by 'xordsim train --save' "
                             f"({type(e).__name__})") from None
        need = ("x", "y", "w0", "u0", "w", "u", "status", "train_error", "test_error",
                "config_json")
        missing = [key for key in need if key not in arrays]
        if missing:
            raise InputError(f"{name}: missing key {missing[0]} (a file of 'xordsim train "
                             f"--save' has {', '.join(need)})")
        try:
            cfg = GDConfig.from_dict(json.loads(str(arrays["config_json"][()])))
        except (ValueError, TypeError, KeyError, AttributeError, InputError) as e:
            raise InputError(f"{name}: key config_json is not a valid config "
                             f"({' '.join(str(e).split())})") from None
        w0 = arrays["w0"]
        if w0.ndim != 3 or w0.shape[1:] != (cfg.k, 2) or w0.dtype.kind != "f":
            raise InputError(f"{name}: key w0 must be a float array (R, k={cfg.k}, 2); got "
                             f"{w0.dtype} {w0.shape}")
        R = w0.shape[0]
        for key in ("u0", "w", "u"):
            a = arrays[key]
            if a.shape != w0.shape or a.dtype.kind != "f":
                raise InputError(f"{name}: key {key} must be a float array {w0.shape}; got "
                                 f"{a.dtype} {a.shape}")
        if not (np.all(np.isfinite(w0)) and np.all(np.isfinite(arrays["u0"]))):
            raise InputError(f"{name}: keys w0 and u0 must be finite")
        for key in ("status", "train_error", "test_error"):
            if arrays[key].shape != (R,) or arrays[key].dtype.kind not in "iuf":
                raise InputError(f"{name}: key {key} must be a numeric array ({R},); got "
                                 f"{arrays[key].dtype} {arrays[key].shape}")
        x, y = arrays["x"], arrays["y"]
        if x.dtype.kind not in "iu" or y.dtype.kind not in "iu" or x.ndim not in (3, 4) \
                or y.ndim != x.ndim - 2 or (x.ndim == 4 and x.shape[0] not in (1, R)) \
                or (x.size and not np.all(np.abs(x) == 1)):
            raise InputError(f"{name}: keys x and y must be integer points (n, d, 2) or "
                             f"(R={R}, n, d, 2) of ±1 and labels (n,) or (R, n); got x "
                             f"{x.dtype} {x.shape}, y {y.dtype} {y.shape}")
        counts = mask_counts(x, y)
        d = int(x.shape[-2])
        dist = (uniform_distribution(d) if cfg.problem == "xor" else
                distribution_from_spec(cfg.distribution, d, cfg.prior_pos,
                                       option=f"{name}: distribution"))
        alpha = cfg.output_scale
        w, u = arrays["w"].astype(float), arrays["u"].astype(float)
        finite = np.all(np.isfinite(w), axis=(1, 2)) & np.all(np.isfinite(u), axis=(1, 2))
        with np.errstate(invalid="ignore", over="ignore"):
            outputs = alpha * outputs_all_masks(np.where(finite[:, None, None], w, 0.0),
                                                np.where(finite[:, None, None], u, 0.0))
        outputs[~finite] = np.nan
        return cls(config=cfg.resolved().replace(replicas=R), counts=counts,
                   w0=w0.astype(float), u0=arrays["u0"].astype(float), w=w, u=u,
                   outputs=outputs, status=arrays["status"].astype(np.int64),
                   train_error=arrays["train_error"].astype(float),
                   test_error=arrays["test_error"].astype(float),
                   test_probs=np.asarray(dist.joint_mask_probs(), dtype=float), d=d)


@dataclass(frozen=True)
class Measure:
    """A registered measure: ``fn(point) -> (R,) floats``, what it needs, where it is from."""

    name: str
    fn: Callable[[TrainedPoint], np.ndarray]
    needs: frozenset = frozenset({"final"})
    description: str = ""
    source: str = ""
    builtin: bool = False


@dataclass
class Evaluation:
    """Values of several measures on one point, and what failed.

    ``values[name]`` is (R,) float64 with NaN where the measure failed or returned NaN;
    ``failures[name]`` lists (replica, reason) for each such replica (reason ``"nan"`` when
    the function itself returned NaN).
    """

    values: dict = field(default_factory=dict)
    failures: dict = field(default_factory=dict)

    def failed_replicas(self, name: str) -> int:
        return len(self.failures.get(name, ()))


_REGISTRY: dict[str, Measure] = {}
_BUILTINS_LOADED = False


def _load_builtins() -> None:
    global _BUILTINS_LOADED
    if not _BUILTINS_LOADED:
        _BUILTINS_LOADED = True
        import xordsim.measures.builtin  # noqa: F401  (registers on import)


def register(name: str, fn: Callable | None = None, *, needs: Iterable[str] = ("final",),
             description: str = "", source: str = "", replace: bool = False,
             _builtin: bool = False):
    """Register ``fn(point: TrainedPoint) -> array (R,)`` as the measure ``name``.

    Usable as ``register("name", fn)`` or as a decorator ``@register("name")``. ``needs``
    is a subset of :data:`NEEDS`. A name already registered is refused unless
    ``replace=True``. Returns ``fn`` (so the decorator leaves the function usable).
    """
    if not isinstance(name, str) or not name or name != name.strip():
        raise InputError(f"measure name must be a non-empty string without surrounding "
                         f"spaces; got {name!r}")
    needs = frozenset(needs)
    unknown = sorted(needs - set(NEEDS))
    if unknown:
        raise InputError(f"needs must be a subset of {', '.join(NEEDS)}; got {', '.join(unknown)}")

    def add(f: Callable) -> Callable:
        if not callable(f):
            raise InputError(f"measure {name!r}: fn must be callable; got {type(f).__name__}")
        if not _builtin:
            _load_builtins()
        if name in _REGISTRY and not replace:
            raise InputError(f"measure {name!r} is already registered (pass replace=True)")
        _REGISTRY[name] = Measure(name, f, needs, description or (f.__doc__ or "").strip()
                                  .split("\n")[0], source, _builtin)
        return f

    return add if fn is None else add(fn)


def unregister(name: str) -> None:
    """Remove a user-registered measure (built-ins cannot be removed)."""
    _load_builtins()
    m = get(name)
    if m.builtin:
        raise InputError(f"measure {name!r} is built in and cannot be unregistered")
    del _REGISTRY[name]


def get(name: str) -> Measure:
    _load_builtins()
    if name not in _REGISTRY:
        raise InputError(f"unknown measure {name!r}; registered: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def available(builtin: bool | None = None) -> list[str]:
    """Names of the registered measures (only built-ins / only users' with ``builtin``)."""
    _load_builtins()
    return [n for n, m in _REGISTRY.items() if builtin is None or m.builtin == builtin]


def _call(m: Measure, point: TrainedPoint) -> np.ndarray:
    v = np.asarray(m.fn(point), dtype=float)
    if v.shape != (point.replicas,):
        raise ValueError(f"returned shape {v.shape}, expected ({point.replicas},)")
    return v


def evaluate(point: TrainedPoint, names: Iterable[str] | None = None) -> Evaluation:
    """Every measure ``names`` (default: all registered) on ``point``.

    A measure that raises (or returns a wrong shape) on the whole point is retried replica
    by replica, so that only the failing replicas are marked; NaN results are reported too.
    """
    names = available() if names is None else list(names)
    out = Evaluation()
    for name in names:
        m = get(name)
        fails = []
        try:
            v = _call(m, point)
        except Exception:  # noqa: BLE001 -- a user's measure may fail in any way; reported
            v = np.full(point.replicas, np.nan)
            for r in range(point.replicas):
                try:
                    v[r] = _call(m, point.select(r))[0]
                except Exception as e:  # noqa: BLE001
                    fails.append((r, f"{type(e).__name__}: {e}"))
        done = {r for r, _ in fails}
        fails += [(int(r), "nan") for r in np.flatnonzero(np.isnan(v)) if r not in done]
        out.values[name] = v
        if fails:
            out.failures[name] = sorted(fails)
    return out


__all__ = ["NEEDS", "Evaluation", "Measure", "TrainedPoint", "available", "evaluate", "get",
           "register", "unregister"]
