"""The package's numba cache (xordsim/_jit.py): a cached kernel is recompiled when a file
it depends on changes, not only its own file (numba's rule)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from numba.core import caching

from xordsim import _jit, model

ROOT = Path(_jit.__file__).resolve().parent


def test_digest_follows_the_sources_that_use_numba(tmp_path):
    (tmp_path / "a.py").write_text("import numba\n")
    (tmp_path / "b.py").write_text("x = 1\n")
    first = _jit.sources_digest(tmp_path)
    assert first == _jit.sources_digest(tmp_path) and len(first) == 16
    _jit._digest.cache_clear()
    (tmp_path / "b.py").write_text("x = 2\n")  # no numba: not a kernel source
    assert _jit.sources_digest(tmp_path) == first
    _jit._digest.cache_clear()
    (tmp_path / "a.py").write_text("import numba  # changed\n")
    assert _jit.sources_digest(tmp_path) != first
    _jit._digest.cache_clear()


def _locator(func):
    return caching.FunctionCache(func)._impl.locator


def test_package_kernels_carry_the_package_stamp():
    loc = _locator(model.forward_simd.py_func)
    assert isinstance(loc, _jit.LOCATORS)
    own, digest = loc.get_source_stamp()
    assert digest == _jit.sources_digest() and own
    assert loc.get_cache_path() == str(ROOT / "__pycache__")  # numba's in-tree place

    def outside(x):  # a function of another file keeps numba's own locators
        return x

    assert not isinstance(_locator(outside), _jit.LOCATORS)


def _kernel_modules():
    for path in sorted(ROOT.rglob("*.py")):
        if "cache=True" in path.read_text() and path.name != "_jit.py":
            yield path


@pytest.mark.parametrize("path", list(_kernel_modules()), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_kernel_module_imports_the_cache_first(path):
    """Before its first decorator runs, every module with cached kernels has imported
    xordsim._jit (so that its kernels get the package's locators)."""
    tree = ast.parse(path.read_text())
    first_kernel = min(n.lineno for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)
                       and any("cache" in ast.unparse(d) for d in n.decorator_list))
    jit_import = [n.lineno for n in tree.body
                  if isinstance(n, ast.ImportFrom) and n.module == "xordsim"
                  and any(a.name == "_jit" for a in n.names)]
    assert jit_import and jit_import[0] < first_kernel


SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path
    import xordsim._jit as j
    j.PACKAGE_DIR = Path(sys.argv[1]).resolve()  # the folder is the package for the test
    sys.path.insert(0, sys.argv[1])
    import kern
    print(kern.g(1.0))
""")


def test_a_changed_dependency_recompiles_the_kernel(tmp_path):
    """kern.g (cached) inlines dep.f from another file. After dep.py changes, a new
    process must run the new f, as it does with the package's locators (the folder is
    made the package for the test). With numba's locators alone (the same script without
    that line, numba 0.68.1) the second run prints 20.0: the cached old code, the bug
    _jit.py fixes."""
    (tmp_path / "dep.py").write_text("from numba import njit\n\n\n@njit(cache=True)\n"
                                     "def f(x):\n    return x + 1.0\n")
    (tmp_path / "kern.py").write_text("from numba import njit\n\nfrom dep import f\n\n\n"
                                      "@njit(cache=True)\ndef g(x):\n    return f(x) * 10.0\n")
    env = dict(os.environ)
    env.pop("NUMBA_CACHE_DIR", None)

    def run() -> str:
        return subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)],
                              capture_output=True, text=True, check=True, env=env).stdout.strip()

    assert run() == "20.0"
    assert list((tmp_path / "__pycache__").glob("kern.g-*.nbi"))  # cached
    (tmp_path / "dep.py").write_text("from numba import njit\n\n\n@njit(cache=True)\n"
                                     "def f(x):\n    return x + 2.0\n")
    assert run() == "30.0"
