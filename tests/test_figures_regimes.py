"""The regime studies of issue 13: ``lazy-rich``, ``lr-transfer`` and ``losses`` (tiny
settings): files, determinism, a numeric check per study, and the caption's numbers
against the CSV."""

from __future__ import annotations

import csv
import json
import math

import pytest

from xordsim import fmt
from xordsim._validate import InputError
from xordsim.figures import FIGURES, draw
from xordsim.figures.regimes import (
    LAZY_RICH_COLUMNS,
    LAZY_THRESHOLD,
    LOSSES_COLUMNS,
    LR_TRANSFER_COLUMNS,
    MATCH_TOL,
    PARAM_NAMES,
    benefit_end,
    lazy_rich_sweep,
    lr_transfer_sweep,
    parameterization,
    step_helps,
)
from xordsim.sweep.spec import load_spec

NAMES = ["lazy-rich", "lr-transfer", "losses"]
COLUMNS = {"lazy-rich": LAZY_RICH_COLUMNS, "lr-transfer": LR_TRANSFER_COLUMNS,
           "losses": LOSSES_COLUMNS}


def read_csv(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """Each study drawn twice on its tiny settings with seed 3 (two directories)."""
    out = {}
    for name in NAMES:
        a = tmp_path_factory.mktemp(f"{name}-a")
        b = tmp_path_factory.mktemp(f"{name}-b")
        paths = draw(name, a, 3, mode="tiny")
        draw(name, b, 3, mode="tiny")
        caption = json.loads((a / f"{name}.json").read_text())["caption"]
        out[name] = (a, b, paths, caption, read_csv(a / f"{name}.csv"))
    return out


@pytest.mark.parametrize("name", NAMES)
def test_files_and_sidecar(name, drawn):
    a, _, paths, caption, rows = drawn[name]
    assert {p.name for p in paths} == {f"{name}{s}" for s in (".png", ".svg", ".csv", ".json")}
    for p in paths:
        assert p.stat().st_size > 0
    assert rows and list(rows[0]) == COLUMNS[name]
    side = json.loads((a / f"{name}.json").read_text())
    assert side["name"] == name and side["seed"] == 3 and side["sweep"]["points"] == len(rows)
    assert side["settings"] == json.loads(json.dumps(FIGURES[name].resolve(mode="tiny")))
    assert "Settings:" in caption and "seed 3" in caption


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_csv(name, drawn):
    a, b, *_ = drawn[name]
    assert (a / f"{name}.csv").read_bytes() == (b / f"{name}.csv").read_bytes()


@pytest.mark.parametrize("name", NAMES)
def test_every_run_counted_and_intervals_inside(name, drawn):
    *_, rows = drawn[name]
    for r in rows:
        n = int(r["runs"])
        assert n == sum(int(r[c]) for c in ("converged_runs", "not_converged_runs",
                                            "stalled_runs", "diverged_runs"))
        for stem in ("test_error", "frac_converged", "lazy_test_error"):
            if f"{stem}_ci95_low" not in r:
                continue
            point = float(r[f"{stem}_mean"] if f"{stem}_mean" in r else r[stem])
            lo, hi = float(r[f"{stem}_ci95_low"]), float(r[f"{stem}_ci95_high"])
            assert 0 <= lo <= point <= hi <= 1, (name, stem, r)


# ----------------------------------------------------------------------------------------
# lazy-rich


def test_lazy_rich_step_is_constant_in_function_space():
    s = FIGURES["lazy-rich"].resolve(mode="tiny")
    spec = load_spec(lazy_rich_sweep(s, 0))
    assert len(spec.points) == len(s["ks"]) * len(s["init_stds"]) * len(s["output_scales"])
    for p in spec.points:
        q = p.params
        assert q["init"] == "antisymmetric" and q["loss_function"] == "hinge"
        assert math.isclose(4 * q["lr"] * q["k"] * q["output_scale"] ** 2, 4 * s["c_eta"])


def test_lazy_rich_large_scale_is_lazy_and_matches(drawn):
    """At k = 200, sigma = 1 (k alpha sigma >= 200) the weights barely move, no filter changes
    kernel much, and the network's test error equals the lazy predictor's; at the small
    init scale with alpha = 1 the weights move far (rich)."""
    *_, caption, rows = drawn["lazy-rich"]
    by = {(int(r["k"]), float(r["init_std"]), float(r["output_scale"])): r for r in rows}
    for alpha in (1.0, 30.0):
        r = by[(200, 1.0, alpha)]
        assert float(r["k_alpha_sigma"]) == 200 * alpha
        assert float(r["weight_change_median"]) < 0.05
        assert float(r["kernel_change_median"]) <= LAZY_THRESHOLD
        assert r["lazy"] == "1"
        assert float(r["abs_diff_mean"]) <= MATCH_TOL
        assert float(r["frac_equal_to_lazy"]) == 1.0
        assert float(r["lr_function_space"]) == pytest.approx(0.4)
    assert float(by[(200, 1e-4, 1.0)]["weight_change_median"]) > 10
    # the caption's verdicts come from these rows
    lazy = [r for r in rows if r["lazy"] == "1"]
    match = [r for r in rows if r["matches_lazy"] == "1"]
    assert f"at {len(lazy)} of {len(rows)} points" in caption
    assert (f"k alpha sigma >= {fmt.sig(min(float(r['k_alpha_sigma']) for r in lazy), 2)}"
            in caption)
    assert f"at {len(match)} points" in caption
    conv = sum(int(r["converged_runs"]) for r in rows)
    assert f"Converged: {conv} of {sum(int(r['runs']) for r in rows)} runs" in caption


def test_step_helps_and_benefit_end():
    assert step_helps([0.1, 0.08, 0.12], [0.01, 0.0, 0.07]) == 1
    assert step_helps([0.1, 0.08, 0.12], [0.01, 0.0, 0.08]) == 0  # touching: no
    assert math.isnan(step_helps([math.nan] * 3, [0.01, 0.0, 0.02]))
    ks = [2, 20, 200, 2000]
    assert benefit_end(ks, [1, 0, 0]) == 20
    assert benefit_end(ks, [1, 1, 0]) == 200
    assert benefit_end(ks, [0, 0, 0]) == 2
    assert benefit_end(ks, [0, 1, 0]) == 200  # a later step helps: not ended before it
    assert benefit_end(ks, [1, 0, 1]) is None  # still helps at the largest k
    assert benefit_end(ks, [1, math.nan, 0]) == 20  # undecided does not count as helping
    assert benefit_end([5], []) == 5


def test_lazy_rich_rings_mark_where_the_benefit_ends(drawn, tmp_path, monkeypatch):
    """The top row rings, per output scale, exactly the (sigma, test error) points whose k
    is the CSV's benefit_ends_at_k (redrawn from the stored sweep, nothing recomputed)."""
    import numpy as np

    from xordsim.figures import regimes

    a, *_, rows = drawn["lazy-rich"]
    s = FIGURES["lazy-rich"].resolve(mode="tiny")
    figs = []
    real = regimes.save_figure
    monkeypatch.setattr(regimes, "save_figure",
                        lambda fig, *args, **kw: figs.append(fig) or real(fig, *args, **kw))
    caption, _ = regimes.build_lazy_rich(s, 3, tmp_path, True, a / "sweeps" / "lazy-rich")
    (fig,) = figs
    top = [ax for ax in fig.axes if ax.get_title().startswith("alpha = ")]
    assert len(top) == len(s["output_scales"])
    for ax, al in zip(top, s["output_scales"], strict=True):
        rings = [ln for ln in ax.get_lines() if ln.get_marker() == "o"
                 and ln.get_markerfacecolor() == "none" and ln.get_markeredgecolor() == "k"]
        want = sorted(float(r["init_std"]) for r in rows if float(r["output_scale"]) == al
                      and float(r["benefit_ends_at_k"]) == int(r["k"]))
        got = sorted(np.concatenate([ln.get_xdata() for ln in rings]).tolist()) if rings else []
        assert got == want, (al, got, want)
    assert "black ring" in caption


def test_lazy_rich_benefit_of_k_columns_and_caption(drawn):
    """Each step up in k is judged from the CSV's intervals; the k at which the benefit
    ends, its k alpha sigma and laziness follow from them; the caption quotes every mean
    along k with its step marks and the groups' counts and k alpha sigma ranges."""
    *_, caption, rows = drawn["lazy-rich"]
    s = FIGURES["lazy-rich"].resolve(mode="tiny")
    ks = list(s["ks"])
    groups: dict = {}
    for sd in s["init_stds"]:
        for al in s["output_scales"]:
            line = [next(r for r in rows if (int(r["k"]), float(r["init_std"]),
                                             float(r["output_scale"])) == (k, sd, al))
                    for k in ks]
            ci = [[float(r[f"test_error_{c}"]) for c in ("mean", "ci95_low", "ci95_high")]
                  for r in line]
            helps = [float(r["helps_vs_smaller_k"]) for r in line]
            assert helps[0] == -1
            path = fmt.sig(ci[0][0], 2)
            for i in range(1, len(ks)):
                want = step_helps(ci[i - 1], ci[i])
                assert helps[i] == want or (math.isnan(want) and math.isnan(helps[i]))
                assert helps[i] == (ci[i][2] < ci[i - 1][1])
                path += (" > " if helps[i] == 1 else " ~ ") + fmt.sig(ci[i][0], 2)
                nc = sum(int(r["runs"]) - int(r["converged_runs"]) for r in line[i - 1:i + 1])
                assert int(line[i]["step_runs_not_converged"]) == nc
            end = benefit_end(ks, helps[1:])
            for r in line:
                got = float(r["benefit_ends_at_k"])
                assert math.isnan(got) if end is None else got == end
            at = line[-1] if end is None else line[ks.index(end)]
            if end is not None:
                assert float(line[0]["k_alpha_sigma_at_end"]) == float(at["k_alpha_sigma"])
                assert line[0]["lazy_at_end"] == at["lazy"]
            assert f"(sigma {fmt.sig(sd, 2)}, alpha {fmt.sig(al, 2)}: {path})" in caption
            groups.setdefault(end, []).append(float(at["k_alpha_sigma"]))
    for end, kas in groups.items():
        head = (f"still helps at k = {ks[-1]}" if end is None else
                f"no benefit from k = {end} on" if end == ks[0] else
                f"benefit ends at k = {end}")
        at = ks[-1] if end is None else end
        assert (f"{head} at {len(kas)} (k alpha sigma at k = {at}: {fmt.sig(min(kas), 2)} "
                f"to {fmt.sig(max(kas), 2)}; there ") in caption
    steps = [r for r in rows if r["helps_vs_smaller_k"] != "-1"]
    nc = sum(int(r["step_runs_not_converged"]) > 0 for r in steps)
    assert f"{nc} of {len(steps)} steps compare points with runs that did not" in caption


# ----------------------------------------------------------------------------------------
# lr-transfer


def test_parameterizations_function_space_step():
    """paper, ntk and mean-field keep eta' = 4 eta k alpha^2 = 4 c_eta at every k; the
    constant step grows it as k."""
    for k in (1, 7, 300, 10**5):
        for ce in (0.01, 1.0):
            for name in PARAM_NAMES:
                q = parameterization(name, k, ce)
                step = 4 * q["lr"] * k * q["output_scale"] ** 2
                assert math.isclose(step, 4 * ce * (k if name == "constant" else 1),
                                    rel_tol=1e-12)
    s = FIGURES["lr-transfer"].resolve(mode="tiny")
    spec = load_spec(lr_transfer_sweep(s, 0))
    assert len(spec.points) == len(PARAM_NAMES) * len(s["ks"]) * len(s["c_etas"])


def test_lr_transfer_rows_and_caption(drawn):
    *_, caption, rows = drawn["lr-transfer"]
    s = FIGURES["lr-transfer"].resolve(mode="tiny")
    for r in rows:
        if r["parameterization"] == "ntk":
            assert float(r["lr_function_space"]) == pytest.approx(4 * float(r["c_eta"]))
        # a run that did not converge is censored at T: the median never exceeds T
        assert float(r["median_steps_censored"]) <= s["steps"]
        not_conv = int(r["runs"]) - int(r["converged_runs"])
        assert r["median_censored"] == str(int(2 * not_conv >= int(r["runs"])))
        if 2 * not_conv > int(r["runs"]):
            assert float(r["median_steps_censored"]) == s["steps"]
    for name in PARAM_NAMES:
        for k in s["ks"]:
            best = [r for r in rows if r["parameterization"] == name and int(r["k"]) == k
                    and r["best"] == "1"]
            assert len(best) <= 1
            if best:
                assert float(best[0]["frac_converged"]) >= 0.95
                assert f"k = {k}: {fmt.sig(float(best[0]['c_eta']), 3)}" in caption
    nc = sum(int(r["not_converged_runs"]) for r in rows)
    assert f"Not converged within T: {nc} of {sum(int(r['runs']) for r in rows)}" in caption
    dv = sum(int(r["diverged_runs"]) for r in rows)
    assert f"; diverged {dv} (" in caption
    edge = [r for r in rows if r["best_at_grid_edge"] == "1"]
    for r in rows:
        assert r["best_at_grid_edge"] == str(int(
            r["best"] == "1" and float(r["c_eta"]) in (min(s["c_etas"]), max(s["c_etas"]))))
    for r in edge:
        which = "largest" if float(r["c_eta"]) == max(s["c_etas"]) else "smallest"
        assert (f"k = {r['k']}: {fmt.sig(float(r['c_eta']), 3)} ({which} of the grid)"
                in caption)
    assert (f"{len(edge)} of these optima lie at the edge of the c_eta grid" if edge
            else "Every optimum lies inside the c_eta grid") in caption


def test_lr_transfer_default_grid_reaches_past_the_optima():
    """The default c_eta grid reaches far past 3 (where the first runs found the paper's,
    NTK's and mean-field's best c_eta at the largest value)."""
    s = FIGURES["lr-transfer"].resolve()
    assert max(s["c_etas"]) >= 100 and min(s["c_etas"]) <= 0.01
    assert list(s["c_etas"]) == sorted(s["c_etas"])


# ----------------------------------------------------------------------------------------
# losses


def test_losses_squared_never_converges_at_tol_0(drawn):
    *_, caption, rows = drawn["losses"]
    sq = [r for r in rows if r["loss"] == "squared"]
    assert sq and all(float(r["tol"]) == 0 for r in sq)
    for r in sq:  # every squared run ran its T steps and is counted as not converged
        assert int(r["converged_runs"]) == 0
        assert int(r["not_converged_runs"]) + int(r["stalled_runs"]) == int(r["runs"])
    assert f"converged 0 of {sum(int(r['runs']) for r in sq)} runs" in caption
    for loss in ("hinge", "squared", "logistic"):
        sub = [r for r in rows if r["loss"] == loss]
        first, last = sub[0], sub[-1]
        text = (f"{loss} (tol {fmt.sig(float(first['tol']), 2)}): test error "
                f"{fmt.sig(float(first['test_error_mean']), 2)} at k = {first['k']} -> "
                f"{fmt.sig(float(last['test_error_mean']), 2)} at k = {last['k']}, lazy limit "
                f"{fmt.sig(float(first['lazy_test_error_mean']), 2)} -> "
                f"{fmt.sig(float(last['lazy_test_error_mean']), 2)}")
        assert text in caption


def test_losses_tol_stops_the_logistic_runs(tmp_path):
    """With a tol the logistic runs stop (converge) early and are counted so."""
    draw("losses", tmp_path, 1, {"tol_logistic": 5.0, "ks": (20,), "runs": 3, "steps": 200,
                                  "d": 4, "m": 6})
    rows = read_csv(tmp_path / "losses.csv")
    lg = [r for r in rows if r["loss"] == "logistic"][0]
    assert float(lg["tol"]) == 5.0 and int(lg["converged_runs"]) == 3


@pytest.mark.parametrize("name, key, bad, message", [
    ("lazy-rich", "init_stds", (1.0, 1.0), "init_stds must list distinct values"),
    ("lazy-rich", "output_scales", (0.0,), "output_scales"),
    ("lr-transfer", "c_etas", (-1.0,), "c_etas"),
    ("losses", "tol_squared", -1.0, "tol_squared"),
])
def test_bad_settings(name, key, bad, message):
    with pytest.raises(InputError, match=message) as info:
        FIGURES[name].resolve({key: bad})
    assert "\n" not in str(info.value)
