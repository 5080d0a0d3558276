"""Property-based fuzzing of the two readers of untrusted files: IDX and the weights NPZ.

Every mutated file (truncated, bytes flipped, wrong magic, absurd dimensions or shapes,
wrong dtypes) must give a working result or an :class:`InputError` with a one-line message:
never another exception, never a hang, never an allocation out of proportion to the file.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import signal
import struct
import tempfile
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from xordsim._validate import InputError
from xordsim.mnist.idx import read_idx
from xordsim.mnist.net import PARAM_NAMES, ConvNet, load_network, pooled_size

#: 60 examples per property (``FUZZ_N=5000`` for a longer search); no example database.
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_N", "60")), deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
#: Allowed allocation: what a deflate stream of the file could expand to, plus slack.
GZIP_RATIO = 1100
SLACK = 4 * 2**20


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


@contextlib.contextmanager
def bounded(seconds: float = 10.0):
    """Fail (TimeoutError) if the block runs longer than ``seconds``; yield a callable that
    gives the peak traced allocation so far."""
    def on_alarm(signum, frame):
        raise TimeoutError(f"took longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    tracemalloc.start()
    try:
        yield lambda: tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _one_line_input_error(exc: BaseException) -> None:
    assert isinstance(exc, InputError), f"{type(exc).__name__}: {exc}"
    assert "\n" not in str(exc) and str(exc)


# ----------------------------------------------------------------------------------------
# IDX


def _idx_bytes(a: np.ndarray) -> bytes:
    return bytes([0, 0, 8, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()


idx_arrays = st.one_of(
    st.tuples(st.integers(0, 6), st.integers(1, 5), st.integers(1, 5)),
    st.tuples(st.integers(0, 40)),
).flatmap(lambda shape: st.binary(min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))
          .map(lambda b, s=shape: np.frombuffer(b, np.uint8).reshape(s)))


@st.composite
def mutated_idx(draw):
    a = draw(idx_arrays)
    raw = bytearray(_idx_bytes(a))
    kind = draw(st.sampled_from(["truncate", "flip", "magic", "dims", "dtype", "append",
                                 "ndim"]))
    if kind == "truncate":
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif kind == "flip":
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(raw) - 1))
            raw[i] ^= draw(st.integers(1, 255))
    elif kind == "magic":
        raw[:4] = draw(st.binary(min_size=4, max_size=4))
    elif kind == "dims":
        i = draw(st.integers(0, a.ndim - 1))
        raw[4 + 4 * i: 8 + 4 * i] = struct.pack(">I", draw(st.integers(0, 2**32 - 1)))
    elif kind == "dtype":
        raw[2] = draw(st.sampled_from([0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0xFF]))
    elif kind == "ndim":
        raw[3] = draw(st.integers(0, 255))
    else:
        raw += draw(st.binary(min_size=1, max_size=50))
    gz = draw(st.booleans())
    data = bytes(raw)
    if gz:
        data = gzip.compress(data, mtime=0)
        if draw(st.booleans()):  # damage the compressed stream too
            cut = draw(st.integers(0, len(data)))
            data = data[:cut] + draw(st.binary(max_size=8))
    return data, gz


def _check_idx(path: Path, size: int, gz: bool, ndim=None):
    with bounded() as peak:
        try:
            out = read_idx(path, ndim=ndim)
        except Exception as exc:  # noqa: BLE001 - the property is about which exception
            _one_line_input_error(exc)
            out = None
        limit = (GZIP_RATIO if gz else 2) * size + SLACK
        assert peak() <= limit, (peak(), size)
    return out


@FUZZ
@given(case=mutated_idx(), ndim=st.sampled_from([None, 1, 3]))
def test_idx_reader_on_mutated_files(workdir, case, ndim):
    data, gz = case
    path = workdir / ("f-idx.gz" if gz else "f-idx")
    path.write_bytes(data)
    out = _check_idx(path, len(data), gz, ndim)
    if out is not None:  # accepted: the header must describe exactly what was returned
        raw = gzip.decompress(data) if gz else data
        nd = raw[3]
        dims = struct.unpack(f">{nd}I", raw[4: 4 + 4 * nd])
        assert out.shape == dims and out.dtype == np.uint8
        assert out.tobytes() == raw[4 + 4 * nd:]


@FUZZ
@given(dims=st.lists(st.integers(2**16, 2**32 - 1), min_size=1, max_size=4),
       gz=st.booleans(), tail=st.binary(max_size=64))
def test_idx_absurd_dimensions_allocate_nothing(workdir, dims, gz, tail):
    data = bytes([0, 0, 8, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + tail
    if gz:
        data = gzip.compress(data, mtime=0)
    path = workdir / ("huge-idx.gz" if gz else "huge-idx")
    path.write_bytes(data)
    with pytest.raises(InputError, match="implausibly large|truncated"):
        read_idx(path)
    assert _check_idx(path, len(data), gz) is None


def test_idx_gzip_bomb_is_refused_before_decompressing(workdir):
    # 10^9 declared (and present) bytes compress to ~1 MB: more than 1100x the file? No:
    # the header claims 2^31 + 1 bytes, refused as implausible before any data is read.
    header = bytes([0, 0, 8, 1]) + struct.pack(">I", 2**31 + 1)
    path = workdir / "bomb-idx.gz"
    path.write_bytes(gzip.compress(header + b"\0" * 2**20, mtime=0))
    with bounded() as peak:
        with pytest.raises(InputError, match="implausibly large"):
            read_idx(path)
        assert peak() < 2**20
    # a header claiming more than the compressed file can hold
    header = bytes([0, 0, 8, 1]) + struct.pack(">I", 2**30)
    path.write_bytes(gzip.compress(header + b"\0" * 1000, mtime=0))
    with bounded() as peak:
        with pytest.raises(InputError, match="cannot hold them"):
            read_idx(path)
        assert peak() < 2**20


# ----------------------------------------------------------------------------------------
# weights NPZ


def _npz_bytes(arrays: dict, compressed: bool) -> bytes:
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


@pytest.fixture(scope="module")
def good_params():
    net = ConvNet.create(3, filter_size=3, seed=0)
    return {**net.params, "init_conv_w": net.params["conv_w"].copy()}


def _check_weights(path: Path, size: int):
    with bounded() as peak:
        try:
            net, init = load_network(path)
        except Exception as exc:  # noqa: BLE001 - the property is about which exception
            _one_line_input_error(exc)
            assert f"--weights {path}: not a network NPZ from 'mnist train' (" in str(exc)
            net = None
        assert peak() <= GZIP_RATIO * size + SLACK, (peak(), size)
    if net is not None:  # accepted: a consistent network
        c, f, _ = net.params["conv_w"].shape
        assert net.params["fc_w"].shape == (pooled_size(f) ** 2 * c, 10)
        assert all(np.all(np.isfinite(net.params[k])) for k in PARAM_NAMES)
        assert init is None or init.shape == (c, f, f)
    return net


@FUZZ
@given(compressed=st.booleans(), data=st.data())
def test_weights_loader_on_mutated_bytes(workdir, good_params, compressed, data):
    raw = bytearray(_npz_bytes(good_params, compressed))
    kind = data.draw(st.sampled_from(["truncate", "flip", "overwrite", "append"]))
    if kind == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif kind == "flip":
        for _ in range(data.draw(st.integers(1, 6))):
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] ^= data.draw(st.integers(1, 255))
    elif kind == "overwrite":
        i = data.draw(st.integers(0, len(raw) - 1))
        chunk = data.draw(st.binary(min_size=1, max_size=32))
        raw[i: i + len(chunk)] = chunk
    else:
        raw += data.draw(st.binary(min_size=1, max_size=64))
    path = workdir / "mutated.npz"
    path.write_bytes(bytes(raw))
    _check_weights(path, len(raw))


DTYPES = ["float32", "float64", "float16", "int8", "int64", "uint8", "bool", "complex64",
          "<U3", ">f4", ">f8", "longdouble"]


@FUZZ
@given(data=st.data())
def test_weights_loader_on_wrong_arrays(workdir, good_params, data):
    arrays = dict(good_params)
    for _ in range(data.draw(st.integers(1, 3))):
        name = data.draw(st.sampled_from([*arrays, "extra"]))
        what = data.draw(st.sampled_from(["drop", "dtype", "shape", "scalar", "nan"]))
        if what == "drop":
            arrays.pop(name, None)
        elif what == "dtype":
            dtype = data.draw(st.sampled_from(DTYPES))
            arrays[name] = np.zeros(arrays.get(name, np.zeros(2)).shape, dtype=dtype)
        elif what == "shape":
            shape = tuple(data.draw(st.lists(st.integers(0, 12), min_size=0, max_size=4)))
            arrays[name] = np.ones(shape, np.float32)
        elif what == "scalar":
            arrays[name] = np.float32(1.0)
        else:
            a = np.ones(np.shape(arrays.get(name, np.zeros(2))), np.float32)
            if a.size:
                a.flat[0] = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]))
            arrays[name] = a
    raw = _npz_bytes(arrays, data.draw(st.booleans()))
    path = workdir / "wrong.npz"
    path.write_bytes(raw)
    net = _check_weights(path, len(raw))
    valid = (all(k in arrays for k in PARAM_NAMES)
             and all(np.asarray(arrays[k]).dtype.kind == "f"
                     and np.asarray(arrays[k]).dtype.itemsize in (4, 8)
                     and np.all(np.isfinite(arrays[k])) for k in arrays if k != "extra")
             and all(np.shape(arrays[k]) == np.shape(good_params[k])
                     for k in arrays if k != "extra"))
    assert (net is not None) == valid


def _npy_member(shape, descr="<f4", payload=b"") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                               "shape": shape})
    return buf.getvalue() + payload


@FUZZ
@given(name=st.sampled_from([*PARAM_NAMES, "init_conv_w"]),
       shape=st.lists(st.integers(0, 2**40), min_size=0, max_size=4).map(tuple),
       descr=st.sampled_from(["<f4", "<f8", "|O", "<i8", "|b1"]),
       payload=st.binary(max_size=256), compression=st.sampled_from([zipfile.ZIP_STORED,
                                                                      zipfile.ZIP_DEFLATED]))
def test_weights_loader_on_huge_declared_shapes(workdir, good_params, name, shape, descr,
                                                payload, compression):
    assume(shape != good_params[name].shape)
    path = workdir / "declared.npz"
    with zipfile.ZipFile(path, "w", compression) as zf:
        for key, a in good_params.items():
            if key == name:
                zf.writestr(key + ".npy", _npy_member(shape, descr, payload))
            else:
                zf.writestr(key + ".npy", _npy_member(a.shape, a.dtype.str, a.tobytes()))
    size = path.stat().st_size
    assert _check_weights(path, size) is None


def test_weights_loader_refuses_other_compression_methods(workdir, good_params):
    path = workdir / "lzma.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_LZMA) as zf:
        for key, a in good_params.items():
            zf.writestr(key + ".npy", _npy_member(a.shape, a.dtype.str, a.tobytes()))
    with pytest.raises(InputError, match="compression method"):
        load_network(path)


def test_weights_loader_accepts_its_own_files(workdir, good_params):
    path = workdir / "good.npz"
    path.write_bytes(_npz_bytes(good_params, True))
    net, init = load_network(path)
    for k in PARAM_NAMES:
        np.testing.assert_array_equal(net.params[k], good_params[k])
    np.testing.assert_array_equal(init, good_params["init_conv_w"])
