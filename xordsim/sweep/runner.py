"""Running a sweep: in-process (the default) or on a Dask cluster, resuming from the store.

In-process, the points run one after the other, each chunk through the numba-parallel
engine. With Dask (``local:N`` or a scheduler address), chunks are packed into tasks,
a bounded number of tasks is in flight, and the client writes each point's file as soon
as its last chunk arrives. Every chunk draws from its own seed, so the packing, the
number of workers and the order of completion change no number.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import sys
import time

from xordsim._validate import InputError
from xordsim.config import EXTRAS

#: Environment variable naming a scheduler to use when no ``dask`` argument is given.
SCHEDULER_ENV = "XORDSIM_DASK_SCHEDULER"

_LOCAL = re.compile(r"local:(\d+)")
_ADDRESS = re.compile(r"(tcp|tls|ucx|ws|wss)://[^\s/]+:\d+/?")

#: Most local workers, and tasks in flight per worker thread.
MAX_LOCAL_WORKERS = 1024
IN_FLIGHT_PER_THREAD = 2
#: Tasks aimed at per worker thread when packing small chunks together.
TASKS_PER_THREAD = 4


def parse_dask(value: str | None, option: str = "--dask") -> str | None:
    """Check a scheduler choice: ``local:N``, ``tcp://HOST:PORT`` (tls, ucx, ws too), or
    None / ``off`` for in-process. Without one, ``$XORDSIM_DASK_SCHEDULER`` applies."""
    if value is None:
        value = os.environ.get(SCHEDULER_ENV) or None
        option = f"${SCHEDULER_ENV}"
        if value is None:
            return None
    value = value.strip()
    if value in ("off", "none", ""):
        return None
    m = _LOCAL.fullmatch(value)
    if m:
        n = int(m.group(1))
        if not 1 <= n <= MAX_LOCAL_WORKERS:
            raise InputError(f"{option}: local:N needs N in [1, {MAX_LOCAL_WORKERS}], got {n}")
        return value
    if _ADDRESS.fullmatch(value):
        return value
    raise InputError(f"{option} must be local:N or a scheduler address like "
                     f"tcp://HOST:PORT (or off); got {value!r}")


def missing_extra(extra: str) -> list[str]:
    return [m for m in EXTRAS[extra] if importlib.util.find_spec(m) is None]


def require(extra: str, what: str) -> None:
    missing = missing_extra(extra)
    if missing:
        raise InputError(f"{what} needs the optional dependencies {', '.join(missing)} (not "
                         f"installed); install it with: pip install \"xordsim[{extra}]\"")


def run(spec, out, *, dask: str | None = None, force: bool = False, quiet: bool = False,
        progress: bool | None = None, window: int | None = None) -> dict:
    """Compute the points of ``spec`` that ``out`` does not hold yet; return a record
    (points computed, skipped, replicas, seconds, executor).

    ``spec``: a :class:`~xordsim.sweep.spec.SweepSpec`, a TOML file, TOML text or a dict.
    ``dask``: None (in-process, or ``$XORDSIM_DASK_SCHEDULER`` when set), ``"local:N"``
    (a LocalCluster of N single-threaded worker processes on 127.0.0.1, shut down at the
    end) or a scheduler address. ``progress``: a tqdm bar over points (default: only on a
    terminal, never with ``quiet``). ``window``: tasks in flight (default 2 per thread).
    """
    from xordsim.sweep.spec import SweepSpec, load_spec
    from xordsim.sweep.store import Store

    require("sweep", "a sweep")
    if not isinstance(spec, SweepSpec):
        spec = load_spec(spec)
    dask = parse_dask(dask, "dask")
    if dask is not None:
        require("dask", "--dask")
    store = Store(out)
    t0 = time.perf_counter()
    with store.lock():
        store.remove_temporary()
        pending = store.prepare(spec, force=force)
        show = (not quiet) and (sys.stderr.isatty() if progress is None else progress)
        record = {"points": len(spec.points), "computed": 0,
                  "skipped": len(spec.points) - len(pending), "replicas": 0,
                  "executor": dask or "in-process"}
        if pending:
            bar = _Progress(len(pending), show)
            try:
                if dask is None:
                    _run_local(pending, store, bar, record)
                else:
                    _run_dask(pending, store, bar, record, dask, window)
            finally:
                bar.close()
                store.write_manifest(spec)
    record["seconds"] = time.perf_counter() - t0
    return record


class _Progress:
    """tqdm over points with replicas/s in the postfix (or nothing)."""

    def __init__(self, total: int, show: bool):
        self.bar = None
        self.replicas = 0
        self.t0 = time.perf_counter()
        if show:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="point", desc="sweep", file=sys.stderr)

    def update(self, replicas: int) -> None:
        self.replicas += replicas
        if self.bar is not None:
            rate = self.replicas / max(time.perf_counter() - self.t0, 1e-9)
            self.bar.set_postfix_str(f"{rate:.3g} replicas/s", refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _run_local(pending, store, bar, record) -> None:
    from xordsim.sweep.compute import compute_unit, unit

    for point in pending:
        parts = [compute_unit(unit(point, c)) for c in range(len(point.chunks))]
        store.write_point(point, parts)
        record["computed"] += 1
        record["replicas"] += point.replicas
        bar.update(point.replicas)


def pack(pending, target_cost: float, max_replicas: int) -> list[list[tuple]]:
    """Chunks of the pending points, in order, packed into tasks: consecutive chunks
    share a task while its cost (replicas x steps x (k + 8)) stays under ``target_cost``
    and its replicas under ``max_replicas``; a chunk is never split (its seed is fixed)."""
    from xordsim.sweep.compute import unit

    tasks, cur, cost, reps = [], [], 0.0, 0
    for point in pending:
        per = max(point.params["steps"], 1) * (point.params["k"] + 8)
        for c, (_, n) in enumerate(point.chunks):
            if cur and (cost + n * per > target_cost or reps + n > max_replicas):
                tasks.append(cur)
                cur, cost, reps = [], 0.0, 0
            cur.append(unit(point, c))
            cost += n * per
            reps += n
    if cur:
        tasks.append(cur)
    return tasks


def _threads(client) -> int:
    info = client.scheduler_info()
    return sum(w.get("nthreads", 1) for w in info.get("workers", {}).values())


def start_client(address: str):
    """A distributed Client for ``address``; for ``local:N`` also its LocalCluster (N
    single-threaded worker processes on 127.0.0.1, NUMBA_NUM_THREADS=1 in each)."""
    from distributed import Client

    m = _LOCAL.fullmatch(address)
    if m is None:
        try:
            return Client(address, timeout="30s"), None
        except OSError as exc:
            raise InputError(f"--dask: cannot reach the scheduler at {address} ({exc})"
                             ) from None
    cluster = local_cluster(int(m.group(1)))
    try:
        return Client(cluster), cluster
    except BaseException:
        cluster.close()
        raise


def local_cluster(n: int):
    """A ``distributed.LocalCluster`` of ``n`` single-threaded worker processes on
    127.0.0.1 with NUMBA_NUM_THREADS=1 (and OMP/MKL/OpenBLAS) in each."""
    import logging

    from distributed import LocalCluster

    one = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    return LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                        host="127.0.0.1", dashboard_address=None, env=one,
                        silence_logs=logging.ERROR)


class SharedCluster:
    """One Dask cluster for several sweeps (``xordsim reproduce`` runs every sweep figure
    on it): ``with SharedCluster(dask) as c: run(spec, out, dask=c.address())``.

    ``dask``: a value of :func:`parse_dask` -- None (in-process: :meth:`address` is None),
    a scheduler address (passed through) or ``local:N``, whose LocalCluster is started on
    the first call of :meth:`address` (after filling this machine's numba cache, so the
    workers only load it) and shut down when the block ends.
    """

    def __init__(self, dask: str | None):
        self.dask = dask
        self.cluster = None

    def address(self) -> str | None:
        m = _LOCAL.fullmatch(self.dask or "")
        if m is None:
            return self.dask
        if self.cluster is None:
            from xordsim.sweep.compute import warm

            warm()
            self.cluster = local_cluster(int(m.group(1)))
        return self.cluster.scheduler_address

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None

    def __enter__(self) -> SharedCluster:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def warm_workers(client, measures: tuple = ()) -> None:
    """Load (or compile) the kernels on every worker before any task (those of the sweep's
    ``measures`` too): first one worker per host, then the others, so that workers of one
    host never compile into the same numba cache at once."""
    from xordsim.sweep.compute import warm

    workers = client.scheduler_info().get("workers", {})
    first, rest, hosts = [], [], set()
    for addr, info in workers.items():
        host = info.get("host", addr)
        (rest if host in hosts else first).append(addr)
        hosts.add(host)
    for group in (first, rest):
        if group:
            client.run(warm, tuple(measures), workers=group)


def _run_dask(pending, store, bar, record, address, window) -> None:
    from distributed import as_completed

    from xordsim.sweep.compute import run_task, warm

    measures = tuple(dict.fromkeys(m for p in pending for m in p.measures))
    if address.startswith("local:"):
        warm(measures)  # the workers share this machine's numba cache: fill it once, here
    client, cluster = start_client(address)
    try:
        warm_workers(client, measures)
        threads = max(_threads(client), 1)
        total_cost = sum(p.replicas * max(p.params["steps"], 1) * (p.params["k"] + 8)
                         for p in pending)
        max_reps = max(p.chunk for p in pending)
        tasks = pack(pending, math.ceil(total_cost / (TASKS_PER_THREAD * threads)), max_reps)
        by_id = {p.id: p for p in pending}
        parts: dict[str, list] = {}
        it = iter(enumerate(tasks))

        def submit():
            i, units = next(it)
            return client.submit(run_task, units, key=f"xordsim-sweep-{os.getpid()}-{i}",
                                 pure=False)

        limit = window or IN_FLIGHT_PER_THREAD * threads
        ac = as_completed()
        for _ in range(min(limit, len(tasks))):
            ac.add(submit())
        submitted = min(limit, len(tasks))
        for fut in ac:
            results = fut.result()
            fut.release()
            if submitted < len(tasks):
                # the window grows with the cluster (adaptive scaling adds workers)
                limit = window or IN_FLIGHT_PER_THREAD * max(_threads(client), 1)
                while submitted < len(tasks) and ac.count() < limit:
                    ac.add(submit())
                    submitted += 1
            for r in results:
                got = parts.setdefault(r["id"], [])
                got.append(r)
                point = by_id[r["id"]]
                if len(got) == len(point.chunks):
                    store.write_point(point, parts.pop(r["id"]))
                    record["computed"] += 1
                    record["replicas"] += point.replicas
                    bar.update(point.replicas)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def status(out, spec=None) -> dict:
    """Progress of the sweep in ``out``: points done and total, the mean compute time of a
    finished point and the compute time still needed at that rate (in-process; divide by
    the number of workers on a cluster). With ``spec``, the store must hold that spec."""
    from xordsim.sweep.spec import SweepSpec, load_spec
    from xordsim.sweep.store import Store

    store = Store(out)
    manifest = store.manifest()
    if spec is not None and not isinstance(spec, SweepSpec):
        spec = load_spec(spec)
    if manifest is None:
        if spec is None:
            raise InputError(f"{out} holds no sweep (no manifest.json)")
        ids, state = [p.id for p in spec.points], "not started"
    else:
        if spec is not None and manifest.get("spec_hash") != spec.hash:
            raise InputError(f"--out {out} holds a sweep of another spec")
        ids, state = [p["id"] for p in manifest["points"]], "started"
    done = store.done_ids() & set(ids)
    seconds = []
    if done:
        import pyarrow.parquet as pq

        for pid in sorted(done)[:200]:  # a sample is enough for the estimate
            col = pq.read_table(store.point_path(pid), columns=["point_seconds"])
            seconds.append(float(col.column(0)[0].as_py()))
    mean = sum(seconds) / len(seconds) if seconds else float("nan")
    remaining = len(ids) - len(done)
    return {"done": len(done), "total": len(ids), "remaining": remaining, "state": state,
            "point_seconds_mean": mean,
            "remaining_seconds": remaining * mean if seconds else float("nan")}


__all__ = ["SCHEDULER_ENV", "SharedCluster", "local_cluster", "pack", "parse_dask", "run",
           "start_client", "status", "warm_workers"]
