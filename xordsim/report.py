"""``xordsim reproduce``: every theorem estimate and every figure, and a report.

Writes into the output directory the figures (PNG, SVG), the CSVs behind them,
``theorems.json``, ``report.md`` and a self-contained ``report.html`` (figures embedded).

The stages are ``theorems`` (every result of :mod:`xordsim.theorems`, plus the rows of
Lemmas 3.2 and 6.2 with the paper's literal a_i(t) convention) and one stage per figure
of :data:`xordsim.figures.FIGURES`. A figure whose optional extra is not installed
(:func:`~xordsim.figures.registry.missing_requirements`) is skipped with a one-line
warning and the report says why.

Every file is written atomically. A stage whose outputs already exist with the same
settings, seed and version is not recomputed (``force`` recomputes everything), so an
interrupted run resumes where it stopped; ``reproduce.json`` records the version of each
figure stage.

The report opens with a one-line summary (and a banner outside full mode), then the
findings (:mod:`xordsim.findings`), a table of contents, the theorem table, the figures
and the run's settings, times, machine and versions.

With ``jobs`` > 1 the stages run at once in that many worker processes, the longest
first, each figure and each theorem result a task with 1 / ``jobs`` of the cores, so
that single-threaded phases (NumPy glue, matplotlib, MNIST) no longer leave cores idle.
The numbers do not depend on it (each depends on its own seed and settings only); the
default (:func:`default_jobs`) is 2 on 2 or more cores, 1 in ``tiny`` mode or with one
thread (``jobs=1`` runs the stages one after the other in this process).

Progress: on a terminal one bar per stage (with ``jobs`` > 1 one bar for all the tasks,
a line per finished stage above it); otherwise (a log file, CI) one line per finished
stage, in registry order, and with ``jobs`` > 1 a line of tasks done every
:data:`LOG_EVERY_S` seconds; ``quiet`` prints nothing.
"""

from __future__ import annotations

import base64
import html
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xordsim import __version__
from xordsim._validate import InputError
from xordsim.figures import FIGURES, draw, missing_requirements
from xordsim.figures.common import settings_text
from xordsim.findings import (
    EXACT,
    NOT_COMPUTED,
    NOT_OBSERVED,
    OBSERVED,
    STATUS_TEXT,
    Finding,
    FindingSpec,
    Results,
    evaluate,
    figure_anchor,
)
from xordsim.io import write_json, write_text
from xordsim.theorems import estimate, summary_counts, table_columns
from xordsim.theorems.specs import SPECS, resolve
from xordsim.theorems.verdicts import CONSISTENT, OUTSIDE, VIOLATED

#: The paper's literal count of a_i(t) (t' <= t), run beside the default (finding a).
INCLUSIVE = {"a_convention": "inclusive"}

#: The theorem stage of each mode: the results (None: all), the replicas per row (None:
#: each result's default), per-result parameter overrides, and extra rows
#: (result, replicas, parameters) run right after their result.
THEOREM_SETTINGS = {
    "full": dict(names=None, replicas=None, overrides={},
                 extra=[("lemma3.2", 200, INCLUSIVE), ("lemma6.2", 200, INCLUSIVE)]),
    "quick": dict(names=None, replicas=200, overrides={"thm6.5ex1": {"ms": (1, 16)}},
                  extra=[("lemma3.2", 200, INCLUSIVE), ("lemma6.2", 200, INCLUSIVE)]),
    "tiny": dict(names=["lemma3.1", "lemma3.2", "thm3.4", "lemma6.1", "lemma6.2", "thm6.4",
                        "thm6.5"],
                 replicas=10,
                 overrides={"thm6.4": {"k": 2, "c_eta": 0.05, "steps": 2000},
                            "thm6.5": {"c_eta": 0.05, "steps": 400, "ms": (1, 8)}},
                 extra=[("lemma3.2", 10, INCLUSIVE), ("lemma6.2", 10, INCLUSIVE)]),
}

#: Module name -> the name ``pip`` installs it under, where they differ.
DISTRIBUTIONS = {"sklearn": "scikit-learn"}

COMPUTED, REUSED, SKIPPED = "computed", "reused", "skipped"
RECORD = "reproduce.json"


@dataclass
class Stage:
    """One stage of a run: what happened, how long it took, its settings."""

    name: str
    kind: str                       # "theorems" or "figure"
    title: str
    status: str = COMPUTED          # computed, reused or skipped
    seconds: float = 0.0            # wall time in this run
    compute_seconds: float | None = None  # time of the computation (this or an earlier run)
    settings: dict | None = None
    reason: str = ""                # why it was skipped
    doc: dict | None = None         # theorems.json or the figure's sidecar


# ----------------------------------------------------------------------------------------
# progress


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


#: Seconds between two progress lines of the stages run at once outside a terminal.
LOG_EVERY_S = 30.0


