"""Strict reader and writer for the IDX format of MNIST and Fashion-MNIST.

Format: two zero bytes, a type byte (0x08 = unsigned byte), a dimension-count
byte, one big-endian uint32 per dimension, then the data. Every defect (bad
magic, wrong dimensions, a file that is too short or too long, a truncated or
corrupt gzip stream, labels out of range) raises :class:`InputError` with a
one-line message naming the file.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from xordsim._validate import InputError
from xordsim.io import atomic_path

_MAX_BYTES = 2**31  # refuse absurd headers before allocating


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if path.suffix == ".gz" or raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"{path}: corrupt or truncated gzip data ({exc})") from None
    return raw


def read_idx(path: str | os.PathLike, ndim: int | None = None) -> np.ndarray:
    """Read an unsigned-byte IDX file (optionally gzip-compressed).

    Parameters
    ----------
    path : path-like
    ndim : int, optional
        Required number of dimensions (3 for images, 1 for labels).

    Returns
    -------
    ndarray of uint8 with the shape stored in the header.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise InputError(f"{path}: file too short for an IDX header ({len(raw)} bytes)")
    z0, z1, dtype_code, nd = raw[0], raw[1], raw[2], raw[3]
    if z0 != 0 or z1 != 0:
        raise InputError(f"{path}: bad magic number 0x{raw[:4].hex()} (must start with 0000)")
    if dtype_code != 0x08:
        raise InputError(
            f"{path}: bad magic number 0x{raw[:4].hex()} (data type 0x{dtype_code:02x},"
            " only unsigned byte 0x08 is supported)"
        )
    if ndim is not None and nd != ndim:
        raise InputError(
            f"{path}: bad magic number 0x{raw[:4].hex()} ({nd} dimensions, expected {ndim})"
        )
    if nd == 0:
        raise InputError(f"{path}: IDX header declares 0 dimensions")
    header = 4 + 4 * nd
    if len(raw) < header:
        raise InputError(f"{path}: truncated header ({len(raw)} bytes, need {header})")
    dims = struct.unpack(f">{nd}I", raw[4:header])
    size = int(np.prod(dims, dtype=np.int64))
    if size > _MAX_BYTES:
        raise InputError(f"{path}: dimensions {dims} are implausibly large")
    have = len(raw) - header
    if have < size:
        raise InputError(
            f"{path}: truncated: dimensions {'x'.join(map(str, dims))} need {size} data bytes,"
            f" file has {have}"
        )
    if have > size:
        raise InputError(
            f"{path}: {have - size} unexpected bytes after the data"
            f" (dimensions {'x'.join(map(str, dims))})"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()


def read_idx_pair(
    images_path: str | os.PathLike, labels_path: str | os.PathLike, n_classes: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Read matching image (N, H, W) and label (N,) files and cross-check them."""
    images = read_idx(images_path, ndim=3)
    labels = read_idx(labels_path, ndim=1)
    if images.shape[1] < 2 or images.shape[2] < 2:
        raise InputError(f"{images_path}: images are {images.shape[1]}x{images.shape[2]}")
    if len(images) != len(labels):
        raise InputError(
            f"{labels_path}: {len(labels)} labels for {len(images)} images in {images_path}"
        )
    if labels.size and labels.max() >= n_classes:
        raise InputError(
            f"{labels_path}: label {int(labels.max())} out of range 0..{n_classes - 1}"
        )
    return images, labels.astype(np.int64)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Atomically write a uint8 array as IDX (gzip-compressed when the name ends in ``.gz``)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    data = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data += array.tobytes()
    path = Path(path)
    if path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path
