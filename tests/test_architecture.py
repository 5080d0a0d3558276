"""The house's rules, read from the import statements (docs/architecture.md).

A module imports only from its own layer or the layers below; the declaration modules
and the command line import nothing heavy at module level.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "xordsim"

#: Layer of each module (the first matching prefix wins), lowest first.
LAYERS = [
    ("xordsim._validate", 0), ("xordsim.config", 0), ("xordsim.fmt", 0),
    ("xordsim.mnist.config", 0),
    ("xordsim.theorems.specs", 0), ("xordsim.figures.registry", 0),
    ("xordsim._jit", 1), ("xordsim.patterns", 1), ("xordsim.data", 2), ("xordsim.model", 3),
    ("xordsim.lanes", 4), ("xordsim.engine", 4), ("xordsim.reference", 4),
    ("xordsim.diagnostics", 5), ("xordsim.measures", 5), ("xordsim.stats", 5),
    ("xordsim.seeds", 5), ("xordsim.io", 5),
    ("xordsim.theorems", 6), ("xordsim.figures", 6), ("xordsim.mnist", 6), ("xordsim.sweep", 6),
    ("xordsim.report", 7), ("xordsim.findings", 7),
    ("xordsim.cli", 8), ("xordsim.__main__", 8),
]

#: Modules that must import nothing heavy at module level (the CLI builds its parser
#: from them).
LIGHT = ("xordsim._validate", "xordsim.config", "xordsim.fmt", "xordsim.mnist.config",
         "xordsim.theorems.specs", "xordsim.figures.registry", "xordsim.cli",
         "xordsim.__init__")
HEAVY = ("numpy", "scipy", "matplotlib", "numba", "sklearn", "mlxtend", "tqdm", "pandas")


def layer(module: str) -> int:
    for prefix, rank in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            return rank
    raise AssertionError(f"{module} is in no layer: add it to docs/architecture.md and here")


def modules():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        name = ".".join(rel.parts)
        yield name.removesuffix(".__init__") if name.endswith(".__init__") else name, path


def imports(path: Path, top_level_only: bool = False):
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{a.name}" for a in node.names)


@pytest.mark.parametrize("name,path", list(modules()), ids=lambda v: str(v))
def test_imports_go_down(name, path):
    if name == "xordsim":
        return  # the front door re-exports every layer lazily
    mine = layer(name)
    for target in imports(path):
        if not target.startswith("xordsim.") or target == "xordsim.__version__":
            continue
        try:
            theirs = layer(target)
        except AssertionError:
            continue  # 'from xordsim.x import name' also yields 'xordsim.x.name'
        assert theirs <= mine, f"{name} (layer {mine}) imports {target} (layer {theirs})"


@pytest.mark.parametrize("name,path", [(n, p) for n, p in modules()
                                       if any(n == m or n.startswith(m + ".") for m in LIGHT)],
                         ids=lambda v: str(v))
def test_light_modules_import_nothing_heavy(name, path):
    heavy = [t for t in imports(path, top_level_only=True) if t.split(".")[0] in HEAVY]
    assert heavy == [], f"{name} imports {heavy} at module level"