class Progress:
    """A bar per stage on a terminal, a line per finished stage elsewhere, or nothing."""

    def __init__(self, quiet: bool, stream=None):
        self.stream = sys.stderr if stream is None else stream
        self.mode = "quiet" if quiet else ("bars" if _isatty(self.stream) else "log")

    @contextmanager
    def bar(self, stage: str, total: int, unit: str, log: bool = False):
        """A progress bar for ``stage`` (on a terminal); yields ``update(n)``. With ``log``,
        elsewhere (a log file, CI) a line ``reproduce: <stage>: n of total <unit>s done``
        at the start and then at most every :data:`LOG_EVERY_S` seconds when ``update`` is
        called (``update(0)``: a heartbeat). The stages run at once report in registry
        order, so without it a log stays silent until the first stage is complete."""
        if self.mode == "log" and log:
            t0 = last = time.perf_counter()
            done = 0

            def line(now: float) -> None:
                print(f"reproduce: {stage}: {done} of {total} {unit}s done, {now - t0:.0f} s",
                      file=self.stream, flush=True)

            def update(n: int = 1) -> None:
                nonlocal done, last
                done += n
                now = time.perf_counter()
                if done < total and now - last >= LOG_EVERY_S:
                    last = now
                    line(now)

            line(t0)
            yield update
            return
        if self.mode != "bars":
            yield lambda n=1: None
            return
        from tqdm import tqdm

        width = shutil.get_terminal_size((100, 20)).columns or 100  # 0 on some ptys
        with tqdm(total=total, desc=stage, unit=unit, file=self.stream, leave=True,
                  ncols=min(width, 120)) as bar:
            yield bar.update
            if bar.n < total:
                bar.update(total - bar.n)

    def finished(self, stage: Stage, always: bool = False) -> None:
        """One line for a finished stage; on a terminal only for a stage that did not run
        under its own bar (reused, skipped), or ``always`` (stages run at once: one bar for
        all of them, a line per stage above it)."""
        if self.mode == "quiet" or (self.mode == "bars" and stage.status == COMPUTED
                                    and not always):
            return
        line = f"reproduce: {stage.name} {stage_outcome(stage)}"
        if self.mode == "bars":
            from tqdm import tqdm

            tqdm.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)


def stage_outcome(stage: Stage) -> str:
    if stage.status == SKIPPED:
        return f"skipped ({stage.reason})"
    if stage.status == REUSED:
        took = "" if stage.compute_seconds is None else f" in {stage.compute_seconds:.1f} s"
        return f"reused (computed by an earlier run{took})"
    return f"done in {stage.seconds:.1f} s"


# ----------------------------------------------------------------------------------------
# stages


def _up_to_date(sidecar: Path, meta: dict) -> bool:
    """Whether ``sidecar`` records ``meta`` and every file it lists still exists."""
    try:
        old = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return False
    if any(old.get(key) != value for key, value in meta.items()):
        return False
    return all((sidecar.parent / name).exists() for name in old.get("files", []))


def _jsonify(obj):
    return json.loads(json.dumps(obj, default=lambda o: o.tolist() if hasattr(o, "tolist")
                                 else str(o)))


def theorem_jobs(mode: str) -> list[tuple[str, int, dict]]:
    """The theorem stage's runs, in table order: (result, replicas, parameters)."""
    plan = THEOREM_SETTINGS[mode]
    jobs = []
    for spec in resolve(plan["names"]):
        jobs.append((spec.name, plan["replicas"] or spec.replicas,
                     dict(plan["overrides"].get(spec.name, {}))))
        jobs += [(name, n, dict(p)) for name, n, p in plan["extra"] if name == spec.name]
    return jobs


def _theorem_plan(out: Path, seed: int, mode: str, force: bool):
    """The theorem stage before it runs: the Stage, its record (meta) and path, and the
    jobs to run (None when an earlier run's theorems.json is reused)."""
    settings = _jsonify(THEOREM_SETTINGS[mode])
    meta = {"seed": seed, "mode": mode, "version": __version__, "settings": settings}
    path = out / "theorems.json"
    stage = Stage("theorems", "theorems", "Theorem estimates", settings=settings)
    if not force and _up_to_date(path, meta):
        stage.doc, stage.status = json.loads(path.read_text()), REUSED
        stage.compute_seconds = stage.doc.get("seconds")
        return stage, meta, path, None
    return stage, meta, path, theorem_jobs(mode)


def _finish_theorems(stage: Stage, meta: dict, path: Path, rows: list[dict],
                     seconds: float) -> None:
    stage.doc = dict(meta, seconds=seconds, files=[], rows=_jsonify(rows))
    write_json(path, stage.doc)
    stage.compute_seconds = seconds


def stage_theorems(out: Path, seed: int, mode: str, progress: Progress, force: bool) -> Stage:
    t0 = time.perf_counter()
    stage, meta, path, jobs = _theorem_plan(out, seed, mode, force)
    if jobs is not None:
        rows: list[dict] = []
        with progress.bar("theorems", sum(n * SPECS[name].rows for name, n, _ in jobs),
                          "replica") as update:
            done = expected = 0

            def advance(n: int) -> None:
                nonlocal done
                done += n
                update(n)

            for name, n, params in jobs:
                rows += estimate(name, n, seed, advance, **params)
                expected += n * SPECS[name].rows
                if done < expected:
                    advance(expected - done)
        _finish_theorems(stage, meta, path, rows, time.perf_counter() - t0)
    stage.seconds = time.perf_counter() - t0
    return stage


def _read_record(out: Path) -> dict:
    try:
        record = json.loads((out / RECORD).read_text())
    except (OSError, ValueError):
        return {}
    return record.get("stages", {}) if isinstance(record, dict) else {}


