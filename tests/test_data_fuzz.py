"""Property-based fuzzing of the distribution-file reader (``--distribution FILE.json``):
every mutated or hostile file gives the one-line ``InputError``, never another exception."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xordsim._validate import InputError
from xordsim.data import MaskDistribution, distribution_from_spec

VALID = {"pos": {"1,2,3,4": 0.9, "1": 0.1}, "neg": {"2,4": 0.8, "2": 0.2}}
FUZZ = settings(max_examples=80, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def _read(tmp_path, data: bytes):
    path = tmp_path / "dist.json"
    path.write_bytes(data)
    try:
        dist = distribution_from_spec(str(path), d=4)
    except InputError as exc:
        msg = str(exc)
        assert msg.startswith("--distribution") and "\n" not in msg
        return None
    assert isinstance(dist, MaskDistribution)
    return dist


def test_valid_file_reads(tmp_path):
    dist = _read(tmp_path, json.dumps(VALID).encode())
    assert abs(dist.mask_probs(1).sum() - 1) < 1e-12


@FUZZ
@given(data=st.data())
def test_truncated_and_flipped_bytes(tmp_path, data):
    raw = bytearray(json.dumps(VALID).encode())
    cut = data.draw(st.integers(0, len(raw)))
    raw = raw[:cut]
    for _ in range(data.draw(st.integers(0, 4))):
        if raw:
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] = data.draw(st.integers(0, 255))
    _read(tmp_path, bytes(raw))


@FUZZ
@given(raw=st.binary(max_size=300))
def test_arbitrary_bytes(tmp_path, raw):
    _read(tmp_path, raw)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**30, 10**30)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=20)
keys = st.lists(st.integers(-2, 6), min_size=0, max_size=5).map(
    lambda v: ",".join(map(str, v))) | st.text(max_size=8)


@FUZZ
@given(table=st.fixed_dictionaries({
    "pos": st.dictionaries(keys, json_values | st.floats(0, 1), max_size=5),
    "neg": st.dictionaries(keys, json_values | st.floats(0, 1), max_size=5)}) | json_values)
def test_hostile_structures(tmp_path, table):
    _read(tmp_path, json.dumps(table, allow_nan=True).encode())


def test_deep_nesting_and_huge_file(tmp_path):
    assert _read(tmp_path, b"[" * 200000) is None
    assert _read(tmp_path, b" " * (2 << 20)) is None
