"""The figure registry (declared settings, modes, bad input), ``draw``, the figures on tiny
settings (their CSVs against the engine, the statistics of every point, what a referee
reads: log axes, legends, fonts, captions), and ``reproduce`` end to end."""

import csv
import dataclasses
import importlib
import importlib.util
import json
import re
import struct
import subprocess
import sys

import numpy as np
import pytest

from xordsim._validate import InputError
from xordsim.cli import main
from xordsim.config import GDConfig
from xordsim.figures import FIGURES, FigureSpec, draw, get, missing_requirements
from xordsim.figures.benchmark import COLUMNS as RANK_COLUMNS
from xordsim.figures.common import MIN_FONT
from xordsim.figures.explanations import MEASURES_COLUMNS, NTK_COLUMNS
from xordsim.figures.generalization import FIG1_COLUMNS, MARGIN_COLUMNS
from xordsim.figures.regimes import LAZY_RICH_COLUMNS, LOSSES_COLUMNS, LR_TRANSFER_COLUMNS
from xordsim.figures.registry import EXTRAS, MODES, sweep_figures
from xordsim.figures.sample_complexity import COLUMNS as SAMPLE_COLUMNS
from xordsim.figures.weights import DYNAMICS_COLUMNS
from xordsim.mnist.capacity import COLUMNS as CAPACITY_COLUMNS
from xordsim.mnist.lazy import LAZY_COLUMNS
from xordsim.mnist.random_labels import COLUMNS as RANDOM_LABELS_COLUMNS

COLUMNS = {
    "fig1": FIG1_COLUMNS,
    "fig2": ["k", "replica", "filter", "j", "x_t0", "y_t0", "x_final", "y_final"],
    "fig3": ["k", "replica", "filter", "j", "x_t0", "y_t0", "x_final", "y_final",
             "recovers_f_star"],
    "margin": MARGIN_COLUMNS,
    "sample-complexity": SAMPLE_COLUMNS,
    "dynamics": DYNAMICS_COLUMNS,
    "measures": MEASURES_COLUMNS,
    "ntk-eigen": NTK_COLUMNS,
    "lazy-rich": LAZY_RICH_COLUMNS,
    "lr-transfer": LR_TRANSFER_COLUMNS,
    "losses": LOSSES_COLUMNS,
    "rank-agreement": RANK_COLUMNS,
    "fig4a": ["network", "filter", "angle_deg"],
    "fig4b": ["train_size", "network", "seed", "test_error"],
    "mnist-lazy": LAZY_COLUMNS,
    "capacity-width": CAPACITY_COLUMNS,
    "random-labels": RANDOM_LABELS_COLUMNS,
}
#: Files besides NAME.png/.svg/.csv/.json.
EXTRA_FILES = {"fig4a": {"fig4a_summary.csv"}, "fig4b": {"fig4b_summary.csv"},
               "mnist-lazy": {"mnist-lazy-lr.csv"},
               "measures": {"measures-tau.csv"},
               "random-labels": {"random-labels-curves.csv"},
               "ntk-eigen": {"ntk-eigen-fractions.csv"}}
#: The figures ``reproduce --tiny`` draws here (the MNIST ones are not drawn in tiny mode).
CORE = [name for name, spec in FIGURES.items()
        if spec.tiny_reproduce and not missing_requirements(spec)]
SWEEPS = sweep_figures()
#: The modules whose builders call ``save_figure`` (patched to keep the figures).
BUILDER_MODULES = ["xordsim.figures.generalization", "xordsim.figures.sample_complexity",
                   "xordsim.figures.weights", "xordsim.mnist.figures",
                   "xordsim.figures.explanations", "xordsim.figures.regimes",
                   "xordsim.figures.benchmark",
                   "xordsim.mnist.random_labels", "xordsim.mnist.lazy",
                   "xordsim.mnist.capacity"]
#: The widest PNG the report shows unscaled (pixels).
REPORT_WIDTH_PX = 1000