def skip_reason(name: str, mode: str) -> str:
    """Why figure ``name`` is not drawn in ``mode`` here ("" when it is)."""
    spec = FIGURES[name]
    missing = missing_requirements(spec)
    if missing:
        return (f"needs {', '.join(DISTRIBUTIONS.get(m, m) for m in missing)}: "
                f'pip install "xordsim[{spec.extra}]"')
    if not spec.tiny_reproduce and mode == "tiny":
        return f"figures of the [{spec.extra}] extra are not drawn in tiny mode"
    return ""


def _figure_plan(name: str, out: Path, seed: int, mode: str, force: bool,
                 record: dict) -> tuple[Stage, dict | None]:
    """Figure ``name``'s stage before it runs: skipped (with the reason), reused (an
    earlier run drew it with the same seed, settings and version), or to compute (then
    also the record entry to store once it is drawn)."""
    spec = FIGURES[name]
    stage = Stage(name, "figure", spec.title)
    stage.reason = skip_reason(name, mode)
    if stage.reason:
        stage.status = SKIPPED
        return stage, None
    stage.settings = _jsonify(spec.resolve(mode=mode))
    meta = {"seed": seed, "settings": stage.settings, "version": __version__}
    if (not force and record.get(name) == meta
            and _up_to_date(out / f"{name}.json", {"seed": seed, "settings": stage.settings})):
        stage.status = REUSED
        _read_sidecar(stage, out)
        return stage, None
    return stage, meta


def _read_sidecar(stage: Stage, out: Path) -> None:
    stage.doc = json.loads((out / f"{stage.name}.json").read_text())
    stage.compute_seconds = stage.doc.get("seconds")


def compute_figure(name: str, out: Path, seed: int, mode: str, force: bool,
                   dask: str | None = None) -> float:
    """Draw figure ``name`` (``force``: a sweep figure also recomputes its store; ``dask``:
    where a sweep figure runs, None in-process); returns the seconds it took."""
    t0 = time.perf_counter()
    options = {}
    if FIGURES[name].sweep is not None:
        from xordsim.figures.sweeps import remove_store

        if force:
            remove_store(out, name)
        options["dask"] = dask or "off"
    draw(name, out, seed, mode=mode, quiet=True, **options)
    return time.perf_counter() - t0


def stage_figure(name: str, out: Path, seed: int, mode: str, progress: Progress,
                 force: bool, record: dict, cluster=None) -> Stage:
    """Draw figure ``name`` unless an earlier run did with the same seed, settings and
    version (``force``: draw it anew; a sweep figure also recomputes its store). A sweep
    figure runs on ``cluster`` (:class:`xordsim.sweep.runner.SharedCluster`, started on
    first use) when one is given."""
    t0 = time.perf_counter()
    stage, meta = _figure_plan(name, out, seed, mode, force, record)
    if meta is not None:
        with progress.bar(name, 1, "figure") as update:
            dask = None
            if FIGURES[name].sweep is not None and cluster is not None:
                dask = cluster.address()
            compute_figure(name, out, seed, mode, force, dask)
            update(1)
        record[name] = meta
        write_json(out / RECORD, {"stages": record})
        _read_sidecar(stage, out)
    stage.seconds = time.perf_counter() - t0
    return stage


# ----------------------------------------------------------------------------------------
# stages at once: both cores busy


#: Seconds of each stage (figures) or theorem result, by mode, as measured on 2 cores with
#: one thread each (7 Dec 2026: the figures in `reproduce --jobs 2` runs, the theorem
#: results one by one); with ``jobs`` > 1 the longest start first, so that the last tasks
#: to run are short ones (the order changes no number). The ``quick`` costs are not the
#: full ones scaled: with the full ones the 4.7 s lr-transfer ran last in ``--quick``
#: (39.7 s to the last task; the mode's own order ends near the half of 75 s). A name not
#: listed counts :data:`DEFAULT_COST`; ``tiny`` (one after the other) uses ``full``'s.
COST_HINT = {
    "full": {"sample-complexity": 133.0, "fig4b": 117.0, "thm6.5ex1": 37.0,
             "capacity-width": 38.0, "mnist-lazy": 31.0, "random-labels": 25.0,
             "thm6.5": 12.3, "lemma6.2": 6.8, "lazy-rich": 5.6, "rank-agreement": 5.3,
             "lr-transfer": 5.1, "fig4a": 5.0, "losses": 3.8, "ntk-eigen": 2.9,
             "measures": 2.9, "dynamics": 2.5, "lemma3.2": 2.0, "fig1": 1.8, "margin": 1.3,
             "thm6.3": 1.2, "fig3": 0.9, "fig2": 0.9, "lemma3.1": 0.6, "lemma6.1": 0.2,
             "thm6.4": 0.1, "thm3.4": 0.04, "thm3.3": 0.01},
    "quick": {"fig4b": 15.4, "sample-complexity": 14.2, "lr-transfer": 4.7,
              "capacity-width": 4.5, "lazy-rich": 4.2, "thm6.5": 2.8, "rank-agreement": 2.7,
              "random-labels": 2.5, "lemma6.2": 2.2, "thm6.5ex1": 2.0, "ntk-eigen": 2.0,
              "measures": 1.8, "mnist-lazy": 1.7, "losses": 1.7, "dynamics": 1.4,
              "fig4a": 1.3, "fig1": 1.1, "lemma3.2": 1.0, "margin": 0.9, "fig2": 0.9,
              "fig3": 0.9, "thm6.3": 0.25, "lemma3.1": 0.04, "thm3.4": 0.03, "thm6.4": 0.03,
              "thm3.3": 0.0, "lemma6.1": 0.0},
}
DEFAULT_COST = 5.0


