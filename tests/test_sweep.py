"""Sweeps (xordsim.sweep, xordsim sweep): training sets as mask counts, the spec and its
validation, seeding independent of the grid, the store, resume after SIGKILL, Dask
(local:2, a killed worker) giving identical numbers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from xordsim._validate import InputError
from xordsim.cli import main
from xordsim.data import (
    MaskDistribution,
    PatternDistribution,
    mask_counts,
    sample_mask_counts,
    uniform_distribution,
    xor_dataset,
)
from xordsim.engine import train, train_groups
from xordsim.model import groups_from_counts, loss_groups
from xordsim.sweep.spec import point_params

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

ROOT = Path(__file__).resolve().parents[1]

# ----------------------------------------------------------------------------------------
# training sets as counts over the pattern sets


DISTS = [PatternDistribution(d=3, q=(0.4, 0.1, 0.3, 0.2)),
         MaskDistribution(d=4, pos={(1, 2, 3, 4): 0.6, (1,): 0.3, (1, 2): 0.1},
                          neg={(2, 4): 0.7, (4,): 0.3})]


@pytest.mark.parametrize("dist", DISTS, ids=["pattern", "masks"])
def test_mask_counts_have_the_exact_mask_probabilities_in_expectation(dist):
    R, m = 20000, 7
    counts = sample_mask_counts(dist, m, R, 1)
    assert counts.shape == (R, 2, 16) and counts.dtype == np.int64
    assert (counts.sum(axis=2) == m).all()
    for row, label in ((1, 1), (0, -1)):
        p = dist.mask_probs(label)
        mean = counts[:, row].mean(axis=0)
        # multinomial: E = m p, Var = m p (1 - p); 5 standard errors
        assert np.all(np.abs(mean - m * p) <= 5 * np.sqrt(m * p * (1 - p) / R) + 1e-12)
        var = counts[:, row].var(axis=0)
        assert np.allclose(var, m * p * (1 - p), rtol=0.1, atol=1e-3)
        assert (counts[:, row][:, p == 0] == 0).all()


@pytest.mark.parametrize("dist", DISTS, ids=["pattern", "masks"])
def test_mask_counts_match_point_sampling_in_distribution(dist):
    from scipy.stats import chi2_contingency

    R, m = 3000, 5
    a = sample_mask_counts(dist, m, R, 2)
    x, y = dist.sample_training_sets(m, R, 3)
    b = mask_counts(x, y)
    assert b.shape == (R, 2, 16) and (b.sum(axis=2) == m).all()
    for row in (0, 1):
        ta, tb = a[:, row].sum(axis=0), b[:, row].sum(axis=0)
        keep = (ta + tb) > 0
        _, pvalue, _, _ = chi2_contingency(np.stack([ta[keep], tb[keep]]))
        assert pvalue > 1e-4
        # and per training set: the count of the most likely mask has the same law
        M = int(np.argmax(ta))
        _, pvalue, _, _ = chi2_contingency(np.stack(
            [np.bincount(a[:, row, M], minlength=m + 1), np.bincount(b[:, row, M],
                                                                     minlength=m + 1)])
            + 0.5)
        assert pvalue > 1e-4


def test_mask_counts_memory_is_O_R():
    counts = sample_mask_counts(uniform_distribution(10), 10**4, 10**5, 0)
    assert counts.nbytes == 10**5 * 2 * 16 * 8
    g = groups_from_counts(counts[:100])
    assert g.mask.shape[1] <= 30


@pytest.mark.parametrize("problem,gamma", [("xord", None), ("xord", 0.3), ("xor", 2.7)])
def test_groups_from_counts_equal_loss_groups_bit_for_bit(problem, gamma, rng):
    for d, m, R in ((1, 3, 5), (3, 17, 40), (10, 20, 30)):
        x, y = PatternDistribution(d=d, q=(0.1, 0.2, 0.3, 0.4)).sample_training_sets(m, R, rng)
        a = loss_groups(x, y, problem, gamma)
        b = groups_from_counts(mask_counts(x, y), problem, gamma)
        for f in ("mask", "y", "weight", "margin", "count"):
            u, v = getattr(a, f), getattr(b, f)
            assert u.dtype == v.dtype and u.shape == v.shape
            assert np.array_equal(u, v), f
    a = loss_groups(*xor_dataset(), "xor")
    b = groups_from_counts(mask_counts(*xor_dataset()), "xor")
    assert all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("mask", "weight"))
    with pytest.raises(InputError, match="empty pattern set"):
        groups_from_counts(np.ones((2, 16), np.int64))
    with pytest.raises(InputError, match="shape"):
        groups_from_counts(np.ones((3, 16), np.int64))


def test_train_groups_is_train_bit_for_bit(rng):
    dist = uniform_distribution(6)
    x, y = dist.sample_training_sets(9, 25, rng)
    a = train(x, y, k=4, steps=300, gamma=2.0, seed=5)
    b = train_groups(groups_from_counts(mask_counts(x, y), "xord", 2.0), 6, k=4, steps=300,
                     gamma=2.0, seed=5)
    for f in ("w", "u", "status", "converged_step", "loss", "train_error", "test_error",
              "outputs", "active_counts"):
        assert np.array_equal(getattr(a, f), getattr(b, f), equal_nan=True), f
    assert a.params == b.params and a.config == b.config


# ----------------------------------------------------------------------------------------
# spec, seeding, store

BASE = {"problem": "xord", "replicas": 12, "seed": 3, "chunk": 5,
        "fixed": {"d": 5, "steps": 150}}


def _spec(**grid) -> dict:
    return dict(BASE, grid=grid)


def _table(out) -> pd.DataFrame:
    from xordsim.sweep import load

    return load(out).drop(columns="point_seconds")


def _rows(df, **params) -> pd.DataFrame:
    sel = np.ones(len(df), bool)
    for k, v in params.items():
        sel &= (df[k] == v).to_numpy()
    return df[sel].reset_index(drop=True)


def test_a_point_is_the_same_alone_in_a_larger_grid_and_in_another_order(tmp_path):
    from xordsim.sweep import run

    run(_spec(k=[2, 5], m=[4, 8]), tmp_path / "grid", quiet=True)
    run(_spec(k=[5, 2], m=[8, 4, 6]), tmp_path / "other", quiet=True)
    run(dict(BASE, fixed=dict(BASE["fixed"], k=5, m=8)), tmp_path / "alone", quiet=True)
    grid, other, alone = (_table(tmp_path / n) for n in ("grid", "other", "alone"))
    assert len(grid) == 4 * 12 and len(other) == 6 * 12 and len(alone) == 12
    pd.testing.assert_frame_equal(_rows(grid, k=5, m=8), alone)
    for k in (2, 5):
        for m in (4, 8):
            pd.testing.assert_frame_equal(_rows(grid, k=k, m=m), _rows(other, k=k, m=m))
    # different points differ, and replicas are distinct draws
    assert not np.array_equal(_rows(grid, k=5, m=4)["test_error"],
                              _rows(grid, k=5, m=8)["test_error"])
    assert alone["replica"].tolist() == list(range(12))


def test_store_resume_force_and_summary(tmp_path):
    from xordsim.sweep import load, run, status

    out = tmp_path / "s"
    spec = _spec(k=[2, 5])
    rec = run(spec, out, quiet=True)
    assert (rec["computed"], rec["skipped"]) == (2, 0)
    assert run(spec, out, quiet=True)["computed"] == 0
    assert status(out)["done"] == 2
    bigger = _spec(k=[2, 5, 7])
    with pytest.raises(InputError, match="another spec"):
        run(bigger, out, quiet=True)
    rec = run(bigger, out, quiet=True, force=True)
    assert (rec["computed"], rec["skipped"]) == (1, 2)  # unchanged points are kept
    s = load(out, summary=True)
    assert s["k"].tolist() == [2, 5, 7] and (s["replicas"] == 12).all()
    for col in ("test_error", "train_error"):
        assert ((s[f"{col}_ci95_low"] >= 0) & (s[f"{col}_ci95_high"] <= 1)).all()
        assert ((s[f"{col}_ci95_low"] <= s[f"{col}_mean"]) &
                (s[f"{col}_mean"] <= s[f"{col}_ci95_high"])).all()
    assert ((s["frac_converged_ci95_low"] <= s["frac_converged"]) &
            (s["frac_converged"] <= s["frac_converged_ci95_high"])).all()
    names = sorted(p.name for p in out.rglob("*"))
    assert names == sorted(["lock", "manifest.json", "points", "spec.json"] +
                           [f"{i}.parquet" for i in s["id"]])


def test_xor_shared_and_decoy_points(tmp_path):
    from xordsim.sweep import run

    for name, spec in [
        ("xor", {"problem": "xor", "replicas": 6, "grid": {"k": [2, 3]},
                 "fixed": {"steps": 100}}),
        ("shared", dict(BASE, data="shared", grid={"k": [2, 3]})),
        ("decoy", dict(BASE, data="decoy", fixed={"d": 4, "steps": 100},
                       grid={"gamma": [1.0, 8.0]})),
        ("masks", dict(BASE, fixed={"d": 4, "steps": 50, "m": 6, "distribution": {
            "pos": {"1,2,3,4": 0.5, "3": 0.5}, "neg": {"2,4": 1.0}}})),
    ]:
        run(spec, tmp_path / name, quiet=True)
        df = _table(tmp_path / name)
        assert df["test_error"].notna().all()
    # decoy: every replica trains on the same 12 diverse points
    df = _table(tmp_path / "decoy")
    assert "m" not in df.columns and set(df["d"]) == {4}


# ----------------------------------------------------------------------------------------
# interruption: SIGKILL the sweep, rerun, same table, no temporary file

KILL_SPEC = """\
problem = "xord"
replicas = 64
seed = 11
chunk = 32
[fixed]
d = 6
m = 10
steps = 5000
c_eta = 0.001  # slow learning: every replica runs its 5000 steps
[grid]
k = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]
"""


def _wait_for(pred, timeout: float, what: str):
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _finished(points) -> list:
    """The point files (pathlib's glob also matches the hidden temporary files)."""
    return [p for p in points.glob("*.parquet") if not p.name.startswith(".")]


def test_sigkill_then_resume_computes_only_the_rest(tmp_path):
    from xordsim.sweep import load, load_spec, run

    spec_file = tmp_path / "spec.toml"
    spec_file.write_text(KILL_SPEC)
    out = tmp_path / "killed"
    points = out / "points"
    env = dict(os.environ, NUMBA_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "xordsim", "sweep", str(spec_file),
                             "--out", str(out), "--quiet"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: points.is_dir() and len(_finished(points)) >= 2
                  or proc.poll() is not None, 120, "two points")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the sweep ended before it was killed"
    done = len(_finished(points))  # a temporary .ID.parquet in flight is not a point
    total = len(load_spec(spec_file).points)
    assert 2 <= done < total
    rec = run(spec_file, out, quiet=True)
    assert (rec["computed"], rec["skipped"]) == (total - done, done)
    whole = tmp_path / "whole"
    run(spec_file, whole, quiet=True)
    pd.testing.assert_frame_equal(load(out).drop(columns="point_seconds"),
                                  load(whole).drop(columns="point_seconds"))
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert [f for f in files if f.split("/")[-1].startswith(".")] == []
    assert len(files) == 4 + total  # lock, manifest.json, spec.toml, points/, the points


# ----------------------------------------------------------------------------------------
# Dask: identical tables; a worker killed mid-sweep changes nothing

DASK_SPEC = dict(BASE, replicas=80, chunk=20,
                 fixed={"d": 6, "m": 10, "steps": 5000, "c_eta": 0.001},
                 grid={"k": [10, 11, 12, 13, 14, 15]})


@pytest.fixture(scope="module")
def in_process_table(tmp_path_factory):
    from xordsim.sweep import load, run

    out = tmp_path_factory.mktemp("sweep") / "local"
    run(DASK_SPEC, out, quiet=True)
    return load(out).drop(columns="point_seconds")


def test_dask_local_2_gives_the_in_process_table(tmp_path, in_process_table):
    pytest.importorskip("distributed")
    from xordsim.sweep import load, run

    rec = run(DASK_SPEC, tmp_path / "dask", dask="local:2", quiet=True)
    assert rec["executor"] == "local:2" and rec["computed"] == 6
    pd.testing.assert_frame_equal(load(tmp_path / "dask").drop(columns="point_seconds"),
                                  in_process_table)


def test_a_killed_dask_worker_changes_no_number(tmp_path, in_process_table):
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    from xordsim.sweep import load, run
    from xordsim.sweep.compute import warm

    warm()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=None,
                           env={"NUMBA_NUM_THREADS": "1"}, silence_logs=40)
    client = Client(cluster)
    out = tmp_path / "dask"
    errors = []

    def sweep():
        try:
            errors.append(run(DASK_SPEC, out, dask=cluster.scheduler_address, quiet=True,
                              window=2))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    try:
        pids = client.run(os.getpid)
        thread = threading.Thread(target=sweep)
        thread.start()
        points = out / "points"
        _wait_for(lambda: points.is_dir() and _finished(points) or errors,
                  120, "a first point")
        busy = []
        _wait_for(lambda: busy.extend(w for w, keys in client.processing().items() if keys)
                  or busy or errors, 60, "a busy worker")
        n_before = len(_finished(points))
        os.kill(pids[busy[0]], signal.SIGKILL)  # it holds a task: the task is lost
        thread.join(240)
        assert not thread.is_alive()
        assert n_before < 6, "the sweep ended before the worker was killed"
        assert isinstance(errors[0], dict), errors[0]
        assert errors[0]["computed"] == 6
        assert set(client.run(os.getpid).values()) != set(pids.values())  # restarted
    finally:
        client.close()
        cluster.close()
    pd.testing.assert_frame_equal(load(out).drop(columns="point_seconds"), in_process_table)