def read_csv(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def needs(spec):
    missing = missing_requirements(spec)
    return pytest.mark.skipif(bool(missing), reason=f"needs {', '.join(missing)}")


# ----------------------------------------------------------------------------------------
# the registry


def test_registry_lists_every_figure():
    assert list(FIGURES) == ["fig1", "fig2", "fig3", "margin", "sample-complexity",
                             "dynamics", "fig4a", "fig4b", "mnist-lazy", "random-labels",
                             "capacity-width", "measures", "ntk-eigen",
                             "lazy-rich", "lr-transfer", "losses", "rank-agreement"]
    assert set(COLUMNS) == set(FIGURES)
    for name, spec in FIGURES.items():
        assert isinstance(spec, FigureSpec) and spec.name == name and spec.title
        assert get(name) is spec
        module, _, func = spec.builder.partition(":")
        assert module.startswith("xordsim.") and func.startswith("build_")
    with pytest.raises(InputError,
                       match=r"one of fig1, .*fig4b, .*losses, rank-agreement; got 'nope'"):
        get("nope")


@pytest.mark.parametrize("name", list(FIGURES))
@pytest.mark.parametrize("mode", MODES)
def test_defaults_quick_and_tiny_validate(name, mode):
    spec = FIGURES[name]
    assert set(spec.quick) <= set(spec.schema) and set(spec.tiny) <= set(spec.schema)
    s = spec.resolve(mode=mode)
    assert list(s) == list(spec.schema)
    expected = dict(spec.defaults, **{"full": {}, "quick": spec.quick, "tiny": spec.tiny}[mode])
    assert s == {k: spec.schema[k].check(v) for k, v in expected.items()}
    assert spec.resolve(s, mode=mode) == s  # the full settings resolve to themselves
    assert spec.resolve(json.loads(json.dumps(s))) == s  # also read back from NAME.json


@pytest.mark.parametrize("name", list(FIGURES))
def test_every_bad_value_of_every_setting_is_refused(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # 'abc' is not a directory here (data_dir)
    spec = FIGURES[name]
    for key, p in spec.schema.items():
        assert p.help, f"{name}.{key} has no help"
        for bad in p.bad_values():
            with pytest.raises(InputError) as exc:
                spec.resolve(pairs=[f"{key}={bad}"])
            msg = str(exc.value)
            assert "\n" not in msg and (key in msg or key.replace("_", "-") in msg), (key, bad)


@pytest.mark.parametrize("name", list(FIGURES))
def test_unknown_key_lists_the_allowed_ones(name):
    spec = FIGURES[name]
    with pytest.raises(InputError, match="unknown key 'bogus'") as exc:
        spec.resolve(pairs=["bogus=1"])
    for key in spec.schema:
        assert key in str(exc.value)
    with pytest.raises(InputError, match="unknown setting 'bogus'; allowed: ") as exc:
        spec.resolve({"bogus": 1})
    assert all(key in str(exc.value) for key in spec.schema)
    with pytest.raises(InputError, match="mode must be one of"):
        spec.resolve(mode="huge")


def test_settings_shared_with_gdconfig_take_its_declaration():
    cfg = GDConfig.params()
    shared = 0
    for spec in FIGURES.values():
        for key, p in spec.schema.items():
            if key in cfg:
                shared += 1
                base = cfg[key]
                assert (p.kind, p.high, p.low_open, p.high_open) == \
                    (base.kind, base.high, base.low_open, base.high_open), (spec.name, key)
                assert p.low is None or base.low is None or p.low >= base.low
    assert shared >= 15
    # renamed variants keep GDConfig's range: k_large / k_small / ks from k, runs from replicas
    k = cfg["k"]
    for name in ("fig2", "fig3", "dynamics"):
        for key in ("k_large", "k_small"):
            assert (FIGURES[name].schema[key].low, FIGURES[name].schema[key].high) == \
                (k.low, k.high)
    assert FIGURES["fig1"].schema["runs"].high == cfg["replicas"].high
    assert FIGURES["fig1"].schema["ks"].high == k.high


def test_settings_help_has_one_line_per_key():
    for spec in FIGURES.values():
        lines = spec.settings_help().splitlines()
        assert [line.split(":")[0] for line in lines] == list(spec.schema)
        assert all("default:" in line and "%%" not in line for line in lines)


def test_cross_setting_checks_run_before_any_work():
    fig1, a, b = FIGURES["fig1"], FIGURES["fig4a"], FIGURES["fig4b"]
    for pairs, needle in ((["q=0.5,0.5,0.5,0.5"], "summing to 1"),
                          (["q=0.5,0.5"], "4 non-negative"),
                          (["q=0,0.5,0,0.5"], "positive probability")):
        with pytest.raises(InputError, match=needle):
            fig1.resolve(pairs=pairs)
    with pytest.raises(InputError, match="^q must "):
        FIGURES["margin"].resolve({"q": (1.0, 0.0, 0.0, 0.0)})
    with pytest.raises(InputError, match="clusters must be at most channels"):
        a.resolve(pairs=["channels=3", "clusters=4"])
    with pytest.raises(InputError, match="n_train \\+ n_test"):
        a.resolve(pairs=["n_train=4500"])
    a.resolve(pairs=["n_train=4500", "dataset=mnist", "n_test=500"])  # only mnist5k is 5000
    with pytest.raises(InputError, match="train_sizes must be at most n_train"):
        b.resolve(pairs=["train_sizes=250,5000"])
    with pytest.raises(InputError, match="large_channels must be at least"):
        b.resolve(pairs=["large_channels=3"])
    with pytest.raises(InputError, match="small_epochs_factor"):
        b.resolve(pairs=["epochs=50000"])


def test_mnist_settings_take_the_mnist_declarations():
    from xordsim.mnist import config as mc

    declared = {**mc.COMMAND_PARAMS}
    for name in ("fig4a", "fig4b", "mnist-lazy", "capacity-width"):
        spec = FIGURES[name]
        assert spec.extra == "mnist" and spec.requires == EXTRAS["mnist"]
        for key, p in spec.schema.items():
            if key in declared:
                base = declared[key]
                assert (p.kind, p.low, p.high, p.choices) == \
                    (base.kind, base.low, base.high, base.choices), (name, key)
    assert FIGURES["fig4a"].schema["min_steps"].default == mc.FIGURE_MIN_STEPS
    assert FIGURES["fig4b"].schema["lr"].default == mc.FIG4B_LR


def test_importing_the_registry_is_light():
    code = ("import sys, xordsim.figures.registry, xordsim.figures; "
            "print(','.join(m for m in ('numpy', 'matplotlib', 'scipy', 'numba') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == ""


# ----------------------------------------------------------------------------------------
# draw


def test_draw_with_a_bad_setting_leaves_no_directory(tmp_path):
    out = tmp_path / "new" / "sub"
    for kwargs in (dict(set_pairs=["runs=0"]), dict(settings={"runs": -1}),
                   dict(settings={"bogus": 1}), dict(seed=-1), dict(seed=1.5),
                   dict(mode="huge")):
        with pytest.raises(InputError):
            draw("fig2", out, **kwargs)
        assert not (tmp_path / "new").exists()
    with pytest.raises(InputError, match="figure must be one of"):
        draw("nope", out)
    assert not (tmp_path / "new").exists()


def test_draw_removes_the_directory_it_made_when_the_build_fails(tmp_path, monkeypatch):
    import xordsim.figures.weights as weights

    def fail(*args):
        raise InputError("the builder refused")

    monkeypatch.setattr(weights, "build_fig2", fail)
    with pytest.raises(InputError, match="builder refused"):
        draw("fig2", tmp_path / "a" / "b", mode="tiny")
    assert not (tmp_path / "a").exists()
    keep = tmp_path / "keep"
    keep.mkdir()
    with pytest.raises(InputError, match="builder refused"):
        draw("fig2", keep, mode="tiny")
    assert keep.is_dir()  # it existed before: left alone


def test_draw_refuses_a_figure_whose_extra_is_missing(tmp_path, monkeypatch):
    spec = dataclasses.replace(FIGURES["fig4a"], requires=("no_such_module_xyz", "sklearn"))
    monkeypatch.setitem(FIGURES, "fig4a", spec)
    assert missing_requirements(spec)[0] == "no_such_module_xyz"
    with pytest.raises(InputError) as exc:
        draw("fig4a", tmp_path / "out")
    assert str(exc.value).startswith("figure fig4a needs the optional dependencies "
                                     "no_such_module_xyz")
    assert str(exc.value).endswith('install them with: pip install "xordsim[mnist]"')
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Every figure whose dependencies are installed, drawn once on its tiny settings with
    seed 3: name -> (output directory, paths, the matplotlib figures saved, caption)."""
    out = tmp_path_factory.mktemp("tiny")
    drawn = {}
    with pytest.MonkeyPatch.context() as mp:
        figs = []
        for module in BUILDER_MODULES:
            mod = importlib.import_module(module)
            real = mod.save_figure

            def keep(fig, *args, _real=real, **kwargs):
                figs.append(fig)
                return _real(fig, *args, **kwargs)

            mp.setattr(mod, "save_figure", keep)
        for name, spec in FIGURES.items():
            if missing_requirements(spec):
                continue
            figs.clear()
            d = out / name
            paths = draw(name, d, 3, mode="tiny")
            caption = json.loads((d / f"{name}.json").read_text())["caption"]
            drawn[name] = (d, paths, list(figs), caption)
    return drawn


def drawn(tiny, name):
    if name not in tiny:
        pytest.skip(f"needs {', '.join(missing_requirements(FIGURES[name]))}")
    return tiny[name]


ALL = [pytest.param(name, marks=needs(spec)) for name, spec in FIGURES.items()]


@pytest.mark.parametrize("name", ALL)
def test_figure_writes_files_and_csv(name, tiny):
    spec = FIGURES[name]
    out, paths, _, _ = drawn(tiny, name)
    names = {p.name for p in paths}
    assert names == {f"{name}{s}" for s in (".png", ".svg", ".csv", ".json")} | \
        EXTRA_FILES.get(name, set())
    assert paths[-1].name == f"{name}.json"
    for p in paths:
        assert p.exists() and p.stat().st_size > 0
    rows = read_csv(out / f"{name}.csv")
    assert rows and list(rows[0]) == COLUMNS[name]
    side = json.loads((out / f"{name}.json").read_text())
    assert side["name"] == name and side["title"] == spec.title
    assert side["seed"] == 3 and side["caption"] and side["seconds"] >= 0
    assert side["settings"] == json.loads(json.dumps(spec.resolve(mode="tiny")))
    assert set(side["files"]) == names - {f"{name}.json"}
    assert not list(out.glob(".*"))  # no temporary files left behind


def interval_columns(header):
    """(point, low, high) for every ``X_ci95_low`` column: the point is ``X_mean`` where
    there is one, else ``X`` (a fraction or an estimate)."""
    out = []
    for col in header:
        if col.endswith("_ci95_low"):
            stem = col[: -len("_ci95_low")]
            point = f"{stem}_mean" if f"{stem}_mean" in header else stem
            assert point in header and f"{stem}_ci95_high" in header, col
            out.append((point, col, f"{stem}_ci95_high"))
    return out


@pytest.mark.parametrize("name", ALL)
def test_every_interval_in_a_csv_holds_its_point_inside_0_1(name, tiny):
    out, paths, _, _ = drawn(tiny, name)
    checked = 0
    for path in paths:
        if path.suffix != ".csv":
            continue
        rows = read_csv(path)
        for point, low, high in interval_columns(list(rows[0])):
            for r in rows:
                m, lo, hi = float(r[point]), float(r[low]), float(r[high])
                if np.isnan(m):  # no runs in the subset (e.g. none with zero training error)
                    continue
                assert 0 <= lo <= m <= hi <= 1, (path.name, point, r)
                checked += 1
    expect = {"fig1", "margin", "sample-complexity", "fig4b", "measures", "ntk-eigen",
              "lazy-rich", "lr-transfer", "losses", "random-labels", "mnist-lazy"}
    assert (checked > 0) == (name in expect), name


def test_mean_error_columns_name_their_interval():
    for header in (FIG1_COLUMNS, MARGIN_COLUMNS, SAMPLE_COLUMNS):
        assert not [c for c in header if c.endswith(("_ci_low", "_ci_high"))]
        assert interval_columns(header)


def log_axes_data(fig):
    """Every y value drawn on an axes with a log y scale: lines, error bars, markers."""
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    for ax in fig.axes:
        if ax.get_yscale() != "log":
            continue
        ys = []
        for art in ax.get_children():
            if isinstance(art, Line2D):
                # y in data coordinates only (an axvline's y runs over the axes, 0 to 1)
                if art.get_transform().contains_branch_seperately(ax.transData)[1]:
                    ys.append(np.asarray(art.get_ydata(), dtype=float))
            elif isinstance(art, LineCollection):
                ys += [np.asarray(seg, dtype=float)[:, 1] for seg in art.get_segments()]
        yield ax, np.concatenate(ys) if ys else np.array([])


@pytest.mark.parametrize("name", ALL)
def test_nothing_on_a_log_axis_is_at_or_below_zero(name, tiny):
    _, _, figs, _ = drawn(tiny, name)
    assert figs
    for fig in figs:
        for ax, y in log_axes_data(fig):
            y = y[np.isfinite(y)]
            assert y.size and (y > 0).all(), name
            assert ax.get_ylim()[0] > 0


def test_zeros_are_drawn_on_the_floor_with_their_exact_bound():
    from matplotlib.figure import Figure

    from xordsim.figures.common import draw_floor, log_floor, plot_bounded_means
    from xordsim.stats import bounded_mean_ci

    zero = bounded_mean_ci(np.zeros(50))
    some = bounded_mean_ci(np.r_[np.zeros(48), 1e-4, 3e-4], seed=1)
    mean, low, high = (np.array(v) for v in zip(zero, some, strict=True))
    assert low[1] == 0  # the BCa interval of a mostly-zero sample reaches 0
    floor = log_floor(mean, low, high)
    assert 0 < floor < min(high[0], mean[1])
    ax = Figure().add_subplot(yscale="log")
    plot_bounded_means(ax, [1, 2], mean, low, high, floor, color="k")
    draw_floor(ax, floor)
    (_, y), = log_axes_data(ax.figure)
    assert (y[np.isfinite(y)] >= floor * (1 - 1e-9)).all()
    assert np.isclose(y, zero[2]).any()  # the exact upper bound of the all-zero point


def overlap_px(a, b) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(w, 0) * max(h, 0)


@pytest.mark.parametrize("name", ALL)
def test_legends_lie_outside_every_data_area(name, tiny):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    _, _, figs, _ = drawn(tiny, name)
    for fig in figs:
        renderer = FigureCanvasAgg(fig).get_renderer()
        fig.draw(renderer)
        legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
        for leg in legends:
            box = leg.get_window_extent(renderer)
            for ax in fig.axes:
                if not ax.axison:  # an axes that only holds a legend
                    continue
                assert overlap_px(box, ax.get_window_extent(renderer)) < 1.0, (name, ax)


def png_size(path):
    head = path.read_bytes()[:24]
    return struct.unpack(">II", head[16:24])


@pytest.mark.parametrize("name", ALL)
def test_fonts_read_at_8_pt_at_the_report_width(name, tiny):
    from matplotlib.text import Text

    out, _, figs, _ = drawn(tiny, name)
    width, _ = png_size(out / f"{name}.png")
    assert width <= REPORT_WIDTH_PX  # shown unscaled in the report
    for fig in figs:
        for t in fig.findobj(Text):
            if t.get_visible() and t.get_text().strip():
                assert t.get_fontsize() >= MIN_FONT, (name, t.get_text()[:40])


#: What a caption must not contain: exponents as '^', Python's 'e-05' notation in a
#: computed number, fixed decimals that hide a tiny number ('0.0000'), percent signs after
#: a fixed-decimal zero ('0.0%').
BAD_CAPTION = [r"e\^-", r"(?<![\w.])0\.0000", r"(?<![\w.])0\.0+%"]


@pytest.mark.parametrize("name", ALL)
def test_captions_print_numbers_in_significant_figures(name, tiny):
    _, _, figs, caption = drawn(tiny, name)
    for pattern in BAD_CAPTION:
        assert not re.search(pattern, caption), (name, pattern)
    before_settings = caption.split("Settings:")[0]
    assert not re.search(r"\d\.\d+e-\d\d", before_settings), name
    for fig in figs:  # the caption is drawn in the image (save_figure)
        texts = [t.get_text() for t in fig.texts]
        assert any(caption[:40] in t.replace("\n", " ") for t in texts), name
        assert not fig._supxlabel or not fig._supxlabel.get_text()  # one caption mechanism


def test_sample_complexity_assumptions_hold_in_full_and_quick_and_tiny_says_not(tiny):
    from xordsim.figures.sample_complexity import assumption_violations, run_steps

    spec = FIGURES["sample-complexity"]
    for mode in ("full", "quick"):
        s = spec.resolve(mode=mode)
        assert assumption_violations(s, run_steps(s)) == [], mode
        assert s["c_eta"] <= 1 / 410
    full = spec.resolve()
    m2 = 17.48  # the m2 bound of the declared p+, p-, delta
    assert sum(m > m2 for m in full["ms"]) >= 2
    s = spec.resolve(mode="tiny")
    assert "c_eta = 0.05 > 1/410" in assumption_violations(s, run_steps(s))
    caption = drawn(tiny, "sample-complexity")[3]
    assert "OUTSIDE Theorem 6.5's assumptions" in caption and "16·e⁻⁸" in caption


def test_sample_complexity_caption_states_the_contradictions_with_numbers():
    from xordsim.figures.sample_complexity import _large_text

    m = [1, 2, 4, 8, 16, 24, 32]
    est = np.array([0.83, 0.85, 0.72, 0.57, 0.70, 0.61, 0.58])
    lo, hi = est - 0.09, est + 0.09
    text = _large_text(120, m, est, lo, hi, 17.48, 0.84)
    assert "below 1 - delta = 0.84" in text and "m = 8" in text
    assert "beyond m2 = 17.5 it is 0.61 [0.52, 0.70] at m = 24" in text
    assert "not monotone in m: it falls from 0.85 [0.76, 0.94] at m = 2 to 0.57" in text


def test_fig1_caption_states_a_rise_after_the_minimum():
    from xordsim.figures.generalization import rise_text

    ks = [10, 50, 200]
    text = rise_text(ks, [1e-4, 5.0e-5, 7.1e-5], [6e-5, 3e-5, 5e-5], [1.4e-4, 7e-5, 9e-5])
    assert "rises from k = 50 (5.0·10⁻⁵ [3.0·10⁻⁵, 7.0·10⁻⁵]) to k = 200 (7.1·10⁻⁵" in text
    assert "intervals overlap" in text
    text = rise_text(ks, [1e-4, 5.0e-5, 9e-5], [6e-5, 3e-5, 8e-5], [1.4e-4, 7e-5, 1e-4])
    assert "do not overlap" in text
    assert rise_text(ks, [3e-4, 2e-4, 1e-4], [0, 0, 0], [1, 1, 1]) == ""


def test_fig4b_states_its_interval_and_settings(tiny):
    out, _, _, caption = drawn(tiny, "fig4b")
    assert "95% Student-t interval over the seeds" in caption and "n = 2 seeds" in caption
    assert "not the 0.001 of Fig. 4a" in caption and "3x the epochs" in caption
    rows = read_csv(out / "fig4b_summary.csv")
    assert {r["interval"] for r in rows} == {"student-t over seeds"}
    assert FIGURES["fig4b"].schema["seeds"].default >= 5


def test_fig1_csv_is_the_sweep_store_of_its_spec(tiny):
    from xordsim.figures.generalization import fig1_sweep
    from xordsim.sweep import load, load_spec

    out, _, _, _ = drawn(tiny, "fig1")
    s = FIGURES["fig1"].resolve(mode="tiny")
    store = out / "sweeps" / "fig1"
    manifest = json.loads((store / "manifest.json").read_text())
    assert manifest["spec_hash"] == load_spec(fig1_sweep(s, 3)).hash
    table = load(store)
    rows = read_csv(out / "fig1.csv")
    assert [int(r["k"]) for r in rows] == list(s["ks"])
    for row in rows:
        runs = table[table["k"] == int(row["k"])]
        assert int(row["runs"]) == len(runs) == s["runs"]
        assert float(row["test_error_mean"]) == pytest.approx(runs["test_error"].mean(),
                                                              rel=1e-7)
        assert int(row["zero_train_runs"]) == int((runs["train_error"] == 0).sum())
        assert int(row["converged_runs"]) == int((runs["status"] == 1).sum())
        assert (runs[["d", "m", "steps", "gamma", "c_eta"]].iloc[0].tolist()
                == [s["d"], s["m"], s["steps"], s["gamma"], s["c_eta"]])


def test_sample_complexity_uses_the_theorem_module(tiny):
    """The distribution, the event, the bounds and the verdicts of the figure are the
    theorem module's (one definition), computed from the sweep's per-run test errors."""
    from xordsim.figures.sample_complexity import run_steps, sample_complexity_sweep
    from xordsim.stats import proportion_ci
    from xordsim.sweep import load, load_spec
    from xordsim.sweep.spec import point_distribution
    from xordsim.theorems.exact import thm_6_5_bound, thm_6_5_distribution
    from xordsim.theorems.verdicts import OUTSIDE

    out, _, _, _ = drawn(tiny, "sample-complexity")
    s = FIGURES["sample-complexity"].resolve(mode="tiny")
    spec = load_spec(sample_complexity_sweep(s, 3))
    want = thm_6_5_distribution(s["p_plus"], s["p_minus"], s["d"])
    assert {p.params["steps"] for p in spec.points} == {run_steps(s)}
    for point in spec.points:
        got = point_distribution(point.params)
        for label in (1, -1):
            assert np.array_equal(got.mask_probs(label), want.mask_probs(label))
    table = load(out / "sweeps" / "sample-complexity")
    rows = read_csv(out / "sample-complexity.csv")
    assert [(int(r["k"]), int(r["m"])) for r in rows] == \
        [(k, m) for k in (s["k"], s["k_small"]) for m in s["ms"]]
    for r in rows:
        k, m = int(r["k"]), int(r["m"])
        test = table[(table["k"] == k) & (table["m"] == m)]["test_error"].to_numpy()
        hits = int((test <= s["eps"]).sum())
        assert float(r["estimate"]) == pytest.approx(hits / test.size)
        lo, hi = proportion_ci(hits, test.size)
        assert (float(r["estimate_ci95_low"]), float(r["estimate_ci95_high"])) == \
            (pytest.approx(lo), pytest.approx(hi))
        bound, relation, _ = thm_6_5_bound(s["p_plus"], s["p_minus"], m, k == s["k"])
        assert float(r["bound"]) == pytest.approx(bound) and r["relation"] == relation
        assert r["verdict"] == OUTSIDE  # tiny breaks the assumptions (k = 20, c_eta)


@pytest.mark.parametrize("name", [pytest.param(n, marks=needs(FIGURES[n]))
                                  for n in sweep_figures()])
def test_sweep_figure_same_seed_same_csv_and_a_rerun_reuses_the_store(name, tiny, tmp_path):
    """A fresh directory with the same seed gives the byte-identical CSV; drawing again
    into it computes no point (the store's point files are untouched) and gives the same
    CSV; another seed gives other numbers."""
    first = drawn(tiny, name)[0] / f"{name}.csv"
    out = tmp_path / "again"
    draw(name, out, 3, mode="tiny")
    side = json.loads((out / f"{name}.json").read_text())
    assert side["sweep"]["computed"] == side["sweep"]["points"] > 0
    assert side["sweep"]["store"] == f"sweeps/{name}"
    assert (out / f"{name}.csv").read_bytes() == first.read_bytes()
    # a figure with several sweeps (SweepParts) has one store per part below sweeps/NAME
    points = sorted((out / "sweeps" / name).glob("**/points/*.parquet"))
    assert len(points) == side["sweep"]["points"]
    stamps = [p.stat().st_mtime_ns for p in points]
    draw(name, out, 3, mode="tiny")
    side = json.loads((out / f"{name}.json").read_text())
    assert side["sweep"]["computed"] == 0 and side["sweep"]["reused"] == len(points)
    assert [p.stat().st_mtime_ns for p in points] == stamps
    assert (out / f"{name}.csv").read_bytes() == first.read_bytes()
    other = tmp_path / "seed4"
    draw(name, other, 4, mode="tiny")
    assert (other / f"{name}.csv").read_bytes() != first.read_bytes()


def test_a_changed_setting_keeps_the_unchanged_points(tmp_path):
    draw("fig1", tmp_path, 3, mode="tiny")
    draw("fig1", tmp_path, 3, mode="tiny", set_pairs=["ks=2,6,10"])
    side = json.loads((tmp_path / "fig1.json").read_text())["sweep"]
    assert (side["points"], side["computed"], side["reused"]) == (3, 1, 2)
    draw("fig1", tmp_path, 3, mode="tiny", set_pairs=["ks=6"])
    assert len(list((tmp_path / "sweeps" / "fig1" / "points").glob("*.parquet"))) == 1
    assert [int(r["k"]) for r in read_csv(tmp_path / "fig1.csv")] == [6]


def test_a_store_of_another_version_is_recomputed(tmp_path, monkeypatch):
    import xordsim

    draw("fig1", tmp_path, 3, mode="tiny")
    monkeypatch.setattr(xordsim, "__version__", "0.0.0-other")
    draw("fig1", tmp_path, 3, mode="tiny")
    side = json.loads((tmp_path / "fig1.json").read_text())["sweep"]
    assert side["computed"] == side["points"] == 2
    manifest = json.loads((tmp_path / "sweeps" / "fig1" / "manifest.json").read_text())
    assert manifest["xordsim_version"] == "0.0.0-other"


def test_dask_local_2_gives_the_in_process_csv(tiny, tmp_path, capsys):
    pytest.importorskip("distributed")
    first = drawn(tiny, "fig1")[0] / "fig1.csv"
    out = tmp_path / "dask"
    assert main(["figure", "fig1", "--tiny", "--quiet", "--seed", "3", "--out", str(out),
                 "--dask", "local:2"]) == 0
    side = json.loads((out / "fig1.json").read_text())["sweep"]
    assert side["executor"] == "local:2" and side["computed"] == 2
    assert (out / "fig1.csv").read_bytes() == first.read_bytes()


def test_dask_is_refused_for_a_figure_that_is_not_a_sweep(tmp_path):
    assert "fig2" not in SWEEPS and {"fig1", "margin", "sample-complexity"} <= set(SWEEPS)
    with pytest.raises(InputError, match=re.escape(f"dask applies only to the figures that "
                                                   f"are sweeps ({', '.join(SWEEPS)}), not "
                                                   f"to fig2")):
        draw("fig2", tmp_path / "out", dask="local:2")
    for bad in ("local:0", "local:x", "nope", "tcp://host"):
        with pytest.raises(InputError, match="dask"):
            draw("fig1", tmp_path / "out", mode="tiny", dask=bad)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("settings,needle", [
    (("fig1", ["ks=2,4,2"]), "ks must list distinct values, got 2 twice"),
    (("margin", ["gammas=1,8,1"]), "gammas must list distinct values, got 1 twice"),
    (("sample-complexity", ["ms=1,2,2"]), "ms must list distinct values, got 2 twice"),
    (("sample-complexity", ["k_small=120"]),
     "k_small must differ from k = 120 (two networks), got 120"),
])
def test_sweep_figures_refuse_repeated_points(settings, needle, tmp_path):
    name, pairs = settings
    with pytest.raises(InputError, match=re.escape(needle)):
        draw(name, tmp_path / "out", set_pairs=pairs)
    assert not (tmp_path / "out").exists()


def test_a_sweep_figure_too_large_for_memory_names_its_setting(tmp_path, monkeypatch):
    import xordsim._validate as validate

    monkeypatch.setattr(validate, "fits_in_memory", lambda nbytes: nbytes < 1000)
    with pytest.raises(InputError, match=r"^runs: the arrays of one task \(k = 6, 8 runs\)"):
        draw("fig1", tmp_path / "out", mode="tiny")
    assert not (tmp_path / "out").exists()


def test_sweep_figures_need_the_sweep_extra(tmp_path, monkeypatch, capsys):
    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name.split(".")[0] in EXTRAS["sweep"] else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    for name in SWEEPS:
        spec = FIGURES[name]
        assert spec.extra == "sweep" and spec.requires == EXTRAS["sweep"]
        assert missing_requirements(spec) == list(EXTRAS["sweep"])
        with pytest.raises(InputError, match=r'pip install "xordsim\[sweep\]"$'):
            draw(name, tmp_path / "out", mode="tiny")
        capsys.readouterr()
        assert main(["figure", name, "--tiny", "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith(f"xordsim figure {name}: error:")
        assert err.endswith('install it with: pip install "xordsim[sweep]"')
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------------------
# the command line and reproduce


def test_figure_cli_and_bad_settings(tmp_path, capsys):
    code = main(["figure", "fig2", "--out", str(tmp_path), "--quiet", "--set", "runs=3",
                 "--set", "steps=50"])
    assert code == 0 and (tmp_path / "fig2.png").exists()
    assert json.loads((tmp_path / "fig2.json").read_text())["settings"]["runs"] == 3
    for args, needle in ((["figure", "nope"], "figure"),
                         (["figure", "fig1", "--set", "bogus=1"], "bogus"),
                         (["figure", "fig1", "--set", "runs=abc"], "runs"),
                         (["figure", "fig1", "--set", "runs=0"], "runs"),
                         (["figure", "fig1", "--set", "q=0.5,0.5,0.5,0.5"], "q must be"),
                         (["figure", "fig1", "--seed", "-1"], "seed")):
        capsys.readouterr()
        out = tmp_path / "never"
        assert main(args + ["--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert needle in err and len(err.strip().splitlines()) == 1
        assert not out.exists()


def test_figure_help_lists_every_figure_and_setting(capsys):
    assert main(["figure", "--help"]) == 0
    text = capsys.readouterr().out
    for name, spec in FIGURES.items():
        assert name in text and spec.title in text
    for name, spec in FIGURES.items():  # 'figure NAME --help': every setting, generated
        assert main(["figure", name, "--help"]) == 0
        text = capsys.readouterr().out
        for key, param in spec.schema.items():
            assert f"{key}: {param.help_text()}".replace("%%", "%") in text
        assert ("xordsim[mnist]" in text) == (spec.extra == "mnist")


def test_reproduce_tiny_writes_report_and_is_deterministic(tmp_path):
    out1, out2 = tmp_path / "a", tmp_path / "b"
    for out in (out1, out2):
        assert main(["reproduce", "--tiny", "--quiet", "--out", str(out)]) == 0
    for name in CORE:
        for suffix in (".png", ".svg", ".csv", ".json"):
            assert (out1 / f"{name}{suffix}").exists()
    assert (out1 / "theorems.json").exists() and (out1 / "report.md").exists()
    report = (out1 / "report.md").read_text()
    html = (out1 / "report.html").read_text()
    assert "TINY" in report and "seed 0" in report
    links = re.findall(r"\]\(([^)]+)\)", report) + re.findall(r"href='([^']+)'", html)
    assert links
    for link in links:
        if not link.startswith(("#", "data:")):  # anchors and embedded files: test_report.py
            assert (out1 / link).exists(), link
    assert "data:image/png;base64," in html
    for name in CORE:  # same seed -> identical numbers
        assert (out1 / f"{name}.csv").read_bytes() == (out2 / f"{name}.csv").read_bytes()
    rows1 = json.loads((out1 / "theorems.json").read_text())["rows"]
    rows2 = json.loads((out2 / "theorems.json").read_text())["rows"]
    assert [r["estimate"] for r in rows1] == [r["estimate"] for r in rows2]


def test_reproduce_resumes_finished_stages(tmp_path):
    out = tmp_path / "r"
    assert main(["reproduce", "--tiny", "--quiet", "--out", str(out)]) == 0
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.csv")}
    (out / "fig2.csv").unlink()  # an interrupted or damaged stage is recomputed
    assert main(["reproduce", "--tiny", "--quiet", "--out", str(out)]) == 0
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("*.csv")}
    assert after["fig1.csv"] == before["fig1.csv"]
    assert (out / "fig2.csv").exists()
    assert np.isfinite(float(read_csv(out / "fig1.csv")[0]["test_error_mean"]))


def test_rank_agreement_grids_and_headline(tiny):
    """The grid setting names every shipped benchmark spec and every cut; the tiny figure's
    CSV holds every measure's scores (those of xordsim.sweep.scores on its own store) and
    its caption states the headline from them."""
    from xordsim.config import BENCHMARK_STUDIES
    from xordsim.figures.benchmark import BASELINE, CUTS, headline, rank_agreement_sweep
    from xordsim.sweep.benchmark import benchmark_table
    from xordsim.sweep.scores import score_table

    spec = FIGURES["rank-agreement"]
    assert set(spec.schema["grid"].choices) == set(BENCHMARK_STUDIES) | set(CUTS)
    for grid in spec.schema["grid"].choices:
        sw = rank_agreement_sweep(dict(spec.resolve(), grid=grid), 3)
        assert sw["measures"] == ("all" if grid != "tiny" else CUTS["tiny"][4])
        assert sw["save_weights"] is True
    out, _, _, caption = drawn(tiny, "rank-agreement")
    rows = read_csv(out / "rank-agreement.csv")
    table = benchmark_table(out / "sweeps" / "rank-agreement")
    assert len(table) == 16 and {r["measure"] for r in rows} == set(table.attrs["measures"])
    s = spec.resolve(mode="tiny")
    results = score_table(table, table.attrs["measures"], s["target"], s["n_boot"], seed=3)
    got = {(r["measure"], r["score"]): float(r["estimate"]) for r in rows}
    for r in results:
        assert got[(r["measure"], "psi")] == pytest.approx(r["scores"]["psi"][0],
                                                           nan_ok=True)
    head = headline(results)
    assert f"Best by Ψ apart from the oracle: {head['best']}" in caption
    assert f"{BASELINE}: Ψ = " in caption and "converged" in caption