def default_jobs(mode: str = "full", threads: int | None = None) -> int:
    """Stages run at once by default: 2 where there are at least 2 numba threads (the
    cores, or ``--threads``), else 1; 1 in ``tiny`` mode (the tests' mode: its stages take
    less than starting a worker process).

    Two at once, each stage with half the threads, keep both cores busy through the
    single-threaded phases (NumPy glue, the MNIST experiments' small networks, matplotlib)
    while the longest stage (sample-complexity, numba-parallel GD) runs on one core.
    Measured on 2 cores (bench/bench_reproduce.py, warm numba cache, 7 Dec 2026): full
    337-353 s -> 237-280 s, ``--quick`` 55-63 s -> 40 s, the same numbers
    (docs/performance.md).
    More than two stages at once never paid on 2 cores: the longest stage then gets less
    than a core."""
    if mode == "tiny":
        return 1
    if threads is None:
        import numba

        threads = numba.get_num_threads()
    return 2 if threads >= 2 else 1


def _run_task(threads: int | None, fn, *args):
    """Run ``fn(*args)`` in a worker with ``threads`` numba threads (None: numba's
    default); the numbers never depend on the thread count."""
    if threads:
        import numba

        numba.set_num_threads(threads)
    return fn(*args)


def _theorem_job(name: str, n: int, seed: int, params: dict) -> tuple[list[dict], float]:
    t0 = time.perf_counter()
    rows = estimate(name, n, seed, None, **params)
    return rows, time.perf_counter() - t0


