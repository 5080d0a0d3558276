"""The benchmark's measures (dist.init, path.norm, sharpness.pacbayes, oracle), the weights
in the sweep store (save_weights, load_points) and the benchmark grid's table
(xordsim/studies, benchmark_table)."""

from __future__ import annotations

import numba
import numpy as np
import pytest

import xordsim as xs
from xordsim import sweep
from xordsim._validate import InputError
from xordsim.cli import main
from xordsim.measures import builtin, registry
from xordsim.model import outputs_all_masks
from xordsim.sweep.benchmark import benchmark_table, study_path
from xordsim.sweep.spec import load_spec

NEW = ["dist.init", "path.norm", "sharpness.pacbayes", "oracle", "#parameter"]


@pytest.fixture(scope="module")
def point():
    cfg = xs.GDConfig(k=3, d=4, m=6, replicas=5, steps=400, output_scale=2.0)
    counts = xs.sample_mask_counts(xs.uniform_distribution(cfg.d), cfg.m, cfg.replicas, 7)
    res = xs.train_groups(xs.groups_from_counts(counts), cfg.d, cfg, seed=3)
    return registry.TrainedPoint.from_result(res, counts)


@pytest.fixture
def one_thread():
    old = numba.get_num_threads()
    numba.set_num_threads(1)  # the kernels' parallel loops only slow down tiny runs
    yield
    numba.set_num_threads(old)


def test_new_measures_are_registered():
    names = registry.available(builtin=True)
    assert all(n in names for n in NEW)
    for n in NEW[:4]:
        m = registry.get(n)
        assert m.source and m.fn.__doc__


def test_dist_init_and_path_norm_by_hand(point):
    ev = registry.evaluate(point, ["dist.init", "path.norm", "#parameter", "Distance1"])
    alpha = point.config.output_scale
    for r in range(point.replicas):
        dist = np.sqrt(sum((point.w[r, j, i] - point.w0[r, j, i]) ** 2 +
                           (point.u[r, j, i] - point.u0[r, j, i]) ** 2
                           for j in range(point.k) for i in range(2)))
        # every path input entry i -> filter j -> output has weights w_j[i] and ±alpha
        path = sum((point.w[r, j, i] * alpha) ** 2 + (point.u[r, j, i] * -alpha) ** 2
                   for j in range(point.k) for i in range(2))
        assert ev.values["dist.init"][r] == pytest.approx(dist, rel=1e-12)
        assert ev.values["path.norm"][r] == pytest.approx(path, rel=1e-12)
    np.testing.assert_allclose(ev.values["dist.init"], ev.values["Distance1"], rtol=1e-12)
    assert np.all(ev.values["#parameter"] == 4 * point.k)


def _rise(point, r: int, sigma: float) -> float:
    """rise(σ) of replica r, computed network by network and pattern set by pattern set."""
    rng = np.random.default_rng(builtin.replica_seed(point, r, "sharpness.pacbayes"))
    D, k = builtin.SHARPNESS_DRAWS, point.k
    xi_w, xi_u = rng.standard_normal((D, k, 2)), rng.standard_normal((D, k, 2))
    c = point.replica_counts()[r]
    alpha = point.config.output_scale

    def err(w, u):
        out = outputs_all_masks(w, u, alpha)[0]
        wrong = sum(c[1, M] * (out[M] <= 0) + c[0, M] * (-out[M] <= 0) for M in range(1, 16))
        return wrong / c.sum()

    base = err(point.w[r], point.u[r])
    noisy = [err(point.w[r] * (1 + sigma * xi_w[i]), point.u[r] * (1 + sigma * xi_u[i]))
             for i in range(D)]
    return float(np.mean(noisy) - base)


