"""``xordsim reproduce``: every theorem estimate and every figure, and a report.

Writes into the output directory the figures (PNG, SVG), the CSVs behind them,
``theorems.json``, ``report.md`` and a self-contained ``report.html`` (figures embedded).
Every file is written atomically. A stage whose outputs already exist with the same
settings, seed and version is not recomputed (``force`` recomputes everything), so an
interrupted run resumes where it stopped.
"""

from __future__ import annotations

import base64
import html
import json
import platform
import time
from pathlib import Path

import numpy as np

from xordsim import __version__
from xordsim.figures import SPECS as FIGURE_SPECS
from xordsim.figures import run_figure
from xordsim.io import write_json, write_text
from xordsim.theorems import format_bound, run_all

#: Theorem settings for ``--quick`` (and the hidden ``tiny`` mode of the tests).
THEOREMS_QUICK = dict(replicas=200, overrides={"thm6.5ex1": {"ms": (1, 16)}})
THEOREMS_TINY = dict(replicas=10, names=["lemma3.1", "thm3.4", "lemma6.1", "thm6.4"],
                     overrides={"thm6.4": {"k": 2, "c_eta": 0.05, "steps": 2000}})


def _versions() -> dict:
    import matplotlib
    import numba
    import scipy

    return {"xordsim": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "numba": numba.__version__, "scipy": scipy.__version__,
            "matplotlib": matplotlib.__version__, "platform": platform.platform()}


def _up_to_date(sidecar: Path, meta: dict) -> bool:
    """Whether ``sidecar`` records ``meta`` and every file it lists still exists."""
    try:
        old = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return False
    if any(old.get(key) != value for key, value in meta.items()):
        return False
    return all((sidecar.parent / name).exists() for name in old.get("files", []))


def _jsonify(obj):
    return json.loads(json.dumps(obj, default=lambda o: o.tolist() if hasattr(o, "tolist")
                                 else str(o)))


def stage_theorems(out: Path, seed: int, mode: str, quiet: bool, force: bool) -> dict:
    opts = {"full": {}, "quick": THEOREMS_QUICK, "tiny": THEOREMS_TINY}[mode]
    meta = {"seed": seed, "mode": mode, "version": __version__}
    path = out / "theorems.json"
    if not force and _up_to_date(path, meta):
        return json.loads(path.read_text())
    t0 = time.perf_counter()
    rows = run_all(names=opts.get("names"), replicas=opts.get("replicas"), seed=seed,
                   overrides=opts.get("overrides"), quiet=quiet)
    doc = dict(meta, seconds=time.perf_counter() - t0, files=[], rows=_jsonify(rows))
    write_json(path, doc)
    return doc


def stage_figure(name: str, out: Path, seed: int, mode: str, quiet: bool, force: bool) -> dict:
    spec = FIGURE_SPECS[name]
    settings = {"full": {}, "quick": spec.quick, "tiny": spec.tiny}[mode]
    sidecar = out / f"{name}.json"
    full = _jsonify(dict(spec.defaults, **settings))
    if force or not _up_to_date(sidecar, {"seed": seed, "settings": full}):
        run_figure(spec, out, seed, settings, quiet)
    return json.loads(sidecar.read_text())


def stage_mnist(out: Path, seed: int, mode: str, quiet: bool, force: bool) -> list[dict]:
    """Figures 4a and 4b (the MNIST path); skipped in tiny mode or when not installed."""
    if mode == "tiny":
        return []
    try:
        from xordsim.mnist.figures import run_all as mnist_run_all
    except ImportError:
        return []
    meta = {"seed": seed, "mode": mode, "version": __version__}
    sidecar = out / "mnist.json"
    if force or not _up_to_date(sidecar, meta):
        t0 = time.perf_counter()
        paths = mnist_run_all(out, seed, quick=mode == "quick", quiet=quiet)
        write_json(sidecar, dict(meta, seconds=time.perf_counter() - t0,
                                 files=sorted({Path(p).name for p in paths})))
    return [json.loads((out / f"{stem}.json").read_text()) for stem in ("fig4a", "fig4b")]


def reproduce(out: str | Path = "results", seed: int = 0, quick: bool = False,
              quiet: bool = False, force: bool = False, tiny: bool = False) -> Path:
    """Run every stage into ``out`` and write the report; returns the path of report.html."""
    from tqdm.auto import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    mode = "tiny" if tiny else ("quick" if quick else "full")
    t0 = time.perf_counter()
    stages = ["theorems", *FIGURE_SPECS, "mnist"]
    figures, theorems = [], None
    with tqdm(stages, desc="reproduce", unit="stage", disable=quiet) as bar:
        for stage in bar:
            bar.set_postfix_str(stage)
            if stage == "theorems":
                theorems = stage_theorems(out, seed, mode, quiet, force)
            elif stage == "mnist":
                figures += stage_mnist(out, seed, mode, quiet, force)
            else:
                figures.append(stage_figure(stage, out, seed, mode, quiet, force))
    info = {"mode": mode, "seed": seed, "seconds": time.perf_counter() - t0,
            "versions": _versions(), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    write_text(out / "report.md", render_markdown(theorems, figures, info, out))
    return write_text(out / "report.html", render_html(theorems, figures, info, out))


MODE_TEXT = {
    "full": "full settings",
    "quick": "QUICK settings: fewer replicas and runs than the defaults (xordsim reproduce "
             "--quick); numbers are noisier, and the thm6.5ex1 row uses m in {1, 16} only",
    "tiny": "TINY test settings (not meaningful: a smoke test of the pipeline)",
}


def _theorem_rows(theorems: dict) -> list[list[str]]:
    rows = []
    for r in theorems["rows"]:
        params = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in r["params"].items())
        exact = "—" if r["exact"] is None else f"{r['exact']:.6f}"
        rows.append([r["name"], params, str(r["replicas"]), f"{r['estimate']:.4f}",
                     f"[{r['ci'][0]:.4f}, {r['ci'][1]:.4f}]", exact, format_bound(r),
                     r["verdict"]])
    return rows


