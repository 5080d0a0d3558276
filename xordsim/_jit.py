"""numba's on-disk cache for the package's kernels, invalidated when any kernel source
changes -- not only the kernel's own file.

numba keys a cached function on the content of the file that defines it. A kernel that
calls (and inlines) functions of *other* files -- ``engine._gd_kernel`` calls
``model.descend_simd`` and ``model.forward_simd`` -- is therefore loaded from the cache
after a change to ``model.py`` alone, and runs the old code: measured on 7 Dec 2026, a
checkout whose ``model.py`` had changed three times since ``engine.py`` last did ran the
kernel as it was before all three (16-20% slower, and whatever those changes fixed, not
fixed). A ``git pull`` or an edit in an editable install (the README's) does exactly this.

Importing this module (every module that defines cached kernels does, before its first
``@njit(cache=True)``) puts a locator in front of numba's own for the files of this
package: the same cache directories as numba's (``__pycache__`` beside the source, or
``NUMBA_CACHE_DIR``, or the user-wide cache), but a source stamp that also holds
:func:`sources_digest`, the hash of every module of the package that uses numba. Any
change to one of them makes every cached kernel of the package stale, and numba
recompiles it on first use (once). Functions outside the package keep numba's locators.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from numba.core import caching

#: The package's directory: the files whose kernels get the package-wide stamp.
PACKAGE_DIR = Path(__file__).resolve().parent


def sources_digest(root: Path | None = None) -> str:
    """Hash (16 hex digits) of every ``*.py`` file under ``root`` (default
    :data:`PACKAGE_DIR`) that mentions numba, with its path relative to ``root``: what a
    kernel of the package may depend on. Computed once per process and folder."""
    return _digest(Path(root or PACKAGE_DIR).resolve())


@functools.cache
def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        data = path.read_bytes()
        if b"numba" in data:
            h.update(path.relative_to(root).as_posix().encode() + b"\0")
            h.update(hashlib.sha256(data).digest())
    return h.hexdigest()[:16]


def in_package(py_file: str) -> bool:
    """Whether ``py_file`` is a source file of this package."""
    try:
        return Path(py_file).resolve().is_relative_to(PACKAGE_DIR)
    except OSError:  # pragma: no cover - an unreadable path is not ours
        return False


class _PackageStamp:
    """Mixin for numba's source-file locators: only the package's files, and their stamp
    extended by :func:`sources_digest`."""

    @classmethod
    def from_function(cls, py_func, py_file):
        if not in_package(py_file):
            return None
        return super().from_function(py_func, py_file)

    def get_source_stamp(self):
        return (super().get_source_stamp(), sources_digest())


def _numba_class(*names: str):
    """The first of ``names`` that numba.core.caching defines (numba renamed its private
    cache classes public in 0.6x)."""
    for name in names:
        if hasattr(caching, name):
            return getattr(caching, name)
    import numba

    raise ImportError(f"numba.core.caching has none of {names}: xordsim's kernel cache "
                      f"needs numba's cache locators (numba {numba.__version__})")


#: The locators put in front of numba's: the same places, in numba's order of preference.
LOCATORS = tuple(
    type(f"Package{base.__name__.lstrip('_')}", (_PackageStamp, base), {})
    for base in (_numba_class("UserProvidedCacheLocator", "_UserProvidedCacheLocator"),
                 _numba_class("InTreeCacheLocator", "_InTreeCacheLocator"),
                 _numba_class("UserWideCacheLocator", "_UserWideCacheLocator")))


def install() -> None:
    """Put :data:`LOCATORS` in front of numba's locators (once per process)."""
    classes = _numba_class("CacheImpl", "_CacheImpl")._locator_classes
    if not any(issubclass(c, _PackageStamp) for c in classes):
        classes[0:0] = LOCATORS


install()