def test_sharpness_bisection_meets_its_tolerance(point):
    lo, hi = builtin.sharpness_bisection(point)
    smin, smax = builtin.SHARPNESS_RANGE
    assert np.all((lo >= smin * (1 - 1e-12)) & (hi <= smax * (1 + 1e-12)) & (lo <= hi))
    searched = 0
    for r in range(point.replicas):
        if lo[r] == hi[r]:  # clipped at an end of the range
            assert _rise(point, r, lo[r]) <= builtin.SHARPNESS_TOL if lo[r] == smax \
                else _rise(point, r, lo[r]) > builtin.SHARPNESS_TOL
            continue
        searched += 1
        assert _rise(point, r, lo[r]) <= builtin.SHARPNESS_TOL < _rise(point, r, hi[r])
        steps = np.log10(smax / smin) / 2 ** builtin.SHARPNESS_STEPS
        assert np.log10(hi[r] / lo[r]) == pytest.approx(steps, rel=1e-9)
    assert searched > 0
    v = registry.evaluate(point, ["sharpness.pacbayes"]).values["sharpness.pacbayes"]
    np.testing.assert_array_equal(v, 1 / lo ** 2)


def test_sharpness_and_oracle_do_not_depend_on_the_chunk(point):
    names = ["sharpness.pacbayes", "oracle"]
    noisy = builtin.oracle_measure(0.05, seed=1)
    whole = registry.evaluate(point, names).values
    again = registry.evaluate(point, names).values
    for r in range(point.replicas):
        alone = registry.evaluate(point.select(r), names).values
        pair = registry.evaluate(point.select([r, (r + 2) % point.replicas]), names).values
        for n in names:
            assert whole[n][r] == alone[n][0] == pair[n][0] == again[n][r]
        assert noisy(point)[r] == noisy(point.select(r))[0]


def test_oracle(point):
    v = registry.evaluate(point, ["oracle"]).values["oracle"]
    np.testing.assert_array_equal(v, point.test_error)
    z = builtin.oracle_measure(0.1, seed=2)(point)
    assert not np.array_equal(z, point.test_error)
    np.testing.assert_array_equal(z, builtin.oracle_measure(0.1, seed=2)(point))
    assert np.all(np.abs(z - point.test_error) < 1.0)
    with pytest.raises(ValueError, match="oracle scale"):
        builtin.oracle_measure(-1)


# -- the store's weights and the benchmark grid -------------------------------------------

@pytest.fixture(scope="module")
def quick_store(tmp_path_factory):
    old = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        out = tmp_path_factory.mktemp("bench") / "quick"
        sweep.run(str(study_path("xord_gen_quick")), out, quiet=True)
    finally:
        numba.set_num_threads(old)
    return out


def test_quick_grid_table(quick_store):
    spec = load_spec(str(study_path("xord_gen_quick")))
    assert spec.save_weights and spec.measures == tuple(registry.available(builtin=True))
    table = benchmark_table(quick_store)
    assert len(table) == len(spec.points) * spec.replicas
    hp = ["hp.loss", "hp.k", "hp.m", "hp.gamma", "hp.c_eta", "hp.init_std",
          "hp.output_scale", "hp.distribution", "hp.seed"]
    assert table.attrs["hp"] == hp  # tol is the loss's axis (one-to-one), not its own
    assert table[hp].notna().all().all()
    assert sorted(set(table["hp.seed"])) == list(range(spec.replicas))
    assert set(table["hp.loss"]) == {"hinge", "logistic"}
    assert table.groupby(hp).size().eq(1).all()  # one row per network
    np.testing.assert_array_equal(table["gen.gap"], table["test_error"] - table["train_error"])
    assert table.attrs["measures"] == list(spec.measures)
    assert all(n in table.columns for n in NEW)
    np.testing.assert_array_equal(table["oracle"], table["test_error"])
    assert table["test_error"].notna().all()