# ----------------------------------------------------------------------------------------
# the command line: bad specs, one line, exit 2, nothing written


def run_cli(argv, capsys) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return {float("inf"): "inf", float("-inf"): "-inf"}.get(value, "nan" if value != value
                                                               else repr(value))
    if isinstance(value, str):
        return '"' + value + '"'
    if isinstance(value, list):
        return "[" + ", ".join(map(_toml, value)) + "]"
    return repr(value)


def _bad_values(p) -> list:
    """Typed values the declaration of ``p`` must reject, from its kind and bounds."""
    if p.kind in ("int", "float"):
        bad = ["abc", True, float("nan"), float("inf"), float("-inf")]
        if p.kind == "int":
            bad.append(1.5)
        if p.low is not None:
            bad.append(p.low - 1 if p.kind == "int" or not p.low_open else p.low)
        if p.high is not None:
            bad.append(p.high + 1 if p.kind == "int" or not p.high_open else p.high)
        return bad
    if p.kind == "str":
        return [3, "", "not-a-choice"] if p.choices else [3, "", "bogus"]
    raise AssertionError(p.kind)


BAD_PARAM_CASES = [(name, v) for name, p in point_params().items() for v in _bad_values(p)]


def _write(cwd: Path, text: str) -> Path:
    path = cwd / "spec.toml"
    path.write_text(text)
    return path


