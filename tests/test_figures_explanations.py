"""The ``measures`` and ``ntk-eigen`` figures (xordsim.figures.explanations) at their tiny
settings: files, reproducibility, the numbers of their captions against their CSVs, the
infinite-width limits and the tau flags."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from xordsim import fmt
from xordsim._validate import InputError
from xordsim.figures import FIGURES, draw
from xordsim.figures.explanations import (
    FALL_RATIO,
    MEASURES,
    MEASURES_COLUMNS,
    NTK_COLUMNS,
    NTK_FRACTION_COLUMNS,
    TAU_COLUMNS,
    decoy_counts,
    limit_spectrum,
    reached_k,
)

NAMES = ("measures", "ntk-eigen")
FILES = {"measures": ("measures.csv", "measures-tau.csv"),
         "ntk-eigen": ("ntk-eigen.csv", "ntk-eigen-fractions.csv")}
HEADERS = {"measures.csv": MEASURES_COLUMNS, "measures-tau.csv": TAU_COLUMNS,
           "ntk-eigen.csv": NTK_COLUMNS, "ntk-eigen-fractions.csv": NTK_FRACTION_COLUMNS}


def read_csv(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """Each figure drawn twice at its tiny settings with seed 3 (two directories), and
    ``measures`` once on the decoy set."""
    root = tmp_path_factory.mktemp("explanations")
    out = {}
    for name in NAMES:
        for rep in ("a", "b"):
            d = root / f"{name}-{rep}"
            out[(name, rep)] = (d, draw(name, d, 3, mode="tiny"))
    d = root / "measures-decoy"
    out[("measures", "decoy")] = (d, draw("measures", d, 3, {"data": "decoy"}, mode="tiny"))
    return out


def caption(d, name) -> str:
    return json.loads((d / f"{name}.json").read_text())["caption"]


@pytest.mark.parametrize("name", NAMES)
def test_writes_png_csvs_and_sidecar(name, drawn):
    d, paths = drawn[(name, "a")]
    got = {p.name for p in paths}
    assert got == {f"{name}.png", f"{name}.svg", f"{name}.json", *FILES[name]}
    for p in paths:
        assert p.stat().st_size > 0
    assert (d / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for f in FILES[name]:
        rows = read_csv(d / f)
        assert rows and list(rows[0]) == HEADERS[f]
    side = json.loads((d / f"{name}.json").read_text())
    assert side["name"] == name and side["seed"] == 3 and "Settings:" in side["caption"]
    assert side["sweep"]["store"] == f"sweeps/{name}" and side["sweep"]["points"] >= 2


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_csvs(name, drawn):
    a, _ = drawn[(name, "a")]
    b, _ = drawn[(name, "b")]
    for f in FILES[name]:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


def test_registered_as_sweeps_with_declared_settings():
    for name in NAMES:
        spec = FIGURES[name]
        assert spec.extra == "sweep" and spec.sweep is not None
        sweeps = spec.sweep_spec(spec.resolve(mode="tiny"), 0)
        for sp in (sweeps.values() if name == "ntk-eigen" else [sweeps]):
            assert sp["measures"]
    ntk = FIGURES["ntk-eigen"].sweep_spec(FIGURES["ntk-eigen"].resolve(), 0)
    for data in ("fresh", "decoy"):
        assert ntk[data]["data"] == data
        assert ntk[data]["fixed"]["steps"] == 0 and max(ntk[data]["grid"]["k"]) == 4096
    full = FIGURES["measures"].resolve()
    assert full["ks"] == (2, 4, 8, 16, 32, 64, 128, 256, 512) and full["runs"] == 200
    assert (full["d"], full["m"], full["gamma"], full["c_eta"], full["steps"]) == \
        (10, 20, 8.0, 0.1, 5000)
    with pytest.raises(InputError, match="data must be one of"):
        FIGURES["measures"].resolve({"data": "shared"})
    with pytest.raises(InputError, match="ks must list distinct"):
        FIGURES["ntk-eigen"].resolve({"ks": (2, 2)})
    # the figure's own setting is named, not the sweep spec's fixed.d
    with pytest.raises(InputError, match=r"^d must be >= 4 with data = decoy.*got 3$"):
        FIGURES["measures"].resolve({"data": "decoy", "d": 3})
    assert FIGURES["measures"].resolve({"data": "fresh", "d": 3})["d"] == 3


# ----------------------------------------------------------------------------------------
# measures


def test_measures_csv_holds_every_measure_and_the_error(drawn):
    d, _ = drawn[("measures", "a")]
    rows = read_csv(d / "measures.csv")
    ks = FIGURES["measures"].resolve(mode="tiny")["ks"]
    assert {r["measure"] for r in rows} == {"test_error", *MEASURES}
    for r in rows:
        assert int(r["finite"]) + int(r["inf"]) + int(r["nan"]) == int(r["runs"])
        if r["measure"] in ("test_error", "lazy.predictor_test_error"):
            lo, m, hi = (float(r[c]) for c in ("error_ci95_low", "error_mean",
                                               "error_ci95_high"))
            assert 0 <= lo <= m <= hi <= 1
        if int(r["k"]) == ks[0] and float(r["median"]) not in (0.0,) \
                and np.isfinite(float(r["median"])):
            assert float(r["median_norm"]) == pytest.approx(1.0)
        if np.isfinite(float(r["median"])):
            assert float(r["q25"]) <= float(r["median"]) <= float(r["q75"])


def test_measures_caption_numbers_come_from_the_csvs(drawn):
    d, _ = drawn[("measures", "a")]
    cap = caption(d, "measures")
    rows = read_csv(d / "measures.csv")
    err = [r for r in rows if r["measure"] == "test_error"]
    assert (f"goes from {fmt.sig(float(err[0]['error_mean']), 2)} at k = {err[0]['k']} to "
            f"{fmt.sig(float(err[-1]['error_mean']), 2)} at k = {err[-1]['k']}") in cap
    for r in err:
        conv = int(r["converged_runs"])
        assert f"k = {r['k']}: {fmt.sig(100 * conv / int(r['runs']), 3)}%" in cap
    tau = [r for r in read_csv(d / "measures-tau.csv") if r["level"] == "points"]
    checked = 0
    for r in tau:
        ratio = float(r["ratio_last_first"])
        if not np.isfinite(ratio):
            continue
        t = f"tau = {fmt.sig(float(r['tau']), 2)}" if r["flag"] == "ok" else r["flag"]
        assert f"{r['measure']} (last/first {fmt.sig(ratio, 2)}, {t})" in cap
        # the ratio is that of the medians in measures.csv
        med = [float(x["median"]) for x in rows if x["measure"] == r["measure"]]
        assert ratio == pytest.approx(med[-1] / med[0], rel=1e-6)
        assert (r["falls_with_k"] == "True") == (ratio < FALL_RATIO)
        checked += 1
    assert checked >= 10
    falling = cap.split("Falling with k")[1].split("Rising")[0]
    for r in tau:
        if r["falls_with_k"] == "True":
            assert r["measure"] + " (" in falling


def test_tau_table_levels_counts_and_flags(drawn):
    d, _ = drawn[("measures", "a")]
    tau = read_csv(d / "measures-tau.csv")
    rows = read_csv(d / "measures.csv")
    assert [r["measure"] for r in tau] == [m for m in MEASURES for _ in (0, 1)]
    for r in tau:
        assert r["level"] in ("points", "replicas")
        assert r["flag"] in ("ok", "constant", "constant error", "too few")
        assert (r["flag"] == "ok") == (r["tau"] != "nan"), r
        if r["flag"] == "ok":
            assert -1 <= float(r["tau"]) <= 1
        per_k = [x for x in rows if x["measure"] == r["measure"]]
        assert int(r["inf_values"]) == sum(int(x["inf"]) for x in per_k)
        assert int(r["nan_values"]) == sum(int(x["nan"]) for x in per_k)
    # the parameter count is a function of k alone: perfectly ranked with k
    par = {r["level"]: r for r in tau if r["measure"] == "#parameter"}
    assert int(par["points"]["ties_measure"]) == 0
    assert float(par["points"]["ratio_last_first"]) == 4.0  # 4k at k = 8 over k = 2


def test_arora_complexity_is_flagged_constant_on_the_decoy_set(drawn):
    d, _ = drawn[("measures", "decoy")]
    tau = {(r["measure"], r["level"]): r for r in read_csv(d / "measures-tau.csv")}
    for level in ("points", "replicas"):
        r = tau[("arora.complexity", level)]
        assert r["flag"] == "constant" and r["tau"] == "nan" and "constant" in r["reason"]
    rows = [r for r in read_csv(d / "measures.csv") if r["measure"] == "arora.complexity"]
    for r in rows:  # sqrt(2 * 4 / 12) on the decoy set, at every k
        assert float(r["median"]) == pytest.approx(np.sqrt(2 * 4 / 12), rel=1e-7)
    assert "Constant over the widths, so tau is undefined: " in caption(d, "measures")


# ----------------------------------------------------------------------------------------
# ntk-eigen


def test_limit_spectrum_of_the_decoy_set_is_6_and_18():
    lim = limit_spectrum(decoy_counts(10))
    assert int(lim["rank"][0]) == 2 and int(lim["n"][0]) == 12
    assert lim["lambda_min"][0] == 0
    assert lim["lambda_min_nonzero"][0] == pytest.approx(6.0, rel=1e-12)
    assert lim["lambda_max"][0] == pytest.approx(18.0, rel=1e-12)


def test_ntk_eigen_decoy_values_approach_the_limit(drawn):
    d, _ = drawn[("ntk-eigen", "a")]
    rows = read_csv(d / "ntk-eigen.csv")
    dec = {(r["quantity"], int(r["k"])): r for r in rows if r["data"] == "decoy"}
    ks = sorted({k for _, k in dec})
    big = ks[-1]
    assert big == 4096
    assert float(dec[("lambda_min_nonzero", big)]["limit_median"]) == pytest.approx(6.0)
    assert float(dec[("rank", big)]["limit_median"]) == 2
    assert float(dec[("rank", big)]["median"]) == 2
    assert float(dec[("lambda_min", big)]["median"]) == 0
    # Theta_0/(2k) - 2H is O(1/sqrt(k)): at k = 4096 the median is within 2% of 6, and the
    # quartile band is narrower than at k = 2
    med = float(dec[("lambda_min_nonzero", big)]["median"])
    assert abs(med - 6.0) < 0.12
    width = {k: float(dec[("lambda_min_nonzero", k)]["q75"]) -
             float(dec[("lambda_min_nonzero", k)]["q25"]) for k in (ks[0], big)}
    assert width[big] < width[ks[0]]


def test_ntk_eigen_fractions_and_caption(drawn):
    d, _ = drawn[("ntk-eigen", "a")]
    cap = caption(d, "ntk-eigen")
    fr = read_csv(d / "ntk-eigen-fractions.csv")
    s = FIGURES["ntk-eigen"].resolve(mode="tiny")
    per_k = [r for r in fr if r["k"] != "all"]
    assert len(per_k) == 2 * len(s["ks"])
    for r in fr:
        lo, f, hi = (float(r[c]) for c in ("frac_ci95_low", "frac", "frac_ci95_high"))
        assert 0 <= lo <= f <= hi <= 1
        assert f == pytest.approx(int(r["count"]) / int(r["runs"]))
    tot = {r["quantity"]: r for r in fr if r["k"] == "all"}
    assert int(tot["lambda_min_zero"]["runs"]) == s["runs"] * len(s["ks"])
    # m = 20 per class: 40 points, rank <= 8, so lambda_min = 0 on every sampled set
    assert tot["lambda_min_zero"]["frac"] == "1"
    for q in ("lambda_min_zero", "y_outside_range"):
        r = tot[q]
        f, lo, hi = (fmt.sig(100 * float(r[c]), 3)
                     for c in ("frac", "frac_ci95_low", "frac_ci95_high"))
        text = f"{f}% [{lo}%, {hi}%]"
        assert text in cap
    rows = read_csv(d / "ntk-eigen.csv")
    for data, label in (("decoy", "Decoy set"), ("fresh", "Sampled sets (medians)")):
        big = {r["quantity"]: r for r in rows
               if r["data"] == data and int(r["k"]) == max(s["ks"])}
        v = {q: fmt.sig(float(big[q]["median"]), 3) for q in big}
        assert (f"{label}: at k = {max(s['ks'])} rank {v['rank']}, lambda_min "
                f"{v['lambda_min']}, smallest nonzero eigenvalue {v['lambda_min_nonzero']}; "
                f"infinite width rank {fmt.sig(float(big['rank']['limit_median']), 3)}") in cap
    dec = [r for r in rows if r["data"] == "decoy" and r["quantity"] == "lambda_min_nonzero"]
    k = reached_k([int(r["k"]) for r in dec], [float(r["median"]) for r in dec], 6.0)
    expect = (f"within 1% of its limit from k = {k} on" if k is not None
              else "within 1% of its limit at none of the last k")
    assert expect in cap.split("Sampled sets")[0]


def test_reached_k():
    assert reached_k([2, 4, 8], [5.0, 6.01, 5.99], 6.0) == 4
    assert reached_k([2, 4, 8], [6.0, 5.0, 6.0], 6.0) == 8
    assert reached_k([2, 4, 8], [6.0, 6.0, 5.0], 6.0) is None


def test_ntk_eigen_runs_both_sweeps_through_draw(tmp_path):
    """ntk-eigen's two sweeps (sampled sets, decoy set) are run by draw into
    sweeps/ntk-eigen/PART, listed in the sidecar, reused on a second draw and removed,
    both, by remove_store (reproduce --force)."""
    from xordsim.figures.explanations import NTK_PARTS
    from xordsim.figures.sweeps import SweepParts, remove_store

    spec = FIGURES["ntk-eigen"]
    parts = spec.sweep_spec(spec.resolve(mode="tiny"), 3)
    assert isinstance(parts, SweepParts) and tuple(parts) == NTK_PARTS
    s = {"ks": (2, 8), "runs": 3}
    draw("ntk-eigen", tmp_path, 3, s, mode="tiny")
    side = json.loads((tmp_path / "ntk-eigen.json").read_text())["sweep"]
    assert side["store"] == "sweeps/ntk-eigen"
    assert {p: side["parts"][p]["store"] for p in NTK_PARTS} == \
        {p: f"sweeps/ntk-eigen/{p}" for p in NTK_PARTS}
    for p in NTK_PARTS:
        assert side["parts"][p]["computed"] == side["parts"][p]["points"] == 2
        assert side["parts"][p]["seed"] == parts[p]["seed"]
        assert (tmp_path / "sweeps" / "ntk-eigen" / p / "manifest.json").is_file()
    assert side["points"] == side["computed"] == 4 and side["reused"] == 0
    assert side["parts"]["fresh"]["seed"] != side["parts"]["decoy"]["seed"]
    assert not (tmp_path / "sweeps" / "ntk-eigen-decoy").exists()
    csv_before = (tmp_path / "ntk-eigen.csv").read_bytes()
    draw("ntk-eigen", tmp_path, 3, s, mode="tiny")
    again = json.loads((tmp_path / "ntk-eigen.json").read_text())["sweep"]
    assert again["computed"] == 0 and again["reused"] == 4
    assert all(again["parts"][p]["computed"] == 0 for p in NTK_PARTS)
    assert (tmp_path / "ntk-eigen.csv").read_bytes() == csv_before
    remove_store(tmp_path, "ntk-eigen")
    assert not (tmp_path / "sweeps" / "ntk-eigen").exists()
    draw("ntk-eigen", tmp_path, 3, s, mode="tiny")
    third = json.loads((tmp_path / "ntk-eigen.json").read_text())["sweep"]
    assert third["computed"] == 4
    assert (tmp_path / "ntk-eigen.csv").read_bytes() == csv_before
