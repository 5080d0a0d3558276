"""What every figure shares: its spec, seeds, the sidecar with caption and settings."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xordsim._validate import InputError, parse_settings
from xordsim.io import write_json

BLUE, RED = "tab:blue", "tab:red"


@dataclass(frozen=True)
class FigureSpec:
    """A figure: default settings, the smaller settings of ``--quick`` and of the tests,
    and ``build(settings, seed, out_dir, quiet) -> (caption, paths)``."""

    name: str
    title: str
    build: Callable
    defaults: dict
    quick: dict = field(default_factory=dict)
    tiny: dict = field(default_factory=dict)


def settings_text(settings: dict) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:g}"
        if isinstance(v, (tuple, list)):
            return ",".join(fmt(x) for x in v)
        return str(v)

    return ", ".join(f"{k}={fmt(v)}" for k, v in settings.items())


def run_figure(spec: FigureSpec, out_dir: Path, seed: int, settings: dict,
               quiet: bool = True) -> list[Path]:
    """Build one figure into ``out_dir``; also write ``NAME.json`` (caption, settings, time)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"--seed must be an integer >= 0, got {seed!r}")
    unknown = sorted(set(settings) - set(spec.defaults))
    if unknown:
        raise InputError(f"{spec.name}: unknown setting {unknown[0]!r}; allowed: "
                         f"{', '.join(sorted(spec.defaults))}")
    full = dict(spec.defaults, **settings)
    t0 = time.perf_counter()
    caption, paths = spec.build(full, int(seed), out_dir, quiet)
    seconds = time.perf_counter() - t0
    sidecar = write_json(out_dir / f"{spec.name}.json", {
        "name": spec.name, "title": spec.title, "caption": caption, "seed": int(seed),
        "settings": full, "files": [p.name for p in paths], "seconds": seconds})
    return list(paths) + [sidecar]


def cli_builder(spec: FigureSpec) -> Callable:
    """The ``xordsim figure`` entry: ``fn(out_dir, seed, set_pairs, quiet) -> paths``."""

    def build(out_dir: Path, seed: int, set_pairs: list[str], quiet: bool) -> list[Path]:
        return run_figure(spec, out_dir, seed, parse_settings(set_pairs, spec.defaults), quiet)

    return build