def assert_rejected(code, err, needle, cwd: Path, keep=("spec.toml",)):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and lines[0].startswith("xordsim sweep"), err
    assert needle in lines[0], (needle, err)
    assert sorted(os.listdir(cwd)) == sorted(keep), os.listdir(cwd)


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("where", ["fixed", "grid"])
@pytest.mark.parametrize("name,bad", BAD_PARAM_CASES, ids=str)
def test_bad_parameter_values(where, name, bad, cwd, capsys):
    value = [bad] if where == "grid" else bad
    _write(cwd, f"replicas = 2\n[{where}]\n{name} = {_toml(value)}\n")
    code, _, err = run_cli(["sweep", "spec.toml", "--out", "out"], capsys)
    assert_rejected(code, err, f"{where}.{name}", cwd)


BAD_SPECS = [
    ("replicas = 0", "replicas"), ("replicas = 1.5", "replicas"), ("seed = -1", "seed"),
    ("chunk = 0", "chunk"), ('problem = "xx"', "problem"), ('data = "none"', "data"),
    ("colour = 3", "'colour'"), ("k = 3", "'k'"),
    ("[fixed]\ncolour = 3", "fixed.colour"), ("[fixed]\nreplicas = 3", "fixed.replicas"),
    ("[grid]\nseed = [1, 2]", "grid.seed"), ("[grid]\nk = []", "grid.k"),
    ("[grid]\nk = 3", "grid.k"), ("[grid]\nk = [2, 2]", "grid.k"),
    ("[fixed]\nk = 2\n[grid]\nk = [3]", "grid.k"), ("fixed = 3", "[fixed]"),
    ("points = 3", "points"), ("[[points]]\nkk = 2", "points[0].kk"),
    ("[[points]]\nk = 0", "points[0].k"),
    ("[grid]\nk = [2]\n[[points]]\nk = 2", "same point"),
    ('problem = "xor"\n[fixed]\nd = 3', "fixed.d"), ('problem = "xor"\ndata = "shared"', "data"),
    ('data = "decoy"\n[fixed]\nm = 3', "fixed.m"), ('data = "decoy"\n[fixed]\nd = 3', "fixed.d"),
    ("[fixed]\nlr = 0.1\nc_eta = 0.2", "fixed.lr"),
    ('[fixed]\ndistribution = "pattern:0.5,0.5,0.5,0.5"', "fixed.distribution"),
    ('[fixed]\ndistribution = "nofile.json"', "fixed.distribution"),
    ('[fixed]\ndistribution = {pos = {"2" = 1.0}, neg = {"2,4" = 1.0}}', "fixed.distribution"),
    ('[fixed]\ndistribution = {pos = {"1" = 0.5}, neg = {"2,4" = 1.0}}', "fixed.distribution"),
    ('[fixed]\nd = 2\ndistribution = {pos = {"1,2,3" = 1}, neg = {"2" = 1}}',
     "fixed.distribution"),
    ("[fixed]\nk = 10000000\n", "chunk"),
    ("[grid\nk = [2]", "not valid TOML"), ("replicas = 2\nreplicas = 3", "not valid TOML"),
    ("[grid]\n" + "".join(f"{key} = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n" for key in
                          ("k", "m", "d", "steps", "gamma", "c_eta", "max_weight")), "at most"),
]


