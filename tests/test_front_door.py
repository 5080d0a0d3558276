"""The front door: ``import xordsim as xs`` gives every public name, each documented."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

import xordsim as xs


@pytest.mark.parametrize("name", xs.__all__)
def test_every_public_name_is_importable_and_documented(name):
    obj = getattr(xs, name)
    if name == "__version__":
        assert isinstance(obj, str) and obj.count(".") == 2
        return
    if inspect.ismodule(obj) or inspect.isclass(obj) or callable(obj):
        doc = inspect.getdoc(obj)
        assert doc and len(doc.split()) >= 3, f"xs.{name} has no docstring"


def test_all_is_complete_and_sorted_by_kind():
    assert len(xs.__all__) == len(set(xs.__all__))
    assert {"train", "GDConfig", "TrainResult", "theorems", "figures"} <= set(xs.__all__)
    assert set(dir(xs)) >= set(xs.__all__)


def test_unknown_name_raises_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        xs.nope  # noqa: B018


def test_front_door_entry_points():
    assert callable(xs.theorems.estimate) and callable(xs.figures.draw)
    assert xs.GDConfig().eta == xs.default_lr(100, 0.1)


def test_python_dash_m_runs_a_command(tmp_path):
    res = subprocess.run([sys.executable, "-m", "xordsim", "train", "--problem", "xor",
                          "--k", "2", "--replicas", "3", "--steps", "5"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0 and "XOR k=2" in res.stdout
