"""What every figure shares: colours, the settings text of captions, the JSON sidecar."""

from __future__ import annotations

from pathlib import Path

from xordsim.io import write_json

BLUE, RED = "tab:blue", "tab:red"


def settings_text(settings: dict) -> str:
    """``key=value, ...`` for a caption (floats in ``%g``, lists comma-separated)."""
    def fmt(v):
        if isinstance(v, float):
            return f"{v:g}"
        if isinstance(v, (tuple, list)):
            return ",".join(fmt(x) for x in v)
        return str(v)

    return ", ".join(f"{k}={fmt(v)}" for k, v in settings.items())


def write_sidecar(out_dir: Path, spec, caption: str, seed: int, settings: dict,
                  paths: list[Path], seconds: float) -> Path:
    """``NAME.json`` beside a figure: name, title, caption, seed, settings, files, seconds."""
    return write_json(Path(out_dir) / f"{spec.name}.json", {
        "name": spec.name, "title": spec.title, "caption": caption, "seed": int(seed),
        "settings": settings, "files": [Path(p).name for p in paths], "seconds": seconds})
