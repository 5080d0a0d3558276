"""Atomic writes: a crash or Ctrl-C never leaves a half-written file that looks complete."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    The temporary file keeps the target's suffix (NumPy and matplotlib choose
    formats by suffix).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    tmp = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual mode
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Atomically write ``text`` to ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json(path: str | os.PathLike, obj) -> Path:
    """Atomically write ``obj`` as indented JSON."""
    return write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def write_npz(path: str | os.PathLike, **arrays) -> Path:
    """Atomically write a compressed ``.npz`` archive."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return Path(path)


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def csv_text(header: list[str], rows) -> str:
    """CSV text with floats at 8 significant digits (stable across reruns)."""

    def fmt(v):
        if isinstance(v, (float, np.floating)):
            return f"{float(v):.8g}"
        return str(v)

    lines = [",".join(header)] + [",".join(fmt(v) for v in row) for row in rows]
    return "\n".join(lines) + "\n"


def write_csv(path: str | os.PathLike, header: list[str], rows) -> Path:
    """Atomically write a CSV file (see :func:`csv_text`)."""
    return write_text(path, csv_text(header, rows))


def save_figure(fig, out_dir: str | os.PathLike, stem: str, dpi: int = 150,
                caption: str | None = None, *, report_width_px: int = 1000,
                caption_font: float = 8.0) -> list[Path]:
    """Atomically save a matplotlib figure as ``stem.png`` and ``stem.svg`` (no timestamps),
    with ``caption`` (if given) wrapped to the figure's width below everything else. The
    one caption mechanism of every figure.

    The caption is ``caption_font`` points, scaled up for a figure wider than
    ``report_width_px`` at ``dpi`` (the widest the report shows an image) so that it still
    reads as ``caption_font`` points there.
    """
    extra = {}
    if caption:
        import textwrap

        size = caption_font * max(1.0, fig.get_figwidth() * dpi / report_width_px)
        # about 0.55 em per character in DejaVu Sans; 0.6 keeps the lines inside the figure
        width = max(40, int(fig.get_figwidth() * 72 / (0.6 * size)))
        fig.text(0.0, -0.01, textwrap.fill(caption, width), ha="left", va="top",
                 fontsize=size)
        extra = {"bbox_inches": "tight", "pad_inches": 0.15}
    paths = []
    for suffix, meta in ((".png", {"Software": None}), (".svg", {"Date": None})):
        path = Path(out_dir) / f"{stem}{suffix}"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, metadata=meta, **extra)
        paths.append(path)
    return paths