def _run_stages_at_once(out: Path, seed: int, mode: str, progress: Progress, force: bool,
                        record: dict, cluster, jobs: int) -> list[Stage]:
    """Every stage, in ``jobs`` worker processes: the figures to draw and the theorem
    stage's results are tasks, the longest first (the mode's :data:`COST_HINT`), each with 1 /
    ``jobs`` of this process's numba threads (1 thread with 2 jobs on 2 cores). The cores
    are never oversubscribed: numba splits a parallel loop evenly between its threads up
    front, so a thread that has to share its core holds up the others (measured: two
    2-thread workers on 2 cores made ``--quick`` 1.3-1.8x slower than one after the
    other). Every number is the same as one after the other (a stage's numbers depend on
    its seed and settings only; each worker writes its own files); this process keeps
    the record, writes theorems.json and reports the stages in registry order."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    th, th_meta, th_path, th_jobs = _theorem_plan(out, seed, mode, force)
    costs = COST_HINT.get(mode, COST_HINT["full"])
    stages: dict[str, Stage] = {"theorems": th}
    metas: dict[str, dict] = {}
    tasks: list[tuple[float, tuple, object, tuple]] = []
    for i, (name, n, params) in enumerate(th_jobs or []):
        tasks.append((costs.get(name, DEFAULT_COST), ("theorems", i), _theorem_job,
                      (name, n, seed, params)))
    dask = None
    for name in FIGURES:
        stage, meta = _figure_plan(name, out, seed, mode, force, record)
        stages[name] = stage
        if meta is None:
            continue
        metas[name] = meta
        if FIGURES[name].sweep is not None and cluster is not None and dask is None:
            dask = cluster.address()
        tasks.append((costs.get(name, DEFAULT_COST), ("figure", name), compute_figure,
                      (name, out, seed, mode, force, dask)))
    pending_theorems = len(th_jobs or [])
    th_rows: list[list[dict] | None] = [None] * pending_theorems
    th_seconds = 0.0
    done = {name for name, s in stages.items() if s.status != COMPUTED}
    order = list(stages)
    reported = 0

    def report_in_order() -> None:
        nonlocal reported
        while reported < len(order) and order[reported] in done:
            progress.finished(stages[order[reported]], always=True)
            reported += 1

    def collect(finished) -> None:
        """Record the finished tasks (a theorem result, or a figure) and report the stages
        that are complete, in registry order."""
        nonlocal pending_theorems, th_seconds
        for fut in finished:
            kind, key = futures[fut]
            if kind == "theorems":
                th_rows[key], seconds = fut.result()
                th_seconds += seconds
                pending_theorems -= 1
                if pending_theorems == 0:
                    _finish_theorems(th, th_meta, th_path,
                                     [r for rows in th_rows for r in rows or []], th_seconds)
                    th.seconds = th_seconds
                    done.add("theorems")
            else:
                stage = stages[key]
                stage.seconds = fut.result()
                record[key] = metas[key]
                write_json(out / RECORD, {"stages": record})
                _read_sidecar(stage, out)
                done.add(key)
        report_in_order()

    futures: dict = {}
    report_in_order()
    if tasks:
        import numba

        threads = numba.get_num_threads()  # --threads, or numba's default
        share = max(1, threads // jobs)
        tasks.sort(key=lambda t: -t[0])  # stable: equal costs keep registry order
        pool = ProcessPoolExecutor(min(jobs, len(tasks)),
                                   mp_context=multiprocessing.get_context("spawn"))
        try:
            futures = {pool.submit(_run_task, share, fn, *args): key
                       for _, key, fn, args in tasks}
            remaining = set(futures)
            with progress.bar(f"stages, {jobs} at once", len(tasks), "task", log=True) as tick:
                while remaining:  # wakes often enough for a log line every LOG_EVERY_S
                    finished, remaining = wait(remaining, timeout=max(LOG_EVERY_S / 3, 1.0),
                                               return_when=FIRST_COMPLETED)
                    tick(len(finished))
                    collect(finished)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
    return list(stages.values())


def reproduce(out: str | Path = "results", seed: int = 0, quick: bool = False,
              quiet: bool = False, force: bool = False, tiny: bool = False,
              dask: str | None = None, jobs: int | None = None) -> Path:
    """Run every stage into ``out`` and write the report; returns the path of report.html.

    ``dask``: where the figures that are sweeps run (``local:N`` or a scheduler address;
    None: in-process, or ``$XORDSIM_DASK_SCHEDULER`` when set; ``"off"``: in-process). A
    ``local:N`` cluster is started once, when the first sweep figure needs computing, and
    serves every sweep figure of the run; the other stages run in-process.

    ``jobs``: stages computed at once, each in a worker process with 1 / ``jobs`` of the
    numba threads (None: :func:`default_jobs`, 2 on 2 or more cores; 1: one after the other
    in this process).
    The figures and the theorem results are the tasks, the longest first; the numbers are
    the same for every ``jobs``.
    """
    from xordsim.sweep.runner import SharedCluster, parse_dask

    dask = parse_dask(dask, "dask")
    if dask is not None:
        from xordsim.sweep.runner import require

        require("dask", "dask")
    mode = "tiny" if tiny else ("quick" if quick else "full")
    jobs = default_jobs(mode) if jobs is None else int(jobs)
    if jobs < 1:
        raise InputError(f"jobs must be >= 1, got {jobs}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    progress = Progress(quiet)
    t0 = time.perf_counter()
    record = _read_record(out)
    stages = []
    with SharedCluster(dask) as cluster:
        if jobs > 1:
            stages = _run_stages_at_once(out, seed, mode, progress, force, record, cluster,
                                         jobs)
        else:
            for name in ["theorems", *FIGURES]:
                if name == "theorems":
                    stage = stage_theorems(out, seed, mode, progress, force)
                else:
                    stage = stage_figure(name, out, seed, mode, progress, force, record,
                                         cluster)
                progress.finished(stage)
                stages.append(stage)
    theorems = stages[0].doc
    figures = {s.name: s.doc for s in stages if s.kind == "figure" and s.doc is not None}
    results = Results(theorems["rows"], figures, out, mode=mode, seed=seed)
    info = {"mode": mode, "seed": seed, "seconds": time.perf_counter() - t0,
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "jobs": jobs}
    report = Report(results, stages, info)
    write_text(out / "report.md", report.markdown())
    return write_text(out / "report.html", report.html())


# ----------------------------------------------------------------------------------------
# the run: versions, machine, commit


def versions() -> dict:
    import matplotlib
    import numba
    import scipy

    return {"xordsim": __version__, "Python": platform.python_version(),
            "NumPy": np.__version__, "numba": numba.__version__, "SciPy": scipy.__version__,
            "matplotlib": matplotlib.__version__}


def git_commit() -> str:
    """The commit of the xordsim checkout (with a mark for uncommitted changes to the
    package), or "unknown" when the package is not in a git checkout."""
    pkg = Path(__file__).resolve().parent

    def git(*args):
        return subprocess.run(["git", "-C", str(pkg), *args], capture_output=True, text=True,
                              timeout=20, check=False)

    try:
        if git("ls-files", "--error-unmatch", "__init__.py").returncode != 0:
            return "unknown"
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return "unknown"
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    mark = " (with uncommitted changes)" if dirty.returncode == 0 and dirty.stdout.strip() else ""
    return head.stdout.strip() + mark


def machine() -> dict:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = os.cpu_count()
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = cores
    return {"CPU": cpu or platform.processor() or "unknown",
            "cores": f"{cores} ({usable} usable by this process)" if usable != cores
            else str(cores),
            "platform": platform.platform()}


# ----------------------------------------------------------------------------------------
# the report


MODE_BANNER = {
    "quick": "QUICK MODE (xordsim reproduce --quick): fewer replicas and runs than the "
             "defaults, so the numbers are noisier",
    "tiny": "TINY MODE (a smoke test of the pipeline for the tests): the numbers are not "
            "meaningful",
}


def theorem_settings_text(settings: dict) -> str:
    names = settings["names"]
    parts = [f"results: {'all' if not names else ', '.join(names)}",
             "replicas per row: " + ("each result's default" if settings["replicas"] is None
                                     else str(settings["replicas"]))]
    parts += [f"{name}: {settings_text(p)}" for name, p in settings["overrides"].items()]
    if settings["extra"]:
        parts.append("extra rows: " + ", ".join(f"{name} {settings_text(p)} ({n} replicas)"
                                                for name, n, p in settings["extra"]))
    return "; ".join(parts)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _jobs_text(jobs: int) -> str:
    """The run section's line on ``jobs`` (:func:`default_jobs`)."""
    if jobs <= 1:
        return "1 (one stage after the other, in this process)"
    return (f"{jobs} (worker processes, each with 1/{jobs} of the numba threads; the stages' "
            f"times overlap, so they add up to more than the total time)")