@pytest.mark.parametrize("text,needle", BAD_SPECS, ids=[t for t, _ in BAD_SPECS])
def test_bad_specs(text, needle, cwd, capsys):
    _write(cwd, text + "\n")
    code, _, err = run_cli(["sweep", "spec.toml", "--out", "out"], capsys)
    assert_rejected(code, err, needle, cwd)


def test_bad_command_lines(cwd, capsys):
    _write(cwd, "replicas = 2\n[fixed]\nsteps = 5\n")
    (cwd / "afile").write_text("x")
    keep = ("spec.toml", "afile")
    for argv, needle in [
        (["sweep", "nofile.toml", "--out", "out"], "nofile.toml"),
        (["sweep", "spec.toml"], "--out"),
        (["sweep", "--out", "out"], "SPEC"),
        (["sweep", "spec.toml", "--out", "afile"], "--out"),
        (["sweep", "spec.toml", "--out", "afile/x"], "--out"),
        (["sweep", "spec.toml", "--out", "out", "--dask", "local:0"], "--dask"),
        (["sweep", "spec.toml", "--out", "out", "--dask", "somewhere"], "--dask"),
        (["sweep", "spec.toml", "--out", "out", "--csv", "a.csv"], "--csv"),
        (["sweep", "spec.toml", "--out", "out", "--status", "--dask", "local:2"], "--dask"),
        (["sweep", "spec.toml", "--out", "out", "--threads", "0"], "--threads"),
        (["sweep", "--summary", "nostore"], "--summary"),
        (["sweep", "--summary", "afile"], "--summary"),
        (["sweep", "--summary", ".", "--force"], "--force"),
        (["sweep", "spec.toml", "--summary", "."], "--summary"),
    ]:
        code, _, err = run_cli(argv, capsys)
        assert_rejected(code, err, needle, cwd, keep)
    os.environ["XORDSIM_DASK_SCHEDULER"] = "bogus"
    try:
        code, _, err = run_cli(["sweep", "spec.toml", "--out", "out"], capsys)
        assert_rejected(code, err, "$XORDSIM_DASK_SCHEDULER", cwd, keep)
    finally:
        del os.environ["XORDSIM_DASK_SCHEDULER"]


