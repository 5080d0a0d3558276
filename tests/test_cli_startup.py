"""The command line starts at once: building the parser imports no heavy module, and
``python -m xordsim`` works. (Speed itself is measured by ``bench/bench_cli.py``.)"""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("numpy", "scipy", "matplotlib", "sklearn", "numba", "mlxtend", "tqdm")

PROBE = """
import sys
from xordsim.cli import build_parser
parser = build_parser()
for argv in ({argvs}):
    try:
        parser.parse_args(argv)
    except SystemExit:
        pass
print("HEAVY:" + ",".join(m for m in {heavy!r} if m in sys.modules))
"""


def _heavy_after(argvs: str) -> list[str]:
    code = PROBE.format(argvs=argvs, heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()[-1]
    assert out.startswith("HEAVY:")
    return [m for m in out[len("HEAVY:"):].split(",") if m]


def test_building_the_parser_imports_nothing_heavy():
    assert _heavy_after("[]") == []


@pytest.mark.parametrize("argv", [
    ["--help"], ["train", "--help"], ["theorems", "--help"], ["figure", "--help"],
    ["figure", "fig1", "--help"], ["reproduce", "--help"], ["mnist", "train", "--help"],
    ["data", "fetch", "--help"], ["sweep", "--help"], ["--version"],
])
def test_help_imports_nothing_heavy(argv):
    assert _heavy_after(repr(argv) + ",") == []


def test_import_xordsim_is_light():
    code = f"import sys, xordsim; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == ""


def test_python_dash_m_xordsim():
    res = subprocess.run([sys.executable, "-m", "xordsim", "--version"], capture_output=True,
                         text=True)
    assert res.returncode == 0 and res.stdout.startswith("xordsim ")


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["theorems", "--help"],
                                  ["figure", "fig1", "--help"], ["reproduce", "--help"]])
def test_help_is_plain_text(argv):
    """No RST markup, no doubled percent signs."""
    res = subprocess.run([sys.executable, "-m", "xordsim", *argv], capture_output=True,
                         text=True)
    assert res.returncode == 0
    assert "``" not in res.stdout and "%%" not in res.stdout