class Report:
    """The report of a run, rendered as Markdown (:meth:`markdown`) and HTML (:meth:`html`)."""

    def __init__(self, results: Results, stages: list[Stage], info: dict):
        self.results, self.stages, self.info = results, stages, info
        self.out = results.out
        self.rows = results.rows
        self.findings: list[tuple[FindingSpec, Finding]] = evaluate(results)
        self.theorem_stage = next(s for s in stages if s.kind == "theorems")
        self.figures = [s for s in stages if s.kind == "figure" and s.status != SKIPPED]
        self.skipped = [s for s in stages if s.status == SKIPPED]
        self.versions = versions()
        self.machine = machine()
        self.commit = git_commit()

    # -- shared text ----------------------------------------------------------------------
    def letter(self, i: int) -> str:
        return f"({chr(ord('a') + i)})" if i < 26 else f"({i + 1})"

    def summary(self) -> str:
        rows = self.rows
        count = {v: sum(r["verdict"] == v for r in rows) for v in (CONSISTENT, VIOLATED, OUTSIDE)}
        literal = sum(r["verdict"] == VIOLATED and r["params"].get("a_convention") ==
                      INCLUSIVE["a_convention"] for r in rows)
        letter = next((self.letter(i) for i, (spec, _) in enumerate(self.findings)
                       if spec.name == "a-convention"), "")
        violated = f"{count[VIOLATED]} violated"
        if literal:
            violated += (f" ({literal} of them with the paper's literal a_i(t), as expected: "
                         f"finding {letter})")
        n_fig = sum(1 for s in self.stages if s.kind == "figure")
        done = [s for s in self.stages if s.status != SKIPPED]
        reused = sum(s.status == REUSED for s in self.stages)
        reasons: dict[str, list[str]] = {}
        for s in self.skipped:
            reasons.setdefault(s.reason, []).append(s.name)
        skipped = "; ".join(f"{', '.join(names)}: {why}" for why, names in reasons.items())
        status = {st: sum(f.status == st for _, f in self.findings)
                  for st in (OBSERVED, EXACT, NOT_OBSERVED, NOT_COMPUTED)}
        found = ", ".join(f"{n} {st if st != EXACT else 'exact'}" for st, n in status.items()
                          if n)
        mode = {"full": "full mode", "quick": "QUICK mode", "tiny": "TINY mode"}[
            self.info["mode"]]
        flagged = summary_counts(rows)["flagged"]
        flag_text = (f"; {flagged} rows flagged: fewer than 95% of their runs converged"
                     if flagged else "")
        return (f"{mode}; {len(rows)} theorem rows: {count[CONSISTENT]} consistent, "
                f"{violated}, {count[OUTSIDE]} outside assumptions{flag_text}; "
                f"{len(self.figures)} of {n_fig} figures drawn; "
                f"{len(done)} of {len(self.stages)} stages ran ({reused} reused from an earlier "
                f"run), {len(self.skipped)} skipped" + (f" ({skipped})" if skipped else "")
                + f"; {_plural(len(self.findings), 'finding')} ({found}); total time "
                f"{self.info['seconds']:.1f} s.")

    def banner(self) -> str:
        mode = self.info["mode"]
        if mode == "full":
            return ""
        text = MODE_BANNER[mode]
        return (f"{text}. Theorem stage: {theorem_settings_text(self.theorem_stage.settings)}; "
                f"the figures' settings are in the run section.")

    def stage_rows(self) -> list[list[str]]:
        out = []
        for s in self.stages:
            if s.status == SKIPPED:
                status, settings = f"skipped: {s.reason}", "—"
            else:
                status = s.status if s.status == COMPUTED else "reused from an earlier run"
                settings = (theorem_settings_text(s.settings) if s.kind == "theorems"
                            else settings_text(s.settings))
            took = "—" if s.compute_seconds is None else f"{s.compute_seconds:.1f}"
            out.append([s.name, status, f"{s.seconds:.1f}", took, settings])
        return out

    STAGE_HEADER = ["stage", "status", "time in this run (s)", "computation time (s)",
                    "settings"]

    def run_items(self) -> list[tuple[str, str]]:
        return [("xordsim", self.versions["xordsim"]), ("git commit", self.commit),
                ("seed", str(self.info["seed"])), ("mode", self.info["mode"]),
                ("date", self.info["date"]), ("total time", f"{self.info['seconds']:.1f} s"),
                ("stages at once", _jobs_text(self.info["jobs"])),
                *((k, v) for k, v in self.machine.items()),
                ("versions", ", ".join(f"{k} {v}" for k, v in self.versions.items()))]

    def figure_files(self, stage: Stage) -> tuple[str | None, list[str]]:
        files = [f for f in stage.doc["files"] if (self.out / f).exists()]
        png = next((f for f in files if f.endswith(".png")), None)
        return png, [f for f in files if f != png] + [f"{stage.name}.json"]

    def figure_time(self, stage: Stage) -> str:
        took = f"Time {stage.compute_seconds:.1f} s"
        return took + (" (reused from an earlier run)." if stage.status == REUSED else ".")

    def toc(self) -> list[tuple[int, str, str]]:
        """(level, anchor, text) of the table of contents."""
        items = [(0, "findings", "Findings and deviations from the paper")]
        items += [(1, spec.anchor, f"{self.letter(i)} {spec.title}")
                  for i, (spec, _) in enumerate(self.findings)]
        items += [(0, "theorems", "Theorem estimates"), (0, "figures", "Figures")]
        items += [(1, figure_anchor(s.name), s.title) for s in self.figures]
        if self.skipped:
            items.append((1, "skipped", "Skipped stages"))
        items.append((0, "run", "Run: settings, times, machine, versions"))
        return items

    def embedded_link(self, name: str) -> str:
        """A link that works when report.html is moved alone: the file as a data URI
        (download named ``name``) for CSV/JSON; an SVG is named as a file of the results
        folder (the report already embeds its PNG)."""
        path = self.out / name
        kind = {".csv": "text/csv", ".json": "application/json"}.get(path.suffix)
        if kind is None or not path.exists():
            return f"{_esc(name)} (in the results folder)"
        data = base64.b64encode(path.read_bytes()).decode()
        return (f"<a download='{_esc(name)}' href='data:{kind};base64,{data}'>"
                f"{_esc(name)}</a>")

    # -- Markdown ---------------------------------------------------------------------------
    def markdown(self) -> str:
        md = _md
        L = ["# xordsim: reproduction of Brutzkus & Globerson (ICML 2019)", ""]
        if self.banner():
            L += [f"> **{md(self.banner())}**", ""]
        L += [f"**Summary:** {md(self.summary())}", ""]
        L += [f"Generated {self.info['date']} by `xordsim reproduce`, seed {self.info['seed']}.",
              ""]
        L += ["## Contents", ""]
        L += [f"{'  ' * lvl}- [{md(text)}](#{anchor})" for lvl, anchor, text in self.toc()]
        L += ["", '## <a id="findings"></a>Findings and deviations from the paper', ""]
        for i, (spec, f) in enumerate(self.findings):
            L += [f'### <a id="{spec.anchor}"></a>{self.letter(i)} {md(spec.title)}', "",
                  f"*{STATUS_TEXT[f.status]}* {md(f.statement)}", ""]
            if f.numbers:
                L += [f"- {md(n.text())}" for n in f.numbers] + [""]
            if f.links:
                L += ["See: " + ", ".join(f"[{md(link.text)}](#{link.anchor})"
                                          for link in f.links) + ".", ""]
        header, body = table_columns(self.rows)
        L += ['## <a id="theorems"></a>Theorem estimates', "",
              "Monte Carlo over independent replicas (random initialization, and training set "
              "where it is sampled); 95% Clopper–Pearson intervals; `consistent` when the "
              "interval does not contradict the bound. Time "
              f"{self.theorem_stage.compute_seconds:.0f} s. Numbers: "
              "[theorems.json](theorems.json).", "",
              "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for cells, anchor in zip(body, self.results.anchors, strict=True):
            cells = [_md_cell(c) for c in cells]
            cells[0] = f'<a id="{anchor}"></a>{cells[0]}'
            L.append("| " + " | ".join(cells) + " |")
        notes = [f"- {md(r['name'])}: {md(n)}" for r in self.rows for n in r.get("notes", [])]
        if notes:
            L += ["", "Notes:", "", *dict.fromkeys(notes)]
        L += ["", '## <a id="figures"></a>Figures', ""]
        for s in self.figures:
            png, files = self.figure_files(s)
            L += [f'### <a id="{figure_anchor(s.name)}"></a>{md(s.title)}', ""]
            if png:
                L += [f"![{_md_alt(s.doc['caption'])}]({png})", ""]
            else:
                L += [md(s.doc["caption"]), ""]
            links = ", ".join(f"[{f}]({f})" for f in files)
            L += [f"Files: {links}. {self.figure_time(s)}", ""]
        if self.skipped:
            L += ['### <a id="skipped"></a>Skipped stages', ""]
            L += [f"- {s.name} ({md(s.title)}): {md(s.reason)}" for s in self.skipped] + [""]
        L += ['## <a id="run"></a>Run', ""]
        L += [f"- {k}: {md(v)}" for k, v in self.run_items()] + [""]
        L += ["| " + " | ".join(self.STAGE_HEADER) + " |", "|" + "---|" * len(self.STAGE_HEADER)]
        L += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in self.stage_rows()]
        return "\n".join(L) + "\n"

    # -- HTML -------------------------------------------------------------------------------
    def html(self) -> str:
        e = _esc
        P = ["<!DOCTYPE html><html><head><meta charset='utf-8'>",
             "<title>xordsim reproduction</title><style>body{font-family:sans-serif;"
             "max-width:1100px;margin:auto;padding:1em}table{border-collapse:collapse;"
             "font-size:90%}td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top}"
             "img{max-width:100%}.violated{color:#b00;font-weight:bold}.flagged{color:#a60;"
             "font-weight:bold}table.theorems td{white-space:nowrap}"
             ".banner{background:#fff3cd;border:2px solid #e0a800;padding:.6em 1em;"
             "font-weight:bold}.summary{background:#eef4fb;padding:.6em 1em}"
             ".status{font-weight:bold}.observed .status{color:#060}"
             ".not-observed .status,.not-computed .status{color:#a60}"
             "tr:target,h3:target{background:#ffffcc}</style></head><body>",
             "<h1>xordsim: reproduction of Brutzkus &amp; Globerson (ICML 2019)</h1>"]
        if self.banner():
            P.append(f'<div class="banner">{e(self.banner())}</div>')
        P.append(f'<p class="summary" id="summary"><b>Summary:</b> {e(self.summary())}</p>')
        P.append(f"<p>Generated {e(self.info['date'])} by <code>xordsim reproduce</code>, seed "
                 f"{self.info['seed']}.</p>")
        P.append('<nav id="contents"><h2>Contents</h2>' + _html_toc(self.toc()) + "</nav>")
        P.append('<h2 id="findings">Findings and deviations from the paper</h2>')
        for i, (spec, f) in enumerate(self.findings):
            cls = f.status.replace(" ", "-")
            P.append(f'<section class="finding {cls}"><h3 id="{spec.anchor}">'
                     f"{e(self.letter(i))} {e(spec.title)}</h3>")
            P.append(f'<p><span class="status">{e(STATUS_TEXT[f.status])}</span> '
                     f"{e(f.statement)}</p>")
            if f.numbers:
                P.append("<ul>" + "".join(f"<li>{e(n.text())}</li>" for n in f.numbers)
                         + "</ul>")
            if f.links:
                P.append("<p>See: " + ", ".join(f'<a href="#{e(link.anchor)}">{e(link.text)}'
                                                "</a>" for link in f.links) + ".</p>")
            P.append("</section>")
        header, body = table_columns(self.rows)
        P += ['<h2 id="theorems">Theorem estimates</h2>',
              "<p>Monte Carlo over independent replicas; 95% Clopper–Pearson intervals; time "
              f"{self.theorem_stage.compute_seconds:.0f} s. Events: "
              "<a href='#theorem-events'>definitions below the table</a>. Numbers: "
              f"{self.embedded_link('theorems.json')}.</p>",
              "<table class='theorems'><tr>" + "".join(f"<th>{e(h)}</th>" for h in header)
              + "</tr>"]
        for row, cells, anchor in zip(self.rows, body, self.results.anchors, strict=True):
            cls = (" class='violated'" if row["verdict"] == VIOLATED else
                   " class='flagged'" if row.get("flag") else "")
            P.append(f'<tr id="{anchor}">' + "".join(f"<td>{e(c)}</td>" for c in cells[:-1])
                     + f"<td{cls}>{e(cells[-1])}</td></tr>")
        P.append("</table>")
        notes = list(dict.fromkeys(f"{r['name']}: {n}" for r in self.rows
                                   for n in r.get("notes", [])))
        if notes:
            P.append("<ul>" + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>")
        P.append('<h3 id="theorem-events">What each result\'s event is</h3><dl>' + "".join(
            f"<dt>{e(spec.name)} ({e(spec.result)})</dt><dd>{e(spec.event)}"
            + (f" Convergence: {e(spec.convergence)}" if getattr(spec, "convergence", "")
               else "") + "</dd>" for spec in SPECS.values()) + "</dl>"
            "<p>The full definitions, the exact values and the choices made where the paper is "
            "ambiguous are in docs/theorems.md of the xordsim repository.</p>")
        P.append('<h2 id="figures">Figures</h2>')
        for s in self.figures:
            png, files = self.figure_files(s)
            P.append(f'<h3 id="{figure_anchor(s.name)}">{e(s.title)}</h3>')
            if png:
                data = base64.b64encode((self.out / png).read_bytes()).decode()
                P.append(f'<img alt="{e(s.doc["caption"])}" src="data:image/png;base64,'
                         f'{data}">')
            else:
                P.append(f"<p>{e(s.doc['caption'])}</p>")
            links = ", ".join(self.embedded_link(f) for f in files)
            P.append(f"<p>Data: {links} — {e(self.figure_time(s))}</p>")
        if self.skipped:
            P.append('<h3 id="skipped">Skipped stages</h3><ul>' + "".join(
                f"<li>{e(s.name)} ({e(s.title)}): {e(s.reason)}</li>" for s in self.skipped)
                + "</ul>")
        P.append('<h2 id="run">Run</h2><ul>' + "".join(
            f"<li>{e(k)}: {e(v)}</li>" for k, v in self.run_items()) + "</ul>")
        P.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in self.STAGE_HEADER)
                 + "</tr>" + "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row)
                                     + "</tr>" for row in self.stage_rows()) + "</table>")
        P.append("</body></html>")
        return "\n".join(P) + "\n"