def test_command_line_run_status_summary(cwd, capsys):
    _write(cwd, 'replicas = 5\nchunk = 2\n[fixed]\nsteps = 50\nd = 4\nm = 3\n[grid]\n'
                'k = [2, 3]\n')
    code, out, err = run_cli(["sweep", "spec.toml", "--out", "st", "--status"], capsys)
    assert code == 0 and "0 of 2 points done" in out and not (cwd / "st").exists()
    code, out, err = run_cli(["sweep", "spec.toml", "--out", "st"], capsys)
    assert code == 0 and "2 points computed" in out, err
    code, out, _ = run_cli(["sweep", "spec.toml", "--out", "st", "--status"], capsys)
    assert code == 0 and "2 of 2 points done" in out
    code, out, _ = run_cli(["sweep", "--summary", "st", "--csv", "sum.csv"], capsys)
    assert code == 0 and "wrote sum.csv" in out
    table = pd.read_csv(cwd / "sum.csv")
    assert table["k"].tolist() == [2, 3] and (table["replicas"] == 5).all()
    # another spec into the same store: refused, the store untouched
    before = sorted(p.name for p in (cwd / "st").rglob("*"))
    _write(cwd, "replicas = 5\n[fixed]\nsteps = 50\n")
    code, _, err = run_cli(["sweep", "spec.toml", "--out", "st"], capsys)
    assert code == 2 and "another spec" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in (cwd / "st").rglob("*")) == before


