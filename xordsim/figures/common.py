"""What every figure shares: colours, fonts and sizes, the statistics of its points, the
drawing of bounded means on a log axis, legends outside the data, the settings text of
captions and the JSON sidecar.

One set of rules for every figure (the XORD figures here and the MNIST figures of
:mod:`xordsim.mnist.figures`):

* a mean of per-run errors is drawn with :func:`xordsim.stats.bounded_mean_ci` (95% BCa
  bootstrap, never outside [0, 1], exact bound when every run has the same error), seeded
  from the figure's seed (:func:`ci_seed`); a fraction of runs with Clopper–Pearson;
* on a log axis nothing is drawn at or below 0: a mean of 0 is an open marker on a floor
  line one decade below the smallest positive value (:func:`log_floor`), with the exact
  upper bound as its error bar; an interval whose lower end is 0 reaches down to the floor;
* legends lie outside every axes (:func:`legend_above`), fonts are at least
  :data:`MIN_FONT` pt and figures at most :data:`MAX_WIDTH_IN` wide, so that at the
  report's width (about 1000 px, PNGs at 150 dpi) nothing is scaled below 8 pt;
* every number a caption prints goes through :mod:`xordsim.fmt` (significant figures).
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from xordsim import fmt
from xordsim.config import GDConfig
from xordsim.io import write_json
from xordsim.stats import bounded_mean_ci, proportion_ci

BLUE, RED = "tab:blue", "tab:red"

#: The widest figure (inches): with the caption pad, under 1000 px at the 150 dpi of
#: :func:`xordsim.io.save_figure`,
#: the widest the report shows an image, so a figure is never shrunk there.
MAX_WIDTH_IN = 6.3
#: The smallest font (points) of any text in a figure.
MIN_FONT = 8.0
#: Font sizes of every figure (``matplotlib.rc_context(RC)`` around the drawing).
RC = {"font.size": 9.0, "axes.titlesize": 9.5, "axes.labelsize": 9.0,
      "xtick.labelsize": 8.5, "ytick.labelsize": 8.5, "legend.fontsize": 8.5,
      "legend.title_fontsize": 8.5, "figure.titlesize": 10.0}
#: The interval a mean error is drawn with (captions and CSV notes say it).
MEAN_CI_TEXT = "95% BCa bootstrap interval (exact bound where every run has the same error)"
#: Convergence fractions below this are marked in the figure.
CONVERGED_MARK = 0.95


def style():
    """``with style():`` around the creation of a figure: :data:`RC` font sizes."""
    import matplotlib

    return matplotlib.rc_context(RC)


def ci_seed(seed: int, name: str, *extra: int) -> int:
    """The bootstrap seed of one point of figure ``name``: a function of the figure's seed,
    its name and the point (``extra`` ints), so every interval reproduces."""
    ss = np.random.SeedSequence([int(seed), zlib.crc32(name.encode()), *map(int, extra)])
    return int(ss.generate_state(1)[0])


def mean_error(values, seed: int) -> tuple[float, float, float]:
    """(mean, low, high) of per-run errors: :func:`~xordsim.stats.bounded_mean_ci`."""
    return bounded_mean_ci(values, seed=seed)


def fraction(successes: int, n: int) -> tuple[float, float, float]:
    """(fraction, low, high): the fraction and its 95% Clopper–Pearson interval."""
    lo, hi = proportion_ci(int(successes), int(n))
    return (successes / n if n else float("nan")), lo, hi


def log_floor(*arrays) -> float:
    """Where a zero is drawn on a log axis: the power of ten at or below a third of the
    smallest positive finite value of ``arrays`` (1e-6 when there is none)."""
    v = np.concatenate([np.ravel(np.asarray(a, dtype=float)) for a in arrays] or [[]])
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0:
        return 1e-6
    return float(10.0 ** np.floor(np.log10(v.min() / 3)))


def touches_zero(mean, low) -> bool:
    """Whether a mean or the lower end of its interval is 0 (then the floor is drawn)."""
    mean, low = np.asarray(mean, dtype=float), np.asarray(low, dtype=float)
    return bool(np.any(mean[np.isfinite(mean)] <= 0) or np.any(low[np.isfinite(low)] <= 0))


def floor_text(floor: float) -> str:
    """The caption's sentence on zeros drawn at ``floor``."""
    return (f"Log scale: a mean of 0 is an open marker on the dotted line at "
            f"{fmt.sig(floor, 1)}, its bar the exact upper bound; a bar reaching the line "
            f"means an interval reaching 0. ")