def _esc(text) -> str:
    return html.escape(str(text), quote=True)


def _md(text) -> str:
    """Plain text for Markdown: '*' would start emphasis."""
    return str(text).replace("\\", "\\\\").replace("*", "\\*")


def _md_cell(text) -> str:
    return _md(text).replace("|", "\\|").replace("\n", " ")


def _md_alt(text) -> str:
    return " ".join(_md(text).replace("[", "\\[").replace("]", "\\]").split())


def _html_toc(items: list[tuple[int, str, str]]) -> str:
    parts, level = ["<ul>"], 0
    for i, (lvl, anchor, text) in enumerate(items):
        if lvl > level:
            parts.append("<ul>")
        elif lvl < level:
            parts.append("</li></ul></li>")
        elif i:
            parts.append("</li>")
        parts.append(f'<li><a href="#{_esc(anchor)}">{_esc(text)}</a>')
        level = lvl
    parts.append("</li>" + "</ul></li>" * level + "</ul>")
    return "".join(parts)


__all__ = ["COST_HINT", "INCLUSIVE", "Progress", "Report", "Stage", "THEOREM_SETTINGS",
           "compute_figure", "default_jobs", "git_commit", "machine", "reproduce",
           "skip_reason", "stage_figure", "stage_theorems", "theorem_jobs", "versions"]