def test_sweep_help_imports_nothing_heavy():
    code = ("import sys\nfrom xordsim.cli import main\ntry:\n    main(['sweep', '--help'])\n"
            "except SystemExit:\n    pass\nprint('HEAVY:' + ','.join(m for m in ('numpy', "
            "'pandas', 'pyarrow', 'numba', 'dask', 'distributed', 'tqdm') if m in "
            "sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert res.stdout.strip().splitlines()[-1] == "HEAVY:"


# ----------------------------------------------------------------------------------------
# the engine options of issue 13 (loss, tol, output_scale, init) in sweeps


def test_point_ids_and_seeds_are_those_of_the_first_format():
    """Ids and seed entropy computed by xordsim before the loss, tol, output_scale and init
    parameters existed: a point at their defaults keeps them, so stored sweeps resume."""
    from xordsim.sweep import load_spec

    spec = load_spec(dict(BASE, grid={"k": [2, 5]}))
    assert [(p.id, p.entropy) for p in spec.points] == [
        ("8e988cfefbb8404d", (3, 2146210016, 3949265807, 3313010317, 1742560154)),
        ("aef03bc9cd8f6111", (3, 1003649928, 640180600, 3228826035, 2975724437))]
    assert spec.hash == "79ec399ece49af78665f69e836c33d35c57a9cfb5f5849908c77269b0402d048"
    xor = load_spec({"problem": "xor", "replicas": 6, "grid": {"k": [2]},
                     "fixed": {"steps": 100}})
    assert (xor.points[0].id, xor.points[0].entropy) == (
        "e1946cea1930abb0", (0, 342923033, 3105062203, 4212489012, 2619606489))
    decoy = load_spec({"problem": "xord", "data": "decoy", "replicas": 4, "seed": 7,
                       "fixed": {"d": 4}, "grid": {"gamma": [1.0]}})
    assert decoy.points[0].id == "196718e4644482d9"
    # the defaults written out give the same point; any other value another one
    same = load_spec(dict(BASE, fixed=dict(BASE["fixed"], loss="hinge", tol=0.0,
                                           output_scale=1.0, init="gaussian"),
                          grid={"k": [2, 5]}))
    assert [p.id for p in same.points] == [p.id for p in spec.points]
    other = load_spec(dict(BASE, fixed=dict(BASE["fixed"], k=2),
                           grid={"loss": ["squared", "logistic"], "output_scale": [1.0, 2.0],
                                 "init": ["gaussian", "antisymmetric"], "tol": [0.0, 1e-3]}))
    ids = {p.id for p in other.points} | {spec.points[0].id}
    assert len(ids) == len(other.points) + 1


def test_sweep_over_losses(tmp_path):
    from xordsim.sweep import run
    from xordsim.sweep.spec import config_values, load_spec

    spec = dict(BASE, fixed=dict(BASE["fixed"], k=3, m=4),
                grid={"loss": ["hinge", "squared", "logistic"]},
                points=[{"loss": "logistic", "tol": 0.3, "output_scale": 2.0,
                         "init": "antisymmetric"}])
    run(spec, tmp_path / "s", quiet=True)
    df = _table(tmp_path / "s")
    # the loss is the column loss_function (loss is each replica's final loss)
    assert df["loss_function"].tolist() == ["hinge"] * 12 + ["squared"] * 12 + \
        ["logistic"] * 24
    for name in ("tol", "output_scale", "init"):
        assert name in df.columns
    assert (df["loss"][df["loss_function"] != "hinge"] > 0).all()
    last = _rows(df, output_scale=2.0)
    assert len(last) == 12 and (last["init"] == "antisymmetric").all()
    assert (last["loss"][last["status"] == 1] <= 0.3).all()
    # every canonical parameter reaches the GDConfig of the run
    point = load_spec(spec).points[-1]
    values = config_values(point.params)
    assert (values["loss"], values["tol"], values["output_scale"], values["init"]) == (
        "logistic", 0.3, 2.0, "antisymmetric")
    assert values["d"] == 5 and values["m"] == 4 and "distribution" not in values


def test_record_every_is_not_a_sweep_parameter():
    from xordsim.sweep import load_spec

    assert "record_every" not in point_params()
    with pytest.raises(InputError, match="fixed.record_every.*trajectories"):
        load_spec(dict(BASE, fixed=dict(BASE["fixed"], record_every=10)))
