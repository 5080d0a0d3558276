"""The measure registry, the built-in measures on a trained point, the train --save reader
and ``xordsim measures`` (docs/measures.md)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import xordsim as xs
from xordsim._validate import InputError
from xordsim.cli import main
from xordsim.measures import capacity, kernel, lazy, ntk, registry

DOCS = Path(__file__).resolve().parents[1] / "docs" / "measures.md"


@pytest.fixture(scope="module")
def point():
    cfg = xs.GDConfig(k=6, replicas=12, steps=400, d=4, m=5)
    counts = xs.sample_mask_counts(xs.uniform_distribution(cfg.d), cfg.m, cfg.replicas, 3)
    res = xs.train_groups(xs.groups_from_counts(counts), cfg.d, cfg)
    return registry.TrainedPoint.from_result(res, counts)


def test_docs_example_runs():
    code = re.search(r"```python\n(.*?)```", DOCS.read_text().split("## The registry")[1],
                     re.S).group(1)
    ns: dict = {}
    try:
        exec(code, ns)  # noqa: S102 -- the documented example, run as written
        ev = ns["ev"]
        assert set(ev.values) == {"filter norm ratio", "Fro bound", "arora.complexity"}
        p = ns["point"]
        want = np.linalg.norm(p.w, axis=(1, 2)) / np.linalg.norm(p.w0, axis=(1, 2))
        np.testing.assert_array_equal(ev.values["filter norm ratio"], want)
    finally:
        if "filter norm ratio" in registry.available():
            registry.unregister("filter norm ratio")


def test_builtins_equal_direct_calls(point):
    ev = registry.evaluate(point)
    assert set(ev.values) == set(registry.available(builtin=True))
    for v in ev.values.values():
        assert v.shape == (point.replicas,)
    cap = capacity.xord_capacity_measures(point.w, point.u, point.w0, point.u0,
                                          point.replica_counts())
    for key in capacity.KEYS:
        np.testing.assert_array_equal(ev.values[key],
                                      np.broadcast_to(cap[key], (point.replicas,)))
    np.testing.assert_array_equal(ev.values["arora.complexity"],
                                  kernel.xord_complexity(point.replica_counts()))
    np.testing.assert_array_equal(
        ev.values["arora.complexity_finite_width"],
        ntk.finite_width_complexity(point.w0, point.u0, point.replica_counts()))
    np.testing.assert_array_equal(
        ev.values["lazy.weight_change"],
        lazy.relative_weight_change(point.w0, point.u0, point.w, point.u))
    # the NTK spectrum on the training set: rank <= 8 and lambda_min = 0 when n > rank
    rank = ev.values["ntk.rank.init"]
    assert np.all(rank <= 8)
    n = point.replica_counts().sum(axis=(1, 2))
    assert np.all(ev.values["ntk.lambda_min.init"][n > rank] == 0)
    # the lazy limit's test error is an error rate
    lz = ev.values["lazy.predictor_test_error"]
    assert np.all((lz >= 0) & (lz <= 1))
    # the failures are reported: only NaN bounds (margin <= 0) may appear
    for name, fails in ev.failures.items():
        assert all(why == "nan" for _, why in fails), name


def test_user_measure_failing_on_some_replicas(point):
    def flaky(p):
        if p.replicas > 1:
            raise RuntimeError("needs one replica at a time")
        if p.w[0, 0, 0] > 0:
            raise ValueError("positive first weight")
        return np.array([1.0 if p.test_error[0] == 0 else np.nan])

    registry.register("flaky", flaky, needs=("final", "outcome"))
    try:
        ev = registry.evaluate(point, ["flaky"])
        v = ev.values["flaky"]
        bad = {r for r, why in ev.failures["flaky"] if why.startswith("ValueError")}
        nan = {r for r, why in ev.failures["flaky"] if why == "nan"}
        assert bad == set(np.flatnonzero(point.w[:, 0, 0] > 0))
        assert nan == set(np.flatnonzero((point.w[:, 0, 0] <= 0) & (point.test_error != 0)))
        assert np.all(np.isnan(v[list(bad | nan)]))
        ok = sorted(set(range(point.replicas)) - bad - nan)
        assert np.all(v[ok] == 1.0)
    finally:
        registry.unregister("flaky")


def test_register_refusals():
    with pytest.raises(InputError, match="already registered"):
        registry.register("Fro bound", lambda p: p.w[:, 0, 0])
    with pytest.raises(InputError, match="built in"):
        registry.unregister("Fro bound")
    with pytest.raises(InputError, match="needs"):
        registry.register("x", lambda p: p.w[:, 0, 0], needs=("weights",))
    with pytest.raises(InputError, match="name"):
        registry.register(" x", lambda p: p.w[:, 0, 0])
    with pytest.raises(InputError, match="callable"):
        registry.register("x", 3)
    with pytest.raises(InputError, match="unknown measure"):
        registry.get("no such measure")


def test_select_is_a_point_of_its_own(point):
    sub = point.select([1, 3])
    assert sub.replicas == 2 and sub.config.replicas == 2
    ev_all = registry.evaluate(point, ["Fro bound", "lazy.predictor_test_error"])
    ev_sub = registry.evaluate(sub, ["Fro bound", "lazy.predictor_test_error"])
    for name in ev_all.values:
        np.testing.assert_array_equal(ev_sub.values[name], ev_all.values[name][[1, 3]])


# -- the train --save file and the command ----------------------------------------------

@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("measures") / "run.npz"
    assert main(["train", "--k", "5", "--replicas", "8", "--steps", "300", "--d", "4",
                 "--m", "4", "--seed", "2", "--save", str(path)]) == 0
    return path


def test_npz_point_matches_the_run(saved):
    p = registry.TrainedPoint.from_npz(saved)
    with np.load(saved) as z:
        x, y = z["x"], z["y"]
        cfg = xs.GDConfig.from_dict(json.loads(str(z["config_json"][()])))
        res = xs.train(x, y, cfg, seed=None, w0=z["w0"], u0=z["u0"])
        np.testing.assert_array_equal(p.test_error, z["test_error"])
    # the engine sums in (s, t) coordinates, outputs_all_masks from w: rounding only
    np.testing.assert_allclose(p.outputs, res.outputs, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(p.counts, xs.mask_counts(x, y))
    np.testing.assert_allclose(
        xs.test_error_exact(p.outputs, p.test_probs)[np.isfinite(p.test_error)],
        p.test_error[np.isfinite(p.test_error)], rtol=1e-12, atol=0)


def test_cli_measures(saved, capsys):
    assert main(["measures", str(saved), "--measure", "Fro bound", "--measure",
                 "arora.complexity", "--json", "-"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["measures"]) == {"Fro bound", "arora.complexity"}
    assert len(out["measures"]["Fro bound"]["values"]) == 8
    assert main(["measures", str(saved)]) == 0
    text = capsys.readouterr().out
    assert "lazy.predictor_test_error" in text and "tau_b" in text
    assert main(["measures", str(saved), "--measure", "list"]) == 0
    assert "Our bound" in capsys.readouterr().out


def _bad_npz(tmp_path, saved, **change):
    with np.load(saved) as z:
        arrays = {k: z[k] for k in z.files}
    for k, v in change.items():
        if v is None:
            arrays.pop(k)
        else:
            arrays[k] = v
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("change, message", [
    ({"w": None}, "missing key w"),
    ({"w0": np.zeros((8, 3, 2))}, "key w0"),
    ({"u": np.zeros((8, 5, 2), np.int64)}, "key u"),
    ({"status": np.zeros(3)}, "key status"),
    ({"config_json": np.array("{not json")}, "config_json"),
    ({"config_json": np.array('{"k": 0}')}, "config_json"),
    ({"config_json": np.array('{"kk": 5}')}, "config_json"),
    ({"x": np.zeros((4, 4, 2), np.int8)}, "keys x and y"),
    ({"w0": np.full((8, 5, 2), np.nan)}, "finite"),
])
def test_cli_measures_bad_file(tmp_path, saved, capsys, change, message):
    path = _bad_npz(tmp_path, saved, **change)
    assert main(["measures", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and message in err and "Traceback" not in err


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", b"not a zip at all"])
def test_cli_measures_not_an_archive(tmp_path, capsys, content):
    path = tmp_path / "x.npz"
    path.write_bytes(content)
    assert main(["measures", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "not an npz archive" in err


def test_cli_measures_bad_options(tmp_path, saved, capsys):
    assert main(["measures", str(tmp_path / "missing.npz")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["measures", str(saved), "--measure", "nope"]) == 2
    assert "--measure must be one of" in capsys.readouterr().err
    assert main(["measures", str(saved), "--json", "/proc/x.json"]) == 2
    assert "--json" in capsys.readouterr().err
