"""``xordsim data fetch mnist``: download the four MNIST IDX files and verify their SHA-256.

Only :mod:`urllib` is used. Each file is streamed into a temporary file beside
its destination, hashed, and renamed into place only when the checksum matches;
on a mismatch the temporary file is deleted and an :class:`InputError` says so.
When a download fails, the directories :func:`fetch` created are removed again (with
what it had put there); files already verified in an existing directory are kept.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from xordsim._validate import InputError
from xordsim.io import atomic_path
from xordsim.mnist.config import FETCHABLE, MIRROR_ENV

__all__ = ["DEFAULT_MIRROR", "FETCHABLE", "MIRROR_ENV", "MNIST_SHA256", "check_mirror", "fetch",
           "sha256_file"]

DEFAULT_MIRROR = "https://storage.googleapis.com/cvdf-datasets/mnist/"

#: Published SHA-256 of the MNIST archives (as used by TensorFlow Datasets and torchvision).
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",  # noqa: E501
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",  # noqa: E501
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(
    dest: str | os.PathLike,
    mirror: str = DEFAULT_MIRROR,
    checksums: dict[str, str] | None = None,
    quiet: bool = False,
    timeout: float = 60.0,
) -> list[Path]:
    """Download every file in ``checksums`` from ``mirror`` into ``dest`` and verify it.

    A file already present with the right checksum is kept without downloading.

    Parameters
    ----------
    dest : path-like
        Target directory (created if missing).
    mirror : str
        Base URL; the file name is appended (a trailing ``/`` is added if missing).
    checksums : dict, optional
        ``{file name: sha256 hex}``; defaults to :data:`MNIST_SHA256`.
    quiet : bool
        Hide the download progress bar.
    timeout : float
        Socket timeout in seconds.

    Returns
    -------
    list of Path
        The verified files.
    """
    checksums = MNIST_SHA256 if checksums is None else checksums
    base = check_mirror(mirror)
    dest = Path(dest)
    created = dest
    while not created.parent.exists() and created.parent != created:
        created = created.parent  # the topmost directory this call creates
    created = None if dest.exists() else created
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--dir {dest}: cannot create ({exc.strerror or exc})") from None
    try:
        return _fetch_all(dest, base, checksums, quiet, timeout)
    except BaseException:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise


def check_mirror(mirror: str) -> str:
    """The mirror's base URL (ending in ``/``); raise unless it is http(s):// or file://."""
    if not isinstance(mirror, str) or not mirror.startswith(("http://", "https://", "file://")):
        raise InputError(f"--mirror must be an http(s):// or file:// URL; got {mirror!r}")
    return mirror if mirror.endswith("/") else mirror + "/"


def _fetch_all(dest: Path, base: str, checksums: dict[str, str], quiet: bool, timeout: float
               ) -> list[Path]:
    out = []
    for name, expected in checksums.items():
        target = dest / name
        if target.is_file() and sha256_file(target) == expected:
            out.append(target)
            continue
        url = base + name
        h = hashlib.sha256()
        with atomic_path(target) as tmp:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as fh:
                    total = int(resp.headers.get("Content-Length") or 0) or None
                    bar = tqdm(total=total, unit="B", unit_scale=True, desc=name, disable=quiet,
                               leave=False)
                    got_bytes = 0
                    for chunk in iter(lambda r=resp: r.read(1 << 16), b""):
                        fh.write(chunk)
                        h.update(chunk)
                        got_bytes += len(chunk)
                        bar.update(len(chunk))
                    bar.close()
                    if total is not None and got_bytes != total:
                        raise OSError(f"truncated: got {got_bytes} of {total} bytes")
            except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
                reason = getattr(exc, "reason", None) or exc
                raise InputError(f"{url}: download failed ({reason})") from None
            got = h.hexdigest()
            if got != expected:
                # leaving the with-block by an exception deletes the temporary file
                raise InputError(
                    f"{name}: SHA-256 mismatch (got {got}, expected {expected}); file deleted"
                )
        out.append(target)
    return out
