"""GDConfig: declared once, round-trips, derives the paper's formulas, defaults never retyped."""

from __future__ import annotations

import ast
import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

import xordsim as xs
from xordsim._validate import InputError, Param
from xordsim.config import (
    GDConfig,
    theorem_3_3_steps,
    theorem_6_3_steps,
)

ROOT = Path(__file__).resolve().parents[1] / "xordsim"


def test_round_trip_through_json():
    cfg = GDConfig(problem="xord", k=7, d=5, m=3, steps=12, gamma=2.5, lr=0.01,
                   init_std=1e-3, distribution="pattern:0.1,0.2,0.3,0.4", data="shared",
                   prior_pos=0.3, seed=2**80)
    back = GDConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg
    assert back.seed == 2**80  # a seed is any non-negative integer, recorded exactly


def test_from_dict_rejects_unknown_and_bad_values():
    with pytest.raises(InputError, match="unknown parameter 'kk'"):
        GDConfig.from_dict({"kk": 3})
    with pytest.raises(InputError, match="k must be"):
        GDConfig.from_dict({"k": 0})
    with pytest.raises(InputError):
        GDConfig.from_dict([("k", 3)])


def test_frozen_and_replace():
    cfg = GDConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.k = 3
    assert cfg.replace(k=3).k == 3 and cfg.k == 100
    with pytest.raises(InputError, match="no parameter"):
        cfg.replace(kk=3)
    with pytest.raises(InputError, match="gamma"):
        cfg.replace(gamma=-1.0)


def test_derived_formulas():
    cfg = GDConfig(k=16, c_eta=0.2)
    assert cfg.eta == pytest.approx(0.2 / 16)
    assert cfg.sigma_g == pytest.approx(0.2 / (16 * 16**1.5))
    assert cfg.margin == 8.0 and GDConfig(problem="xor").margin == 1.0
    assert cfg.replace(lr=0.5).eta == 0.5 and cfg.replace(init_std=0.0).sigma_g == 0.0
    r = cfg.resolved()
    assert (r.gamma, r.lr, r.init_std) == (cfg.margin, cfg.eta, cfg.sigma_g)
    assert theorem_6_3_steps(8.0, 1 / 410) == math.ceil(28 * (9 + 8 / 410) * 410)
    k, c = 50, 0.1
    assert theorem_3_3_steps(k, c) == math.floor(16 * math.sqrt(k) / (math.sqrt(k) - 4) / c) + 1


@pytest.mark.parametrize("name,p", list(GDConfig.params().items()))
def test_every_declared_parameter_checks_its_range(name, p: Param):
    GDConfig(**{name: p.default})
    for bad in p.bad_values():
        with pytest.raises(InputError):
            GDConfig(**{name: p.parse(bad)})


def test_engine_records_the_config():
    x, y = xs.xor_dataset()
    cfg = GDConfig(problem="xor", k=3, steps=10, replicas=4, seed=1)
    res = xs.train(x, y, cfg)
    assert res.config.k == 3 and res.config.replicas == 4 and res.config.lr == cfg.eta
    again = xs.train(x, y, k=3, problem="xor", steps=10, replicas=4, seed=1)
    assert np.array_equal(res.w, again.w)
    with pytest.raises(InputError, match="no parameter"):
        xs.train(x, y, cfg, bogus=1)


# ----------------------------------------------------------------------------------------
# every default is defined once: no default of GDConfig is retyped as a literal for the
# same name in the command line, the figures or the theorem specs

def _literal_defaults(path: Path):
    fields = GDConfig.params()
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        pairs = []
        if isinstance(node, ast.Call):
            pairs = [(kw.arg, kw.value) for kw in node.keywords if kw.arg]
        elif isinstance(node, ast.Dict):
            pairs = [(k.value, v) for k, v in zip(node.keys, node.values, strict=True)
                     if isinstance(k, ast.Constant) and isinstance(k.value, str)]
        for key, value in pairs:
            if (key in fields and isinstance(value, ast.Constant)
                    and isinstance(value.value, (int, float))
                    and not isinstance(value.value, bool)
                    and fields[key].default is not None
                    and value.value == fields[key].default):
                yield f"{path.name}:{node.lineno}: {key}={value.value!r}"


@pytest.mark.parametrize("pattern", ["cli/*.py", "figures/*.py", "theorems/specs.py",
                                     "theorems/estimators.py", "mnist/figures.py"])
def test_no_default_retyped(pattern):
    """(Numbers only: naming a problem explicitly, ``problem="xord"``, is not a default.)"""
    paths = sorted(ROOT.glob(pattern))
    assert paths
    found = [hit for path in paths for hit in _literal_defaults(path)]
    assert found == []