def plot_bounded_means(ax, x, mean, low, high, floor: float, *, color, marker="o",
                       label=None, scale: float = 1.0):
    """Means with 95% error bars on a log y axis whose zero is drawn at ``floor``.

    Positive means: filled markers joined by a line, error bars from max(low, floor) to
    high. Means of exactly 0 (every run had error 0): open markers at the floor, the error
    bar up to the exact upper bound. ``scale`` multiplies every value (e.g. 100 for %).
    Returns the handle of the filled series (for a legend).
    """
    x = np.asarray(x, dtype=float)
    mean, low, high = (np.asarray(a, dtype=float) * scale for a in (mean, low, high))
    ok = np.isfinite(mean)
    zero = ok & (mean <= 0)
    pos = ok & (mean > 0)
    lo = np.maximum(np.where(np.isfinite(low), low, floor), floor)
    hi = np.maximum(np.where(np.isfinite(high), high, floor), floor)
    line = np.where(pos, mean, np.nan)
    handle = ax.plot(x, line, "-", color=color, marker=marker, label=label)[0]
    if pos.any():
        ax.errorbar(x[pos], mean[pos], yerr=[mean[pos] - lo[pos], hi[pos] - mean[pos]],
                    fmt="none", ecolor=color, capsize=3, lw=1)
    if zero.any():
        ax.errorbar(x[zero], np.full(zero.sum(), floor),
                    yerr=[np.zeros(zero.sum()), hi[zero] - floor], fmt=marker, color=color,
                    mfc="white", capsize=3, lw=1)
    return handle


def draw_floor(ax, floor: float, what: str = "0"):
    """The dotted line at ``floor`` where zeros are drawn; returns its legend handle."""
    return ax.axhline(floor, color="0.6", lw=0.8, ls=":",
                      label=f"{what} (drawn at {fmt.sig(floor, 1)}; open markers: "
                            f"0 observed)")


def legend_above(ax, handles=None, labels=None, ncol: int = 2, order=None, **kw):
    """One legend for the figure (the handles of all its axes, first label wins), above
    ``ax`` (the top axes) and outside it, so it never covers data; the figure's title goes
    in ``fig.suptitle`` above it. Anchored to the axes (not the figure), so the caption
    that :func:`xordsim.io.save_figure` adds below the figure cannot move it; the
    constrained layout makes room for it. ``order``: an optional sort key on the labels."""
    if handles is None:
        seen: dict[str, object] = {}
        for a in ax.figure.axes:
            for h, lab in zip(*a.get_legend_handles_labels(), strict=True):
                if not lab.startswith("_"):
                    seen.setdefault(lab, h)
        labels, handles = list(seen), list(seen.values())
    if order is not None:  # a sort key on the labels
        pairs = sorted(zip(labels, handles, strict=True), key=lambda p: order(p[0]))
        labels, handles = [p[0] for p in pairs], [p[1] for p in pairs]
    return ax.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 1.02),
                     ncol=ncol, frameon=False, borderaxespad=0.0, **kw)


def converged_text(converged: int, n: int) -> str:
    """'97.5% [93.6%, 99.3%] of n': a fraction of runs in per cent with its 95%
    Clopper–Pearson interval, in significant figures."""
    if not n:
        return "no runs"
    f, lo, hi = fraction(converged, n)
    return (f"{fmt.sig(100 * f, 3)}% [{fmt.sig(100 * lo, 3)}%, {fmt.sig(100 * hi, 3)}%] "
            f"of {n}")


def settings_text(settings: dict) -> str:
    """``key=value, ...`` for a caption: the settings as given (floats in ``%g``, which
    keeps up to 6 significant digits and no trailing zeros; lists comma-separated)."""
    def text(v):
        if isinstance(v, float):
            return f"{v:g}"
        if isinstance(v, (tuple, list)):
            return ",".join(text(x) for x in v)
        return str(v)

    return ", ".join(f"{k}={text(v)}" for k, v in settings.items())


def write_sidecar(out_dir: Path, spec, caption: str, seed: int, settings: dict,
                  paths: list[Path], seconds: float, sweep: dict | None = None) -> Path:
    """``NAME.json`` beside a figure: name, title, caption, seed, settings, files, seconds;
    for a sweep figure also ``sweep``: its store (relative to the figure), points, how many
    this run computed and reused, the executor and the spec's seed."""
    doc = {"name": spec.name, "title": spec.title, "caption": caption, "seed": int(seed),
           "settings": settings, "files": [Path(p).name for p in paths], "seconds": seconds}
    if sweep is not None:
        doc["sweep"] = sweep
    return write_json(Path(out_dir) / f"{spec.name}.json", doc)


def gd_config(settings: dict, **changes) -> GDConfig:
    """The :class:`~xordsim.config.GDConfig` of a figure's runs: every setting that is a
    GDConfig field (``runs`` is ``replicas``), then ``changes`` (e.g. ``k=...``)."""
    fields = GDConfig.params()
    values = {key: settings[key] for key in fields if key in settings}
    if "runs" in settings:
        values["replicas"] = settings["runs"]
    values.update(changes)
    return GDConfig(**values)
