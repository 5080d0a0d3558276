"""IDX reader/writer, dataset loading and stratified splits."""

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from xordsim._validate import InputError
from xordsim.mnist import data as mdata
from xordsim.mnist.idx import read_idx, read_idx_pair, write_idx

FASHION = Path("/usr/share/datasets/fashion-mnist")


def _images(n=6, h=5, w=4, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w), dtype=np.uint8)


@pytest.mark.parametrize("name", ["img-idx3-ubyte", "img-idx3-ubyte.gz"])
def test_idx_roundtrip(tmp_path, name):
    a = _images()
    write_idx(tmp_path / name, a)
    b = read_idx(tmp_path / name, ndim=3)
    np.testing.assert_array_equal(a, b)
    raw = (tmp_path / name).read_bytes()
    if name.endswith(".gz"):
        raw = gzip.decompress(raw)
    assert raw[:4] == b"\x00\x00\x08\x03"
    assert struct.unpack(">3I", raw[4:16]) == (6, 5, 4)


def _bad(tmp_path, content: bytes, name="bad-idx3-ubyte"):
    p = tmp_path / name
    p.write_bytes(content)
    return p


def _valid_bytes(a):
    return bytes([0, 0, 8, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda b: b[:-1], "truncated"),
        (lambda b: b[:10], "truncated header"),
        (lambda b: b[:2], "too short"),
        (lambda b: b + b"\x00", "unexpected bytes"),
        (lambda b: b"\x01" + b[1:], "bad magic"),
        (lambda b: b[:2] + b"\x0d" + b[3:], "data type"),
        (lambda b: b[:3] + b"\x02" + b[4:], "dimensions, expected 3"),
    ],
)
def test_idx_rejects_malformed(tmp_path, mutate, message):
    p = _bad(tmp_path, mutate(_valid_bytes(_images())))
    with pytest.raises(InputError, match=message) as exc:
        read_idx(p, ndim=3)
    assert str(p) in str(exc.value) and "\n" not in str(exc.value)


def test_idx_rejects_truncated_and_corrupt_gzip(tmp_path):
    z = gzip.compress(_valid_bytes(_images()))
    with pytest.raises(InputError, match="gzip"):
        read_idx(_bad(tmp_path, z[: len(z) // 2], "a.gz"))
    corrupt = z[:12] + bytes(b ^ 0xFF for b in z[12:30]) + z[30:]
    with pytest.raises(InputError, match="gzip"):
        read_idx(_bad(tmp_path, corrupt, "b.gz"))


def test_idx_missing_file(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        read_idx(tmp_path / "nope")


def test_idx_pair_checks_labels(tmp_path):
    write_idx(tmp_path / "i", _images(n=4))
    write_idx(tmp_path / "l", np.array([0, 1, 2, 3], dtype=np.uint8))
    x, y = read_idx_pair(tmp_path / "i", tmp_path / "l")
    assert x.shape == (4, 5, 4) and y.tolist() == [0, 1, 2, 3]
    write_idx(tmp_path / "l", np.array([0, 1, 2, 10], dtype=np.uint8))
    with pytest.raises(InputError, match="label 10 out of range"):
        read_idx_pair(tmp_path / "i", tmp_path / "l")
    write_idx(tmp_path / "l", np.array([0, 1, 2], dtype=np.uint8))
    with pytest.raises(InputError, match="3 labels for 4 images"):
        read_idx_pair(tmp_path / "i", tmp_path / "l")


def _write_mnist_dir(d: Path, n_train=60, n_test=30, gz=True):
    rng = np.random.default_rng(0)
    sfx = ".gz" if gz else ""
    for part, n in (("train", n_train), ("t10k", n_test)):
        write_idx(d / f"{part}-images-idx3-ubyte{sfx}", rng.integers(0, 256, (n, 28, 28)))
        write_idx(d / f"{part}-labels-idx1-ubyte{sfx}", np.arange(n) % 10)


def test_load_dataset_from_idx_dir_and_env(tmp_path, monkeypatch):
    _write_mnist_dir(tmp_path, gz=False)
    d = mdata.load_dataset("mnist", n_train=40, n_test=20, seed=1, data_dir=tmp_path)
    assert d.x_train.shape == (40, 28, 28) and d.x_train.dtype == np.float32
    assert np.bincount(d.y_train).tolist() == [4] * 10
    assert 0 <= d.x_train.min() and d.x_train.max() <= 1
    monkeypatch.setenv(mdata.DATA_DIR_ENV, str(tmp_path))
    d2 = mdata.load_dataset("mnist", n_train=40, n_test=20, seed=1)
    np.testing.assert_array_equal(d.x_train, d2.x_train)
    with pytest.raises(InputError, match="n_train must be at most 60"):
        mdata.load_dataset("mnist", n_train=61, n_test=20, data_dir=tmp_path)


def test_load_dataset_errors(tmp_path, monkeypatch):
    monkeypatch.delenv(mdata.DATA_DIR_ENV, raising=False)
    with pytest.raises(InputError, match="needs --data-dir"):
        mdata.load_dataset("mnist")
    with pytest.raises(InputError, match="missing train-images-idx3-ubyte"):
        mdata.load_dataset("mnist", data_dir=tmp_path)
    with pytest.raises(InputError, match="dataset must be one of"):
        mdata.load_dataset("cifar")


def test_mnist5k_split_is_stratified_and_reproducible():
    x, y = mdata.load_mnist5k()
    assert x.shape == (5000, 28, 28) and np.bincount(y).tolist() == [500] * 10
    a = mdata.load_dataset("mnist5k", 400, 100, seed=3)
    b = mdata.load_dataset("mnist5k", 400, 100, seed=3)
    c = mdata.load_dataset("mnist5k", 400, 100, seed=4)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_test, c.x_test)
    assert np.bincount(a.y_train).tolist() == [40] * 10
    assert np.bincount(a.y_test).tolist() == [10] * 10
    with pytest.raises(InputError, match="at most 5000"):
        mdata.load_dataset("mnist5k", 4500, 1000)


def test_stratified_split_disjoint():
    y = np.repeat(np.arange(3), [10, 20, 30])
    tr, te = mdata.stratified_split(y, 6, seed=0)
    assert len(set(tr) & set(te)) == 0 and len(tr) + len(te) == 60
    assert np.bincount(y[te]).tolist() == [1, 2, 3]
    assert len(mdata.stratified_indices(y, 7, 0)) == 7


@pytest.mark.skipif(not FASHION.is_dir(), reason="Debian dataset-fashion-mnist not installed")
def test_reader_on_debian_fashion_mnist(monkeypatch):
    monkeypatch.delenv(mdata.DATA_DIR_ENV, raising=False)
    x, y = read_idx_pair(FASHION / "t10k-images-idx3-ubyte.gz",
                         FASHION / "t10k-labels-idx1-ubyte.gz")
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8
    assert np.bincount(y).tolist() == [1000] * 10
    d = mdata.load_dataset("fashion-mnist", n_train=100, n_test=50, seed=0)
    assert d.x_train.shape == (100, 28, 28) and d.name == "fashion-mnist"
