"""Strict reader and writer for the IDX format of MNIST and Fashion-MNIST.

Format: two zero bytes, a type byte (0x08 = unsigned byte), a dimension-count
byte, one big-endian uint32 per dimension, then the data. Every defect (bad
magic, wrong dimensions, a file that is too short or too long, a truncated or
corrupt gzip stream, labels out of range) raises :class:`InputError` with a
one-line message naming the file.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from xordsim._validate import InputError
from xordsim.io import atomic_path

_MAX_BYTES = 2**31  # refuse absurd headers before allocating
_GZIP_RATIO = 1100  # the most a deflate stream can expand (zlib's limit is about 1032:1)


def _open(path: Path) -> tuple[io.BufferedIOBase, int, bool]:
    """The file opened for reading (decompressing gzip), its size on disk, and whether it
    is gzip-compressed."""
    try:
        raw = path.open("rb")
        size = os.fstat(raw.fileno()).st_size
        magic = raw.read(2)
        raw.seek(0)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if path.suffix == ".gz" or magic == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb"), size, True
    return raw, size, False


def _read(fh, n: int, path: Path) -> bytes:
    """Up to ``n`` bytes (fewer only at the end of the data)."""
    try:
        out = fh.read(n)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"{path}: corrupt or truncated gzip data ({exc})") from None
    return out


def read_idx(path: str | os.PathLike, ndim: int | None = None) -> np.ndarray:
    """Read an unsigned-byte IDX file (optionally gzip-compressed).

    The header is read first; the size it declares is checked against a plausible limit
    and, for a gzip file, against the most its compressed size can hold, before the data
    is read, so a corrupt header never makes a large allocation.

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
    fh, file_size, gz = _open(path)
    with fh:
        head = _read(fh, 4, path)
        if len(head) < 4:
            raise InputError(f"{path}: file too short for an IDX header ({len(head)} bytes)")
        z0, z1, dtype_code, nd = head
        if z0 != 0 or z1 != 0:
            raise InputError(f"{path}: bad magic number 0x{head.hex()} (must start with 0000)")
        if dtype_code != 0x08:
            raise InputError(
                f"{path}: bad magic number 0x{head.hex()} (data type 0x{dtype_code:02x},"
                " only unsigned byte 0x08 is supported)"
            )
        if ndim is not None and nd != ndim:
            raise InputError(
                f"{path}: bad magic number 0x{head.hex()} ({nd} dimensions, expected {ndim})"
            )
        if nd == 0:
            raise InputError(f"{path}: IDX header declares 0 dimensions")
        header = 4 + 4 * nd
        rest = _read(fh, 4 * nd, path)
        if len(rest) < 4 * nd:
            raise InputError(f"{path}: truncated header ({4 + len(rest)} bytes, need {header})")
        dims = struct.unpack(f">{nd}I", rest)
        shape = "x".join(map(str, dims))
        size = math.prod(dims)
        if size > _MAX_BYTES:
            raise InputError(f"{path}: dimensions {shape} are implausibly large")
        if size > (_GZIP_RATIO * file_size if gz else file_size - header):
            # the file cannot hold that much data: report it as truncated without reading
            have = f"file has {file_size - header}" if not gz else (
                f"a gzip file of {file_size} bytes cannot hold them")
            raise InputError(
                f"{path}: truncated: dimensions {shape} need {size} data bytes, {have}")
        data = _read(fh, size + 1, path)
        if gz and len(data) > size:
            raise InputError(f"{path}: unexpected bytes after the data (dimensions {shape})")
        if not gz and file_size - header > size:
            raise InputError(
                f"{path}: {file_size - header - size} unexpected bytes after the data"
                f" (dimensions {shape})"
            )
        if len(data) < size:
            raise InputError(
                f"{path}: truncated: dimensions {shape} need {size} data bytes,"
                f" file has {len(data)}"
            )
    return np.frombuffer(data, dtype=np.uint8).reshape(dims).copy()


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
