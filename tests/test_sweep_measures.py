"""Measures in sweeps: the spec's ``measures`` key, the ``measure.NAME`` columns of the point
files and their summary (docs/sweeps.md, docs/measures.md)."""

from __future__ import annotations

import numpy as np
import pytest

from xordsim import sweep
from xordsim._validate import InputError
from xordsim.cli import main
from xordsim.measures import registry
from xordsim.sweep.compute import compute_unit, unit
from xordsim.sweep.spec import load_spec

NAMES = ["Fro bound", "arora.complexity", "ntk.rank.init", "lazy.weight_change",
         "lazy.predictor_test_error"]


def _spec(**top):
    return {"problem": "xord", "replicas": 12, "seed": 4, "chunk": 5,
            "fixed": {"d": 4, "m": 5, "steps": 300}, "grid": {"k": [2, 9]}, **top}


def test_measures_do_not_change_the_runs(tmp_path):
    with_m = load_spec(_spec(measures=NAMES))
    without = load_spec(_spec())
    # the files differ (their ids), the seeds do not
    assert [p.id for p in with_m.points] != [p.id for p in without.points]
    assert [p.entropy for p in with_m.points] == [p.entropy for p in without.points]
    sweep.run(_spec(measures=NAMES), tmp_path / "a", quiet=True)
    sweep.run(_spec(), tmp_path / "b", quiet=True)
    a, b = sweep.load(tmp_path / "a"), sweep.load(tmp_path / "b")
    for col in ("status", "loss", "train_error", "test_error", "converged_step"):
        np.testing.assert_array_equal(a[col].to_numpy(), b[col].to_numpy())
    assert [f"measure.{n}" for n in NAMES] == [c for c in a.columns if c.startswith("measure.")]
    assert set(a["measure_failures"]) == {""}


def test_measure_columns_equal_a_direct_evaluation():
    """Rebuild one chunk by hand (its seeds, counts and run) and evaluate the registry."""
    import xordsim as xs
    from xordsim.sweep.spec import config_values, point_distribution

    spec = load_spec(_spec(measures=NAMES))
    point = spec.points[1]
    got = compute_unit(unit(point, 1))
    start, n = point.chunks[1]
    rng = np.random.default_rng(np.random.SeedSequence(list(point.entropy), spawn_key=(1, 1)))
    cfg = xs.GDConfig(**config_values(point.params), replicas=n)
    dist = point_distribution(point.params)
    counts = xs.sample_mask_counts(dist, cfg.m, n, rng)
    res = xs.train_groups(xs.groups_from_counts(counts, "xord", cfg.margin), cfg.d, cfg,
                          replicas=n, seed=rng, test_distribution=dist)
    ev = registry.evaluate(registry.TrainedPoint.from_result(res, counts, dist), NAMES)
    for name in NAMES:
        np.testing.assert_array_equal(got["arrays"][f"measure.{name}"], ev.values[name])


def test_summary_of_measures(tmp_path):
    sweep.run(_spec(measures=NAMES), tmp_path / "s", quiet=True)
    df = sweep.load(tmp_path / "s")
    summ = sweep.load(tmp_path / "s", summary=True)
    assert len(summ) == 2
    for _, row in summ.iterrows():
        g = df[df["id"] == row["id"]]
        for name in NAMES:
            v = g[f"measure.{name}"].to_numpy()
            fin = v[np.isfinite(v)]
            assert row[f"measure.{name}.finite"] == fin.size
            assert row[f"measure.{name}.inf"] == np.isinf(v).sum()
            if fin.size:
                assert row[f"measure.{name}.median"] == np.median(fin)
    # the parameters stay parameters: no measure column is mistaken for one
    assert "measure.Fro bound" not in summ.columns


def test_all_is_every_builtin():
    spec = load_spec(_spec(measures="all"))
    assert spec.measures == tuple(registry.available(builtin=True))


@pytest.mark.parametrize("value, message", [
    (["no such"], "unknown measure 'no such'"),
    ("every", "measures must be"),
    ([], None),
    ([3], "measures must be"),
    (["Fro bound", "Fro bound"], "twice"),
])
def test_bad_measures(value, message):
    if message is None:
        assert load_spec(_spec(measures=value)).measures == ()
        return
    with pytest.raises(InputError, match=message):
        load_spec(_spec(measures=value))


def test_cli_bad_measures(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text('problem = "xord"\nreplicas = 2\nmeasures = ["nope"]\n[fixed]\nk = 2\n')
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "unknown measure 'nope'" in err
    assert not (tmp_path / "out").exists()


def test_dask_local_gives_the_same_measures(tmp_path):
    """On two single-threaded workers (kernels of the measures warmed first) the table,
    measures included, equals the in-process one."""
    sweep.run(_spec(measures=NAMES), tmp_path / "local", quiet=True)
    sweep.run(_spec(measures=NAMES), tmp_path / "dask", quiet=True, dask="local:2")
    a, b = sweep.load(tmp_path / "local"), sweep.load(tmp_path / "dask")
    cols = [c for c in a.columns if c != "point_seconds"]
    assert a[cols].equals(b[cols])