THEOREM_HEADER = ["result", "parameters", "replicas", "estimate", "95% CI", "exact", "bound",
                  "verdict"]


def _existing(out: Path, names) -> list[str]:
    return [n for n in names if (out / n).exists()]


def render_markdown(theorems: dict, figures: list[dict], info: dict, out: Path) -> str:
    v = info["versions"]
    lines = [
        "# xordsim: reproduction of Brutzkus & Globerson (ICML 2019)", "",
        f"Generated {info['date']} by `xordsim reproduce` ({MODE_TEXT[info['mode']]}); seed "
        f"{info['seed']}; total time {info['seconds']:.0f} s (stages reused from an earlier run "
        f"keep their own times below).", "",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()), "",
        "## Theorem estimates", "",
        f"Monte Carlo over independent replicas (random initialization, and training set where "
        f"it is sampled); 95% Clopper–Pearson intervals; `consistent` when the interval does not "
        f"contradict the bound. Time {theorems['seconds']:.0f} s. Numbers: "
        f"[theorems.json](theorems.json).", "",
        "| " + " | ".join(THEOREM_HEADER) + " |",
        "|" + "---|" * len(THEOREM_HEADER),
    ]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |"
              for row in _theorem_rows(theorems)]
    notes = [f"- {r['name']}: {n}" for r in theorems["rows"] for n in r.get("notes", [])]
    if notes:
        lines += ["", "Notes:", "", *dict.fromkeys(notes)]
    lines += ["", "## Figures", ""]
    for fig in figures:
        files = _existing(out, fig["files"])
        png = [f for f in files if f.endswith(".png")]
        data = [f for f in files if f.endswith(".csv")]
        lines += [f"### {fig['title']}", ""]
        lines += [f"![{fig['name']}]({p})" for p in png[:1]] + [""]
        lines += [fig["caption"], ""]
        links = ", ".join(f"[{f}]({f})" for f in files if not f.endswith(".png"))
        lines += [f"Files: {links}. Time {fig['seconds']:.1f} s." if links else
                  f"Time {fig['seconds']:.1f} s.", ""]
        if not data:
            lines += ["(no CSV was written for this figure)", ""]
    return "\n".join(lines) + "\n"


def render_html(theorems: dict, figures: list[dict], info: dict, out: Path) -> str:
    esc = html.escape
    v = info["versions"]
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        "<title>xordsim reproduction</title><style>body{font-family:sans-serif;max-width:1100px;"
        "margin:auto;padding:1em}table{border-collapse:collapse;font-size:90%}td,th{border:1px "
        "solid #ccc;padding:3px 6px}img{max-width:100%}.violated{color:#b00;font-weight:bold}"
        ".caption{color:#333}</style></head><body>",
        "<h1>xordsim: reproduction of Brutzkus &amp; Globerson (ICML 2019)</h1>",
        f"<p>Generated {esc(info['date'])} by <code>xordsim reproduce</code> "
        f"({esc(MODE_TEXT[info['mode']])}); seed {info['seed']}; total time "
        f"{info['seconds']:.0f} s.</p>",
        "<p>Versions: " + esc(", ".join(f"{k} {val}" for k, val in v.items())) + "</p>",
        "<h2>Theorem estimates</h2>",
        "<p>Monte Carlo over independent replicas; 95% Clopper–Pearson intervals; "
        f"time {theorems['seconds']:.0f} s. Numbers: <a href='theorems.json'>theorems.json"
        "</a>.</p><table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in THEOREM_HEADER) + "</tr>",
    ]
    for row in _theorem_rows(theorems):
        cls = " class='violated'" if row[-1] == "violated" else ""
        parts.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row[:-1])
                     + f"<td{cls}>{esc(row[-1])}</td></tr>")
    parts.append("</table>")
    notes = list(dict.fromkeys(f"{r['name']}: {n}" for r in theorems["rows"]
                               for n in r.get("notes", [])))
    if notes:
        parts.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    parts.append("<h2>Figures</h2>")
    for fig in figures:
        files = _existing(out, fig["files"])
        parts.append(f"<h3>{esc(fig['title'])}</h3>")
        for f in files:
            if f.endswith(".png"):
                data = base64.b64encode((out / f).read_bytes()).decode()
                parts.append(f"<img alt='{esc(fig['name'])}' src='data:image/png;base64,{data}'>")
                break
        parts.append(f"<p class='caption'>{esc(fig['caption'])}</p>")
        links = " ".join(f"<a href='{esc(f)}'>{esc(f)}</a>" for f in files
                         if not f.endswith(".png"))
        parts.append(f"<p>Files: {links} — time {fig['seconds']:.1f} s.</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