def test_reloaded_weights_reproduce_every_measure(quick_store, one_thread):
    df = sweep.load(quick_store)
    names = [c[len("measure."):] for c in df.columns if c.startswith("measure.")]
    n = 0
    for params, point in sweep.load_points(quick_store):
        rows = df[df["id"] == df["id"].unique()[n]]
        assert rows["k"].iloc[0] == params["k"] == point.k
        np.testing.assert_array_equal(rows["test_error"], point.test_error)
        ev = registry.evaluate(point, names)
        for name in names:
            assert np.array_equal(rows[f"measure.{name}"].to_numpy(), ev.values[name],
                                  equal_nan=True), name
        n += 1
    assert n == df["id"].nunique()


def _spec(**top):
    return {"problem": "xord", "replicas": 5, "seed": 1, "chunk": 2,
            "fixed": {"d": 4, "m": 4, "steps": 100}, "grid": {"k": [2, 5]}, **top}


def test_save_weights_changes_the_ids_not_the_numbers(tmp_path, one_thread):
    plain, off, on = (load_spec(_spec(**kw)) for kw in ({}, {"save_weights": False},
                                                        {"save_weights": True}))
    assert [p.id for p in plain.points] == [p.id for p in off.points]
    assert [p.id for p in on.points] != [p.id for p in plain.points]
    assert [p.entropy for p in on.points] == [p.entropy for p in plain.points]
    sweep.run(_spec(save_weights=True, data="shared"), tmp_path / "a", quiet=True)
    a = sweep.load(tmp_path / "a")
    points = list(sweep.load_points(tmp_path / "a"))
    assert len(points) == 2
    for (params, pt), pid in zip(points, a["id"].unique(), strict=True):
        assert pt.counts.shape == (1, 2, 16)  # the shared set, as in the sweep
        assert pt.replicas == 5 and params["data"] == "shared"
        np.testing.assert_array_equal(pt.train_error, a[a["id"] == pid]["train_error"])
    sweep.run(_spec(), tmp_path / "b", quiet=True)
    with pytest.raises(InputError, match="save_weights = true"):
        list(sweep.load_points(tmp_path / "b"))


@pytest.mark.parametrize("value", ["yes", 1, [True]])
def test_bad_save_weights(value):
    with pytest.raises(InputError, match="save_weights must be true or false"):
        load_spec(_spec(save_weights=value))


def test_cli_bad_save_weights(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text('problem = "xord"\nreplicas = 2\nsave_weights = "yes"\n[fixed]\nk = 2\n')
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "save_weights must be true or false; got 'yes'" in err
    assert not (tmp_path / "out").exists()


def test_union_of_grids():
    spec = load_spec(dict(_spec(), grid=[{"k": [2, 5], "loss": ["hinge"]},
                                         {"k": [3], "loss": ["logistic"], "tol": [0.01]}]))
    assert [(p.params["k"], p.params["loss_function"]) for p in spec.points] == [
        (2, "hinge"), (5, "hinge"), (3, "logistic")]
    assert spec.points[2].label == "grid[1] point k=3, loss=logistic, tol=0.01"
    with pytest.raises(InputError, match="grid\\[1\\] point k=2 is the same point as grid"):
        load_spec(dict(_spec(), grid=[{"k": [2]}, {"k": [2]}]))
    with pytest.raises(InputError, match="grid\\[0\\].m: m is also in \\[fixed\\]"):
        load_spec(dict(_spec(), grid=[{"m": [2]}]))
    with pytest.raises(InputError, match="grid must be a table"):
        load_spec(dict(_spec(), grid=[]))


def test_shipped_specs_load():
    sizes = {}
    for name in ("xord_gen", "xord_gen_decoy", "xord_gen_quick"):
        spec = load_spec(str(study_path(name)))
        assert spec.measures and spec.save_weights
        sizes[name] = len(spec.points)
    assert sizes == {"xord_gen": 720, "xord_gen_decoy": 120, "xord_gen_quick": 192}
    with pytest.raises(InputError, match="unknown study"):
        study_path("nope")
