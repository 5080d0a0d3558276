"""Every figure, declared once: its settings schema, smaller modes, extra and builder.

:data:`FIGURES` is the one list of figures (Figures 1-4 of the paper and three more);
``xordsim figure``, ``xordsim reproduce`` and :func:`xordsim.figures.draw` read it. Each
:class:`FigureSpec` declares every setting as a :class:`~xordsim._validate.Param` (kind,
default, range or choices, help). Settings that are also fields of
:class:`~xordsim.config.GDConfig` (``d``, ``m``, ``steps``, ``gamma``, ``c_eta``, ``k`` ...)
take their declaration from ``GDConfig.params()``, with only the default (or a tighter
range) changed, so no constraint is written twice; figure-only settings (``ks``, ``runs``,
``q``, ``gammas``, ``ms``, ``bins``, ``train_sizes`` ...) are declared here.

The MNIST figures take the declarations of the MNIST path (:mod:`xordsim.mnist.config`:
``TrainConfig``, ``NetConfig``, ``DataConfig`` and the command options) the same way.

Import-light by rule: this module imports only the standard library and the declaration
modules :mod:`xordsim._validate`, :mod:`xordsim.config` and :mod:`xordsim.mnist.config`
(the CLI builds its help from it); the builder of a figure is named by a string and
imported only when the figure is drawn.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from xordsim._validate import InputError, Param, check_memory, parse_declared
from xordsim.config import (
    BENCHMARK_STUDIES,
    EXTRAS,
    SCORE_N_BOOT,
    SCORE_TARGET,
    GDConfig,
)
from xordsim.mnist.config import (
    ARORA_KAPPA,
    CENTER_NORM,
    CLUSTERS,
    FC_WIDTH,
    FIG4B_LR,
    FIGURE_MIN_STEPS,
    MAX_WIDTH,
    SMALL_CHANNELS,
    DataConfig,
    NetConfig,
    TrainConfig,
    fc_run_bytes,
)

#: Modes of :meth:`FigureSpec.resolve`: the defaults, ``reproduce --quick``, the tests.
MODES = ("full", "quick", "tiny")


@dataclass(frozen=True)
class FigureSpec:
    """One figure: its declared settings, the smaller settings of ``quick`` and ``tiny``,
    the optional dependency group it needs, and its builder.

    ``builder`` is ``"module:function"``; the function is called as
    ``build(settings, seed, out_dir, quiet) -> (caption, paths)`` with the full validated
    settings. ``check`` (optional) is the cross-setting check, run by :meth:`resolve` on the
    full settings before any work.

    ``sweep`` (optional, ``"module:function"``) makes the figure a sweep: the function
    turns ``(settings, seed)`` into a sweep spec (a dict, docs/sweeps.md), which
    :func:`xordsim.figures.draw` validates with the settings, computes into the store
    ``OUT/sweeps/NAME`` (resumable; in-process or on Dask: ``dask``) and hands to the
    builder, called as ``build(settings, seed, out_dir, quiet, store)``. A figure that needs
    several sweeps returns :class:`~xordsim.figures.sweeps.SweepParts` (part -> spec): each
    part gets the store ``OUT/sweeps/NAME/PART`` and the builder the dict part -> store.

    ``extra`` names the optional dependency group (:data:`~xordsim.config.EXTRAS`) the
    figure needs; ``requires`` its modules (default: the extra's). A figure needs at most
    one extra (none needs two today; a sweep figure needs ``sweep``, the MNIST figures
    ``mnist``). ``tiny_reproduce`` False: ``reproduce --tiny`` (the tests' smoke run)
    skips the figure.
    """

    name: str
    title: str
    schema: dict[str, Param]
    builder: str
    quick: dict = field(default_factory=dict)
    tiny: dict = field(default_factory=dict)
    extra: str | None = None
    requires: tuple[str, ...] = ()
    check: Callable[[dict], None] | None = None
    sweep: str | None = None
    tiny_reproduce: bool = True

    def __post_init__(self):
        for key, p in self.schema.items():
            if key != p.name:  # pragma: no cover - a declaration error
                raise TypeError(f"{self.name}: schema key {key!r} declares {p.name!r}")
        for mode in ("quick", "tiny"):
            unknown = sorted(set(getattr(self, mode)) - set(self.schema))
            if unknown:  # pragma: no cover - a declaration error
                raise TypeError(f"{self.name}: {mode} setting {unknown[0]!r} is not declared")
        if self.extra is not None and self.extra not in EXTRAS:  # pragma: no cover
            raise TypeError(f"{self.name}: unknown extra {self.extra!r}")
        if self.extra is not None and not self.requires:
            object.__setattr__(self, "requires", EXTRAS[self.extra])
        if self.sweep is not None and self.extra != "sweep":  # pragma: no cover
            raise TypeError(f"{self.name}: a sweep figure needs the sweep extra")

    @property
    def defaults(self) -> dict:
        """Every setting's declared default."""
        return {key: p.default for key, p in self.schema.items()}

    def resolve(self, overrides: Mapping | None = None, mode: str = "full",
                pairs: list[str] | None = None) -> dict:
        """The full validated settings: the defaults, then ``mode``'s smaller settings
        (``quick`` / ``tiny``), then the ``--set KEY=VALUE`` ``pairs``, then the Python
        ``overrides``; every value is checked against its declaration and the cross-setting
        check runs last. Raises :class:`InputError` (one line) before any work."""
        if mode not in MODES:
            raise InputError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
        settings = self.defaults
        settings.update({"full": {}, "quick": self.quick, "tiny": self.tiny}[mode])
        settings.update(parse_declared(pairs, self.schema, "--set"))
        if overrides is not None:
            if not isinstance(overrides, Mapping):
                raise InputError(f"{self.name}: settings must be a mapping of setting names to "
                                 f"values, got {overrides!r}")
            for key, value in overrides.items():
                if key not in self.schema:
                    raise InputError(f"{self.name}: unknown setting {key!r}; allowed: "
                                     f"{', '.join(self.schema)}")
                settings[key] = value
        settings = {key: self.schema[key].check(value, key) for key, value in settings.items()}
        if self.check is not None:
            self.check(settings)
        return settings

    def load_builder(self) -> Callable:
        """Import and return the builder named by :attr:`builder` (``"module:function"``)."""
        return _load(self.builder)

    def sweep_spec(self, settings: dict, seed: int) -> dict:
        """The sweep spec of a sweep figure for full validated ``settings`` (imports the
        figure's module)."""
        if self.sweep is None:
            raise TypeError(f"figure {self.name} is not a sweep")
        return _load(self.sweep)(settings, seed)

    def settings_help(self) -> str:
        """One line per setting, ``key: help`` (description, allowed values, default)."""
        return "\n".join(f"{key}: {p.help_text().replace('%%', '%')}"
                         for key, p in self.schema.items())


def _load(dotted: str) -> Callable:
    module, _, func = dotted.partition(":")
    return getattr(importlib.import_module(module), func)


def sweep_figures() -> list[str]:
    """The figures that are sweeps (take ``dask``), in registry order."""
    return [name for name, spec in FIGURES.items() if spec.sweep is not None]


def get(name: str) -> FigureSpec:
    """The figure called ``name``; :class:`InputError` listing the figures otherwise."""
    if not isinstance(name, str) or name not in FIGURES:
        raise InputError(f"figure must be one of {', '.join(FIGURES)}; got {name!r}")
    return FIGURES[name]


def missing_requirements(spec: FigureSpec) -> list[str]:
    """The modules ``spec`` needs (its extra's) that cannot be imported here (not imported)."""
    return [mod for mod in spec.requires if importlib.util.find_spec(mod) is None]


def requirement_error(spec: FigureSpec, missing: list[str]) -> InputError:
    """The one-line error for a figure whose optional dependencies are not installed."""
    return InputError(f"figure {spec.name} needs the optional dependencies "
                      f"{', '.join(missing)}: install them with: "
                      f'pip install "xordsim[{spec.extra}]"')


# ----------------------------------------------------------------------------------------
# declarations

_CFG = GDConfig.params()
_KEEP = object()


def _cfg(field_name: str, default=_KEEP, /, **changes) -> Param:
    """The GDConfig declaration of ``field_name`` with its default (or more, e.g. a new
    ``name`` for a variant such as ``k_large``) changed."""
    if default is not _KEEP:
        changes["default"] = default
    return dataclasses.replace(_CFG[field_name], **changes)


def _schema(*params: Param) -> dict[str, Param]:
    return {p.name: p for p in params}


def _with(p: Param, default) -> Param:
    return dataclasses.replace(p, default=default)


# settings shared by the XOR / XORD figures
_GAMMA = _cfg("gamma", 8.0, optional=False, derived="")
_C_ETA = _cfg("c_eta", 0.1)
_D_DECOY = _cfg("d", 4, low=4, help="patterns per point (the decoy set needs d >= 4)")
_RUNS = _cfg("replicas", 100, name="runs",
             help="independent runs (initializations; fresh data where sampled) per point")
_KS = _cfg("k", (2, 4, 6, 10, 20, 50, 100, 200), name="ks", kind="ints",
           help="widths k (filters per sign), one point each")
_K_LARGE = _cfg("k", 100, name="k_large", help="filters per sign of the wide network")
_K_SMALL = _cfg("k", 2, name="k_small", help="filters per sign of the small network")
_Q = Param("q", "floats", (0.25, 0.25, 0.25, 0.25),
           "pattern probabilities p1..p4 of the i.i.d. positions (4 values summing to 1)",
           low=0, high=1)
_GAMMAS = Param("gammas", "floats", (1.0, 8.0), "margins gamma to compare", low=0,
                low_open=True)
_XORD = (_cfg("d", 10), _cfg("m", 20), _GAMMA, _C_ETA, _cfg("steps", 5000), _Q)


def _distinct(s: dict, *keys: str) -> None:
    """Each listed setting names every value once (each value is a point of a sweep)."""
    for key in keys:
        seen = set()
        for v in s[key]:
            if v in seen:
                raise InputError(f"{key} must list distinct values, got {v:g} twice")
            seen.add(v)


def _check_xord(s: dict) -> None:
    _check_q(s)
    _distinct(s, "ks", *(("gammas",) if "gammas" in s else ()))


def _check_measures(s: dict) -> None:
    _check_xord(s)
    if s["data"] == "decoy" and s["d"] < 4:
        raise InputError(f"d must be >= 4 with data = decoy (a diverse positive holds all 4 "
                         f"patterns), got {s['d']}")


def _check_sample_complexity(s: dict) -> None:
    _distinct(s, "ms")
    if s["k_small"] == s["k"]:
        raise InputError(f"k_small must differ from k = {s['k']} (two networks), got "
                         f"{s['k_small']}")


def _check_q(s: dict) -> None:
    q = s["q"]
    if len(q) != 4 or not math.isclose(sum(q), 1.0, rel_tol=1e-9, abs_tol=1e-9):
        raise InputError(f"q must be 4 non-negative pattern probabilities summing to 1, "
                         f"got {','.join(f'{v:g}' for v in q)}")
    if q[0] + q[2] == 0 or q[1] + q[3] == 0:
        raise InputError("q must give positive probability to a positive (p1, p3) and a "
                         "negative (p2, p4) pattern")


# settings of the MNIST figures (Sec. 7; rationale in docs/mnist.md), from the declarations
# of the MNIST path; the figures depart from the command defaults in min_steps and (4b) lr
_DATA = DataConfig.params()
_NET = NetConfig.params()
_TRAIN = TrainConfig.params()


def _mnist_common(lr: float) -> tuple[Param, ...]:
    return (
        _DATA["dataset"],
        dataclasses.replace(_DATA["data_dir"], help="directory of the IDX files (mnist, "
                            "fashion-mnist)"),
        _DATA["n_train"], _DATA["n_test"], _NET["filter_size"], _TRAIN["epochs"],
        _with(_TRAIN["min_steps"], FIGURE_MIN_STEPS),
        _TRAIN["batch_size"], _TRAIN["optimizer"], _with(_TRAIN["lr"], lr),
        _TRAIN["beta1"], _TRAIN["beta2"], _TRAIN["eps"], _NET["init_scale"],
    )


def _check_mnist(s: dict) -> None:
    DataConfig(dataset=s["dataset"], data_dir=s["data_dir"], n_train=s["n_train"],
                            n_test=s["n_test"]).check_sizes()
    if s["data_dir"] is not None and not os.path.isdir(s["data_dir"]):
        raise InputError(f"data_dir {s['data_dir']} is not a directory")


def _check_fig4a(s: dict) -> None:
    _check_mnist(s)
    if s["clusters"] > s["channels"]:
        raise InputError(f"clusters must be at most channels = {s['channels']}; got "
                         f"{s['clusters']}")


def _check_fig4b(s: dict) -> None:
    _check_mnist(s)
    too_big = [n for n in s["train_sizes"] if n > s["n_train"]]
    if too_big:
        raise InputError(f"train_sizes must be at most n_train = {s['n_train']}; got "
                         f"{too_big[0]}")
    if s["large_channels"] < s["small_channels"]:
        raise InputError(f"large_channels must be at least small_channels = "
                         f"{s['small_channels']}; got {s['large_channels']}")
    factor = s["small_epochs_factor"]
    for key in ("epochs", "min_steps"):
        high = _TRAIN[key].high
        if factor * s[key] > high:
            raise InputError(f"small_epochs_factor * {key} must be at most {high} (the small "
                             f"networks train that long); got {factor} * {s[key]}")


#: Figure mnist-lazy (xordsim.mnist.lazy; settings and their cost in docs/mnist.md,
#: "Kernel and lazy training"): the Fig. 4a training settings on a smaller training set.
_MNIST_LAZY = (
    Param("channels_list", "ints", (4, 8, 16, 32, 64, 120, 256),
          "channel counts C, one network each", low=1, high=_NET["channels"].high),
    Param("ntk_images", "int", 100, "training images n of the NTK Gram (the full block matrix "
          "is 10n x 10n; at most n_train)", low=2, high=2000),
    Param("lr_channels", "ints", (4, 32, 256), "channel counts of the learning-rate grid",
          low=1, high=_NET["channels"].high),
    Param("lrs", "floats", (1e-3, 3e-3, 1e-2, 3e-2, 1e-1), "learning rates of the grid", low=0,
          low_open=True),
    Param("lr_criterion", "str", "train_loss", "what picks the best lr of a width: the final "
          "training loss or the test error", choices=("train_loss", "test_error")),
)


def _mnist_lazy_common() -> tuple[Param, ...]:
    changed = {"n_train": 1000, "epochs": 12, "min_steps": 0}
    return tuple(_with(p, changed[p.name]) if p.name in changed else p
                 for p in _mnist_common(_TRAIN["lr"].default))


def _check_mnist_lazy(s: dict) -> None:
    _check_mnist(s)
    _distinct(s, "channels_list", "lr_channels", "lrs")
    if s["ntk_images"] > s["n_train"]:
        raise InputError(f"ntk_images must be at most n_train = {s['n_train']}; got "
                         f"{s['ntk_images']}")


#: Figure random-labels (xordsim.mnist.random_labels; Arora et al.'s random-label
#: experiment on two digit classes of mnist5k; settings and their cost in docs/mnist.md,
#: "Random labels").
_RANDOM_LABELS = (
    _DATA["dataset"],
    dataclasses.replace(_DATA["data_dir"], help="directory of the IDX files (mnist, "
                        "fashion-mnist)"),
    Param("classes", "ints", (0, 1), "the two digit classes of the binary task (the first "
          "gets label +1)", low=0, high=9),
    Param("n_train", "int", 500, "training images (stratified; for mnist5k n_train + n_test "
          "<= 1000, the 2 x 500 images of the two classes; for an IDX dataset at most the "
          "images of the two classes in its training file)", low=2,
          high=_DATA["n_train"].high),
    Param("n_test", "int", 500, "held-out test images of the two classes (true labels; for "
          "an IDX dataset from its t10k file)", low=1, high=_DATA["n_test"].high),
    dataclasses.replace(FC_WIDTH, default=2000, help="hidden units m of Arora et al.'s net "
                        "(their experiments: 10^4; cost grows as m)"),
    ARORA_KAPPA,
    Param("lr_scale", "float", 1.0, "the GD step is eta = lr_scale / lambda_max(H^inf) "
          "(Theorem 4.1 needs eta < 2 / lambda_max)", low=0, high=2, low_open=True,
          high_open=True),
    _cfg("steps", 300, low=1, help="T, the full-batch GD steps of every run"),
    Param("fractions", "floats", (0.0, 0.2, 0.4, 0.6, 0.8, 1.0), "fractions p of the "
          "training labels replaced by uniform +-1 draws, one run each", low=0, high=1),
    Param("loss_tol", "float", 0.01, "a run counts as converged when ||y - u(T)||^2 / n is "
          "at most this", low=0, high=1, low_open=True),
    Param("dtype", "str", "float32", "floating-point type of the network and of GD",
          choices=("float32", "float64")),
)


def _check_random_labels(s: dict) -> None:
    if len(s["classes"]) != 2 or s["classes"][0] == s["classes"][1]:
        raise InputError(f"classes must name two different digits, got "
                         f"{','.join(map(str, s['classes']))}")
    if s["dataset"] == "mnist5k" and s["n_train"] + s["n_test"] > 1000:
        raise InputError(f"n_train + n_test must be at most 1000 (two classes of mnist5k); "
                         f"got {s['n_train']} + {s['n_test']}")
    if s["data_dir"] is not None and not os.path.isdir(s["data_dir"]):
        raise InputError(f"data_dir {s['data_dir']} is not a directory")
    _distinct(s, "fractions")


_MNIST_REQUIRES = EXTRAS["mnist"]
#: capacity-width's default training-set size (docs/mnist.md: its cost).
CAPACITY_N_TRAIN = 250


def _check_capacity_width(s: dict) -> None:
    _check_mnist(s)
    _distinct(s, "widths")
    check_memory("widths", fc_run_bytes(max(s["widths"]), s["n_train"], s["n_test"]),
                 "arrays of the widest net")

FIGURES: dict[str, FigureSpec] = {s.name: s for s in [
    FigureSpec(
        "fig1", "Figure 1: test error against the number of channels",
        _schema(*_XORD, _KS, _with(_RUNS, 500)),
        "xordsim.figures.generalization:build_fig1",
        quick=dict(runs=100), tiny=dict(ks=(2, 6), runs=8, steps=300), check=_check_xord,
        extra="sweep", sweep="xordsim.figures.generalization:fig1_sweep"),
    FigureSpec(
        "fig2", "Figure 2: XOR filters at t = 0 and at convergence",
        _schema(_with(_K_LARGE, 50), _K_SMALL, _RUNS, _cfg("steps", 5000), _C_ETA),
        "xordsim.figures.weights:build_fig2",
        tiny=dict(runs=10, steps=300)),
    FigureSpec(
        "fig3", "Figure 3: XORD decoy set, filters at t = 0 and at convergence",
        _schema(_K_LARGE, _K_SMALL, _RUNS, _cfg("steps", 5000), _C_ETA, _GAMMA, _D_DECOY,
                Param("n_per_class", "int", 6, "diverse positives (and negatives) in the "
                      "decoy training set", low=1, high=_CFG["m"].high)),
        "xordsim.figures.weights:build_fig3",
        tiny=dict(runs=10, steps=300, k_large=20)),
    FigureSpec(
        "margin", "Margin: test error for gamma = 1 and gamma = 8",
        _schema(*_XORD, _with(_KS, (2, 4, 10, 20, 50, 100)), _GAMMAS, _with(_RUNS, 300)),
        "xordsim.figures.generalization:build_margin",
        quick=dict(runs=60), tiny=dict(ks=(2, 4), runs=6, steps=200), check=_check_xord,
        extra="sweep", sweep="xordsim.figures.generalization:margin_sweep"),
    FigureSpec(
        "sample-complexity", "Sample complexity (Theorem 6.5)",
        _schema(_cfg("k", 120, help="filters per sign of the large network (Theorem 6.5: "
                     "k >= 120)"),
                _K_SMALL,
                Param("p_plus", "float", 0.92, "p+, the probability of a diverse positive",
                      low=0, high=1, high_open=True),
                Param("p_minus", "float", 0.92, "p-, the probability of a diverse negative",
                      low=0, high=1, high_open=True),
                Param("eps", "float", 0.019, "test-error threshold of a success", low=0,
                      high=1),
                Param("delta", "float", 0.16, "delta of the m2 bound", low=0, high=1,
                      low_open=True),
                Param("ms", "ints", (1, 2, 4, 8, 16, 24, 32, 48, 64),
                      "sample sizes m, one point each (the default puts four beyond the m2 "
                      "bound, 17.5)", low=1, high=10_000),
                _cfg("c_eta", 1 / 410), _GAMMA, _D_DECOY,
                _cfg("steps", 0, help="T, the GD steps (0: steps_factor times the T of "
                     "Theorem 6.3)"),
                Param("steps_factor", "int", 16, "with steps = 0, T is this many times the T "
                      "of Theorem 6.3 (derived for one diverse point per class; larger "
                      "training sets converge more slowly: with 1, only about a third of the "
                      "k = 120 runs reach loss 0 at m = 32)", low=1, high=10_000),
                _cfg("replicas", 500)),
        "xordsim.figures.sample_complexity:build_sample_complexity",
        quick=dict(ms=(1, 2, 4, 8, 16, 24, 32), replicas=100),
        tiny=dict(ms=(1, 2), replicas=8, k=20, c_eta=0.05, steps=400),
        check=_check_sample_complexity, extra="sweep",
        sweep="xordsim.figures.sample_complexity:sample_complexity_sweep"),
    FigureSpec(
        "dynamics", "Exploration and clustering over training",
        _schema(_K_SMALL, _K_LARGE, _with(_RUNS, 200),
                _cfg("steps", 400, low=1, help="T, the GD steps"),
                Param("points", "int", 101, "snapshots from step 0 to steps", low=2,
                      high=10_000),
                _C_ETA, _GAMMA, _D_DECOY),
        "xordsim.figures.weights:build_dynamics",
        quick=dict(runs=50), tiny=dict(runs=4, steps=40, points=5, k_large=10)),
    FigureSpec(
        "fig4a", "Figure 4a: filters of a trained network cluster (MNIST)",
        _schema(*_mnist_common(_TRAIN["lr"].default),
                _NET["channels"], CLUSTERS,
                Param("bins", "int", 36, "histogram bins", low=1, high=1000)),
        "xordsim.mnist.figures:build_fig4a",
        quick=dict(n_train=1000, epochs=4, min_steps=0),
        tiny=dict(n_train=200, n_test=100, epochs=1, min_steps=0, batch_size=50, channels=8,
                  clusters=2),
        extra="mnist", requires=_MNIST_REQUIRES, check=_check_fig4a, tiny_reproduce=False),
    FigureSpec(
        "fig4b", "Figure 4b: exploration and compression (MNIST)",
        _schema(*_mnist_common(FIG4B_LR),
                Param("train_sizes", "ints", (250, 500, 1000, 2000, 4000),
                      "training-set sizes drawn from the n_train pool (each at most n_train)",
                      low=1, high=_DATA["n_train"].high),
                Param("seeds", "int", 5, "replicates (seeds seed, seed+1, ...) per size; the "
                      "figure draws the 95% Student-t interval over them", low=1, high=1000),
                dataclasses.replace(SMALL_CHANNELS, help="channels of the small "
                                    "and the compressed networks"),
                dataclasses.replace(_NET["channels"], name="large_channels",
                                    help="channels of the large network (at least "
                                    "small_channels)"),
                CENTER_NORM,
                Param("small_epochs_factor", "int", 3, "the small networks train this many "
                      "times the epochs and steps", low=1, high=1000)),
        "xordsim.mnist.figures:build_fig4b",
        quick=dict(train_sizes=(250, 1000, 2000), seeds=3, epochs=4, min_steps=100),
        tiny=dict(n_train=200, n_test=100, epochs=1, min_steps=0, batch_size=50,
                  train_sizes=(50, 100), seeds=2, large_channels=6, small_channels=2),
        extra="mnist", requires=_MNIST_REQUIRES, check=_check_fig4b,
        tiny_reproduce=False),
    FigureSpec(
        "mnist-lazy", "The conv net's NTK and lazy training against width (MNIST)",
        _schema(*_mnist_lazy_common(), *_MNIST_LAZY),
        "xordsim.mnist.lazy:build_mnist_lazy",
        quick=dict(n_train=300, n_test=300, epochs=2, min_steps=0, channels_list=(4, 16, 64),
                   ntk_images=30, lr_channels=(4, 64), lrs=(1e-3, 1e-2)),
        tiny=dict(n_train=60, n_test=40, epochs=1, min_steps=0, batch_size=30,
                  channels_list=(2, 4), ntk_images=6, lr_channels=(2, 4), lrs=(1e-3, 1e-2)),
        extra="mnist", requires=_MNIST_REQUIRES, check=_check_mnist_lazy,
        tiny_reproduce=False),
    FigureSpec(
        "random-labels", "Random labels: complexity, test error and training speed (MNIST)",
        _schema(*_RANDOM_LABELS),
        "xordsim.mnist.random_labels:build_random_labels",
        quick=dict(n_train=200, n_test=200, width=500, steps=100, fractions=(0.0, 0.5, 1.0)),
        tiny=dict(n_train=40, n_test=40, width=100, steps=20, fractions=(0.0, 1.0)),
        extra="mnist", requires=_MNIST_REQUIRES, check=_check_random_labels,
        tiny_reproduce=False),
    FigureSpec(
        "capacity-width", "Capacity against width: measures and bounds of two-layer ReLU "
        "nets on MNIST (Neyshabur et al.)",
        _schema(_DATA["dataset"],
                dataclasses.replace(_DATA["data_dir"], help="directory of the IDX files "
                                    "(mnist, fashion-mnist)"),
                _with(_DATA["n_train"], CAPACITY_N_TRAIN), _DATA["n_test"],
                Param("widths", "ints", tuple(2 ** i for i in range(4, 11)),
                      "hidden units h, one point each (the paper: 2^6 to 2^15)", low=1,
                      high=MAX_WIDTH),
                Param("seeds", "int", 2, "replicates per width (each its own init and batch "
                      "order)", low=1, high=1000),
                dataclasses.replace(_TRAIN["epochs"], default=1000, help="epoch cap (the "
                                    "code's 1000); a run stops earlier when its training "
                                    "loss falls below stop_loss"),
                Param("stop_loss", "float", 0.01, "stop after the first epoch whose average "
                      "training cross-entropy is below this (the code's 0.01)", low=0,
                      low_open=True),
                _TRAIN["batch_size"], _TRAIN["lr"], _with(_TRAIN["momentum"], 0.9),
                Param("standardize", "bool", True, "standardize the pixels with the code's "
                      "mean 0.131 and std 0.289 (false: pixels in [0, 1])"),
                Param("delta", "float", 0.01, "delta, the probability that a bound fails",
                      low=0, high=1, low_open=True, high_open=True)),
        "xordsim.mnist.capacity:build_capacity_width",
        quick=dict(n_train=100, widths=(16, 64, 256), seeds=1),
        tiny=dict(n_train=40, n_test=40, widths=(8, 32), epochs=100, stop_loss=0.2, lr=0.01),
        extra="mnist", requires=_MNIST_REQUIRES,
        check=_check_capacity_width, tiny_reproduce=False),
    FigureSpec(
        "measures", "Measures of trained networks against k, beside the exact test error",
        _schema(*_XORD, _with(_KS, (2, 4, 8, 16, 32, 64, 128, 256, 512)), _with(_RUNS, 200),
                Param("data", "str", "fresh", "training data: a fresh sampled set per run, or "
                      "the decoy set of Sec. 5 (d >= 4; m and q do not apply)",
                      choices=("fresh", "decoy"))),
        "xordsim.figures.explanations:build_measures",
        quick=dict(runs=50), tiny=dict(ks=(2, 8), runs=6, steps=200),
        check=_check_measures, extra="sweep",
        sweep="xordsim.figures.explanations:measures_sweep"),
    FigureSpec(
        "ntk-eigen", "Spectrum of the empirical NTK at initialization against k",
        _schema(_cfg("d", 10, low=4, help="patterns per point (the decoy set needs d >= 4)"),
                _cfg("m", 20), _GAMMA, _C_ETA, _Q,
                _with(_KS, tuple(2 ** i for i in range(1, 13))), _with(_RUNS, 200)),
        "xordsim.figures.explanations:build_ntk_eigen",
        quick=dict(runs=50), tiny=dict(ks=(2, 64, 4096), runs=8),
        check=_check_xord, extra="sweep",
        sweep="xordsim.figures.explanations:ntk_eigen_sweep"),
    FigureSpec(
        "lazy-rich", "Lazy and rich training: init scale, output scale and width",
        _schema(_cfg("d", 10), _cfg("m", 20), _GAMMA, _C_ETA, _cfg("steps", 3000), _Q,
                _with(_KS, (2, 20, 200, 2000)),
                Param("init_stds", "floats", (1e-7, 1e-5, 1e-3, 1e-1, 1.0),
                      "init stds sigma (antisymmetric init), one point each", low=0,
                      low_open=True),
                Param("output_scales", "floats", (1.0, 10.0, 100.0),
                      "output scales alpha (lr = c_eta / (k alpha^2)), one point each",
                      low=0, low_open=True),
                _with(_RUNS, 40)),
        "xordsim.figures.regimes:build_lazy_rich",
        quick=dict(runs=12, steps=2000),
        tiny=dict(ks=(2, 200), init_stds=(1e-4, 1.0), output_scales=(1.0, 30.0), runs=4,
                  steps=400, d=4, m=6),
        check=lambda s: (_check_xord(s), _distinct(s, "init_stds", "output_scales")),
        extra="sweep", sweep="xordsim.figures.regimes:lazy_rich_sweep"),
    FigureSpec(
        "lr-transfer", "Learning-rate transfer across widths under four parameterizations",
        _schema(_cfg("d", 10), _cfg("m", 20), _GAMMA, _cfg("steps", 3000), _Q,
                _with(_KS, (5, 50, 500)),
                Param("c_etas", "floats",
                      (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0),
                      "learning-rate constants c_eta, one point each", low=0, low_open=True),
                _with(_RUNS, 30)),
        "xordsim.figures.regimes:build_lr_transfer",
        quick=dict(runs=10, steps=2000),
        tiny=dict(ks=(4, 40), c_etas=(0.1, 1.0), runs=4, steps=300, d=4, m=6),
        check=lambda s: (_check_xord(s), _distinct(s, "c_etas")),
        extra="sweep", sweep="xordsim.figures.regimes:lr_transfer_sweep"),
    FigureSpec(
        "losses", "Figure 1 under the hinge, squared and logistic losses",
        _schema(*_XORD, _with(_KS, (2, 5, 20, 50, 200)), _with(_RUNS, 100),
                _cfg("tol", 0.0, name="tol_squared",
                     help="the squared-loss runs stop when the loss is <= this (0: run T "
                     "steps)"),
                _cfg("tol", 0.0, name="tol_logistic",
                     help="the logistic-loss runs stop when the loss is <= this (0: run T "
                     "steps)")),
        "xordsim.figures.regimes:build_losses",
        quick=dict(runs=30, steps=2000),
        tiny=dict(ks=(2, 20), runs=4, steps=200, d=4, m=6),
        check=_check_xord, extra="sweep", sweep="xordsim.figures.regimes:losses_sweep"),
    FigureSpec(
        "rank-agreement", "Rank agreement of generalization measures with the exact "
        "generalization gap (tau, Psi, CMI, sign error)",
        _schema(Param("grid", "str", "xord_gen_quick",
                      "benchmark grid: a shipped spec (xord_gen: the full grid, 7200 "
                      "networks; xord_gen_decoy; xord_gen_quick: 576 networks) or a cut of "
                      "the quick grid (small: 96 networks; tiny: 16)",
                      choices=(*BENCHMARK_STUDIES, "small", "tiny")),
                SCORE_TARGET, SCORE_N_BOOT),
        "xordsim.figures.benchmark:build_rank_agreement",
        quick=dict(grid="small"), tiny=dict(grid="tiny", n_boot=20),
        extra="sweep", sweep="xordsim.figures.benchmark:rank_agreement_sweep"),
]}

__all__ = ["EXTRAS", "FIGURES", "MODES", "FigureSpec", "get", "missing_requirements",
           "sweep_figures"]
