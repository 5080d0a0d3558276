"""What a task computes: chunks of replicas of grid points, from counts over the pattern
sets (never point arrays), through the engine's kernel. Runs in the client (in-process
sweeps) or on Dask workers; every function here is importable by name and its arguments
and results are small (parameters in; per-replica scalars out).
"""

from __future__ import annotations

import time

import numpy as np

#: Result columns of one replica, with their dtypes (the order of the point files).
RESULT_COLUMNS = {
    "status": np.int8, "converged_step": np.int64, "stop_step": np.int64,
    "loss": np.float64, "train_error": np.float64, "test_error": np.float64,
    "recovers_f_star": np.bool_,
}


#: The arrays of a chunk's ``weights`` (``save_weights = true``): initial and final filters
#: (n, k, 2), the final outputs N_W on every pattern set (n, 16) and the training counts of
#: every replica (n, 2, 16; one shared set repeated).
WEIGHT_KEYS = ("w0", "u0", "w", "u", "outputs", "counts")


def unit(point, chunk_index: int) -> tuple:
    """The picklable description of chunk ``chunk_index`` of ``point``: (point id, chunk
    index, canonical parameters, seed entropy, first replica, replicas, measure names,
    whether to return the weights)."""
    start, n = point.chunks[chunk_index]
    return (point.id, chunk_index, point.params, point.entropy, start, n, point.measures,
            getattr(point, "save_weights", False))


def compute_unit(u: tuple) -> dict:
    """Train one chunk: draw its training sets (as counts) and initializations from the
    chunk's seed, run GD, and return the per-replica results and the seconds it took.

    With measure names (the unit's 7th entry), each measure of :mod:`xordsim.measures` is
    evaluated on the trained chunk into ``measure.NAME`` (float64; NaN where it failed or
    is undefined) and ``measure_failures`` holds, per replica, "NAME: reason" entries
    joined by "; " (empty when none). With the 8th entry true the result also holds
    ``weights``: the arrays :data:`WEIGHT_KEYS` of the chunk.
    """
    from xordsim.config import GDConfig
    from xordsim.data import decoy_training_set, mask_counts, sample_mask_counts, xor_dataset
    from xordsim.engine import train_groups
    from xordsim.model import groups_from_counts, recovers_f_star
    from xordsim.patterns import reachable_masks
    from xordsim.sweep.spec import config_values, point_distribution

    t0 = time.perf_counter()
    pid, chunk_index, params, entropy, start, n, *rest = u
    measures = tuple(rest[0]) if rest else ()
    save_weights = bool(rest[1]) if len(rest) > 1 else False
    rng = np.random.default_rng(np.random.SeedSequence(list(entropy),
                                                       spawn_key=(1, chunk_index)))
    problem = params["problem"]
    cfg = GDConfig(**config_values(params), replicas=n)
    if problem == "xor":
        counts, d, dist = mask_counts(*xor_dataset()), 1, None
    else:
        d, data = params["d"], params["data"]
        dist = point_distribution(params)
        if data == "fresh":
            counts = sample_mask_counts(dist, params["m"], n, rng)
        else:  # one training set for every replica of the point, from its own stream
            drng = np.random.default_rng(np.random.SeedSequence(list(entropy), spawn_key=(0,)))
            if data == "shared":
                counts = sample_mask_counts(dist, params["m"], 1, drng)
            else:
                counts = mask_counts(*decoy_training_set(d, 6, drng))
    groups = groups_from_counts(counts, problem, cfg.margin)
    res = train_groups(groups, d, cfg, replicas=n, seed=rng, test_distribution=dist)
    out = {
        "status": res.status.astype(np.int8), "converged_step": res.converged_step,
        "stop_step": res.stop_step, "loss": res.loss, "train_error": res.train_error,
        "test_error": res.test_error,
        "recovers_f_star": recovers_f_star(res.outputs, reachable_masks(d)),
    }
    arrays = {k: np.ascontiguousarray(v, dtype=RESULT_COLUMNS[k]) for k, v in out.items()}
    if measures:
        arrays.update(measure_columns(res, counts, dist, measures))
    result = {"id": pid, "chunk": chunk_index, "start": start, "n": n, "arrays": arrays}
    if save_weights:
        result["weights"] = {
            "w0": res.w0, "u0": res.u0, "w": res.w, "u": res.u, "outputs": res.outputs,
            "counts": np.ascontiguousarray(np.broadcast_to(counts, (n, 2, 16)),
                                           dtype=np.int64)}
    result["seconds"] = time.perf_counter() - t0
    return result


def measure_columns(res, counts, dist, names) -> dict:
    """``measure.NAME`` arrays and the ``measure_failures`` strings of a trained chunk."""
    from xordsim.measures.registry import TrainedPoint, evaluate
    from xordsim.sweep.spec import MEASURE_PREFIX

    ev = evaluate(TrainedPoint.from_result(res, counts, dist), names)
    cols = {MEASURE_PREFIX + name: np.ascontiguousarray(v, dtype=np.float64)
            for name, v in ev.values.items()}
    notes: list[list[str]] = [[] for _ in range(res.w.shape[0])]
    for name, fails in ev.failures.items():
        for r, why in fails:
            if why != "nan":  # NaN values speak for themselves; errors need their reason
                notes[r].append(f"{name}: {why}")
    cols["measure_failures"] = np.array(["; ".join(x) for x in notes], dtype=object)
    return cols


def run_task(units: list) -> list[dict]:
    """A task: several chunks (of one or more points), computed one after the other."""
    return [compute_unit(u) for u in units]


def warm(measures: tuple = ()) -> float:
    """Compile (or load from the numba cache) every kernel a task uses, on a tiny run of
    each problem (with the sweep's ``measures``); returns the seconds it took."""
    t0 = time.perf_counter()
    base = {"k": 2, "steps": 2, "gamma": 1.0, "c_eta": 0.1, "lr": 0.05, "init_std": 0.01,
            "max_weight": 1e12}
    xord = dict(base, problem="xord", data="fresh", d=2, m=2, distribution="uniform",
                prior_pos=0.5)
    for params in (dict(base, problem="xor"), xord):
        compute_unit(("warm", 0, params, (0,), 0, 2, tuple(measures)))
    return time.perf_counter() - t0


def numba_threads() -> int:
    """The number of numba threads of this process (for the workers' check)."""
    import numba

    return int(numba.get_num_threads())


__all__ = ["RESULT_COLUMNS", "WEIGHT_KEYS", "compute_unit", "numba_threads", "run_task", "unit",
           "warm"]
